// Package desk is a fourth sample API, held out: a help-desk SaaS API
// written after the detectors' fixes for the ticketing API began, and kept
// out of their tuning, shaped unlike the shop, the marketplace and the
// ticketing API on purpose. Its public help-centre articles have short
// base62 hash ids (GET /api/help/articles/{hashid}, not sequential, often
// all letters), lists page by ?page=N; sign-in is a Rails web form
// (POST /users/sign_in, application/x-www-form-urlencoded
// user[email]=..&user[password]=..) answering 303 See Other and a
// _desk_session cookie on success and 422 on failure, or, asked for JSON by
// the app, 201 {"jwt"} (an HS256 JWT the app sends as a bearer token) and
// 401; a second factor (POST /users/otp otp_attempt=NNNNNN) answers 401
// when wrong; a workspace signup answers 422 when the email or subdomain is
// taken; password reset answers 200 whatever the email, while a people
// lookup (GET /api/people/lookup?email=) answers 200 or 404; a wrong
// promotion code is 400; integration keys are sent Stripe-style as
// "Authorization: Basic base64(KEY:)". None of those spellings is among the
// guard's defaults. Game days run the same attack kinds at it as at the
// others, to measure detection on an API it was not grown around
// (docs/detection-quality.md).
package desk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/abuseguard/abuseguard/internal/sample/jsonapi"
)

// Options configures New. Zero fields get the defaults documented on each.
type Options struct {
	// Seed makes the articles, sessions and one-time codes deterministic.
	Seed uint64
	// Articles is the help centre's size: articles 1..N, with the ids
	// ArticleID(n). Default 1200.
	Articles int
	// Agents is the number of agent accounts: agentN@northwind.example,
	// password "desk-N-secret", without a second factor. Default 300.
	Agents int
	// Admins is the number of admin accounts: adminN@northwind.example,
	// password "desk-admin-N", with a second factor (OTP). Default 3.
	Admins int
	// PartnerKeys maps integration keys (the Basic user name) to partner
	// names. Default {DemoPartnerKey: "crmsync", "dsk_live_zapbridge_81d7":
	// "zapbridge"}.
	PartnerKeys map[string]string
	// PromotionCodes are the codes billing accepts: 8 upper-case letters
	// or digits. Default LAUNCH26, NONPROF1.
	PromotionCodes []string
	// JWTSecret signs the app's HS256 tokens. Default: derived from Seed.
	JWTSecret []byte
}

// Demo credentials and names valid under the default Options.
const (
	DemoPartnerKey = "dsk_live_crmsync_4f2a9c"
	DemoCode       = "LAUNCH26"
	DemoAgent      = "agent1@northwind.example"
	DemoPassword   = "desk-1-secret"
	// SessionCookie is the cookie a web sign-in sets.
	SessionCookie = "_desk_session"
	// OTPCookie is the cookie that carries a sign-in waiting for its
	// second factor.
	OTPCookie = "_desk_otp"
	// JWTIssuer is the iss claim of the app's tokens.
	JWTIssuer = "desk"
	// JWTSecretEnv is the environment variable the demo shares the JWT
	// secret in, for a guard config to verify the app's tokens.
	JWTSecretEnv = "DESK_JWT_SECRET"
)

// ArticleIDMultiplier is the number ArticleID multiplies by: coprime with
// 62, about 0.618 of 62^6, so consecutive articles' ids land far apart and
// in no order. The game day's product_id spelling "base62:35104397395" names the same ids.
const ArticleIDMultiplier = 35104397395

// base62 is the digits of ArticleID, in value order.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ArticleID is article n's id: n times ArticleIDMultiplier modulo 62^6,
// written as 6 base62 digits (hash-id style: short, unordered, mixed case,
// about a third of them all letters). Ids past the help centre are
// well-formed and unknown (404).
func ArticleID(n int) string {
	const space = 62 * 62 * 62 * 62 * 62 * 62
	v := uint64(n) % space * ArticleIDMultiplier % space
	var b [6]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = base62[v%62]
		v /= 62
	}
	return string(b[:])
}

// API is the help-desk API. It is an http.Handler, safe for concurrent
// use, and deterministic for a seed.
type API struct {
	opts     Options
	mux      *http.ServeMux
	articles []article
	byID     map[string]int // article id -> index
	secret   []byte         // sessions and one-time codes

	mu         sync.Mutex
	emails     map[string]bool   // lower-case email -> has an account or workspace
	subdomains map[string]bool   // taken workspace subdomains
	sessions   map[string]string // session or pending-OTP cookie -> account email
	signIns    int
}

type article struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Section string `json:"section"`
	Votes   int    `json:"helpful_votes"`
}

var _ http.Handler = (*API)(nil)

