package gameday

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file holds the actors: what each kind of client sends and how it
// paces itself. Actors only shape traffic; nothing they send marks them.

var browserAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
}

var languages = []string{"en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR,fr;q=0.9", "en-GB,en;q=0.9", "es-ES,es;q=0.9,en;q=0.7"}

var searchWords = []string{"lamp", "blue kettle", "tent", "wireless headphones", "mug", "notebook", "sneakers", "smart", "vintage lamp", "backpack", "organic", "blender", "red", "compact tent"}

// browserHeader is what a browser sends on every request.
func browserHeader(rng *rand.Rand) http.Header {
	return http.Header{
		"User-Agent":      {browserAgents[rng.IntN(len(browserAgents))]},
		"Accept":          {"application/json, text/plain, */*"},
		"Accept-Language": {languages[rng.IntN(len(languages))]},
		"Accept-Encoding": {"gzip, deflate, br"},
		"Sec-Fetch-Site":  {"same-origin"},
		"Sec-Fetch-Mode":  {"cors"},
	}
}

// toolHeader is what a script sends: a User-Agent and little else.
func toolHeader(agent string) http.Header {
	return http.Header{"User-Agent": {agent}, "Accept": {"*/*"}}
}

// client is the part every actor shares: its randomness, address and
// standing headers.
type client struct {
	rng    *rand.Rand
	src    netip.Addr
	header http.Header
	api    *API
	app    bool // the app, not a browser: see API.AppToken
}

// step builds a request from the client's address with its headers plus
// extra (name, value pairs).
func (c *client) step(method, path string, wait time.Duration, body []byte, extra ...string) Step {
	h := c.header.Clone()
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return Step{Method: method, Path: path, Header: h, Body: body, Source: c.src, Wait: wait}
}

func (c *client) draw(s Span) time.Duration {
	if s.Max <= s.Min {
		return s.Min
	}
	return s.Min + time.Duration(c.rng.Int64N(int64(s.Max-s.Min)))
}

// every returns the wait of a client pacing itself at rate per second,
// with a tenth of jitter either way.
func (c *client) every(rate float64) time.Duration {
	return time.Duration(float64(time.Second) / rate * (0.9 + 0.2*c.rng.Float64()))
}

func (c *client) productPath(id int) string {
	return strings.Replace(c.api.Product, "{id}", productID(c.api.ProductID, id), 1)
}

// productID spells id n as api.product_id says: a fmt verb, or with
// "uuid:FMT" the version 5 UUID of fmt.Sprintf(FMT, n) in RFC 9562's URL
// namespace (ids that look random yet are the same for every run).
func productID(spelling string, n int) string {
	if m, ok := strings.CutPrefix(spelling, "base62:"); ok {
		return base62ID(m, n)
	}
	name, ok := strings.CutPrefix(spelling, "uuid:")
	if !ok {
		return fmt.Sprintf(spelling, n)
	}
	h := sha1.New()
	h.Write(urlNamespace[:])
	fmt.Fprintf(h, name, n)
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(u)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// base62ID is id n under the spelling "base62:M": n*M modulo 62^6 in 6
// base62 digits (0-9, A-Z, a-z), the short unordered ids hash-id
// libraries make; "" when M is not a number.
func base62ID(multiplier string, n int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const space = 62 * 62 * 62 * 62 * 62 * 62
	m, err := strconv.ParseUint(multiplier, 10, 64)
	if err != nil {
		return ""
	}
	v := uint64(n) % space * (m % space) % space
	var b [6]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[v%62]
		v /= 62
	}
	return string(b[:])
}

// urlNamespace is RFC 9562's URL namespace, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
var urlNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// listPath returns page n of the catalogue.
func (c *client) listPath(n int) string {
	return c.api.Products + "?" + fmt.Sprintf(c.api.ProductsQuery, n)
}

// searchPath returns a search for a word a shopper might type.
func (c *client) searchPath() string {
	return c.api.Search + "?" + c.api.SearchParam + "=" + strings.ReplaceAll(searchWords[c.rng.IntN(len(searchWords))], " ", "+")
}

