// Package market is a second sample API, shaped unlike the sample shop on
// purpose: a marketplace with its own paths (/v2/listings/{slug},
// /auth/session, /redeem), its own key scheme (partner keys as
// "Authorization: Bearer KEY"), cookie sessions (sid) instead of bearer
// tokens for people, and its own status semantics (403 for bad
// credentials and keys, 400 and 422 for bad voucher codes, 404 and 410 for
// listings, 422 for an unknown account on recovery). Game days run the
// same attack kinds at it as at the shop, to measure whether detection
// generalises to an API it was not grown around (docs/detection-quality.md).
package market

import (
	"cmp"
	"crypto/hmac"
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
	// Seed makes the listings and session ids deterministic.
	Seed uint64
	// Listings is the catalogue size; slugs lst-00001..lst-N exist, and
	// the 200 after them are delisted (410). Default 2000.
	Listings int
	// Buyers is the number of accounts: buyerN@market.example, password
	// "open-sesame-N". Default 400.
	Buyers int
	// PartnerKeys maps bearer keys to partner names.
	// Default {DemoPartnerKey: "northwind", "mk_live_initech_4f1c": "initech"}.
	PartnerKeys map[string]string
	// Vouchers are the codes /redeem accepts: 10 upper-case letters or
	// digits. Default MARKET2026, FREEDELIV1.
	Vouchers []string
}

// Demo credentials valid under the default Options.
const (
	DemoPartnerKey = "mk_live_northwind_9d2e"
	DemoVoucher    = "MARKET2026"
	DemoBuyer      = "buyer1@market.example"
	DemoPassword   = "open-sesame-1"
	// SessionCookie is the name of the session cookie /auth/session sets.
	SessionCookie = "sid"
)

// delisted is how many slugs past the end answer 410 Gone.
const delisted = 200

// API is the marketplace. It is an http.Handler, safe for concurrent use,
// and deterministic for a seed.
type API struct {
	opts     Options
	mux      *http.ServeMux
	listings []listing
	secret   []byte

	mu       sync.Mutex
	accounts map[string]bool // lower-case email -> exists
	sessions map[string]int  // sid -> buyer
	logins   int
}

type listing struct {
	Slug   string `json:"slug"`
	Title  string `json:"title"`
	Seller string `json:"seller"`
	Price  int    `json:"price_minor"`
	Qty    int    `json:"quantity"`
}

var _ http.Handler = (*API)(nil)

var (
	things  = []string{"Bicycle", "Desk", "Camera", "Guitar", "Sofa", "Drone", "Kayak", "Printer", "Watch", "Jacket"}
	sellers = []string{"oakandiron", "northside-goods", "pixelpawn", "riverbend", "secondlife"}
)

// New returns the marketplace for opts.
func New(opts Options) *API {
	if opts.Listings <= 0 {
		opts.Listings = 2000
	}
	if opts.Buyers <= 0 {
		opts.Buyers = 400
	}
	if opts.PartnerKeys == nil {
		opts.PartnerKeys = map[string]string{DemoPartnerKey: "northwind", "mk_live_initech_4f1c": "initech"}
	}
	if opts.Vouchers == nil {
		opts.Vouchers = []string{DemoVoucher, "FREEDELIV1"}
	}
	a := &API{opts: opts, accounts: map[string]bool{}, sessions: map[string]int{}}
	var seed [8]byte
	for i := range seed {
		seed[i] = byte(opts.Seed >> (8 * i))
	}
	a.secret = seed[:]
	rng := rand.New(rand.NewPCG(opts.Seed, 0x3a7c))
	for i := 1; i <= opts.Listings; i++ {
		a.listings = append(a.listings, listing{Slug: Slug(i), Title: fmt.Sprintf("Used %s #%d", things[rng.IntN(len(things))], i),
			Seller: sellers[rng.IntN(len(sellers))], Price: 500 + rng.IntN(90000), Qty: 1 + rng.IntN(3)})
	}
	for b := 1; b <= opts.Buyers; b++ {
		a.accounts[fmt.Sprintf("buyer%d@market.example", b)] = true
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", a.home)
	m.HandleFunc("GET /assets/{file...}", a.asset)
	m.HandleFunc("GET /v2/listings", a.list)
	m.HandleFunc("GET /v2/listings/{slug}", a.get)
	m.HandleFunc("GET /v2/find", a.find)
	m.HandleFunc("POST /auth/session", a.signIn)
	m.HandleFunc("POST /auth/register", a.register)
	m.HandleFunc("POST /auth/recover", a.recover)
	m.HandleFunc("POST /redeem", a.redeem)
	m.HandleFunc("GET /v2/me/purchases", a.purchases)
	m.HandleFunc("GET /v2/sync/listings", a.partner)
	m.HandleFunc("GET /v2/sync/stock", a.partner)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeError(w, 404, "no such resource") })
	a.mux = m
	return a
}

// Slug is the path segment of listing n.
func Slug(n int) string { return fmt.Sprintf("lst-%05d", n) }

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func writeError(w http.ResponseWriter, status int, msg string) {
	jsonapi.Write(w, status, map[string]string{"message": msg})
}

// decode reads a JSON object body of at most 16 KiB into v; on failure it
// answers 400 and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := jsonapi.Decode(w, r, 16<<10, v); err != nil {
		writeError(w, 400, "malformed JSON")
		return false
	}
	return true
}

