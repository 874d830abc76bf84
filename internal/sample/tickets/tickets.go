// Package tickets is a third sample API, held out: an event-ticketing API
// nobody tuned the detectors against, shaped unlike the shop and the
// marketplace on purpose. Events have UUID ids (GET /api/v3/events/{uuid},
// not sequential), lists page by ?offset=&count=, sign-in is an OAuth
// password grant (POST /oauth/token, 400 {"error":"invalid_grant"} when
// wrong), signup answers 409 for a taken email, recovery answers 204
// whatever the email (enumeration-safe), an unknown discount code is 404,
// partner keys travel in X-Auth-Token, and signed-in people send
// "Authorization: Token TOKEN" (the app) or a tix_sess cookie (the web).
// None of those spellings is among the guard's defaults. Game days run the
// same attack kinds at it as at the others, to measure detection on an API
// it was not grown around (docs/detection-quality.md).
package tickets

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/abuseguard/abuseguard/internal/sample/jsonapi"
)

// Options configures New. Zero fields get the defaults documented on each.
type Options struct {
	// Seed makes the events and tokens deterministic.
	Seed uint64
	// Events is the catalogue size: events 1..N, with the ids EventID(n).
	// Default 1500.
	Events int
	// Fans is the number of accounts: fanN@tix.example, password
	// "encore-N". Default 400.
	Fans int
	// PartnerKeys maps X-Auth-Token keys to partner names.
	// Default {DemoPartnerKey: "boxoffice", "tix_pk_resale_77b0": "resale"}.
	PartnerKeys map[string]string
	// DiscountCodes are the codes the cart accepts: 8 upper-case letters
	// or digits. Default ENCORE26, FRONTROW.
	DiscountCodes []string
}

// Demo credentials valid under the default Options.
const (
	DemoPartnerKey = "tix_pk_boxoffice_31c8"
	DemoCode       = "ENCORE26"
	DemoFan        = "fan1@tix.example"
	DemoPassword   = "encore-1"
	// SessionCookie is the cookie a web sign-in sets.
	SessionCookie = "tix_sess"
	// KeyHeader is the header partner keys travel in.
	KeyHeader = "X-Auth-Token"
)

// API is the ticketing API. It is an http.Handler, safe for concurrent
// use, and deterministic for a seed.
type API struct {
	opts   Options
	mux    *http.ServeMux
	events []event
	byID   map[string]int // event id -> index
	secret []byte

	mu       sync.Mutex
	accounts map[string]bool // lower-case email -> exists
	tokens   map[string]int  // access token or session -> fan
	logins   int
}

type event struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Venue string `json:"venue"`
	Price int    `json:"price_minor"`
	Left  int    `json:"tickets_left"`
}

var _ http.Handler = (*API)(nil)

var (
	acts   = []string{"The Lumineers", "Jazz Night", "Swan Lake", "Stand-up Showcase", "Derby Final", "Opera Gala", "Indie Fest", "Symphony No. 9"}
	venues = []string{"Riverside Arena", "The Old Mill", "Grand Hall", "Harbour Stage", "City Stadium"}
)

// namespace is the UUID namespace of the event ids: RFC 9562's URL
// namespace, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
var namespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// EventURL is the name whose version 5 UUID is event n's id (what the
// game day's product_id spelling "uuid:https://tix.example/events/%d"
// names).
const EventURL = "https://tix.example/events/%d"

