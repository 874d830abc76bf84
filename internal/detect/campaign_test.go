package detect

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

var campaignRoute = &request.Route{Name: "product", Template: "GET /api/products/{id}", Index: 3}

// campaignView is a GET of product id from ip with fingerprint fp at d
// after the test's start.
func campaignView(d time.Duration, ip netip.Addr, fp request.Fingerprint, id int) *request.View {
	return &request.View{Time: time.Unix(0, t0).Add(d), ClientIP: ip, Method: "GET",
		Path: fmt.Sprintf("/api/products/%d", id), Route: campaignRoute, Param: fmt.Sprint(id), Fingerprint: fp}
}

func campaignAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, byte(100 + i/250), byte(1 + i%250)})
}

// TestCampaignRotatingScraper walks the catalogue in sequence from 120
// addresses in turn, one request each every 12 s: no address does much,
// but together they walk one id space. The campaign is found within the
// first walk threshold, gets its own signal, and every later request of
// the walk signals its subject; each member is found by CampaignOf.
func TestCampaignRotatingScraper(t *testing.T) {
	d := NewCampaign(CampaignConfig{}, NewFixedHasher())
	var s signals
	const fp = request.Fingerprint(0xfeed)
	foundAt := -1
	for n := range 600 {
		v := campaignView(time.Duration(n)*100*time.Millisecond, campaignAddr(n%120), fp, 1+n)
		before := len(s.got)
		d.Request(v, &s)
		for _, sig := range s.got[before:] {
			if sig.Entity.Scope == verdict.ScopeCampaign && foundAt < 0 {
				foundAt = n
			}
		}
		if foundAt >= 0 && n > foundAt && len(s.got) == before {
			t.Fatalf("request %d extends the campaign's walk and was not signalled", n)
		}
	}
	if foundAt < 0 || foundAt > 40 {
		t.Fatalf("campaign found at request %d, want by the 40th (walk 30, 5 members)", foundAt)
	}
	cs := d.Campaigns()
	if len(cs) != 1 || !strings.HasPrefix(cs[0].ID, "c_") || cs[0].Members < 100 || cs[0].Walk != 600 || cs[0].Networks < 1 {
		t.Fatalf("campaigns %+v", cs)
	}
	for i := range 120 {
		if got := d.CampaignOf(campaignView(time.Minute, campaignAddr(i), fp, 9999)); got != cs[0].ID {
			t.Fatalf("member %d: CampaignOf = %q, want %q", i, got, cs[0].ID)
		}
	}
	if id, n, ok := d.MemberOf(verdict.Entity{Scope: verdict.ScopeIP, Value: campaignAddr(7).String()}); !ok || id != cs[0].ID || n != 5 {
		t.Fatalf("MemberOf = %q %d %v, want %s with 5 ids", id, n, ok, cs[0].ID)
	}
	if got := d.CampaignOf(campaignView(time.Minute, campaignAddr(500), fp, 1)); got != "" {
		t.Fatalf("a stranger is in campaign %q", got)
	}
	// Dismissed, the walk goes on unsignalled.
	if !d.Dismiss(cs[0].ID, time.Unix(0, t0).Add(time.Minute)) {
		t.Fatal("Dismiss found no campaign")
	}
	s.got = nil
	for n := 600; n < 700; n++ {
		d.Request(campaignView(time.Duration(n)*100*time.Millisecond, campaignAddr(n%120), fp, 1+n), &s)
	}
	if len(s.got) != 0 {
		t.Fatalf("a dismissed campaign still signals: %v", s.got[0])
	}
}