func (a *API) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><title>Market</title><link rel="stylesheet" href="/assets/market.css"><script src="/assets/bundle.js"></script>` + "\n"))
}

var assetTypes = map[string]string{"bundle.js": "text/javascript", "market.css": "text/css", "icon.png": "image/png"}

func (a *API) asset(w http.ResponseWriter, r *http.Request) {
	typ, ok := assetTypes[r.PathValue("file")]
	if !ok {
		writeError(w, 404, "no such asset")
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte("/* asset */\n"))
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	cursor, err1 := strconv.Atoi(cmp.Or(r.URL.Query().Get("cursor"), "0"))
	limit, err2 := strconv.Atoi(cmp.Or(r.URL.Query().Get("limit"), "24"))
	if err1 != nil || err2 != nil || cursor < 0 || limit < 1 || limit > 100 {
		writeError(w, 400, "cursor must be >= 0 and limit in 1..100")
		return
	}
	start := min(cursor, len(a.listings))
	end := min(start+limit, len(a.listings))
	jsonapi.Write(w, 200, map[string]any{"data": a.listings[start:end], "next_cursor": end})
}

// index returns the listing number of slug, 0 when it is not one.
func index(slug string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(slug, "lst-"))
	if err != nil || !strings.HasPrefix(slug, "lst-") || n < 1 {
		return 0
	}
	return n
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	n := index(r.PathValue("slug"))
	switch {
	case n >= 1 && n <= len(a.listings):
		jsonapi.Write(w, 200, map[string]any{"data": a.listings[n-1]})
	case n > len(a.listings) && n <= len(a.listings)+delisted:
		writeError(w, 410, "listing was removed")
	default:
		writeError(w, 404, "no such listing")
	}
}

func (a *API) find(w http.ResponseWriter, r *http.Request) {
	term := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("term")))
	if term == "" {
		writeError(w, 422, "term is required")
		return
	}
	var out []listing
	for _, l := range a.listings {
		if len(out) == 24 {
			break
		}
		if strings.Contains(strings.ToLower(l.Title), term) {
			out = append(out, l)
		}
	}
	jsonapi.Write(w, 200, map[string]any{"data": out})
}

// buyer returns the buyer number of email, 0 when there is no such account.
func (a *API) buyer(email string) int {
	var n int
	if _, err := fmt.Sscanf(strings.ToLower(email), "buyer%d@market.example", &n); err != nil || n < 1 || n > a.opts.Buyers {
		return 0
	}
	return n
}

func (a *API) signIn(w http.ResponseWriter, r *http.Request) {
	var body struct{ Email, Password string }
	if !decode(w, r, &body) {
		return
	}
	n := a.buyer(body.Email)
	if n == 0 || body.Password != fmt.Sprintf("open-sesame-%d", n) {
		writeError(w, 403, "email or password is wrong")
		return
	}
	a.mu.Lock()
	a.logins++
	mac := hmac.New(sha256.New, a.secret)
	fmt.Fprintf(mac, "%d/%d", n, a.logins)
	sid := hex.EncodeToString(mac.Sum(nil)[:16])
	a.sessions[sid] = n
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	jsonapi.Write(w, 201, map[string]any{"buyer": n})
}

// session returns the buyer of r's session cookie, 0 for none.
func (a *API) session(r *http.Request) int {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

func (a *API) register(w http.ResponseWriter, r *http.Request) {
	var body struct{ Email string }
	if !decode(w, r, &body) {
		return
	}
	email := strings.ToLower(strings.TrimSpace(body.Email))
	if !strings.Contains(email, "@") {
		writeError(w, 422, "email is invalid")
		return
	}
	a.mu.Lock()
	taken := a.accounts[email]
	a.accounts[email] = true
	a.mu.Unlock()
	if taken {
		writeError(w, 422, "email is taken")
		return
	}
	jsonapi.Write(w, 201, map[string]string{"status": "registered"})
}

func (a *API) recover(w http.ResponseWriter, r *http.Request) {
	var body struct{ Email string }
	if !decode(w, r, &body) {
		return
	}
	a.mu.Lock()
	known := a.accounts[strings.ToLower(strings.TrimSpace(body.Email))]
	a.mu.Unlock()
	if !known {
		writeError(w, 422, "no account with that email") // the leak enumeration feeds on
		return
	}
	jsonapi.Write(w, 202, map[string]string{"status": "recovery mail sent"})
}

func (a *API) redeem(w http.ResponseWriter, r *http.Request) {
	var body struct{ Voucher string }
	if !decode(w, r, &body) {
		return
	}
	code := strings.ToUpper(strings.TrimSpace(body.Voucher))
	if len(code) != 10 {
		writeError(w, 400, "a voucher has 10 characters")
		return
	}
	for _, v := range a.opts.Vouchers {
		if v == code {
			jsonapi.Write(w, 200, map[string]any{"voucher": code, "credit_minor": 1000})
			return
		}
	}
	writeError(w, 422, "voucher is not valid")
}

func (a *API) purchases(w http.ResponseWriter, r *http.Request) {
	n := a.session(r)
	if n == 0 {
		writeError(w, 403, "sign in first")
		return
	}
	jsonapi.Write(w, 200, map[string]any{"buyer": n, "data": []map[string]any{{"listing": Slug(1 + n%len(a.listings)), "state": "delivered"}}})
}

func (a *API) partner(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	name := a.opts.PartnerKeys[strings.TrimSpace(key)]
	if !ok || name == "" {
		writeError(w, 403, "invalid API token")
		return
	}
	cursor, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	start := min(max(cursor, 0), len(a.listings))
	end := min(start+50, len(a.listings))
	jsonapi.Write(w, 200, map[string]any{"partner": name, "data": a.listings[start:end], "next_cursor": end})
}
