package rls

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rlpb "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/abuseguard/abuseguard/internal/config"
)

func loadShop(t testing.TB) *Config {
	t.Helper()
	cfg, err := LoadPath(filepath.Join("testdata", "shop.yaml"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLookup(t *testing.T) {
	cfg := loadShop(t)
	const (
		sec  = rlpb.RateLimitResponse_RateLimit_SECOND
		min  = rlpb.RateLimitResponse_RateLimit_MINUTE
		hour = rlpb.RateLimitResponse_RateLimit_HOUR
		day  = rlpb.RateLimitResponse_RateLimit_DAY
	)
	e := func(kv ...string) []Entry {
		var es []Entry
		for i := 0; i+1 < len(kv); i += 2 {
			es = append(es, Entry{kv[i], kv[i+1]})
		}
		return es
	}
	cases := []struct {
		name      string
		domain    string
		entries   []Entry
		match     bool
		rpu       uint32
		unit      rlpb.RateLimitResponse_RateLimit_Unit
		stats     string
		unlimited bool
		shadow    bool
	}{
		{"key default", "shop", e("remote_address", "192.0.2.7"), true, 60, min, "shop.remote_address", false, false},
		{"exact value wins over key", "shop", e("remote_address", "10.0.0.1"), true, 100, sec, "shop.remote_address_10.0.0.1", false, false},
		{"value without limit allows", "shop", e("remote_address", "127.0.0.1"), false, 0, 0, "", false, false},
		{"unknown key", "shop", e("nope", "x"), false, 0, 0, "", false, false},
		{"unknown domain", "other", e("remote_address", "192.0.2.7"), false, 0, 0, "", false, false},
		{"parent without limit", "shop", e("tenant", "acme"), false, 0, 0, "", false, false},
		{"nested default", "shop", e("tenant", "acme", "route", "/cart"), true, 1000, hour, "shop.tenant_acme.route", false, false},
		{"nested exact, shadow", "shop", e("tenant", "acme", "route", "/checkout"), true, 5, min, "shop.tenant_acme.route_/checkout", false, true},
		{"nested under unknown value", "shop", e("tenant", "globex", "route", "/cart"), false, 0, 0, "", false, false},
		{"deeper than config", "shop", e("remote_address", "192.0.2.7", "route", "/x"), false, 0, 0, "", false, false},
		{"trailing wildcard", "shop", e("path", "/static/app.js"), true, 500, sec, "shop.path_/static/*", false, false},
		{"trailing wildcard, empty rest", "shop", e("path", "/static/"), true, 500, sec, "shop.path_/static/*", false, false},
		{"middle wildcard", "shop", e("path", "/v2/orders"), true, 30, min, "shop.path_/v*/orders", false, false},
		{"middle wildcard, empty", "shop", e("path", "/v/orders"), true, 30, min, "shop.path_/v*/orders", false, false},
		{"middle wildcard, wrong end", "shop", e("path", "/v2/orders/1"), false, 0, 0, "", false, false},
		{"several wildcards", "shop", e("path", "/a1b2c"), true, 7, min, "shop.path_/a*b*c", false, false},
		{"several wildcards, all empty", "shop", e("path", "/abc"), true, 7, min, "shop.path_/a*b*c", false, false},
		{"several wildcards, one part missing", "shop", e("path", "/a1c"), false, 0, 0, "", false, false},
		{"exact, not a prefix", "shop", e("path", "/exact/more"), false, 0, 0, "", false, false},
		{"exact", "shop", e("path", "/exact"), true, 2, day, "shop.path_/exact", false, false},
		{"unlimited", "shop", e("health", "x"), true, 0, 0, "shop.health", true, false},
		{"detailed metric", "shop", e("user", "u-42"), true, 10, min, "shop.user_u-42", false, false},
		{"value to metric", "shop", e("plan", "gold"), true, 40, min, "shop.plan_gold", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := cfg.Lookup(c.domain, c.entries)
			if (m.Limit != nil) != (c.match || c.unlimited) {
				t.Fatalf("Lookup matched %v, want %v", m.Limit != nil, c.match)
			}
			if m.Limit == nil {
				return
			}
			l := m.Limit
			if l.RequestsPerUnit != c.rpu || l.Unit != c.unit || l.Unlimited != c.unlimited || l.ShadowMode != c.shadow {
				t.Errorf("limit = %d/%v unlimited=%v shadow=%v, want %d/%v unlimited=%v shadow=%v",
					l.RequestsPerUnit, l.Unit, l.Unlimited, l.ShadowMode, c.rpu, c.unit, c.unlimited, c.shadow)
			}
			if m.StatsKey != c.stats {
				t.Errorf("stats key = %q, want %q", m.StatsKey, c.stats)
			}
		})
	}
	if got := cfg.Domains(); len(got) != 1 || got[0] != "shop" {
		t.Errorf("Domains() = %v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // "line:col: substring", one per error, in order
	}{
		{"empty domain", "descriptors:\n  - key: a\n", []string{"1:1: config file cannot have empty domain"}},
		{"empty key", "domain: d\ndescriptors:\n  - value: v\n", []string{"3:5: descriptor has empty key"}},
		{"duplicate composite key", "domain: d\ndescriptors:\n  - key: a\n    value: v\n  - key: a\n    value: v\n",
			[]string{"5:10: duplicate descriptor composite key 'd.a_v'"}},
		{"duplicate key only", "domain: d\ndescriptors:\n  - key: a\n  - key: a\n", []string{"4:10: duplicate descriptor composite key 'd.a'"}},
		{"duplicate nested", "domain: d\ndescriptors:\n  - key: a\n    descriptors:\n      - key: b\n        value: '*'\n      - key: b\n        value: '*'\n",
			[]string{"7:14: duplicate descriptor composite key 'd.a.b_*'"}},
		{"bad unit", "domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: fortnight\n      requests_per_unit: 1\n",
			[]string{"5:13: invalid rate limit unit 'fortnight'"}},
		{"missing unit", "domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      requests_per_unit: 1\n",
			[]string{"5:7: invalid rate limit unit ''"}},
		{"unlimited with unit", "domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unlimited: true\n      unit: day\n",
			[]string{"6:13: should not specify rate limit unit when unlimited"}},
		{"replaces self", "domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      name: n\n      unit: day\n      replaces:\n        - name: n\n",
			[]string{"8:17: replaces should not contain name of same descriptor"}},
		{"replaces empty", "domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: day\n      replaces:\n        - name:\n",
			[]string{"7:11: should not have an empty replaces entry"}},
		{"misspelled key", "domain: d\ndescriptors:\n  - key: a\n    ratelimit:\n      unit: day\n",
			[]string{`4:5: unknown field "ratelimit" (did you mean "rate_limit"?)`}},
		{"misspelled nested key", "domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: day\n      requestsperunit: 5\n",
			[]string{`6:7: unknown field "requestsperunit"`}},
		{"non-string key", "0.25: d\ndomain: d\n", []string{`1:1: unknown field "0.25"`}},
		{"list of scalars", "domain: d\ndescriptors:\n  - a\n", []string{"3:5: "}},
		{"negative requests", "domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: day\n      requests_per_unit: -1\n",
			[]string{"6:26: "}},
		{"bad yaml", "'''\n", []string{"2:1: "}},
		{"quota mode", "domain: d\ndescriptors:\n  - key: a\n    quota_mode: true\n", []string{"4:17: quota_mode is not supported"}},
		{"every error at once", "domain: d\ndescriptors:\n  - value: v\n  - key: b\n    rate_limit:\n      unit: foo\n",
			[]string{"3:5: descriptor has empty key", "6:13: invalid rate limit unit 'foo'"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load([]File{{Name: "rl.yaml", Data: []byte(c.yaml)}}, LoadOptions{})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %v is not config.Errors", err, err)
			}
			text := err.Error()
			for _, w := range c.want {
				at, msg, _ := strings.Cut(w, ": ")
				if !hasError(text, "rl.yaml:"+at+": ", msg) {
					t.Errorf("error\n%s\nhas no line at %s containing %q", text, at, msg)
				}
			}
			for _, e := range errs {
				if e.Pos.File != "rl.yaml" || e.Pos.Line == 0 {
					t.Errorf("error without a position: %v", e)
				}
			}
		})
	}
}

// hasError reports whether a line of text starts with prefix and contains msg.
func hasError(text, prefix, msg string) bool {
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, msg) {
			return true
		}
	}
	return false
}

