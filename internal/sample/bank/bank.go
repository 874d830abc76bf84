// Package bank is a fifth sample API, held out: a mobile banking API
// written after issue 10's fixes for the ticketing and help-desk APIs, and
// kept out of their tuning, shaped unlike the shop, the marketplace, the
// ticketing and the help-desk APIs on purpose. Its public merchant
// directory has prefixed ids (GET /v1/merchants/{id}, "mch_" and 12
// digits), lists page by ?cursor=N; sign-in is a phone number and a PIN
// (POST /v1/auth/login {"phone","pin"}) answering 200 {"access_token"}
// and a __Host-sid cookie for the web bank, 403 {"code":"INVALID_PIN"}
// when wrong; a PIN reset answers 202 whatever the email, while a
// recipient resolver (POST /v1/recipients/resolve {"email"}, "pay by
// email") answers 200 or 404; signup answers 409 when the email is
// taken; a wrong referral code is 422; partner (aggregator) keys are sent
// Azure API Management style as "Ocp-Apim-Subscription-Key: KEY". None
// of those spellings is among the guard's defaults. Game days run the
// same attack kinds at it as at the others (docs/detection-quality.md).
package bank

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
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
	// Seed makes the merchants and sessions deterministic.
	Seed uint64
	// Merchants is the directory's size: merchants 1..N, with the ids
	// MerchantID(n). Default 1000.
	Merchants int
	// Customers is the number of accounts: phone PhoneOf(n), PIN
	// PINOf(n), email customerN@mail.example. Default 350.
	Customers int
	// PartnerKeys maps subscription keys to partner names. Default
	// {DemoPartnerKey: "ledgerly", "apim_9c2e41b7d05f4a18": "moneyhub"}.
	PartnerKeys map[string]string
	// ReferralCodes are the codes the referral scheme accepts: 6 upper-case
	// letters or digits. Default FRIEND, BANK26.
	ReferralCodes []string
}

// Demo credentials and names valid under the default Options.
const (
	DemoPartnerKey = "apim_4f1d8a2c6b9e0357"
	DemoCode       = "FRIEND"
	// SessionCookie is the cookie the web bank's sign-in sets.
	SessionCookie = "__Host-sid"
)

// MerchantID is merchant n's id: "mch_" and n+100000000000 in 12 digits
// (large, numeric, prefixed, as a payments API prints them). Ids past the
// directory are well-formed and unknown (404).
func MerchantID(n int) string { return fmt.Sprintf("mch_%d", 100000000000+n) }

// PhoneOf is customer n's phone number (E.164, a UK test range).
func PhoneOf(n int) string { return fmt.Sprintf("+447700%06d", n) }

// PINOf is customer n's six-digit PIN.
func PINOf(n int) string { return fmt.Sprintf("%06d", 900000+n) }

// API is the banking API. It is an http.Handler, safe for concurrent use,
// and deterministic for a seed.
type API struct {
	opts      Options
	mux       *http.ServeMux
	merchants []merchant
	secret    []byte

	mu       sync.Mutex
	emails   map[string]bool   // lower-case email -> has an account
	sessions map[string]string // session id or access token -> phone
	signIns  int
}

type merchant struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Category string `json:"category"`
	City     string `json:"city"`
}

var _ http.Handler = (*API)(nil)

var (
	names      = []string{"Corner Cafe", "Green Grocer", "City Cycles", "Book Nook", "Pharma Plus", "Fuel Stop", "Tailor & Co", "Pet Palace"}
	categories = []string{"food", "groceries", "transport", "retail", "health"}
	cities     = []string{"London", "Leeds", "Bristol", "Glasgow", "Cardiff"}
)

