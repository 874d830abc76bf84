// Package sample is a small, realistic shop API with real status semantics:
// the target of game days, where a simulator drives attacks at it through
// the guard. Some endpoints leak on purpose (signup answers 409 for a taken
// email, password reset 404 for an unknown one) so the detectors have
// something to catch.
package sample

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/internal/sample/jsonapi"
	"github.com/golang-jwt/jwt/v5"
)

// Options configures New. Zero fields get the defaults documented on each.
type Options struct {
	// Seed makes the catalog, reviews, order history and session tokens
	// deterministic: two APIs with one seed answer one request sequence
	// byte for byte alike.
	Seed uint64
	// Products is the catalog size; ids 1..Products exist. Default 1000.
	Products int
	// Users is the number of accounts: user1..userN, password
	// "correct-horse-N", email userN@example.com. Default 500.
	Users int
	// PartnerKeys maps X-API-Key values to partner names.
	// Default {"partner-demo-key": "acme"}.
	PartnerKeys map[string]string
	// PromoCodes are the codes /api/promo/redeem accepts.
	// Default WELCOME10, SPRING25, FREESHIP.
	PromoCodes []string
	// TokenSecret signs the session tokens login issues: HS256 JWTs with
	// the user name as subject and TokenIssuer as issuer, valid for a day.
	// Default DemoTokenSecret.
	TokenSecret []byte
	// Now is the clock for token times (default time.Now).
	Now func() time.Time
}

// DemoPartnerKey, DemoPromoCode and DemoUser are demo credentials valid
// under the default Options.
const (
	DemoPartnerKey = "partner-demo-key"
	DemoPromoCode  = "WELCOME10"
	DemoUser       = "user1"
	DemoPassword   = "correct-horse-1"
	// DemoTokenSecret signs session tokens unless Options.TokenSecret is
	// set; a guard verifying them needs the same secret.
	DemoTokenSecret = "sample-shop-demo-secret-not-for-production"
	// TokenIssuer is the iss claim of session tokens.
	TokenIssuer = "sample-shop"
	// TokenSecretEnv is the environment variable `abuseguard sample-api`
	// reads the token secret from (examples/shop.yaml has the guard read
	// the same one).
	TokenSecretEnv = "SAMPLE_SHOP_JWT_SECRET"
)

// API is the sample shop. It is an http.Handler, safe for concurrent use,
// and deterministic for a seed.
type API struct {
	opts     Options
	mux      *http.ServeMux
	products []product // products[i].ID == i+1
	promos   map[string]int

	mu     sync.RWMutex
	emails map[string]bool  // taken, lower case
	orders map[int][]*order // user id -> orders, oldest first
	nextID int              // next order id
	logins int              // successful logins, salts tokens
}

type product struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Category string `json:"category"`
	Price    int    `json:"price_cents"`
	Stock    int    `json:"stock"`
	reviews  []*review
}

type review struct {
	ID      int    `json:"id"`
	Rating  int    `json:"rating"`
	Body    string `json:"body"`
	Author  int    `json:"author_id"`
	Product int    `json:"product_id"`
}

type user struct {
	ID       int    `json:"id"`
	Username string `json:"username"`
}

type order struct {
	ID     int         `json:"id"`
	User   int         `json:"user_id"`
	Items  []orderItem `json:"items"`
	Total  int         `json:"total_cents"`
	Status string      `json:"status"`
}

type orderItem struct {
	ProductID int `json:"product_id"`
	Quantity  int `json:"quantity"`
}

var (
	adjectives = []string{"Blue", "Red", "Compact", "Deluxe", "Rugged", "Silent", "Smart", "Vintage", "Wireless", "Organic"}
	nouns      = []string{"Widget", "Kettle", "Backpack", "Lamp", "Headphones", "Mug", "Notebook", "Sneakers", "Blender", "Tent"}
	categories = []string{"home", "outdoor", "audio", "kitchen", "office"}
	phrases    = []string{"Works as described.", "Broke after a week.", "Great value.", "Would buy again.", "Shipping was slow."}
	statuses   = []string{"delivered", "shipped", "processing"}
)

