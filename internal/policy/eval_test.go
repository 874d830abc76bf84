package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
)

func TestRuntimeErrors(t *testing.T) {
	huge := make([]string, 50000)
	for i := range huge {
		huge[i] = fmt.Sprint("scope", i)
	}
	tests := []struct {
		name    string
		when    string
		edit    func(*Input)
		wantErr string
	}{
		{
			// The estimate assumes at most 64 scopes; a token carrying
			// 50,000 is stopped by the runtime limit, not by a panic.
			name:    "cost limit on a large runtime list",
			when:    `identity.scopes.exists(s, s == "admin")`,
			edit:    func(in *Input) { in.View.Identity.Scopes = huge },
			wantErr: "cost limit exceeded",
		},
		{
			name:    "cost limit on a list built at runtime",
			when:    `identity.scopes.map(s, s + "!").exists(s, s == "admin!")`,
			edit:    func(in *Input) { in.View.Identity.Scopes = huge },
			wantErr: "cost limit exceeded",
		},
		{
			// Accepted because param is estimated at 256 characters at
			// most; an oversized one runs under the runtime limit.
			name:    "cost limit on a list split from an oversized input",
			when:    `request.param.split(",").exists(s, s == "admin")`,
			edit:    func(in *Input) { in.View.Param = strings.Repeat("a,", 30000) },
			wantErr: "cost limit exceeded",
		},
		{
			name:    "cost limit on a huge string",
			when:    `request.user_agent.lowerAscii().contains("bot")`,
			edit:    func(in *Input) { in.View.UserAgent = strings.Repeat("A", 1<<20) },
			wantErr: "cost limit exceeded",
		},
		{
			name:    "missing map key",
			when:    `signals["flood"] > 1.0`,
			wantErr: "no such key",
		},
		{
			name:    "bad runtime ip",
			when:    `cidr("10.0.0.0/8").containsIP(request.param)`,
			wantErr: "parse error",
		},
		{
			name:    "integer overflow",
			when:    `int(score) * 9223372036854775807 > 0`,
			wantErr: "overflow",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, RuleConfig{Name: "bad", When: tt.when}, RuleConfig{Name: "next", When: "true", Mode: "shadow"})
			in := testInput()
			if tt.edit != nil {
				tt.edit(in)
			}
			m, ok, err := r.Eval(in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var ee *EvalError
			if !errors.As(err, &ee) || ee.Rule != "bad" {
				t.Errorf("err %v is not an *EvalError for rule bad", err)
			}
			if !ok || m.Rule.Name != "next" {
				t.Errorf("the failing rule was not skipped: %+v, %v", m, ok)
			}
		})
	}
}

func TestRuntimeErrorsJoined(t *testing.T) {
	r := mustCompile(t,
		RuleConfig{When: `signals["a"] > 1.0`},
		RuleConfig{When: `signals["b"] > 1.0`},
	)
	_, ok, err := r.Eval(testInput())
	if ok {
		t.Fatal("matched")
	}
	var ee *EvalError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "rule r0") || !strings.Contains(err.Error(), "rule r1") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmpty(t *testing.T) {
	var nilRules *Rules
	if nilRules.Len() != 0 {
		t.Fatal("nil Len")
	}
	if _, ok, err := nilRules.Eval(testInput()); ok || err != nil {
		t.Fatal("nil rules matched")
	}
	r, errs := Compile(nil)
	if errs != nil || r.Len() != 0 {
		t.Fatalf("Compile(nil) = %v, %v", r, errs)
	}
	if _, ok, err := mustCompile(t, RuleConfig{When: "true"}).Eval(nil); ok || err != nil {
		t.Fatal("nil input matched")
	}
}

func TestConcurrentEval(t *testing.T) {
	r := mustCompile(t, benchRules()...)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				in := benchInput()
				in.Score = float64((g*500 + i) % 100)
				in.View.Route.Kind = "login"
				m, ok, err := r.Eval(in)
				if err != nil {
					t.Error(err)
					return
				}
				if want := in.Score > 50; ok != want || ok && m.Rule.Name != "login-risk" {
					t.Errorf("score %v: got %+v, %v", in.Score, m, ok)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchRules are five typical rules; the test input matches none of them
// unless edited, so Eval runs all five.
func benchRules() []RuleConfig {
	return []RuleConfig{
		{Name: "login-risk", When: `request.route_kind == "login" && score > 50`, Action: "challenge"},
		{Name: "admin-anon", When: `request.path.startsWith("/admin") && !identity.authenticated`, Action: "block"},
		{Name: "probing", When: `"probing" in signals`, Action: "block", TTL: 10 * time.Minute},
		{Name: "free-export", When: `identity.plan == "free" && request.route == "export"`, Action: "throttle"},
		{Name: "bad-net", When: `cidr("203.0.113.0/24").containsIP(request.ip)`, Action: "block", Scope: "prefix"},
	}
}

// benchInput matches none of benchRules.
func benchInput() *Input {
	in := testInput()
	in.View.ClientIP = netip.MustParseAddr("198.51.100.9")
	in.View.Route = &request.Route{Name: "items", Kind: ""}
	in.View.Path = "/v1/items/42"
	in.Signals = []detect.Signal{{Detector: "scraping", Weight: 3}}
	return in
}

func BenchmarkEval(b *testing.B) {
	r := mustCompile(b, benchRules()...)
	in := benchInput()
	if _, ok, err := r.Eval(in); ok || err != nil {
		b.Fatalf("bench input matched or failed: %v %v", ok, err)
	}
	b.Run("activation", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Eval(in)
		}
	})
	b.Run("activation-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Eval(in)
			}
		})
	})
	// Every rule under the runtime cost tracker, as Eval runs inputs over
	// the estimate's size bounds.
	b.Run("cost-tracked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a := activations.Get().(*activation)
			a.reset(in)
			for _, rule := range r.rules {
				out, _, _ := rule.limited.Eval(a)
				_ = out == types.True
			}
			a.release()
		}
	})
	// The obvious alternative: a map of every variable built per request
	// and passed to each program.
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vars := mapActivation(in)
			for _, rule := range r.rules {
				out, _, _ := rule.fast.Eval(vars)
				_ = out == types.True
			}
		}
	})
}

