package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

//go:embed web
var webFS embed.FS

// UIOptions configures the built-in dashboard.
type UIOptions struct {
	// API is the admin API handler (Handler's); the dashboard calls it on
	// the signed-in operator's behalf under /ui/api/. Required.
	API http.Handler
	// Token is the admin token operators sign in with; "" turns the
	// dashboard off (every page says so).
	Token string
	// Metrics is read for the dashboard's charts (GET /ui/api/summary).
	Metrics prometheus.Gatherer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SessionTTL is how long a sign-in lasts (default 12h).
	SessionTTL time.Duration
}

// MaxSessions bounds the dashboard's signed-in sessions; past it the
// oldest is signed out.
const MaxSessions = 1000

const sessionCookie = "abuseguard_session"

// UI returns the built-in dashboard, served under /ui/ (mount it at "/ui/"
// without stripping the prefix). Operators sign in with the admin token
// and get a session cookie (HttpOnly, SameSite=Strict); every change the
// dashboard makes also carries the session's CSRF token. Its assets,
// including the vendored uPlot chart library, are embedded: nothing is
// loaded from elsewhere.
func UI(opts UIOptions) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	u := &ui{opts: opts, sessions: map[string]*session{}, want: sha256.Sum256([]byte(opts.Token))}
	u.page = template.Must(template.ParseFS(webFS, "web/*.html"))
	static, _ := fs.Sub(webFS, "web")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/login", u.loginPage)
	mux.HandleFunc("POST /ui/login", u.login)
	mux.HandleFunc("POST /ui/logout", u.signedIn(u.logout))
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui/api/summary", u.signedIn(u.summary))
	mux.HandleFunc("/ui/api/", u.signedIn(u.api))
	mux.HandleFunc("GET /ui/{$}", u.signedIn(u.app))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if opts.Token == "" {
			http.Error(w, "the dashboard is off because no admin token is configured", http.StatusNotFound)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type ui struct {
	opts UIOptions
	page *template.Template
	want [sha256.Size]byte

	mu       sync.Mutex
	sessions map[string]*session
}

type session struct {
	csrf    string
	expires time.Time
}

func randomHex() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// current returns the session r carries, if it is valid.
func (u *ui) current(r *http.Request) (*session, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.sessions[c.Value]
	if s == nil || !u.opts.Now().Before(s.expires) {
		delete(u.sessions, c.Value)
		return nil, ""
	}
	return s, c.Value
}

// signedIn runs h for requests with a valid session; pages without one go
// to the login page, API calls get 401. Requests that change something
// must carry the session's CSRF token in X-CSRF-Token.
func (u *ui) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, _ := u.current(r)
		if s == nil {
			if strings.HasPrefix(r.URL.Path, "/ui/api/") {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
				http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}

func (u *ui) loginPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, "login.html", map[string]any{"Failed": r.URL.Query().Has("failed")})
}