var (
	topics   = []string{"Resetting your password", "Routing rules", "Macros", "SLA policies", "Email forwarding", "Chat widget", "Satisfaction surveys", "Webhooks"}
	sections = []string{"Getting started", "Automation", "Channels", "Reporting", "Admin"}
)

// New returns the help-desk API for opts.
func New(opts Options) *API {
	if opts.Articles <= 0 {
		opts.Articles = 1200
	}
	if opts.Agents <= 0 {
		opts.Agents = 300
	}
	if opts.Admins <= 0 {
		opts.Admins = 3
	}
	if opts.PartnerKeys == nil {
		opts.PartnerKeys = map[string]string{DemoPartnerKey: "crmsync", "dsk_live_zapbridge_81d7": "zapbridge"}
	}
	if opts.PromotionCodes == nil {
		opts.PromotionCodes = []string{DemoCode, "NONPROF1"}
	}
	a := &API{opts: opts, byID: map[string]int{}, emails: map[string]bool{}, subdomains: map[string]bool{"northwind": true, "www": true, "app": true}, sessions: map[string]string{}}
	a.secret = binary.LittleEndian.AppendUint64(nil, opts.Seed^0xde5c)
	if a.opts.JWTSecret == nil {
		a.opts.JWTSecret = a.secret
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0xde5c))
	for i := 1; i <= opts.Articles; i++ {
		ar := article{ID: ArticleID(i), Title: fmt.Sprintf("%s (%d)", topics[rng.IntN(len(topics))], i),
			Section: sections[rng.IntN(len(sections))], Votes: rng.IntN(500)}
		a.byID[ar.ID] = len(a.articles)
		a.articles = append(a.articles, ar)
	}
	for n := 1; n <= opts.Agents; n++ {
		a.emails[fmt.Sprintf("agent%d@northwind.example", n)] = true
	}
	for n := 1; n <= opts.Admins; n++ {
		a.emails[fmt.Sprintf("admin%d@northwind.example", n)] = true
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", a.home)
	m.HandleFunc("GET /assets/{file}", a.asset)
	m.HandleFunc("GET /api/help/articles", a.list)
	m.HandleFunc("GET /api/help/articles/{id}", a.get)
	m.HandleFunc("GET /api/help/search", a.search)
	m.HandleFunc("POST /users/sign_in", a.signIn)
	m.HandleFunc("POST /users/otp", a.otp)
	m.HandleFunc("POST /users/password", a.reset)
	m.HandleFunc("POST /api/workspaces", a.signup)
	m.HandleFunc("GET /api/people/lookup", a.lookup)
	m.HandleFunc("POST /api/billing/apply", a.apply)
	m.HandleFunc("GET /api/conversations", a.conversations)
	m.HandleFunc("GET /api/export/{what}", a.export)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		page(w, 404, "The page you were looking for doesn't exist.")
	})
	a.mux = m
	return a
}

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// page answers status with a small HTML page saying msg, as a Rails app
// renders its forms and errors.
func page(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>Desk</title><p>%s</p>\n", msg)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	jsonapi.Write(w, status, map[string]string{"error": msg})
}

// form parses r's url-encoded form body of at most 16 KiB; on failure it
// answers 400 and returns false.
func form(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		page(w, 400, "Bad request.")
		return false
	}
	return true
}

// decode reads a JSON object body of at most 16 KiB into v; on failure it
// answers 400 and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := jsonapi.Decode(w, r, 16<<10, v); err != nil {
		writeError(w, 400, "invalid JSON body")
		return false
	}
	return true
}

// wantsJSON reports whether r asks for JSON rather than a page (the app).
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Accept"), "application/json") || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