func TestDomains(t *testing.T) {
	a := File{Name: "a.yaml", Data: []byte("domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: minute, requests_per_unit: 1}\n")}
	b := File{Name: "b.yaml", Data: []byte("domain: d\ndescriptors:\n  - key: b\n    rate_limit: {unit: minute, requests_per_unit: 2}\n")}
	if _, err := Load([]File{a, b}, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "b.yaml:1:9: domain: duplicate domain 'd' in config file") {
		t.Errorf("second file for a domain: err = %v", err)
	}
	cfg, err := Load([]File{a, b}, LoadOptions{MergeDomains: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Lookup("d", []Entry{{"b", "x"}}); m.Limit == nil || m.Limit.RequestsPerUnit != 2 {
		t.Errorf("merged domain lost b: %+v", m)
	}
	if m := cfg.Lookup("d", []Entry{{"a", "x"}}); m.Limit == nil || m.Limit.RequestsPerUnit != 1 {
		t.Errorf("merged domain lost a: %+v", m)
	}
	if _, err := Load([]File{a, a}, LoadOptions{MergeDomains: true}); err == nil || !strings.Contains(err.Error(), "duplicate descriptor composite key 'd.a'") {
		t.Errorf("merging a file with itself: err = %v", err)
	}
}

func TestLoadPathDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one.yaml", "domain: one\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\n")
	write("two.yml", "domain: two\n")
	write("notes.txt", "not yaml: [")
	cfg, err := LoadPath(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Domains(), ","); got != "one,two" {
		t.Errorf("domains = %s, want one,two", got)
	}
	if _, err := LoadPath(filepath.Join(dir, "missing.yaml"), LoadOptions{}); err == nil {
		t.Error("missing file loaded")
	}
}