// signInStep is the sign-in request for an account and password, as JSON or,
// with api.login_form, as a form (a browser's asking for a page).
func (c *client) signInStep(wait time.Duration, user, password string) Step {
	kv := []string{c.api.LoginField, user, orDefault(c.api.PasswordField, "password"), password}
	for k, v := range c.api.LoginExtra {
		kv = append(kv, k, v)
	}
	if !c.api.LoginForm {
		return c.step("POST", c.api.Login, wait, jsonBody(kv...))
	}
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	extra := []string{"Content-Type", "application/x-www-form-urlencoded"}
	if !c.app && c.header.Get("Sec-Fetch-Mode") != "" {
		extra = append(extra, "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Sec-Fetch-Mode", "navigate")
	}
	return c.step("POST", c.api.Login, wait, []byte(f.Encode()), extra...)
}

// keyed returns the header pair that sends an API key.
func (c *client) keyed(key string) []string {
	if c.api.KeyBasic {
		return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))}
	}
	return []string{c.api.KeyHeader, c.api.KeyPrefix + key}
}

// credential returns the header pair a signed-in client sends with
// token (the session cookie's value, or a bearer token), none when token
// is "".
func (c *client) credential(token string) []string {
	switch {
	case token == "":
		return nil
	case c.api.SessionCookie != "" && !(c.app && c.api.AppToken):
		return []string{"Cookie", c.api.SessionCookie + "=" + token}
	}
	return []string{"Authorization", orDefault(c.api.TokenScheme, "Bearer") + " " + token}
}

// tokenOf reads what a sign-in answer gives a signed-in client: the
// session cookie the API names, or {"token": ...}; "" when the sign-in
// failed.
func (c *client) tokenOf(a *Answer) string {
	if !signedInStatus(a) {
		return ""
	}
	if c.api.SessionCookie != "" && !(c.app && c.api.AppToken) {
		for _, ck := range a.Cookies {
			if ck.Name == c.api.SessionCookie {
				return ck.Value
			}
		}
		return ""
	}
	var body map[string]any
	if json.Unmarshal(a.Body, &body) != nil {
		return ""
	}
	tok, _ := body[orDefault(c.api.TokenField, "token")].(string)
	return tok
}

// signedInStatus reports whether a sign-in answer a is a success: a 2xx,
// or a 3xx (a form's redirect after it).
func signedInStatus(a *Answer) bool { return a != nil && a.Status >= 200 && a.Status <= 399 }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// popularProduct draws a product id, skewed to the first ones as real
// catalogs are; now and then a stale id past the end (a 404).
func (c *client) popularProduct() int {
	if c.rng.IntN(50) == 0 {
		return c.api.ProductCount + 1 + c.rng.IntN(100)
	}
	return 1 + int(float64(c.api.ProductCount)*c.rng.Float64()*c.rng.Float64())
}

func (c *client) account(n int) (user, password, email string) {
	return fmt.Sprintf(c.api.Username, n), fmt.Sprintf(c.api.Password, n), fmt.Sprintf(c.api.Email, n)
}