// EventID is event n's id: the RFC 9562 version 5 UUID of
// fmt.Sprintf(EventURL, n) in the URL namespace. Ids past the catalogue
// are well-formed and unknown (404).
func EventID(n int) string {
	h := sha1.New()
	h.Write(namespace[:])
	fmt.Fprintf(h, EventURL, n)
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// New returns the ticketing API for opts.
func New(opts Options) *API {
	if opts.Events <= 0 {
		opts.Events = 1500
	}
	if opts.Fans <= 0 {
		opts.Fans = 400
	}
	if opts.PartnerKeys == nil {
		opts.PartnerKeys = map[string]string{DemoPartnerKey: "boxoffice", "tix_pk_resale_77b0": "resale"}
	}
	if opts.DiscountCodes == nil {
		opts.DiscountCodes = []string{DemoCode, "FRONTROW"}
	}
	a := &API{opts: opts, byID: map[string]int{}, accounts: map[string]bool{}, tokens: map[string]int{}}
	var seed [8]byte
	for i := range seed {
		seed[i] = byte(opts.Seed >> (8 * i))
	}
	a.secret = seed[:]
	rng := rand.New(rand.NewPCG(opts.Seed, 0x71c4))
	for i := 1; i <= opts.Events; i++ {
		e := event{ID: EventID(i), Title: fmt.Sprintf("%s (night %d)", acts[rng.IntN(len(acts))], 1+i%7),
			Venue: venues[rng.IntN(len(venues))], Price: 1500 + rng.IntN(20000), Left: rng.IntN(400)}
		a.byID[e.ID] = len(a.events)
		a.events = append(a.events, e)
	}
	for f := 1; f <= opts.Fans; f++ {
		a.accounts[fmt.Sprintf("fan%d@tix.example", f)] = true
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", a.home)
	m.HandleFunc("GET /static/{file...}", a.asset)
	m.HandleFunc("GET /api/v3/events", a.list)
	m.HandleFunc("GET /api/v3/events/{id}", a.get)
	m.HandleFunc("GET /api/v3/search", a.search)
	m.HandleFunc("POST /oauth/token", a.token)
	m.HandleFunc("POST /api/v3/accounts", a.signup)
	m.HandleFunc("POST /api/v3/accounts/recovery", a.recovery)
	m.HandleFunc("POST /api/v3/carts/current/discount", a.discount)
	m.HandleFunc("GET /api/v3/me/tickets", a.myTickets)
	m.HandleFunc("GET /api/v3/partners/events", a.partner)
	m.HandleFunc("GET /api/v3/partners/availability", a.partner)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeError(w, 404, "not_found") })
	a.mux = m
	return a
}

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func writeError(w http.ResponseWriter, status int, code string) {
	jsonapi.Write(w, status, map[string]string{"error": code})
}

// decode reads a JSON object body of at most 16 KiB into v; on failure it
// answers 400 invalid_request and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := jsonapi.Decode(w, r, 16<<10, v); err != nil {
		writeError(w, 400, "invalid_request")
		return false
	}
	return true
}