// New returns the shop for opts.
func New(opts Options) *API {
	if opts.Products <= 0 {
		opts.Products = 1000
	}
	if opts.Users <= 0 {
		opts.Users = 500
	}
	if opts.PartnerKeys == nil {
		opts.PartnerKeys = map[string]string{DemoPartnerKey: "acme", "partner-globex-key": "globex"}
	}
	if opts.TokenSecret == nil {
		opts.TokenSecret = []byte(DemoTokenSecret)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PromoCodes == nil {
		opts.PromoCodes = []string{DemoPromoCode, "SPRING25", "FREESHIP"}
	}
	a := &API{
		opts:   opts,
		promos: map[string]int{},
		emails: map[string]bool{},
		orders: map[int][]*order{},
		nextID: 1,
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed5a3b1e))
	reviewID := 1
	for id := 1; id <= opts.Products; id++ {
		p := product{
			ID:       id,
			Name:     fmt.Sprintf("%s %s %d", adjectives[rng.IntN(len(adjectives))], nouns[rng.IntN(len(nouns))], id),
			Category: categories[rng.IntN(len(categories))],
			Price:    199 + rng.IntN(20000),
			Stock:    rng.IntN(250),
		}
		for range rng.IntN(5) {
			p.reviews = append(p.reviews, &review{ID: reviewID, Rating: 1 + rng.IntN(5),
				Body: phrases[rng.IntN(len(phrases))], Author: 1 + rng.IntN(opts.Users), Product: id})
			reviewID++
		}
		a.products = append(a.products, p)
	}
	for u := 1; u <= opts.Users; u++ {
		a.emails[fmt.Sprintf("user%d@example.com", u)] = true
		for range rng.IntN(4) {
			items := []orderItem{{ProductID: 1 + rng.IntN(opts.Products), Quantity: 1 + rng.IntN(3)}}
			a.addOrder(u, items, statuses[rng.IntN(len(statuses))])
		}
	}
	for i, c := range opts.PromoCodes {
		a.promos[c] = 10 + 5*(i%4)
	}
	a.routes()
	return a
}

// addOrder records an order for user; the caller holds mu or owns a.
func (a *API) addOrder(userID int, items []orderItem, status string) *order {
	o := &order{ID: a.nextID, User: userID, Items: items, Status: status}
	for _, it := range items {
		o.Total += a.products[it.ProductID-1].Price * it.Quantity
	}
	a.nextID++
	a.orders[userID] = append(a.orders[userID], o)
	return o
}

func (a *API) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", a.home)
	m.HandleFunc("GET /static/{file...}", a.static)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { jsonapi.Write(w, 200, map[string]string{"status": "ok"}) })
	m.HandleFunc("GET /api/products", a.listProducts)
	m.HandleFunc("GET /api/products/{id}", a.getProduct)
	m.HandleFunc("GET /api/search", a.search)
	m.HandleFunc("POST /api/login", a.login)
	m.HandleFunc("POST /api/signup", a.signup)
	m.HandleFunc("POST /api/password-reset", a.passwordReset)
	m.HandleFunc("POST /api/promo/redeem", a.redeem)
	m.HandleFunc("GET /api/orders", a.session(a.listOrders))
	m.HandleFunc("POST /api/orders", a.session(a.createOrder))
	m.HandleFunc("GET /api/partner/orders", a.partner(a.partnerOrders))
	m.HandleFunc("GET /api/partner/inventory", a.partner(a.partnerInventory))
	m.HandleFunc("POST /graphql", a.graphqlHandler)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeError(w, 404, "not found") })
	a.mux = m
}

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

var _ http.Handler = (*API)(nil)

func writeError(w http.ResponseWriter, status int, msg string) {
	jsonapi.Write(w, status, map[string]string{"error": msg})
}

// decode reads a JSON object body of at most 64 KiB into v; on failure it
// answers 400 and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := jsonapi.Decode(w, r, 64<<10, v); err != nil {
		writeError(w, 400, "invalid JSON body")
		return false
	}
	return true
}

