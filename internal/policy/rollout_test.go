package policy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/abuseguard/abuseguard/internal/request"
)

func TestCanary(t *testing.T) {
	tests := []struct {
		name    string
		scope   string
		pct     float64
		setView func(v *request.View, i int)
	}{
		{"subject ip", "", 30, func(v *request.View, i int) {
			v.Identity = request.Identity{}
			v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		}},
		{"subject key", "", 10, func(v *request.View, i int) { v.Identity.KeyID = fmt.Sprintf("key-%d", i) }},
		{"user", "user", 50, func(v *request.View, i int) { v.Identity.User = fmt.Sprintf("user-%d", i) }},
		{"fingerprint", "fingerprint", 25, func(v *request.View, i int) { v.Fingerprint = request.Fingerprint(uint64(i) * 0x9E3779B97F4A7C15) }},
		{"prefix", "prefix", 40, func(v *request.View, i int) {
			v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		}},
		{"ip v6", "ip", 20, func(v *request.View, i int) {
			v.ClientIP = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, RuleConfig{Name: "c", When: "true", Scope: tt.scope, Mode: "canary", CanaryPercent: tt.pct})
			const n = 1000
			enforced := 0
			for i := range n {
				in := testInput()
				tt.setView(in.View, i)
				m, ok, err := r.Eval(in)
				if err != nil || !ok || m.Rule.Name != "c" {
					t.Fatalf("Eval = %+v, %v, %v", m, ok, err)
				}
				for range 3 { // the same entity lands the same way every time
					again, _, _ := r.Eval(in)
					if again.Enforced != m.Enforced {
						t.Fatalf("entity %d: canary not deterministic", i)
					}
				}
				if tt.scope == "prefix" { // the cohort is by /24: a neighbour lands the same way
					a := in.View.ClientIP.As4()
					a[3] = 200
					in.View.ClientIP = netip.AddrFrom4(a)
					if n, _, _ := r.Eval(in); n.Enforced != m.Enforced {
						t.Fatalf("entity %d: canary split a /24", i)
					}
				}
				if m.Enforced {
					enforced++
				}
			}
			want := tt.pct / 100 * n
			if d := float64(enforced) - want; d < -0.25*want || d > 0.25*want {
				t.Errorf("canary %v%% enforced for %d of %d entities", tt.pct, enforced, n)
			}
		})
	}
}

func TestAppendFingerprintMatchesString(t *testing.T) {
	for _, f := range []request.Fingerprint{0, 1, 0x0123456789abcdef, ^request.Fingerprint(0)} {
		if got, want := string(appendFingerprint(nil, f)), f.String(); got != want {
			t.Errorf("appendFingerprint(%#x) = %q, want %q", uint64(f), got, want)
		}
	}
}

func TestCanaryRampKeepsCohort(t *testing.T) {
	// Raising canary_percent only adds entities: the 10% cohort stays in
	// at 30%, because the threshold grows and the hash does not change.
	r10 := mustCompile(t, RuleConfig{Name: "c", When: "true", Mode: "canary", CanaryPercent: 10, Scope: "user"})
	r30 := mustCompile(t, RuleConfig{Name: "c", When: "true", Mode: "canary", CanaryPercent: 30, Scope: "user"})
	full := mustCompile(t, RuleConfig{Name: "c", When: "true", Mode: "canary", CanaryPercent: 100, Scope: "user"})
	for i := range 500 {
		in := testInput()
		in.View.Identity.User = fmt.Sprintf("u%d", i)
		a, _, _ := r10.Eval(in)
		b, _, _ := r30.Eval(in)
		c, _, _ := full.Eval(in)
		if a.Enforced && !b.Enforced {
			t.Fatalf("user %d in the 10%% canary but not the 30%% one", i)
		}
		if !c.Enforced {
			t.Fatalf("user %d outside a 100%% canary", i)
		}
	}
}