// TestCampaignBenign: what must not be a campaign. A crowd of browsers
// sharing one fingerprint viewing random products (a launch); one client
// walking the catalogue alone (the scraping detector's job); a few people
// paging through in turn; a verified partner syncing the catalogue.
func TestCampaignBenign(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct {
		name string
		view func(n int) *request.View
	}{
		{"launch crowd on random products", func(n int) *request.View {
			return campaignView(time.Duration(n)*50*time.Millisecond, campaignAddr(rng.IntN(2000)), 0xc0ffee, 1+rng.IntN(1000))
		}},
		{"an office of 40 on a small catalogue", func(n int) *request.View {
			return campaignView(time.Duration(n)*200*time.Millisecond, campaignAddr(rng.IntN(40)), 0xc0ffee, 1+rng.IntN(400))
		}},
		{"one client walking alone", func(n int) *request.View {
			return campaignView(time.Duration(n)*time.Second, campaignAddr(1), 0xc0ffee, 1+n)
		}},
		{"each of 10 people pages through 1 to 20", func(n int) *request.View {
			return campaignView(time.Duration(n)*time.Second, campaignAddr(n/20), 0xc0ffee, 1+n%20)
		}},
		{"verified partner sync from 8 workers", func(n int) *request.View {
			v := campaignView(time.Duration(n)*10*time.Millisecond, campaignAddr(n%8), 0xc0ffee, 1+n)
			v.Identity = request.Identity{KeyID: "partner", Verified: true}
			return v
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := NewCampaign(CampaignConfig{}, NewFixedHasher())
			var s signals
			for n := range 3000 {
				d.Request(tt.view(n), &s)
			}
			if len(s.got) > 0 || len(d.Campaigns()) > 0 {
				t.Fatalf("%d signals, first %+v; campaigns %+v", len(s.got), s.got[0], d.Campaigns())
			}
		})
	}
}

// TestCampaignInterleaved: the campaign's walk is found through a crowd of
// other clients with the same fingerprint, and the crowd is not signalled.
func TestCampaignInterleaved(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := NewCampaign(CampaignConfig{}, NewFixedHasher())
	var s signals
	walker := 0
	for n := range 4000 {
		at := time.Duration(n) * 20 * time.Millisecond
		if n%5 == 0 {
			d.Request(campaignView(at, campaignAddr(walker%40), 0xabc, 1+walker), &s)
			walker++
			continue
		}
		d.Request(campaignView(at, campaignAddr(1000+rng.IntN(3000)), 0xabc, 1+rng.IntN(5000)), &s)
	}
	members := 0
	for _, sig := range s.got {
		if sig.Entity.Scope == verdict.ScopeIP {
			a := netip.MustParseAddr(sig.Entity.Value)
			if a.As4()[2] >= 104 { // the crowd's addresses: campaignAddr(1000+)
				// A page view that lands next to the walk is half a member:
				// at most a throttle, and no campaign decision applies.
				if sig.Weight >= 60 || d.CampaignOf(&request.View{ClientIP: a}) != "" {
					t.Errorf("a crowd member was signalled as a sure member: %+v", sig)
				}
				continue
			}
			members++
		}
	}
	if len(d.Campaigns()) != 1 || members < 700 {
		t.Fatalf("campaigns %d, walker requests signalled %d of 800", len(d.Campaigns()), members)
	}
}

// TestCampaignBounded: a flood of groups and members stays within the caps.
func TestCampaignBounded(t *testing.T) {
	d := NewCampaign(CampaignConfig{Common: Common{MaxEntities: 1000}}, NewFixedHasher())
	var s signals
	for n := range 50_000 {
		d.Request(campaignView(time.Duration(n)*time.Millisecond, campaignAddr(n%60000), request.Fingerprint(n), 1+n), &s)
	}
	if st := d.Stats(); st.Entries > 1600 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCampaignQuietPathAllocs(t *testing.T) {
	d := NewCampaign(CampaignConfig{}, NewFixedHasher())
	var s signals
	v := campaignView(0, campaignAddr(1), 0xabc, 500)
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		n++
		v.Time = time.Unix(0, t0).Add(time.Duration(n) * time.Second)
		d.Request(v, &s)
		_ = d.CampaignOf(v)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request", allocs)
	}
}

func BenchmarkCampaignRequest(b *testing.B) {
	d := NewCampaign(CampaignConfig{}, NewFixedHasher())
	var s signals
	vs := make([]*request.View, 64)
	for i := range vs {
		vs[i] = campaignView(0, campaignAddr(i), request.Fingerprint(i%4), 1+i*37)
	}
	b.ReportAllocs()
	for i := range b.N {
		v := vs[i%len(vs)]
		v.Time = time.Unix(0, t0).Add(time.Duration(i) * time.Millisecond)
		d.Request(v, &s)
		_ = d.CampaignOf(v)
	}
}
