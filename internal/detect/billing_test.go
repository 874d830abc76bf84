package detect

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func billingView(at time.Duration, tenant, key string, cost int64) *request.View {
	return &request.View{
		Time: volumetricT0.Add(at), ClientIP: netip.MustParseAddr("203.0.113.5"), Method: "POST", Path: "/report",
		Identity: request.Identity{KeyID: key, Tenant: tenant, Verified: true}, Cost: cost,
	}
}

// TestBillingAnomaly: a tenant that spends about 100 cost units each 10
// minutes for an hour, then 2,500 in one bucket, signals on the key that
// spends it once its bucket passes 10x its baseline (1,000 units) and
// again at 2,000; a new tenant spending as much has no baseline and does
// not; unverified clients are not tracked.
func TestBillingAnomaly(t *testing.T) {
	d := NewBilling(BillingConfig{}, NewFixedHasher())
	s := &signals{}
	for b := range 7 {
		for i := range 10 {
			d.Request(billingView(time.Duration(b)*10*time.Minute+time.Duration(i)*time.Minute, "acme", "acme-1", 10), s)
		}
	}
	if len(s.got) != 0 {
		t.Fatalf("steady spend signalled: %+v", s.got)
	}
	for i := range 25 { // the eighth bucket: 2,500 units
		d.Request(billingView(70*time.Minute+time.Duration(i)*time.Second, "acme", "acme-2", 100), s)
	}
	if len(s.got) != 2 {
		t.Fatalf("%d signals, want 2 (at 1,000 and 2,000 units): %+v", len(s.got), s.got)
	}
	sig := s.got[0]
	if sig.Detector != "billing" || sig.Entity != (verdict.Entity{Scope: verdict.ScopeKey, Value: "acme-2"}) || sig.Evidence.Count != 1000 ||
		!strings.Contains(sig.Evidence.Summary, "tenant acme spent 1000 cost units in 10m0s") || sig.Weight != 30 {
		t.Errorf("signal %+v", sig)
	}
	s.got = nil
	for i := range 25 {
		d.Request(billingView(70*time.Minute+time.Duration(i)*time.Second, "newco", "newco-1", 100), s)
		v := billingView(70*time.Minute, "", "", 100)
		v.Identity.Verified = false
		d.Request(v, s)
	}
	if len(s.got) != 0 {
		t.Errorf("a tenant without a baseline, or an anonymous client, signalled: %+v", s.got)
	}
	// Reported cost counts too: acme's next bucket, after a quiet one.
	d2 := NewBilling(BillingConfig{Warmup: 1, MinSpend: 50}, NewFixedHasher())
	d2.Request(billingView(0, "acme", "k", 1), s)
	v := billingView(10*time.Minute, "acme", "k", 1)
	d2.Request(v, s)
	d2.Response(v, verdict.Outcome{Status: 200, Cost: 60}, s)
	if len(s.got) != 1 || s.got[0].Evidence.Count != 60 {
		t.Errorf("after a reported 60: %+v, want one signal at 60 units (the reported cost, not 1 + 60)", s.got)
	}
}