func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	got := sha256.Sum256([]byte(strings.TrimSpace(r.PostFormValue("token"))))
	if subtle.ConstantTimeCompare(got[:], u.want[:]) != 1 {
		http.Redirect(w, r, "/ui/login?failed", http.StatusSeeOther)
		return
	}
	id, now := randomHex(), u.opts.Now()
	u.mu.Lock()
	for k, s := range u.sessions {
		if !now.Before(s.expires) {
			delete(u.sessions, k)
		}
	}
	if len(u.sessions) >= MaxSessions {
		oldest, at := "", time.Time{}
		for k, s := range u.sessions {
			if oldest == "" || s.expires.Before(at) {
				oldest, at = k, s.expires
			}
		}
		delete(u.sessions, oldest)
	}
	u.sessions[id] = &session{csrf: randomHex(), expires: now.Add(u.opts.SessionTTL)}
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/ui/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(u.opts.SessionTTL / time.Second)})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if _, id := u.current(r); id != "" {
		u.mu.Lock()
		delete(u.sessions, id)
		u.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (u *ui) app(w http.ResponseWriter, _ *http.Request, s *session) {
	u.render(w, "app.html", map[string]any{"CSRF": s.csrf})
}

func (u *ui) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := u.page.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// api calls the admin API for the signed-in operator: /ui/api/v1/... is
// /v1/... with the admin token.
func (u *ui) api(w http.ResponseWriter, r *http.Request, _ *session) {
	rest := strings.TrimPrefix(r.URL.Path, "/ui/api")
	if !strings.HasPrefix(rest, "/v1/") {
		http.NotFound(w, r)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = rest, ""
	r2.RequestURI = ""
	r2.Header.Set("Authorization", "Bearer "+u.opts.Token)
	r2.Header.Del("Cookie")
	u.opts.API.ServeHTTP(w, r2)
}

// Summary is the body of GET /ui/api/summary: the counters the dashboard
// charts, read from the metrics at the time of the call. The browser
// turns successive counters into rates.
type Summary struct {
	Time            time.Time          `json:"time"`
	Requests        map[string]float64 `json:"requests"` // by action
	RefusedEarly    float64            `json:"refused_early"`
	ActedByReason   map[string]float64 `json:"acted_by_reason"`  // enforced refusals
	ShadowByReason  map[string]float64 `json:"shadow_by_reason"` // would-acts
	Signals         map[string]float64 `json:"signals"`          // by detector
	Feedback        map[string]float64 `json:"feedback"`         // by verdict
	DecisionsActive float64            `json:"decisions_active"`
	DecisionP50     float64            `json:"decision_p50_seconds"`
	DecisionP99     float64            `json:"decision_p99_seconds"`
	StateKeys       float64            `json:"state_keys"`
	StateMaxKeys    float64            `json:"state_max_keys"`
	StateEvictions  float64            `json:"state_evictions"`
	UpstreamCost    float64            `json:"upstream_cost_seconds"`
}

func (u *ui) summary(w http.ResponseWriter, _ *http.Request, _ *session) {
	s := Summary{Time: u.opts.Now().UTC(), Requests: map[string]float64{}, ActedByReason: map[string]float64{},
		ShadowByReason: map[string]float64{}, Signals: map[string]float64{}, Feedback: map[string]float64{}}
	var families []*dto.MetricFamily
	if u.opts.Metrics != nil {
		families, _ = u.opts.Metrics.Gather()
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			l := labels(m)
			switch f.GetName() {
			case "abuseguard_requests_total":
				s.Requests[l["action"]] += m.GetCounter().GetValue()
			case "abuseguard_refused_total":
				s.RefusedEarly += m.GetCounter().GetValue()
			case "abuseguard_acted_total":
				if l["mode"] == "shadow" {
					s.ShadowByReason[l["reason"]] += m.GetCounter().GetValue()
				} else {
					s.ActedByReason[l["reason"]] += m.GetCounter().GetValue()
				}
			case "abuseguard_signals_total":
				s.Signals[l["detector"]] += m.GetCounter().GetValue()
			case "abuseguard_feedback_total":
				s.Feedback[l["verdict"]] += m.GetCounter().GetValue()
			case "abuseguard_decisions_active":
				s.DecisionsActive = m.GetGauge().GetValue()
			case "abuseguard_state_keys":
				s.StateKeys = m.GetGauge().GetValue()
			case "abuseguard_state_max_keys":
				s.StateMaxKeys = m.GetGauge().GetValue()
			case "abuseguard_state_evictions_total":
				s.StateEvictions = m.GetCounter().GetValue()
			case "abuseguard_upstream_cost_seconds_total":
				s.UpstreamCost += m.GetCounter().GetValue()
			case "abuseguard_decision_seconds":
				s.DecisionP50, s.DecisionP99 = quantile(m.GetHistogram(), 0.5), quantile(m.GetHistogram(), 0.99)
			}
		}
	}
	writeJSON(w, http.StatusOK, s)
}

func labels(m *dto.Metric) map[string]string {
	l := make(map[string]string, len(m.GetLabel()))
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// quantile estimates the q-quantile of a histogram by linear
// interpolation within its buckets, as PromQL's histogram_quantile does;
// 0 without observations.
func quantile(h *dto.Histogram, q float64) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return 0
	}
	buckets := h.GetBucket()
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].GetUpperBound() < buckets[j].GetUpperBound() })
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		upper, count := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if count >= rank {
			if math.IsInf(upper, 1) || count == below {
				return lower
			}
			return lower + (upper-lower)*(rank-below)/(count-below)
		}
		lower, below = upper, count
	}
	return lower
}