// New returns the banking API for opts.
func New(opts Options) *API {
	if opts.Merchants <= 0 {
		opts.Merchants = 1000
	}
	if opts.Customers <= 0 {
		opts.Customers = 350
	}
	if opts.PartnerKeys == nil {
		opts.PartnerKeys = map[string]string{DemoPartnerKey: "ledgerly", "apim_9c2e41b7d05f4a18": "moneyhub"}
	}
	if opts.ReferralCodes == nil {
		opts.ReferralCodes = []string{DemoCode, "BANK26"}
	}
	a := &API{opts: opts, emails: map[string]bool{}, sessions: map[string]string{}}
	a.secret = binary.LittleEndian.AppendUint64(nil, opts.Seed^0xba4c)
	rng := rand.New(rand.NewPCG(opts.Seed, 0xba4c))
	for i := 1; i <= opts.Merchants; i++ {
		a.merchants = append(a.merchants, merchant{ID: MerchantID(i), Name: fmt.Sprintf("%s %d", names[rng.IntN(len(names))], i),
			Category: categories[rng.IntN(len(categories))], City: cities[rng.IntN(len(cities))]})
	}
	for n := 1; n <= opts.Customers; n++ {
		a.emails[fmt.Sprintf("customer%d@mail.example", n)] = true
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", a.home)
	m.HandleFunc("GET /static/{file}", a.asset)
	m.HandleFunc("GET /v1/merchants", a.list)
	m.HandleFunc("GET /v1/merchants/search", a.search)
	m.HandleFunc("GET /v1/merchants/{id}", a.get)
	m.HandleFunc("POST /v1/auth/login", a.login)
	m.HandleFunc("POST /v1/auth/pin-reset", a.reset)
	m.HandleFunc("POST /v1/customers", a.signup)
	m.HandleFunc("POST /v1/recipients/resolve", a.resolve)
	m.HandleFunc("POST /v1/referrals/redeem", a.redeem)
	m.HandleFunc("GET /v1/me/transactions", a.transactions)
	m.HandleFunc("GET /v1/aggregator/{what}", a.aggregator)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fail(w, 404, "NOT_FOUND") })
	a.mux = m
	return a
}

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// fail answers status with the API's error body {"code"}.
func fail(w http.ResponseWriter, status int, code string) {
	jsonapi.Write(w, status, map[string]string{"code": code})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := jsonapi.Decode(w, r, 16<<10, v); err != nil {
		fail(w, 400, "INVALID_BODY")
		return false
	}
	return true
}

