package detect

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// harvestUUID is a random-looking id for item n: UUIDs have no order to
// walk.
func harvestUUID(n int) string {
	x := mix64(uint64(n) + 1)
	y := mix64(x)
	return fmt.Sprintf("%08x-%04x-5%03x-8%03x-%012x", uint32(x), uint16(x>>32), uint16(x>>48)&0xfff, uint16(y)&0xfff, y>>16&0xffffffffffff)
}

// harvestAddr is address i, each on its own /24.
func harvestAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{100, 64 + byte(i/250), byte(i % 250), 9})
}

// harvestView is an unrouted GET of item n (a UUID) from ip at at.
func harvestView(at time.Duration, ip netip.Addr, fp request.Fingerprint, n int) *request.View {
	return &request.View{Time: time.Unix(0, t0).Add(at), ClientIP: ip, Method: "GET",
		Path: "/v3/tickets/events/" + harvestUUID(n), Fingerprint: fp}
}

// TestScrapingHarvest: one address reading distinct UUID items at 10/s,
// nothing else, is signalled by its 30th id (without the harvest check,
// not before 300); a monitor reading popular items at 2/s and a NAT
// address of people who also list and search at 10/s are not.
func TestScrapingHarvest(t *testing.T) {
	ip := netip.MustParseAddr("203.0.113.9")
	t.Run("scraper", func(t *testing.T) {
		d := NewScraping(ScrapingConfig{}, NewFixedHasher())
		var s signals
		for n := range 40 {
			d.Request(harvestView(time.Duration(n)*100*time.Millisecond, ip, 1, n), &s)
			if len(scrapingOf(s.got, "item pages and nothing else")) > 0 {
				if n+1 > 31 {
					t.Fatalf("harvest signalled at read %d, want by 31", n+1)
				}
				return
			}
		}
		t.Fatalf("no harvest signal in 40 distinct reads at 10/s: %+v", s.got)
	})
	t.Run("turned off", func(t *testing.T) {
		d := NewScraping(ScrapingConfig{HarvestThreshold: -1}, NewFixedHasher())
		var s signals
		for n := range 40 {
			d.Request(harvestView(time.Duration(n)*100*time.Millisecond, ip, 1, n), &s)
		}
		if got := scrapingOf(s.got, "item pages"); len(got) > 0 {
			t.Fatalf("harvest_threshold -1 still signals: %+v", got[0].Evidence)
		}
	})
	t.Run("monitor", func(t *testing.T) {
		d := NewScraping(ScrapingConfig{}, NewFixedHasher())
		var s signals
		rng := rand.New(rand.NewPCG(1, 1))
		for n := range 240 {
			d.Request(harvestView(time.Duration(n)*500*time.Millisecond, ip, 1, int(1500*rng.Float64()*rng.Float64())), &s)
		}
		if got := scrapingOf(s.got, "item pages"); len(got) > 0 {
			t.Fatalf("a 2/s monitor was signalled: %+v", got[0].Evidence)
		}
	})
	t.Run("nat", func(t *testing.T) {
		d := NewScraping(ScrapingConfig{}, NewFixedHasher())
		var s signals
		rng := rand.New(rand.NewPCG(2, 2))
		for n := range 600 {
			at := time.Duration(n) * 100 * time.Millisecond
			v := harvestView(at, ip, 1, int(1500*rng.Float64()*rng.Float64()))
			if n%3 != 0 {
				v.Path, v.Query = "/v3/tickets/events", fmt.Sprintf("offset=%d", 20*rng.IntN(10))
			}
			d.Request(v, &s)
		}
		if got := scrapingOf(s.got, "item pages"); len(got) > 0 {
			t.Fatalf("a NAT of browsing people was signalled: %+v", got[0].Evidence)
		}
	})
}

// TestCampaignHarvest: 90 addresses in turn on one fingerprint, each
// reading a distinct UUID item every ~12 s and nothing else, are a
// harvest campaign within 30 s, with sure members; a launch crowd on a
// few shared fingerprints (home page first), a crowd landing on the same
// hot items, and an office behind one address are none.
func TestCampaignHarvest(t *testing.T) {
	t.Run("rotating", func(t *testing.T) {
		d := NewCampaign(CampaignConfig{}, NewFixedHasher())
		var s signals
		found := time.Duration(-1)
		for n := range 450 {
			at := time.Duration(n) * 133 * time.Millisecond
			d.Request(harvestView(at, harvestAddr(n%90), 0xbeef, n), &s)
			for _, sig := range s.got {
				if sig.Entity.Scope == verdict.ScopeCampaign && found < 0 {
					found = at
				}
			}
		}
		cs := d.Campaigns()
		if found < 0 || found > 30*time.Second || len(cs) != 1 || cs[0].Kind != "harvest" {
			t.Fatalf("campaign found at %v (%+v), want a harvest campaign within 30 s", found, cs)
		}
		if got := d.CampaignOf(harvestView(0, harvestAddr(7), 0xbeef, 0)); got != cs[0].ID {
			t.Errorf("CampaignOf a member = %q, want %s", got, cs[0].ID)
		}
	})
	benign := map[string]func(d *Campaign, s Sink){
		"launch crowd": func(d *Campaign, s Sink) {
			rng := rand.New(rand.NewPCG(3, 3))
			for i := range 140 {
				ip, fp := harvestAddr(i), request.Fingerprint(1+i%5)
				at := time.Duration(rng.IntN(8000)) * time.Millisecond
				d.Request(&request.View{Time: time.Unix(0, t0).Add(at), ClientIP: ip, Method: "GET", Path: "/", Fingerprint: fp}, s)
				for range 6 {
					at += time.Second + time.Duration(rng.IntN(8000))*time.Millisecond // a person's think time
					d.Request(harvestView(at, ip, fp, int(1500*rng.Float64()*rng.Float64())), s)
				}
			}
		},
		"hot items": func(d *Campaign, s Sink) {
			rng := rand.New(rand.NewPCG(4, 4))
			for i := range 100 {
				for j := range 3 {
					d.Request(harvestView(time.Duration(i)*300*time.Millisecond+time.Duration(j)*4*time.Second, harvestAddr(i), 9, rng.IntN(6)), s)
				}
			}
		},
		"office": func(d *Campaign, s Sink) {
			office := netip.MustParseAddr("192.0.2.10")
			for n := range 400 {
				v := harvestView(time.Duration(n)*150*time.Millisecond, office, 9, n)
				v.Identity.Session = fmt.Sprintf("s%d", n%60)
				d.Request(v, s)
			}
		},
	}
	for name, run := range benign {
		t.Run(name, func(t *testing.T) {
			d := NewCampaign(CampaignConfig{}, NewFixedHasher())
			var s signals
			run(d, &s)
			if cs := d.Campaigns(); len(cs) != 0 {
				t.Fatalf("campaigns %+v, want none", cs)
			}
		})
	}
}