const homeHTML = `<!doctype html>
<html><head><title>Sample Shop</title><link rel="stylesheet" href="/static/site.css"></head>
<body><h1>Sample Shop</h1><p><a href="/api/products">Products</a></p>
<script src="/static/app.js"></script></body></html>
`

var assets = map[string]struct{ typ, body string }{
	"app.js":   {"text/javascript", "fetch('/api/products?per_page=5').then(r => r.json()).then(console.log);\n"},
	"site.css": {"text/css", "body { font-family: sans-serif; margin: 2em; }\n"},
	"logo.svg": {"image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" fill="teal"/></svg>` + "\n"},
}

func (a *API) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(homeHTML))
}

func (a *API) static(w http.ResponseWriter, r *http.Request) {
	f, ok := assets[r.PathValue("file")]
	if !ok {
		writeError(w, 404, "not found")
		return
	}
	w.Header().Set("Content-Type", f.typ)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write([]byte(f.body))
}

// intParam returns the query parameter name as an int in [lo, hi], def when
// absent; ok is false when it is malformed or out of range.
func intParam(r *http.Request, name string, def, lo, hi int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= lo && n <= hi
}

func (a *API) listProducts(w http.ResponseWriter, r *http.Request) {
	page, ok1 := intParam(r, "page", 1, 1, 1<<20)
	per, ok2 := intParam(r, "per_page", 20, 1, 100)
	if !ok1 || !ok2 {
		writeError(w, 400, "page must be >= 1 and per_page in 1..100")
		return
	}
	start := min((page-1)*per, len(a.products))
	end := min(start+per, len(a.products))
	jsonapi.Write(w, 200, map[string]any{"items": a.products[start:end], "page": page, "per_page": per,
		"total": len(a.products), "total_pages": (len(a.products) + per - 1) / per})
}

func (a *API) productByID(s string) *product {
	id, err := strconv.Atoi(s)
	if err != nil || id < 1 || id > len(a.products) {
		return nil
	}
	return &a.products[id-1]
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) {
	p := a.productByID(r.PathValue("id"))
	if p == nil {
		writeError(w, 404, "product not found")
		return
	}
	jsonapi.Write(w, 200, map[string]any{"product": p, "reviews": p.reviews})
}

// searchProducts returns up to limit products whose name contains q, case
// insensitively.
func (a *API) searchProducts(q string, limit int) []*product {
	q = strings.ToLower(q)
	var out []*product
	for i := range a.products {
		if len(out) >= limit {
			break
		}
		if strings.Contains(strings.ToLower(a.products[i].Name), q) {
			out = append(out, &a.products[i])
		}
	}
	return out
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		writeError(w, 400, "q is required")
		return
	}
	items := a.searchProducts(q, 20)
	if items == nil {
		items = []*product{}
	}
	jsonapi.Write(w, 200, map[string]any{"query": q, "items": items})
}

// userID returns the id of "userN" when N is an existing user, else 0.
func (a *API) userID(username string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(username, "user"))
	if !strings.HasPrefix(username, "user") || err != nil || n < 1 || n > a.opts.Users || username != "user"+strconv.Itoa(n) {
		return 0
	}
	return n
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var body struct{ Username, Password string }
	if !decode(w, r, &body) {
		return
	}
	id := a.userID(body.Username)
	if id == 0 || body.Password != fmt.Sprintf("correct-horse-%d", id) {
		writeError(w, 401, "invalid credentials")
		return
	}
	a.mu.Lock()
	a.logins++
	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%s/%d", a.opts.Seed, body.Username, a.logins))
	a.mu.Unlock()
	now := a.opts.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: body.Username, Issuer: TokenIssuer, ID: hex.EncodeToString(sum[:8]),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(24 * time.Hour)),
	}).SignedString(a.opts.TokenSecret)
	if err != nil {
		writeError(w, 500, "cannot sign a session token")
		return
	}
	jsonapi.Write(w, 200, map[string]any{"token": token, "user": user{ID: id, Username: body.Username}})
}

// emailBody decodes {"email"}; on failure it answers 400 and returns "".
func emailBody(w http.ResponseWriter, r *http.Request) string {
	var body struct{ Email string }
	if !decode(w, r, &body) {
		return ""
	}
	e := strings.ToLower(strings.TrimSpace(body.Email))
	if at := strings.IndexByte(e, '@'); at < 1 || at == len(e)-1 {
		writeError(w, 400, "a valid email is required")
		return ""
	}
	return e
}

func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	e := emailBody(w, r)
	if e == "" {
		return
	}
	a.mu.Lock()
	taken := a.emails[e]
	a.emails[e] = true
	a.mu.Unlock()
	if taken {
		writeError(w, 409, "an account with that email already exists")
		return
	}
	jsonapi.Write(w, 201, map[string]string{"email": e, "status": "created"})
}

func (a *API) passwordReset(w http.ResponseWriter, r *http.Request) {
	e := emailBody(w, r)
	if e == "" {
		return
	}
	a.mu.RLock()
	exists := a.emails[e]
	a.mu.RUnlock()
	if !exists {
		writeError(w, 404, "no account with that email")
		return
	}
	jsonapi.Write(w, 202, map[string]string{"status": "reset email sent"})
}

func (a *API) redeem(w http.ResponseWriter, r *http.Request) {
	var body struct{ Code string }
	if !decode(w, r, &body) {
		return
	}
	pct, ok := a.promos[body.Code]
	if !ok {
		writeError(w, 400, "invalid promo code")
		return
	}
	jsonapi.Write(w, 200, map[string]any{"code": body.Code, "discount_percent": pct})
}

// session wraps h so that it runs only with a valid Bearer token, passing
// the user id.
func (a *API) session(h func(http.ResponseWriter, *http.Request, int)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		id := 0
		if ok {
			id = a.sessionUser(token)
		}
		if id == 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shop"`)
			writeError(w, 401, "login required")
			return
		}
		h(w, r, id)
	}
}

