package gameday

import (
	_ "embed"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
)

//go:embed scenarios.yaml
var defaultParamsYAML []byte

//go:embed scenarios-market.yaml
var marketParamsYAML []byte

//go:embed scenarios-tickets.yaml
var ticketsParamsYAML []byte

//go:embed scenarios-desk.yaml
var deskParamsYAML []byte

//go:embed scenarios-bank.yaml
var bankParamsYAML []byte

// APIs are the sample APIs a demo can run against: the shop
// (internal/sample), the marketplace (internal/sample/market) and the
// held-out ticketing (internal/sample/tickets) and help-desk
// (internal/sample/desk) and mobile banking (internal/sample/bank) APIs.
var APIs = []string{"shop", "market", "tickets", "desk", "bank"}

// Span is a range of waits; each wait is drawn uniformly between Min and Max.
type Span struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
}

// API names the paths and accounts of the API under test.
type API struct {
	Assets       []string `yaml:"assets"`
	Products     string   `yaml:"products"`
	Product      string   `yaml:"product"`
	ProductCount int      `yaml:"product_count"`
	Search       string   `yaml:"search"`
	Login        string   `yaml:"login"`
	Signup       string   `yaml:"signup"`
	Reset        string   `yaml:"reset"`
	Promo        string   `yaml:"promo"`
	Orders       string   `yaml:"orders"`
	Partner      []string `yaml:"partner"`
	GraphQL      string   `yaml:"graphql"`
	Decoy        string   `yaml:"decoy"`
	Users        int      `yaml:"users"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	Email        string   `yaml:"email"`
	// How the API spells things, where APIs differ (defaults: the shop's).
	ProductID     string `yaml:"product_id"`     // fmt verb for an id in {id}, e.g. "%d" or "lst-%05d"; "uuid:FMT": the version 5 UUID (URL namespace) of FMT's name for n; "base62:M": n*M mod 62^6 in 6 base62 digits (hash ids)
	ProductsQuery string `yaml:"products_query"` // fmt of a list page's query from its page number
	SearchParam   string `yaml:"search_param"`   // the search query parameter
	LoginField    string `yaml:"login_field"`    // the sign-in body's account field (with "password")
	PromoField    string `yaml:"promo_field"`    // the redeem body's code field
	PromoLength   int    `yaml:"promo_length"`   // characters in a code
	KeyHeader     string `yaml:"key_header"`     // the header carrying partner API keys
	KeyPrefix     string `yaml:"key_prefix"`     // before the key in that header, e.g. "Bearer "
	// LoginExtra are fixed fields the sign-in body carries besides the
	// account and password, e.g. {grant_type: password} for an OAuth
	// password grant.
	LoginExtra map[string]string `yaml:"login_extra"`
	// TokenField is the sign-in answer's JSON field with the token
	// (default "token"); TokenScheme the scheme a signed-in client sends
	// it under in Authorization (default "Bearer").
	TokenField  string `yaml:"token_field"`
	TokenScheme string `yaml:"token_scheme"`
	// AppToken, with SessionCookie set, has the app (the mobile
	// population) send the answer's token in Authorization while browsers
	// send the cookie.
	AppToken bool `yaml:"app_token"`
	// Enumeration is the path account enumeration posts {"email"} to
	// (default: Reset), for an API whose reset does not tell.
	Enumeration string `yaml:"enumeration"`
	// SessionCookie, when set, is the cookie a sign-in answer sets and a
	// signed-in client sends; when empty, the answer's {"token"} is sent
	// as "Authorization: Bearer TOKEN".
	SessionCookie string `yaml:"session_cookie"`
	// LoginForm sends the sign-in as an HTML form would: an
	// application/x-www-form-urlencoded body (from a browser, with Accept
	// text/html) instead of JSON. PasswordField is the body's password
	// field (default "password"), e.g. "user[password]".
	LoginForm     bool   `yaml:"login_form"`
	PasswordField string `yaml:"password_field"`
	// KeyBasic sends API keys as HTTP Basic credentials, the key as the
	// user name with an empty password ("Authorization: Basic
	// base64(KEY:)", Stripe's scheme); KeyHeader and KeyPrefix are unused.
	KeyBasic bool `yaml:"key_basic"`
	// EnumerationParam, when set, has account enumeration GET
	// Enumeration?PARAM=EMAIL (a lookup) instead of posting {"email"}.
	EnumerationParam string `yaml:"enumeration_param"`
}

// Pace is what every attack scenario has: its rate and when it starts.
type Pace struct {
	Rate  float64 `yaml:"rate"`  // requests per second
	Start float64 `yaml:"start"` // fraction of the run before its first request
}

// Params are every scenario's knobs; scenarios.yaml documents them.
type Params struct {
	API      API `yaml:"api"`
	Browsing struct {
		Users       int     `yaml:"users"`
		Think       Span    `yaml:"think"`
		SignInShare float64 `yaml:"sign_in_share"`
		TypoShare   float64 `yaml:"typo_share"`
	} `yaml:"browsing"`
	Mobile struct {
		Users     int  `yaml:"users"`
		Addresses int  `yaml:"addresses"`
		Interval  Span `yaml:"interval"`
		Retries   int  `yaml:"retries"`
	} `yaml:"mobile"`
	PartnerBatch struct {
		Key  string  `yaml:"key"`
		Rate float64 `yaml:"rate"`
	} `yaml:"partner_batch"`
	Office struct {
		Users int  `yaml:"users"`
		Think Span `yaml:"think"`
	} `yaml:"office"`
	LaunchSpike struct {
		Users int           `yaml:"users"`
		Start float64       `yaml:"start"`
		Over  time.Duration `yaml:"over"`
	} `yaml:"launch_spike"`
	ScrapingFast Pace `yaml:"scraping_fast"`
	ScrapingSlow struct {
		Sources  int     `yaml:"sources"`
		Interval Span    `yaml:"interval"`
		Start    float64 `yaml:"start"`
	} `yaml:"scraping_slow"`
	CredentialStuffing            Pace `yaml:"credential_stuffing"`
	CredentialStuffingDistributed struct {
		Pace    `yaml:",inline"`
		Sources int `yaml:"sources"`
	} `yaml:"credential_stuffing_distributed"`
	PromoBruteforce    Pace `yaml:"promo_bruteforce"`
	AccountEnumeration Pace `yaml:"account_enumeration"`
	PathProbing        Pace `yaml:"path_probing"`
	LeakedKey          struct {
		Pace    `yaml:",inline"`
		Key     string `yaml:"key"`
		Sources int    `yaml:"sources"`
	} `yaml:"leaked_key"`
	TokenChurn   Pace `yaml:"token_churn"`
	GraphQLAbuse struct {
		Pace    `yaml:",inline"`
		Depth   int `yaml:"depth"`
		Aliases int `yaml:"aliases"`
	} `yaml:"graphql_abuse"`
	Flood struct {
		Pace   `yaml:",inline"`
		Length time.Duration `yaml:"length"`
	} `yaml:"flood"`
	Honeypot struct {
		Think Span    `yaml:"think"`
		Start float64 `yaml:"start"`
	} `yaml:"honeypot"`
	OfficeAbuser  Pace `yaml:"office_abuser"`
	OverloadFlood struct {
		Pace    `yaml:",inline"`
		Sources int `yaml:"sources"`
	} `yaml:"overload_flood"`
}

// DefaultParams returns the embedded defaults (scenarios.yaml).
func DefaultParams() *Params {
	p := &Params{}
	if err := config.DecodeYAML("scenarios.yaml", defaultParamsYAML, p); err != nil {
		panic("gameday: embedded scenarios.yaml: " + err.Error())
	}
	return p
}

// ParamsFor returns the embedded parameters for one of APIs: the shop's
// are DefaultParams; the market's are scenarios-market.yaml decoded onto
// them, the tickets API's scenarios-tickets.yaml, the help desk's
// scenarios-desk.yaml, the bank's scenarios-bank.yaml.
func ParamsFor(api string) (*Params, error) {
	p := DefaultParams()
	switch api {
	case "", "shop":
		return p, nil
	case "market":
		if err := config.DecodeYAML("scenarios-market.yaml", marketParamsYAML, p); err != nil {
			return nil, err
		}
		return p, p.check("scenarios-market.yaml")
	case "tickets":
		if err := config.DecodeYAML("scenarios-tickets.yaml", ticketsParamsYAML, p); err != nil {
			return nil, err
		}
		return p, p.check("scenarios-tickets.yaml")
	case "desk":
		if err := config.DecodeYAML("scenarios-desk.yaml", deskParamsYAML, p); err != nil {
			return nil, err
		}
		return p, p.check("scenarios-desk.yaml")
	case "bank":
		if err := config.DecodeYAML("scenarios-bank.yaml", bankParamsYAML, p); err != nil {
			return nil, err
		}
		return p, p.check("scenarios-bank.yaml")
	}
	return nil, fmt.Errorf("unknown API %q; known: %s", api, strings.Join(APIs, ", "))
}

// LoadParams decodes file onto the defaults. Errors name file:line:col.
func LoadParams(file string) (*Params, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := DefaultParams()
	if err := config.DecodeYAML(file, data, p); err != nil {
		return nil, err
	}
	return p, p.check(file)
}

func (p *Params) check(file string) error {
	var bad []string
	positive := func(name string, v float64) {
		if v <= 0 {
			bad = append(bad, fmt.Sprintf("%s must be more than 0, not %v", name, v))
		}
	}
	span := func(name string, s Span) {
		if s.Min <= 0 || s.Max < s.Min {
			bad = append(bad, fmt.Sprintf("%s must have 0 < min <= max, not {min: %s, max: %s}", name, s.Min, s.Max))
		}
	}
	fraction := func(name string, f float64) {
		if f < 0 || f >= 1 {
			bad = append(bad, fmt.Sprintf("%s must be in [0, 1), not %v", name, f))
		}
	}
	positive("api.product_count", float64(p.API.ProductCount))
	positive("api.users", float64(p.API.Users))
	positive("api.promo_length", float64(p.API.PromoLength))
	span("browsing.think", p.Browsing.Think)
	span("mobile.interval", p.Mobile.Interval)
	positive("mobile.addresses", float64(p.Mobile.Addresses))
	positive("partner_batch.rate", p.PartnerBatch.Rate)
	span("office.think", p.Office.Think)
	fraction("launch_spike.start", p.LaunchSpike.Start)
	positive("scraping_slow.sources", float64(p.ScrapingSlow.Sources))
	span("scraping_slow.interval", p.ScrapingSlow.Interval)
	fraction("scraping_slow.start", p.ScrapingSlow.Start)
	for name, a := range map[string]Pace{
		"scraping_fast": p.ScrapingFast, "credential_stuffing": p.CredentialStuffing,
		"credential_stuffing_distributed": p.CredentialStuffingDistributed.Pace, "promo_bruteforce": p.PromoBruteforce,
		"account_enumeration": p.AccountEnumeration, "path_probing": p.PathProbing, "leaked_key": p.LeakedKey.Pace,
		"token_churn": p.TokenChurn, "graphql_abuse": p.GraphQLAbuse.Pace, "flood": p.Flood.Pace, "office_abuser": p.OfficeAbuser,
		"overload_flood": p.OverloadFlood.Pace,
	} {
		positive(name+".rate", a.Rate)
		fraction(name+".start", a.Start)
	}
	positive("credential_stuffing_distributed.sources", float64(p.CredentialStuffingDistributed.Sources))
	positive("leaked_key.sources", float64(p.LeakedKey.Sources))
	positive("overload_flood.sources", float64(p.OverloadFlood.Sources))
	span("honeypot.think", p.Honeypot.Think)
	if p.API.EnumerationParam != "" && p.API.Enumeration == "" {
		bad = append(bad, "api.enumeration_param needs api.enumeration, the lookup's path")
	}
	if len(p.API.Partner) == 0 {
		bad = append(bad, "api.partner must list at least one path")
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("%s: %s", file, strings.Join(bad, "; "))
}

// Scenario is one population of actors.
type Scenario struct {
	Name        string
	Label       Label
	Description string
	cast        func(c *casting)
	// Alone is true for a scenario that needs a setup of its own (see
	// Overload) and so is not part of Mixed.
	Alone bool
}

// Scenarios lists every scenario, benign first, in the order of
// scenarios.yaml.
var Scenarios = []Scenario{
	{"browsing", Benign, "people in browsers: pages, assets, search, some sign in", castBrowsing, false},
	{"mobile", Benign, "the shop's app, signed in, behind carrier NAT, retrying on 5xx", castMobile, false},
	{"partner-batch", Benign, "a partner's sync job near its rate limit", castPartnerBatch, false},
	{"office", Benign, "200 signed-in colleagues behind one NAT address", castOffice, false},
	{"launch-spike", Benign, "a launch: a wave of new visitors who browse and sign up", castLaunchSpike, false},
	{"scraping-fast", Attack, "one address walks the catalog by id", castScrapingFast, false},
	{"scraping-slow", Attack, "low and slow catalog walk rotating over 40 addresses", castScrapingSlow, false},
	{"credential-stuffing", Attack, "leaked pairs against login from one address", castCredentialStuffing, false},
	{"credential-stuffing-distributed", Attack, "leaked pairs over 500 addresses with one client fingerprint", castCredentialStuffingDistributed, false},
	{"promo-bruteforce", Attack, "guessing promo codes", castPromoBruteforce, false},
	{"account-enumeration", Attack, "which emails have accounts, through password reset", castAccountEnumeration, false},
	{"path-probing", Attack, "a scanner's word list of sensitive and admin paths", castPathProbing, false},
	{"leaked-key", Attack, "a partner's API key used from 100 addresses", castLeakedKey, false},
	{"token-churn", Attack, "one address cycling through made-up API keys", castTokenChurn, false},
	{"graphql-abuse", Attack, "deep and alias-heavy GraphQL queries", castGraphQLAbuse, false},
	{"flood", Attack, "a volumetric burst on search from one address", castFlood, false},
	{"honeypot", Attack, "touches the decoy path, then keeps going", castHoneypot, false},
	{"office-abuser", Attack, "one colleague stuffing credentials from the office NAT address", castOfficeAbuser, false},
	{"overload-flood", Attack, "a flood on search from 100 addresses, each under the per-address limits, at more than the upstream serves", castOverloadFlood, true},
}

// Mixed names every scenario at once, but those Alone: the standard mixed
// game day.
const Mixed = "mixed"

// Cast is one actor ready to run.
type Cast struct {
	Info  ActorInfo
	Actor Actor
	Start time.Duration // when its first step's wait begins
}

// casting builds one scenario's actors.
type casting struct {
	name     string
	label    Label
	params   *Params
	seed     uint64
	duration time.Duration
	addrs    *addresses
	shared   map[string]netip.Addr // addresses shared across scenarios (the office)
	out      []Cast
}

// rng returns the random source of the scenario's actor i: the same for a
// seed whatever else runs.
func (c *casting) rng(i int) *rand.Rand {
	h := uint64(14695981039346656037)
	for _, b := range []byte(c.name) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return rand.New(rand.NewPCG(c.seed^h, uint64(i)+1))
}

// at converts a fraction of the run into a start time.
func (c *casting) at(fraction float64) time.Duration {
	return time.Duration(fraction * float64(c.duration))
}

// add casts one actor.
func (c *casting) add(group string, sources []netip.Addr, start time.Duration, a Actor) {
	n := len(c.out) + 1
	name := c.name
	if group != "" {
		name += "/" + group
	}
	c.out = append(c.out, Cast{
		Info:  ActorInfo{Name: fmt.Sprintf("%s/%d", name, n), Scenario: c.name, Label: c.label, Group: group, Sources: sources},
		Actor: a,
		Start: start,
	})
}

// CastScenarios builds the actors of the named scenarios ("mixed" for all) for a
// run of duration, deterministically for seed.
func CastScenarios(names []string, p *Params, seed uint64, duration time.Duration) ([]Cast, error) {
	want, err := selectScenarios(names)
	if err != nil {
		return nil, err
	}
	addrs := newAddresses(seed)
	shared := map[string]netip.Addr{}
	var out []Cast
	for _, s := range Scenarios {
		if !want[s.Name] {
			continue
		}
		c := &casting{name: s.Name, label: s.Label, params: p, seed: seed, duration: duration, addrs: addrs, shared: shared}
		s.cast(c)
		out = append(out, c.out...)
	}
	return out, nil
}

func selectScenarios(names []string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, n := range names {
		for n := range strings.SplitSeq(n, ",") {
			n = strings.TrimSpace(n)
			switch {
			case n == "":
			case n == Mixed:
				for _, s := range Scenarios {
					want[s.Name] = want[s.Name] || !s.Alone
				}
			case slices.ContainsFunc(Scenarios, func(s Scenario) bool { return s.Name == n }):
				want[n] = true
			default:
				return nil, fmt.Errorf("unknown scenario %q; known: %s, or %s for all", n, ScenarioNames(), Mixed)
			}
		}
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no scenario named; known: %s, or %s for all", ScenarioNames(), Mixed)
	}
	return want, nil
}

// ScenarioNames lists the scenario names, comma-separated.
func ScenarioNames() string {
	names := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// addresses hands out distinct loopback addresses, 127.x.y.z with x in
// 1..254, in a seeded random order: attackers and users mix across /24s
// as they would on the internet.
type addresses struct {
	rng  *rand.Rand
	used map[netip.Addr]bool
}

func newAddresses(seed uint64) *addresses {
	return &addresses{rng: rand.New(rand.NewPCG(seed, 0xadd7)), used: map[netip.Addr]bool{}}
}

func (a *addresses) next() netip.Addr {
	for {
		ip := netip.AddrFrom4([4]byte{127, byte(1 + a.rng.IntN(254)), byte(a.rng.IntN(256)), byte(1 + a.rng.IntN(254))})
		if !a.used[ip] {
			a.used[ip] = true
			return ip
		}
	}
}

func (a *addresses) take(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = a.next()
	}
	return out
}

// officeAddress is the office's NAT address, shared by the office and the
// office abuser.
func (c *casting) officeAddress() netip.Addr {
	ip, ok := c.shared["office"]
	if !ok {
		ip = c.addrs.next()
		c.shared["office"] = ip
	}
	return ip
}