func (a *API) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><title>Desk</title><link rel="stylesheet" href="/assets/application-8d1e0a.css"><script src="/assets/application-3f9c2b.js"></script>` + "\n"))
}

var assetTypes = map[string]string{"application-3f9c2b.js": "text/javascript", "application-8d1e0a.css": "text/css", "logo-5a7c.svg": "image/svg+xml"}

func (a *API) asset(w http.ResponseWriter, r *http.Request) {
	typ, ok := assetTypes[r.PathValue("file")]
	if !ok {
		page(w, 404, "The page you were looking for doesn't exist.")
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write([]byte("/* asset */\n"))
}

// perPage is the size of a page of articles.
const perPage = 25

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	n := 1
	if p := r.URL.Query().Get("page"); p != "" {
		var err error
		if n, err = strconv.Atoi(p); err != nil || n < 1 {
			writeError(w, 400, "page must be a positive number")
			return
		}
	}
	start := min((n-1)*perPage, len(a.articles))
	end := min(start+perPage, len(a.articles))
	jsonapi.Write(w, 200, map[string]any{"articles": a.articles[start:end],
		"meta": map[string]int{"page": n, "total_pages": (len(a.articles) + perPage - 1) / perPage}})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	i, ok := a.byID[r.PathValue("id")] // hash ids are case-sensitive
	if !ok {
		writeError(w, 404, "Not found")
		return
	}
	jsonapi.Write(w, 200, a.articles[i])
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("term")))
	if q == "" {
		writeError(w, 400, "param is missing or the value is empty: term")
		return
	}
	out := []article{}
	for _, ar := range a.articles {
		if len(out) == 10 {
			break
		}
		if strings.Contains(strings.ToLower(ar.Title+" "+ar.Section), q) {
			out = append(out, ar)
		}
	}
	jsonapi.Write(w, 200, map[string]any{"articles": out})
}

// password returns the password of the account email and whether it has a
// second factor; "" when there is no such account.
func (a *API) password(email string) (string, bool) {
	var n int
	if _, err := fmt.Sscanf(email, "agent%d@northwind.example", &n); err == nil && n >= 1 && n <= a.opts.Agents && email == fmt.Sprintf("agent%d@northwind.example", n) {
		return fmt.Sprintf("desk-%d-secret", n), false
	}
	if _, err := fmt.Sscanf(email, "admin%d@northwind.example", &n); err == nil && n >= 1 && n <= a.opts.Admins && email == fmt.Sprintf("admin%d@northwind.example", n) {
		return fmt.Sprintf("desk-admin-%d", n), true
	}
	return "", false
}

// OTP is the one-time code of the account email under a: 6 digits. (A
// real second factor changes every 30 seconds; this one is fixed, so
// tests can sign in with it.)
func (a *API) OTP(email string) string {
	mac := hmac.New(sha256.New, a.secret)
	mac.Write([]byte("otp/" + email))
	return fmt.Sprintf("%06d", binary.BigEndian.Uint32(mac.Sum(nil))%1000000)
}

// newSession returns a new random-looking session id for email.
func (a *API) newSession(email string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signIns++
	mac := hmac.New(sha256.New, a.secret)
	fmt.Fprintf(mac, "%s/%d", email, a.signIns)
	s := hex.EncodeToString(mac.Sum(nil)[:24])
	a.sessions[s] = email
	return s
}

// startSession sets the session cookie for email and sends the browser
// home with 303 See Other.
func (a *API) startSession(w http.ResponseWriter, r *http.Request, email string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: a.newSession(email), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signIn is Devise's sign-in: a form with user[email] and user[password].
// A browser gets 303 See Other to / and a session cookie, or for an
// account with a second factor 303 to the OTP form and a pending cookie;
// a wrong pair re-renders the form with 422. Asked for JSON (the app), it
// answers 201 {"jwt"} and 401 for a wrong pair.
func (a *API) signIn(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("user[email]")))
	want, twoFactor := a.password(email)
	ok := want != "" && hmac.Equal([]byte(r.PostForm.Get("user[password]")), []byte(want))
	switch {
	case wantsJSON(r) && !ok:
		writeError(w, 401, "Invalid Email or password.")
	case wantsJSON(r) && twoFactor:
		writeError(w, 401, "Two-factor authentication required.")
	case wantsJSON(r):
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": JWTIssuer, "sub": email, "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
		}).SignedString(a.opts.JWTSecret)
		if err != nil {
			writeError(w, 500, "could not sign the token")
			return
		}
		jsonapi.Write(w, 201, map[string]string{"jwt": tok})
	case !ok:
		page(w, 422, "Invalid Email or password.")
	case twoFactor:
		http.SetCookie(w, &http.Cookie{Name: OTPCookie, Value: a.newSession(email), Path: "/users", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/users/otp", http.StatusSeeOther)
	default:
		a.startSession(w, r, email)
	}
}

// otp checks a pending sign-in's otp_attempt: 303 and a session when it
// is right, 401 when it is wrong or nothing is pending.
func (a *API) otp(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	c, err := r.Cookie(OTPCookie)
	if err != nil {
		page(w, 401, "Your sign-in has expired. Please sign in again.")
		return
	}
	a.mu.Lock()
	email := a.sessions[c.Value]
	a.mu.Unlock()
	if email == "" || !hmac.Equal([]byte(strings.TrimSpace(r.PostForm.Get("otp_attempt"))), []byte(a.OTP(email))) {
		page(w, 401, "Invalid two-factor code.")
		return
	}
	a.mu.Lock()
	delete(a.sessions, c.Value)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: OTPCookie, Path: "/users", MaxAge: -1})
	a.startSession(w, r, email)
}

// reset answers 200 whatever user[email] is (Devise's paranoid mode): it
// does not say which addresses have accounts.
func (a *API) reset(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	page(w, 200, "If your email address exists in our database, you will receive a password recovery link in a few minutes.")
}

// signedIn returns the account of r's session cookie or bearer JWT, ""
// for none.
func (a *API) signedIn(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		t, err := jwt.Parse(strings.TrimSpace(tok), func(*jwt.Token) (any, error) { return a.opts.JWTSecret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(JWTIssuer))
		if err != nil {
			return ""
		}
		sub, _ := t.Claims.GetSubject()
		return sub
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

func (a *API) conversations(w http.ResponseWriter, r *http.Request) {
	who := a.signedIn(r)
	if who == "" {
		writeError(w, 401, "You need to sign in or sign up before continuing.")
		return
	}
	h := sha256.Sum256([]byte(who))
	items := []map[string]any{}
	for i := range 3 {
		items = append(items, map[string]any{"id": ArticleID(int(h[i]) + 7919), "subject": topics[int(h[i])%len(topics)], "status": "open"})
	}
	jsonapi.Write(w, 200, map[string]any{"conversations": items, "assignee": who})
}

// signup creates a workspace: 201, or 422 with Rails-style errors when the
// email or the subdomain (by default the email's local part) is taken.
func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email     string `json:"email"`
		Subdomain string `json:"subdomain"`
	}
	if !decode(w, r, &body) {
		return
	}
	email := strings.ToLower(strings.TrimSpace(body.Email))
	local, _, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		jsonapi.Write(w, 422, map[string]any{"errors": map[string][]string{"email": {"is invalid"}}})
		return
	}
	sub := strings.ToLower(strings.TrimSpace(body.Subdomain))
	if sub == "" {
		sub = strings.Map(func(c rune) rune {
			if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
				return c
			}
			return '-'
		}, local)
	}
	a.mu.Lock()
	emailTaken, subTaken := a.emails[email], a.subdomains[sub]
	if !emailTaken && !subTaken {
		a.emails[email], a.subdomains[sub] = true, true
	}
	a.mu.Unlock()
	errs := map[string][]string{}
	if emailTaken {
		errs["email"] = []string{"has already been taken"} // the leak enumeration could feed on
	}
	if subTaken {
		errs["subdomain"] = []string{"has already been taken"}
	}
	if len(errs) > 0 {
		jsonapi.Write(w, 422, map[string]any{"errors": errs})
		return
	}
	jsonapi.Write(w, 201, map[string]any{"workspace": map[string]string{"subdomain": sub, "owner": email}})
}

// lookup finds a person by email: 200 with their card, 404 when nobody
// has it. It is what the agent app's mention box calls, and it tells
// anyone which addresses have accounts.
func (a *API) lookup(w http.ResponseWriter, r *http.Request) {
	email := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("email")))
	if email == "" {
		writeError(w, 400, "param is missing or the value is empty: email")
		return
	}
	a.mu.Lock()
	found := a.emails[email]
	a.mu.Unlock()
	if !found {
		writeError(w, 404, "Not found")
		return
	}
	name, _, _ := strings.Cut(email, "@")
	jsonapi.Write(w, 200, map[string]string{"email": email, "name": name})
}

// apply applies a promotion code to the workspace's subscription: 200, or
// 400 with a Stripe-style error when the code is unknown.
func (a *API) apply(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code string `json:"promotionCode"`
	}
	if !decode(w, r, &body) {
		return
	}
	code := strings.ToUpper(strings.TrimSpace(body.Code))
	for _, c := range a.opts.PromotionCodes {
		if c == code {
			jsonapi.Write(w, 200, map[string]any{"promotionCode": code, "percentOff": 20})
			return
		}
	}
	jsonapi.Write(w, 400, map[string]any{"error": map[string]string{"type": "invalid_request_error", "code": "resource_missing", "param": "promotionCode", "message": "No such promotion code"}})
}

// partner returns the partner of r's "Authorization: Basic
// base64(KEY:)", "" for none.
func (a *API) partner(r *http.Request) string {
	enc, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Basic ")
	if !ok {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return ""
	}
	key, _, _ := strings.Cut(string(raw), ":")
	return a.opts.PartnerKeys[key]
}

// export is the integrations' bulk export (conversations, contacts): the
// first 100 records with a cursor; 401 with a Stripe-style error for a
// missing or unknown key, 404 for an unknown collection.
func (a *API) export(w http.ResponseWriter, r *http.Request) {
	name := a.partner(r)
	if name == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="Desk API"`)
		jsonapi.Write(w, 401, map[string]any{"error": map[string]string{"type": "invalid_request_error", "message": "Invalid API Key provided"}})
		return
	}
	what := r.PathValue("what")
	if what != "conversations" && what != "contacts" {
		writeError(w, 404, "Not found")
		return
	}
	n := min(100, len(a.articles))
	jsonapi.Write(w, 200, map[string]any{"object": "list", "partner": name, "data": a.articles[:n], "has_more": true, "next_cursor": a.articles[n-1].ID})
}