// sessionUser returns the user id a session token was issued to, or 0
// when the token does not verify.
func (a *API) sessionUser(token string) int {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.opts.TokenSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(TokenIssuer), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.opts.Now))
	if err != nil {
		return 0
	}
	return a.userID(claims.Subject)
}

func (a *API) listOrders(w http.ResponseWriter, _ *http.Request, id int) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	jsonapi.Write(w, 200, map[string]any{"orders": append([]*order{}, a.orders[id]...)})
}

func (a *API) createOrder(w http.ResponseWriter, r *http.Request, id int) {
	var body orderItem
	if !decode(w, r, &body) {
		return
	}
	if body.ProductID < 1 || body.ProductID > len(a.products) || body.Quantity < 1 || body.Quantity > 100 {
		writeError(w, 400, "product_id must exist and quantity be in 1..100")
		return
	}
	a.mu.Lock()
	o := a.addOrder(id, []orderItem{body}, "processing")
	a.mu.Unlock()
	jsonapi.Write(w, 201, o)
}

// partner wraps h so that it runs only with a known X-API-Key, passing the
// partner name.
func (a *API) partner(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, ok := a.opts.PartnerKeys[r.Header.Get("X-API-Key")]
		if !ok {
			writeError(w, 401, "missing or unknown API key")
			return
		}
		h(w, r, name)
	}
}

func (a *API) partnerOrders(w http.ResponseWriter, _ *http.Request, name string) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []*order
	for u := 1; u <= min(a.opts.Users, 20); u++ {
		out = append(out, a.orders[u]...)
	}
	jsonapi.Write(w, 200, map[string]any{"partner": name, "orders": out})
}

func (a *API) partnerInventory(w http.ResponseWriter, _ *http.Request, name string) {
	type stock struct {
		ID    int `json:"id"`
		Stock int `json:"stock"`
	}
	out := make([]stock, 0, len(a.products))
	for _, p := range a.products {
		out = append(out, stock{p.ID, p.Stock})
	}
	jsonapi.Write(w, 200, map[string]any{"partner": name, "inventory": out})
}
