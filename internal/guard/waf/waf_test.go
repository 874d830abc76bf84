package waf

import (
	"net/http"
	"slices"
	"testing"

	"github.com/abuseguard/abuseguard/internal/request"
)

// sharedWAF is built once: compiling the CRS takes a moment.
var sharedWAF = func() func(t testing.TB) *WAF {
	var w *WAF
	var err error
	return func(t testing.TB) *WAF {
		if w == nil && err == nil {
			w, err = New(Options{})
		}
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
}()

func input(method, target string, h http.Header) *request.Input {
	if h == nil {
		h = http.Header{}
	}
	h.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
	h.Set("Accept", "application/json")
	return &request.Input{Peer: "192.0.2.1:4000", Method: method, Host: "api.example", Target: target, Header: request.HTTPHeader(h)}
}

func TestInspect(t *testing.T) {
	w := sharedWAF(t)
	cases := []struct {
		name      string
		in        *request.Input
		body      string
		blocked   bool
		wantRule  int // a rule that must match (0: none may)
		wantScore int // at least
	}{
		{name: "benign", in: input("GET", "/products?page=2&sort=price", nil)},
		{name: "benign json body", in: input("POST", "/orders", http.Header{"Content-Type": {"application/json"}, "Content-Length": {"56"}}),
			body: `{"sku":"A-100","quantity":2,"note":"leave at the door"}`},
		{name: "sql injection in the query", in: input("GET", "/products?id=1%27%20UNION%20SELECT%20password%20FROM%20users--", nil),
			blocked: true, wantRule: 942100, wantScore: 5},
		{name: "xss in the query", in: input("GET", "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", nil),
			blocked: true, wantRule: 941100, wantScore: 5},
		{name: "path traversal", in: input("GET", "/files?name=../../../../etc/passwd", nil),
			blocked: true, wantRule: 930120, wantScore: 5},
		{name: "sql injection in a json body", in: input("POST", "/orders", http.Header{"Content-Type": {"application/json"}, "Content-Length": {"48"}}),
			body: `{"sku":"1' or '1'='1' union select * from users --"}`, blocked: true, wantRule: 942100, wantScore: 5},
		{name: "body that does not parse", in: input("POST", "/orders", http.Header{"Content-Type": {"application/json"}, "Content-Length": {"7"}}),
			body: `{"sku":`, blocked: true, wantRule: 200002},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.Inspect(c.in, []byte(c.body), false)
			if r.Blocked != c.blocked {
				t.Fatalf("blocked %v, want %v (%+v)", r.Blocked, c.blocked, r)
			}
			if c.wantRule == 0 && len(r.Rules) > 0 {
				t.Fatalf("rules %v matched a benign request", r.Rules)
			}
			if c.wantRule != 0 && !slices.Contains(r.Rules, c.wantRule) {
				t.Fatalf("rules %v, want %d among them", r.Rules, c.wantRule)
			}
			if r.Score < c.wantScore {
				t.Fatalf("score %d, want at least %d", r.Score, c.wantScore)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{{ParanoiaLevel: 5}, {AnomalyThreshold: -1}, {MaxBodyBytes: -1}, {Directives: "SecRule ARGS"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// BenchmarkInspect is one CRS inspection at paranoia level 1: a benign
// GET, a benign JSON POST, and a GET carrying SQL injection.
func BenchmarkInspect(b *testing.B) {
	w := sharedWAF(b)
	cases := []struct {
		name string
		in   *request.Input
		body string
	}{
		{"get", input("GET", "/v1/products?page=2&sort=price", nil), ""},
		{"post-json", input("POST", "/v1/orders", http.Header{"Content-Type": {"application/json"}, "Content-Length": {"43"}}), `{"sku":"A-100","quantity":2,"note":"door"}`},
		{"get-sqli", input("GET", "/v1/products?id=1%27%20UNION%20SELECT%20password%20FROM%20users--", nil), ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				w.Inspect(c.in, []byte(c.body), false)
			}
		})
	}
}