func jsonBody(kv ...string) []byte {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

// --- benign ---------------------------------------------------------------

// browser is a person on the shop's web app: a page, its assets, think
// time, the next page; some sign in along the way.
type browser struct {
	client
	think    Span
	signIn   int // page at which to sign in; 0: never
	typo     bool
	user     int
	token    string
	awaiting bool // the last step was a sign-in
	pages    int
	queue    []Step
	leaves   int // pages before the visit ends; 0: stays
}

func (b *browser) Next(last *Answer) (Step, bool) {
	if b.awaiting {
		b.awaiting = false
		if t := b.tokenOf(last); t != "" {
			b.token = t
		}
	}
	if len(b.queue) == 0 {
		if b.leaves > 0 && b.pages >= b.leaves {
			return Step{}, false
		}
		b.plan()
	}
	s := b.queue[0]
	b.queue = b.queue[1:]
	if s.Path == b.api.Login {
		b.awaiting = true
	}
	return s, true
}

func (b *browser) auth() []string { return b.credential(b.token) }

// plan queues the requests of the next page view.
func (b *browser) plan() {
	b.pages++
	wait := b.draw(b.think)
	if b.pages == 1 {
		wait = time.Duration(b.rng.Int64N(int64(time.Second)))
		b.queue = append(b.queue, b.step("GET", "/", wait, nil, "Sec-Fetch-Mode", "navigate", "Accept", "text/html"))
		for _, a := range b.api.Assets {
			b.queue = append(b.queue, b.step("GET", a, time.Duration(5+b.rng.IntN(30))*time.Millisecond, nil, "Referer", "http://shop.example/"))
		}
		return
	}
	if b.pages == b.signIn && b.token == "" {
		user, password, _ := b.account(b.user)
		if b.typo {
			b.typo = false
			b.pages--
			b.queue = append(b.queue, b.signInStep(wait, user, password+"x"))
			return
		}
		b.queue = append(b.queue, b.signInStep(wait, user, password))
		return
	}
	ref := "Referer"
	switch r := b.rng.IntN(100); {
	case r < 40:
		b.queue = append(b.queue, b.step("GET", b.listPath(1+b.rng.IntN(10)), wait, nil, append(b.auth(), ref, "http://shop.example/")...))
	case r < 75:
		b.queue = append(b.queue, b.step("GET", b.productPath(b.popularProduct()), wait, nil, append(b.auth(), ref, "http://shop.example/products")...))
	case r < 90:
		b.queue = append(b.queue, b.step("GET", b.searchPath(), wait, nil, append(b.auth(), ref, "http://shop.example/")...))
	case r < 95 && b.token != "":
		b.queue = append(b.queue, b.step("GET", b.api.Orders, wait, nil, append(b.auth(), ref, "http://shop.example/account")...))
	default:
		b.pages = 0 // back to the home page, with its assets
		b.plan()
	}
}

func castBrowsing(c *casting) {
	p := c.params.Browsing
	for i := range p.Users {
		rng := c.rng(i)
		src := c.addrs.next()
		b := &browser{client: client{rng: rng, src: src, header: browserHeader(rng), api: &c.params.API}, think: p.Think}
		if rng.Float64() < p.SignInShare {
			b.signIn = 2 + rng.IntN(4)
			b.user = 1 + rng.IntN(c.params.API.Users)
			b.typo = rng.Float64() < p.TypoShare
		}
		// Visitors arrive over the first third of the run.
		c.add("", []netip.Addr{src}, time.Duration(rng.Int64N(int64(c.duration/3)+1)), b)
	}
}

// newcomer is a launch-day visitor: the home page, a few products, a
// signup, a few more, gone.
func castLaunchSpike(c *casting) {
	p := c.params.LaunchSpike
	for i := range p.Users {
		rng := c.rng(i)
		src := c.addrs.next()
		b := &browser{client: client{rng: rng, src: src, header: browserHeader(rng), api: &c.params.API}, think: Span{time.Second, 5 * time.Second}}
		b.leaves = 4 + rng.IntN(5)
		email := fmt.Sprintf("new-%d-%d@example.net", c.seed, i)
		signup := b.step("POST", c.params.API.Signup, 2*time.Second, jsonBody("email", email), "Referer", "http://shop.example/signup")
		n := &newcomer{browser: b, signup: signup, at: 2 + rng.IntN(3)}
		c.add("", []netip.Addr{src}, c.at(p.Start)+time.Duration(rng.Int64N(int64(p.Over)+1)), n)
	}
}

type newcomer struct {
	*browser
	signup Step
	at     int // page after which to sign up
}

func (n *newcomer) Next(last *Answer) (Step, bool) {
	if n.pages == n.at && len(n.queue) == 0 {
		n.at = -1
		return n.signup, true
	}
	return n.browser.Next(last)
}

// regular is a signed-in user of the app or the web shop: it signs in
// before the run, then pages through the catalog and its orders, retrying
// on 5xx.
type regular struct {
	client
	home     netip.Addr
	user     int
	token    string
	interval Span
	retries  int
	tries    int
	graphql  bool // the app: its product screen is a GraphQL query
	last     Step
}

func (u *regular) signIn() Step {
	user, password, _ := u.account(u.user)
	s := u.signInStep(0, user, password)
	s.Source = u.home
	return s
}

func (u *regular) signedIn(a *Answer) error {
	if u.token = u.tokenOf(a); u.token == "" {
		return fmt.Errorf("no token or session cookie in the sign-in answer %d %q", a.Status, a.Body)
	}
	return nil
}

func (u *regular) Next(last *Answer) (Step, bool) {
	if last != nil && last.Outcome == Reached && last.Status >= 500 && u.tries < u.retries {
		u.tries++
		s := u.last
		s.Wait = time.Duration(500<<u.tries) * time.Millisecond
		return s, true
	}
	u.tries = 0
	wait := u.draw(u.interval)
	if last == nil {
		wait = time.Duration(u.rng.Int64N(int64(u.interval.Max)))
	}
	auth := u.credential(u.token)
	var s Step
	switch r := u.rng.IntN(100); {
	case r < 30:
		s = u.step("GET", u.api.Orders, wait, nil, auth...)
	case r < 60:
		s = u.step("GET", u.listPath(1+u.rng.IntN(5)), wait, nil, auth...)
	case r < 80:
		s = u.step("GET", u.productPath(u.popularProduct()), wait, nil, auth...)
	case r < 90 && u.graphql && u.api.GraphQL != "":
		// The app's product screen, in one GraphQL query.
		q := fmt.Sprintf("query ProductScreen { product(id: %d) { id name price stock reviews(first: 5) { rating body author { username } } } }", u.popularProduct())
		s = u.step("POST", u.api.GraphQL, wait, jsonBody("query", q), auth...)
	case r < 90:
		s = u.step("GET", u.productPath(u.popularProduct()), wait, nil, auth...)
	default:
		s = u.step("GET", u.searchPath(), wait, nil, auth...)
	}
	u.last = s
	return s, true
}

func castMobile(c *casting) {
	p := c.params.Mobile
	nat := c.addrs.take(p.Addresses)
	for i := range p.Users {
		rng := c.rng(i)
		src := nat[i%len(nat)]
		h := http.Header{
			"User-Agent":      {fmt.Sprintf("ShopApp/4.2.%d (iPhone; iOS 17.%d; Scale/3.00)", rng.IntN(3), 3+rng.IntN(3))},
			"Accept":          {"application/json"},
			"Accept-Language": {languages[rng.IntN(len(languages))]},
			"Accept-Encoding": {"gzip"},
		}
		m := &regular{client: client{rng: rng, src: src, header: h, api: &c.params.API, app: true}, home: c.addrs.next(),
			user: 1 + (i*7)%c.params.API.Users, interval: p.Interval, retries: p.Retries, graphql: true}
		c.add("", []netip.Addr{src}, 0, m)
	}
}

func castOffice(c *casting) {
	p := c.params.Office
	office := c.officeAddress()
	for i := range p.Users {
		rng := c.rng(i)
		m := &regular{client: client{rng: rng, src: office, header: browserHeader(rng), api: &c.params.API}, home: c.addrs.next(),
			user: 1 + (i*13+100)%c.params.API.Users, interval: p.Think}
		c.add("office", []netip.Addr{office}, 0, m)
	}
}

// machine is a script at a steady pace: each request comes from next.
type machine struct {
	client
	rate  float64
	until time.Duration // 0: the whole run
	n     int
	next  func(m *machine) Step
}

func (m *machine) Next(last *Answer) (Step, bool) {
	if m.until > 0 && last != nil && last.At >= m.until {
		return Step{}, false
	}
	s := m.next(m)
	s.Wait = m.every(m.rate)
	if last == nil {
		s.Wait = time.Duration(m.rng.Int64N(int64(s.Wait) + 1))
	}
	m.n++
	return s, true
}

func castPartnerBatch(c *casting) {
	p := c.params.PartnerBatch
	rng := c.rng(0)
	src := c.addrs.next()
	m := &machine{client: client{rng: rng, src: src, header: toolHeader("acme-sync/2.3 (+https://acme.example/sync)"), api: &c.params.API}, rate: p.Rate}
	m.next = func(m *machine) Step {
		return m.step("GET", m.api.Partner[m.n%len(m.api.Partner)], 0, nil, m.keyed(p.Key)...)
	}
	c.add("", []netip.Addr{src}, 0, m)
}

// --- attacks --------------------------------------------------------------

// attacker casts a script at pace p from one new address, sending what
// next makes; header nil means a browser's headers.
func (c *casting) attacker(p Pace, header http.Header, next func(m *machine) Step) *machine {
	rng := c.rng(0)
	if header == nil {
		header = browserHeader(rng)
	}
	src := c.addrs.next()
	m := &machine{client: client{rng: rng, src: src, header: header, api: &c.params.API}, rate: p.Rate, next: next}
	c.add("", []netip.Addr{src}, c.at(p.Start), m)
	return m
}

// rotating returns the sources of a campaign, used round robin.
func rotating(sources []netip.Addr, n int) netip.Addr { return sources[n%len(sources)] }

func castScrapingFast(c *casting) {
	first := 1 + c.rng(1).IntN(c.params.API.ProductCount)
	c.attacker(c.params.ScrapingFast, toolHeader("python-requests/2.31.0"), func(m *machine) Step {
		return m.step("GET", m.productPath(1+(first+m.n)%m.api.ProductCount), 0, nil)
	})
}

func castScrapingSlow(c *casting) {
	p := c.params.ScrapingSlow
	rng := c.rng(0)
	sources := c.addrs.take(p.Sources)
	mean := (p.Interval.Min + p.Interval.Max) / 2
	h := browserHeader(rng)
	h.Del("Sec-Fetch-Site")
	h.Del("Sec-Fetch-Mode")
	m := &machine{client: client{rng: rng, header: h, api: &c.params.API}, rate: float64(p.Sources) / mean.Seconds()}
	m.next = func(m *machine) Step {
		m.src = rotating(sources, m.n)
		return m.step("GET", m.productPath(1+m.n%m.api.ProductCount), 0, nil)
	}
	c.add("", sources, c.at(p.Start), m)
}

var leakedPasswords = []string{"123456", "password", "qwerty123", "letmein", "iloveyou", "Summer2024!", "dragon", "monkey1", "football", "welcome1", "admin123", "passw0rd"}

// stuffing returns a step source for credential stuffing: leaked pairs,
// half of them for accounts that exist, now and then a pair that works.
func stuffing(c *casting) func(m *machine) Step {
	users := c.params.API.Users
	return func(m *machine) Step {
		n := 1 + m.rng.IntN(2*users)
		user, password, _ := m.account(n)
		switch {
		case n > users && m.rng.IntN(3) == 0:
			user = fmt.Sprintf("%s.%s%d", []string{"anna", "ben", "chris", "dana", "eli"}[m.rng.IntN(5)], []string{"smith", "lee", "khan", "garcia"}[m.rng.IntN(4)], m.rng.IntN(100))
			password = leakedPasswords[m.rng.IntN(len(leakedPasswords))]
		case n <= users && m.rng.IntN(100) == 0: // a reused password that works
		default:
			password = leakedPasswords[m.rng.IntN(len(leakedPasswords))]
		}
		return m.signInStep(0, user, password)
	}
}

func castCredentialStuffing(c *casting) {
	c.attacker(c.params.CredentialStuffing, toolHeader(browserAgents[0]), stuffing(c))
}

func castCredentialStuffingDistributed(c *casting) {
	p := c.params.CredentialStuffingDistributed
	rng := c.rng(0)
	sources := c.addrs.take(p.Sources)
	h := toolHeader(browserAgents[3])
	h.Set("Accept-Language", "en-US,en;q=0.5")
	m := &machine{client: client{rng: rng, header: h, api: &c.params.API}, rate: p.Rate}
	stuff := stuffing(c)
	m.next = func(m *machine) Step {
		m.src = rotating(sources, m.n)
		return stuff(m)
	}
	c.add("", sources, c.at(p.Start), m)
}

func castOfficeAbuser(c *casting) {
	p := c.params.OfficeAbuser
	rng := c.rng(0)
	office := c.officeAddress()
	m := &machine{client: client{rng: rng, src: office, header: toolHeader("python-requests/2.32.3"), api: &c.params.API}, rate: p.Rate}
	m.next = stuffing(c)
	c.add("office", []netip.Addr{office}, c.at(p.Start), m)
}

func castPromoBruteforce(c *casting) {
	const letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	c.attacker(c.params.PromoBruteforce, nil, func(m *machine) Step {
		code := make([]byte, m.api.PromoLength)
		for i := range code {
			code[i] = letters[m.rng.IntN(len(letters))]
		}
		return m.step("POST", m.api.Promo, 0, jsonBody(m.api.PromoField, string(code)), "Referer", "http://shop.example/cart")
	})
}

func castAccountEnumeration(c *casting) {
	c.attacker(c.params.AccountEnumeration, nil, func(m *machine) Step {
		_, _, email := m.account(1 + m.rng.IntN(3*m.api.Users))
		if m.rng.IntN(2) == 0 {
			email = fmt.Sprintf("%s%d@example.org", []string{"john", "maria", "li", "ahmed", "sofia"}[m.rng.IntN(5)], m.rng.IntN(10000))
		}
		if m.api.EnumerationParam != "" {
			return m.step("GET", m.api.Enumeration+"?"+url.Values{m.api.EnumerationParam: {email}}.Encode(), 0, nil, "Referer", "http://shop.example/")
		}
		return m.step("POST", orDefault(m.api.Enumeration, m.api.Reset), 0, jsonBody("email", email), "Referer", "http://shop.example/forgot")
	})
}

var probePaths = []string{
	"/.env", "/.git/config", "/.git/HEAD", "/wp-login.php", "/wp-admin/", "/xmlrpc.php", "/admin", "/admin/login",
	"/phpmyadmin/", "/server-status", "/.aws/credentials", "/config.json", "/backup.zip", "/db.sql", "/.DS_Store",
	"/api/v1/users", "/api/internal/debug", "/actuator/env", "/actuator/health", "/console", "/debug/pprof/",
	"/.svn/entries", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/cgi-bin/test.cgi", "/login.aspx",
	"/solr/admin/", "/jenkins/login", "/api/swagger.json", "/swagger-ui.html", "/graphiql", "/.htpasswd",
	"/web.config", "/id_rsa", "/api/admin/users", "/metrics", "/_profiler", "/telescope/requests", "/storage/logs/laravel.log",
}

func castPathProbing(c *casting) {
	c.attacker(c.params.PathProbing, toolHeader("Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"), func(m *machine) Step {
		path := probePaths[m.n%len(probePaths)]
		if m.n >= len(probePaths) {
			path = fmt.Sprintf("/%s%d", []string{"admin", "backup", "old", "test", "dev"}[m.rng.IntN(5)], m.rng.IntN(1000))
		}
		return m.step("GET", path, 0, nil)
	})
}

func castLeakedKey(c *casting) {
	p := c.params.LeakedKey
	rng := c.rng(0)
	sources := c.addrs.take(p.Sources)
	agents := []string{"curl/8.5.0", "python-requests/2.31.0", "PostmanRuntime/7.37.0", "Go-http-client/1.1", browserAgents[0]}
	m := &machine{client: client{rng: rng, api: &c.params.API}, rate: p.Rate}
	m.next = func(m *machine) Step {
		i := m.rng.IntN(len(sources))
		m.src = sources[i]
		m.header = toolHeader(agents[i%len(agents)])
		return m.step("GET", m.api.Partner[m.rng.IntN(len(m.api.Partner))], 0, nil, m.keyed(p.Key)...)
	}
	c.add("", sources, c.at(p.Start), m)
}

func castTokenChurn(c *casting) {
	c.attacker(c.params.TokenChurn, toolHeader("okhttp/4.12.0"), func(m *machine) Step {
		key := fmt.Sprintf("sk_live_%016x%016x", m.rng.Uint64(), m.rng.Uint64())
		return m.step("GET", m.api.Partner[0], 0, nil, m.keyed(key)...)
	})
}

// deepQuery nests user -> orders -> products -> reviews -> author ... to
// depth levels.
func deepQuery(depth int, id int) string {
	var b strings.Builder
	b.WriteString("{ user(id: " + strconv.Itoa(id) + ") { id ")
	open := 1
	for i := 0; i < depth-1; i++ {
		switch i % 3 {
		case 0:
			b.WriteString("orders(first: 100) { id ")
		case 1:
			b.WriteString("products(first: 100) { id ")
		case 2:
			b.WriteString("reviews(first: 100) { id author { id ")
			open++
		}
		open++
	}
	b.WriteString("username")
	b.WriteString(strings.Repeat(" }", open))
	b.WriteString(" }")
	return b.String()
}

// aliasQuery asks for n products under n aliases, each with its reviews.
func aliasQuery(n, first int) string {
	var b strings.Builder
	b.WriteString("{ ")
	for i := range n {
		fmt.Fprintf(&b, "p%d: product(id: %d) { name reviews(first: 100) { body author { username } } } ", i, first+i)
	}
	b.WriteString("}")
	return b.String()
}

func castGraphQLAbuse(c *casting) {
	p := c.params.GraphQLAbuse
	if c.params.API.GraphQL == "" {
		return // an API without GraphQL
	}
	c.attacker(p.Pace, toolHeader("gql/3.5.0 python-requests/2.31.0"), func(m *machine) Step {
		q := deepQuery(p.Depth, 1+m.rng.IntN(m.api.Users))
		if m.n%2 == 1 {
			q = aliasQuery(p.Aliases, 1+m.rng.IntN(max(1, m.api.ProductCount-p.Aliases)))
		}
		return m.step("POST", m.api.GraphQL, 0, jsonBody("query", q))
	})
}

func castFlood(c *casting) {
	p := c.params.Flood
	m := c.attacker(p.Pace, toolHeader("k6/0.49.0 (https://k6.io/)"), func(m *machine) Step {
		return m.step("GET", m.searchPath(), 0, nil)
	})
	m.until = c.at(p.Start) + p.Length
}

// castOverloadFlood: one actor per source, each pacing itself at its
// share of the rate, so that many requests are in flight at once.
func castOverloadFlood(c *casting) {
	p := c.params.OverloadFlood
	sources := c.addrs.take(p.Sources)
	for i, src := range sources {
		rng := c.rng(i)
		m := &machine{client: client{rng: rng, src: src, header: toolHeader("k6/0.49.0 (https://k6.io/)"), api: &c.params.API},
			rate: p.Rate / float64(len(sources))}
		m.next = func(m *machine) Step { return m.step("GET", m.searchPath(), 0, nil) }
		c.add("", []netip.Addr{src}, c.at(p.Start), m)
	}
}

// intruder touches the decoy after the home page, then browses on.
type intruder struct {
	*browser
	decoy string
	seen  bool
}

func (i *intruder) Next(last *Answer) (Step, bool) {
	if !i.seen && i.pages == 1 && len(i.queue) == 0 {
		i.seen = true
		return i.step("GET", i.decoy, i.draw(i.think), nil), true
	}
	return i.browser.Next(last)
}

func castHoneypot(c *casting) {
	p := c.params.Honeypot
	rng := c.rng(0)
	src := c.addrs.next()
	b := &browser{client: client{rng: rng, src: src, header: browserHeader(rng), api: &c.params.API}, think: p.Think}
	c.add("", []netip.Addr{src}, c.at(p.Start), &intruder{browser: b, decoy: c.params.API.Decoy})
}

// probeGroup is the group of the latency probe's actor.
const probeGroup = "latency-probe"

// newProbe returns the latency probe: one product page every 250 ms,
// alternately through the guard and straight to the upstream.
func newProbe(p *Params, seed uint64, index int) Cast {
	rng := rand.New(rand.NewPCG(seed, 0x9e0be))
	src := netip.AddrFrom4([4]byte{127, 0, 0, 2}) // outside the range the scenarios draw from
	m := &machine{client: client{rng: rng, src: src, header: browserHeader(rng), api: &p.API}, rate: 4}
	m.next = func(m *machine) Step {
		s := m.step("GET", m.productPath(m.popularProduct()), 0, nil)
		s.bare = m.n%2 == 1
		return s
	}
	return Cast{Info: ActorInfo{Name: probeGroup + "/" + strconv.Itoa(index+1), Scenario: probeGroup, Label: Benign, Group: probeGroup, Sources: []netip.Addr{src}}, Actor: m}
}