func (a *API) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><title>Bank</title><script src="/static/bank.js"></script>` + "\n"))
}

var assetTypes = map[string]string{"bank.js": "text/javascript", "bank.css": "text/css", "icon.png": "image/png"}

func (a *API) asset(w http.ResponseWriter, r *http.Request) {
	typ, ok := assetTypes[r.PathValue("file")]
	if !ok {
		fail(w, 404, "NOT_FOUND")
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte("/* asset */\n"))
}

const pageSize = 20

// list answers a page of merchants from ?cursor=N (an offset).
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		var err error
		if start, err = strconv.Atoi(c); err != nil || start < 0 {
			fail(w, 400, "INVALID_CURSOR")
			return
		}
	}
	start = min(start, len(a.merchants))
	end := min(start+pageSize, len(a.merchants))
	jsonapi.Write(w, 200, map[string]any{"data": a.merchants[start:end], "next_cursor": end})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.PathValue("id"), "mch_"))
	if err != nil || !strings.HasPrefix(r.PathValue("id"), "mch_") || n <= 100000000000 || n > 100000000000+len(a.merchants) {
		fail(w, 404, "MERCHANT_NOT_FOUND")
		return
	}
	jsonapi.Write(w, 200, a.merchants[n-100000000001])
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	if q == "" {
		fail(w, 400, "QUERY_REQUIRED")
		return
	}
	out := []merchant{}
	for _, m := range a.merchants {
		if len(out) == 10 {
			break
		}
		if strings.Contains(strings.ToLower(m.Name+" "+m.Category+" "+m.City), q) {
			out = append(out, m)
		}
	}
	jsonapi.Write(w, 200, map[string]any{"data": out})
}

// customer returns the customer number of phone, 0 for none.
func (a *API) customer(phone string) int {
	var n int
	if _, err := fmt.Sscanf(phone, "+447700%06d", &n); err != nil || n < 1 || n > a.opts.Customers || PhoneOf(n) != phone {
		return 0
	}
	return n
}

// login checks {"phone","pin"}: 200 {"access_token"} and a session
// cookie, 403 INVALID_PIN when the pair is wrong.
func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Phone string `json:"phone"`
		PIN   string `json:"pin"`
	}
	if !decode(w, r, &body) {
		return
	}
	n := a.customer(strings.TrimSpace(body.Phone))
	if n == 0 || !hmac.Equal([]byte(body.PIN), []byte(PINOf(n))) {
		fail(w, 403, "INVALID_PIN")
		return
	}
	a.mu.Lock()
	a.signIns++
	mac := hmac.New(sha256.New, a.secret)
	fmt.Fprintf(mac, "%d/%d", n, a.signIns)
	tok := hex.EncodeToString(mac.Sum(nil)[:20])
	a.sessions[tok] = PhoneOf(n)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	jsonapi.Write(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 900})
}

// reset answers 202 whatever the email: it does not say who has an account.
func (a *API) reset(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email string `json:"email"`
	}
	if !decode(w, r, &body) {
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// signedIn returns the phone of r's bearer token or session cookie, ""
// for none.
func (a *API) signedIn(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			return ""
		}
		tok = c.Value
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[strings.TrimSpace(tok)]
}

func (a *API) transactions(w http.ResponseWriter, r *http.Request) {
	who := a.signedIn(r)
	if who == "" {
		fail(w, 401, "UNAUTHENTICATED")
		return
	}
	h := sha256.Sum256([]byte(who))
	items := []map[string]any{}
	for i := range 3 {
		items = append(items, map[string]any{"id": fmt.Sprintf("txn_%x", h[i*4:i*4+8]), "merchant": MerchantID(int(h[i]) + 1), "amount_minor": -int(h[i+8]) * 10})
	}
	jsonapi.Write(w, 200, map[string]any{"data": items})
}

// signup opens an account: 201, or 409 EMAIL_IN_USE.
func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email string `json:"email"`
	}
	if !decode(w, r, &body) {
		return
	}
	email := strings.ToLower(strings.TrimSpace(body.Email))
	if !strings.Contains(email, "@") {
		fail(w, 422, "EMAIL_INVALID")
		return
	}
	a.mu.Lock()
	taken := a.emails[email]
	a.emails[email] = true
	a.mu.Unlock()
	if taken {
		fail(w, 409, "EMAIL_IN_USE")
		return
	}
	jsonapi.Write(w, 201, map[string]string{"email": email, "status": "pending_kyc"})
}

// resolve finds a payee by email for "pay by email": 200 with the
// display name, 404 when nobody has it. It tells anyone who banks here.
func (a *API) resolve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email string `json:"email"`
	}
	if !decode(w, r, &body) {
		return
	}
	email := strings.ToLower(strings.TrimSpace(body.Email))
	a.mu.Lock()
	found := a.emails[email]
	a.mu.Unlock()
	if !found {
		fail(w, 404, "RECIPIENT_NOT_FOUND")
		return
	}
	name, _, _ := strings.Cut(email, "@")
	jsonapi.Write(w, 200, map[string]string{"display_name": name})
}

// redeem applies a referral code: 200, or 422 INVALID_REFERRAL_CODE.
func (a *API) redeem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code string `json:"referral_code"`
	}
	if !decode(w, r, &body) {
		return
	}
	code := strings.ToUpper(strings.TrimSpace(body.Code))
	for _, c := range a.opts.ReferralCodes {
		if c == code {
			jsonapi.Write(w, 200, map[string]any{"referral_code": code, "bonus_minor": 5000})
			return
		}
	}
	fail(w, 422, "INVALID_REFERRAL_CODE")
}

// aggregator is the account aggregators' bulk feed (accounts,
// transactions): 401 for a missing or unknown subscription key, 404 for
// an unknown feed.
func (a *API) aggregator(w http.ResponseWriter, r *http.Request) {
	name := a.opts.PartnerKeys[r.Header.Get("Ocp-Apim-Subscription-Key")]
	if name == "" {
		jsonapi.Write(w, 401, map[string]any{"statusCode": 401, "message": "Access denied due to missing or invalid subscription key."})
		return
	}
	what := r.PathValue("what")
	if what != "accounts" && what != "transactions" {
		fail(w, 404, "NOT_FOUND")
		return
	}
	n := min(100, len(a.merchants))
	jsonapi.Write(w, 200, map[string]any{"partner": name, "data": a.merchants[:n], "next_cursor": n})
}