func mapActivation(in *Input) map[string]any {
	v := in.View
	signals := map[string]float64{}
	for _, s := range in.Signals {
		signals[s.Detector] += s.Weight
	}
	route, kind := "", ""
	if v.Route != nil {
		route, kind = v.Route.Name, v.Route.Kind
	}
	return map[string]any{
		"request.method": v.Method, "request.path": v.Path, "request.query": v.Query, "request.host": v.Host,
		"request.route": route, "request.route_kind": kind, "request.param": v.Param,
		"request.user_agent": v.UserAgent, "request.ip": v.ClientIP.String(), "request.fingerprint": v.Fingerprint.String(),
		"request.browser": v.Hints.Has(request.ClaimsBrowser), "request.has_accept_language": v.Hints.Has(request.AcceptLanguage),
		"request.has_accept_encoding": v.Hints.Has(request.AcceptEncoding), "request.has_referer": v.Hints.Has(request.Referer),
		"request.has_fetch_metadata": v.Hints.Has(request.FetchMetadata),
		"identity.key":               v.Identity.KeyID, "identity.user": v.Identity.User, "identity.tenant": v.Identity.Tenant,
		"identity.plan": v.Identity.Plan, "identity.scopes": v.Identity.Scopes,
		"identity.authenticated": v.Identity.KeyID != "" || v.Identity.User != "",
		"score":                  in.Score, "signals": signals, "limited": in.Limited,
	}
}

// TestMapActivationAgrees checks the benchmark's alternative computes the
// same answers, so the comparison is fair.
func TestMapActivationAgrees(t *testing.T) {
	r := mustCompile(t, benchRules()...)
	for _, in := range []*Input{testInput(), benchInput()} {
		vars := mapActivation(in)
		for _, rule := range r.rules {
			want, _, err1 := rule.fast.Eval(vars)
			a := activations.Get().(*activation)
			a.reset(in)
			got, _, err2 := rule.fast.Eval(a)
			tracked, _, err3 := rule.limited.Eval(a)
			a.release()
			if err1 != nil || err2 != nil || err3 != nil || want != got || want != tracked {
				t.Errorf("%s: map %v (%v), activation %v (%v), cost-tracked %v (%v)", rule.Name, want, err1, got, err2, tracked, err3)
			}
		}
	}
}

func TestWithinBounds(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Input)
		want bool
	}{
		{"typical", nil, true},
		{"largest", func(in *Input) { *in = *maxInput() }, true},
		{"long path", func(in *Input) { in.View.Path = strings.Repeat("a", maxURLString+1) }, false},
		{"long query", func(in *Input) { in.View.Query = strings.Repeat("a", maxURLString+1) }, false},
		{"long user agent", func(in *Input) { in.View.UserAgent = strings.Repeat("a", maxUserAgent+1) }, false},
		{"long param", func(in *Input) { in.View.Param = strings.Repeat("a", maxShortString+1) }, false},
		{"long host", func(in *Input) { in.View.Host = strings.Repeat("a", maxShortString+1) }, false},
		{"many scopes", func(in *Input) { in.View.Identity.Scopes = make([]string, maxScopes+1) }, false},
		{"long scope", func(in *Input) { in.View.Identity.Scopes = []string{strings.Repeat("a", maxShortString+1)} }, false},
		{"many signals", func(in *Input) { in.Signals = make([]detect.Signal, maxSignals+1) }, false},
		{"nil view", func(in *Input) { in.View = nil }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testInput()
			if tt.edit != nil {
				tt.edit(in)
			}
			a := activations.Get().(*activation)
			a.reset(in)
			defer a.release()
			if got := a.withinBounds(); got != tt.want {
				t.Errorf("withinBounds = %v, want %v", got, tt.want)
			}
		})
	}
}