func (a *API) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><title>Tix</title><link rel="stylesheet" href="/static/tix.css"><script src="/static/app.js"></script>` + "\n"))
}

var assetTypes = map[string]string{"app.js": "text/javascript", "tix.css": "text/css", "logo.svg": "image/svg+xml"}

func (a *API) asset(w http.ResponseWriter, r *http.Request) {
	typ, ok := assetTypes[r.PathValue("file")]
	if !ok {
		writeError(w, 404, "not_found")
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte("/* asset */\n"))
}

// page answers events[offset:offset+count] from r's offset and count.
func (a *API) page(w http.ResponseWriter, r *http.Request, extra map[string]any) {
	offset, err1 := strconv.Atoi(cmp.Or(r.URL.Query().Get("offset"), "0"))
	count, err2 := strconv.Atoi(cmp.Or(r.URL.Query().Get("count"), "20"))
	if err1 != nil || err2 != nil || offset < 0 || count < 1 || count > 100 {
		writeError(w, 400, "invalid_request")
		return
	}
	start := min(offset, len(a.events))
	end := min(start+count, len(a.events))
	out := map[string]any{"items": a.events[start:end], "total": len(a.events)}
	for k, v := range extra {
		out[k] = v
	}
	jsonapi.Write(w, 200, out)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) { a.page(w, r, nil) }

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	i, ok := a.byID[strings.ToLower(r.PathValue("id"))]
	if !ok {
		writeError(w, 404, "event_not_found")
		return
	}
	jsonapi.Write(w, 200, a.events[i])
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("query")))
	if q == "" {
		writeError(w, 400, "query_required")
		return
	}
	out := []event{}
	for _, e := range a.events {
		if len(out) == 20 {
			break
		}
		if strings.Contains(strings.ToLower(e.Title+" "+e.Venue), q) {
			out = append(out, e)
		}
	}
	jsonapi.Write(w, 200, map[string]any{"items": out})
}

// fan returns the fan number of email, 0 when there is no such account.
func (a *API) fan(email string) int {
	var n int
	if _, err := fmt.Sscanf(strings.ToLower(email), "fan%d@tix.example", &n); err != nil || n < 1 || n > a.opts.Fans {
		return 0
	}
	return n
}

// token is the OAuth 2 resource-owner password grant: 200
// {"access_token"} and a tix_sess cookie for the web, 400 invalid_grant
// for a wrong pair, 400 unsupported_grant_type for another grant.
func (a *API) token(w http.ResponseWriter, r *http.Request) {
	var body struct {
		GrantType string `json:"grant_type"`
		Username  string `json:"username"`
		Password  string `json:"password"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.GrantType != "password" {
		writeError(w, 400, "unsupported_grant_type")
		return
	}
	n := a.fan(body.Username)
	if n == 0 || body.Password != fmt.Sprintf("encore-%d", n) {
		writeError(w, 400, "invalid_grant")
		return
	}
	a.mu.Lock()
	a.logins++
	mac := hmac.New(sha256.New, a.secret)
	fmt.Fprintf(mac, "%d/%d", n, a.logins)
	tok := hex.EncodeToString(mac.Sum(nil)[:20])
	a.tokens[tok] = n
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	jsonapi.Write(w, 200, map[string]any{"access_token": tok, "token_type": "Token", "expires_in": 3600})
}

// signedIn returns the fan of r's "Authorization: Token T" or tix_sess
// cookie, 0 for none.
func (a *API) signedIn(r *http.Request) int {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Token ")
	if !ok {
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			return 0
		}
		tok = c.Value
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokens[strings.TrimSpace(tok)]
}

func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	var body struct{ Email string }
	if !decode(w, r, &body) {
		return
	}
	email := strings.ToLower(strings.TrimSpace(body.Email))
	if !strings.Contains(email, "@") {
		writeError(w, 422, "invalid_email")
		return
	}
	a.mu.Lock()
	taken := a.accounts[email]
	a.accounts[email] = true
	a.mu.Unlock()
	if taken {
		writeError(w, 409, "email_taken") // the leak enumeration feeds on
		return
	}
	jsonapi.Write(w, 201, map[string]string{"status": "created"})
}

// recovery answers 204 whatever the email: it does not say which have
// accounts.
func (a *API) recovery(w http.ResponseWriter, r *http.Request) {
	var body struct{ Email string }
	if !decode(w, r, &body) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) discount(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code string `json:"discount_code"`
	}
	if !decode(w, r, &body) {
		return
	}
	code := strings.ToUpper(strings.TrimSpace(body.Code))
	for _, c := range a.opts.DiscountCodes {
		if c == code {
			jsonapi.Write(w, 200, map[string]any{"discount_code": code, "percent_off": 10})
			return
		}
	}
	writeError(w, 404, "discount_code_not_found")
}

func (a *API) myTickets(w http.ResponseWriter, r *http.Request) {
	n := a.signedIn(r)
	if n == 0 {
		writeError(w, 401, "unauthorized")
		return
	}
	jsonapi.Write(w, 200, map[string]any{"fan": n, "items": []map[string]any{{"event": EventID(1 + n%len(a.events)), "seat": fmt.Sprintf("R%d-%d", n%30, n%20)}}})
}

func (a *API) partner(w http.ResponseWriter, r *http.Request) {
	name := a.opts.PartnerKeys[strings.TrimSpace(r.Header.Get(KeyHeader))]
	if name == "" {
		writeError(w, 401, "invalid_token")
		return
	}
	a.page(w, r, map[string]any{"partner": name})
}
