package engine

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestRotatingScraperCampaign: a slow scraper rotating over 120 addresses
// (each address one product every ~7 s, browser headers) beside a
// launch-day crowd of 300 new visitors on random products. The campaign
// is found and blocked as a campaign; its addresses are refused as they
// come back; the crowd is never refused; explain shows a member's
// campaign; dismissing the campaign lifts its decision.
func TestRotatingScraperCampaign(t *testing.T) {
	w := newWorld(t, `
routes:
  - {name: product, match: "GET /api/products/{id}"}
`)
	e := New(w.p)
	rng := rand.New(rand.NewPCG(5, 6))
	scraper := []string{"User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
		"Accept-Language: en-GB,en;q=0.9", "Accept: application/json"}
	crowd := []string{"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
		"Accept-Language: en-US,en;q=0.9", "Accept: */*", "Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors"}
	scraperIP := func(i int) string { return fmt.Sprintf("203.0.%d.%d", 113+i/60, 10+i%60) }
	walked, refused, firstRefusal := 0, 0, -1
	crowdRefused := 0
	for n := range 3000 {
		if n%2 == 0 {
			a, _, _ := w.do(scraperIP(walked%120), "GET", fmt.Sprintf("/api/products/%d", 1+walked), 200, scraper...)
			if a != verdict.Allow {
				refused++
				if firstRefusal < 0 {
					firstRefusal = walked
				}
			}
			walked++
			continue
		}
		u := rng.IntN(300)
		if a, _, reason := w.do(fmt.Sprintf("198.51.100.%d", u%250), "GET", fmt.Sprintf("/api/products/%d", 1+rng.IntN(2000)), 200, crowd...); a != verdict.Allow {
			crowdRefused++
			t.Logf("crowd request refused: %s", reason)
		}
	}
	if firstRefusal < 0 || firstRefusal > 40 {
		t.Fatalf("the rotating scraper was first refused at its id %d, want by 40", firstRefusal)
	}
	if float64(refused)/float64(walked) < 0.9 {
		t.Errorf("only %d of the scraper's %d requests refused", refused, walked)
	}
	if crowdRefused > 0 {
		t.Errorf("%d launch-day crowd requests refused", crowdRefused)
	}
	cs := e.Campaigns(w.now)
	if len(cs) != 1 || cs[0].Members < 100 || cs[0].Score <= 0 || len(cs[0].Decisions) == 0 || cs[0].Decisions[0].Action != verdict.Block {
		t.Fatalf("campaigns %+v", cs)
	}
	x := e.Explain(verdict.Entity{Scope: verdict.ScopeIP, Value: scraperIP(7)}, w.now)
	if x.Campaign != cs[0].ID || x.CampaignIDs < 2 {
		t.Errorf("explain of a member: campaign %q with %d ids, want %s", x.Campaign, x.CampaignIDs, cs[0].ID)
	}
	if x := e.Explain(verdict.Entity{Scope: verdict.ScopeIP, Value: "198.51.100.7"}, w.now); x.Campaign != "" {
		t.Errorf("a crowd member is in campaign %s", x.Campaign)
	}
	ok, err := e.DismissCampaign(cs[0].ID, w.now)
	if !ok || err != nil {
		t.Fatalf("dismiss: %v %v", ok, err)
	}
	if d := w.ds.ForEntity(verdict.ScopeCampaign, cs[0].ID, w.now); len(d) != 0 {
		t.Fatalf("decisions on the dismissed campaign: %+v", d)
	}
	if c, _ := e.Campaign(cs[0].ID, w.now); !c.Dismissed {
		t.Error("the campaign is not marked dismissed")
	}
	if ok, _ := e.DismissCampaign("c_0000000000000000", w.now); ok {
		t.Error("dismissed a campaign that does not exist")
	}
}

// BenchmarkDecisionCampaign is BenchmarkDecisionAllDetectors for an
// anonymous browser walking product ids, with a decision held (so the
// per-request decision lookups, the campaign's among them, run), with the
// campaign detector on and off in the same run.
func BenchmarkDecisionCampaign(b *testing.B) {
	for _, mode := range []string{"enforce", "off"} {
		b.Run("campaign="+mode, func(b *testing.B) {
			w := newWorld(b, `
routes:
  - {name: product, match: "GET /api/products/{id}"}
detectors:
  campaign: {mode: `+mode+`}
`)
			if _, _, err := w.ds.Add(decision.Decision{Scope: verdict.ScopeIP, Value: "192.0.2.1", Action: verdict.Block, Reason: "bench",
				Source: "manual", Mode: verdict.Enforce, Expires: t0.Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			reqs := make([]*http.Request, 64)
			for i := range reqs {
				r := httptest.NewRequest("GET", fmt.Sprintf("/api/products/%d", 1+i*37), nil)
				r.RemoteAddr = fmt.Sprintf("203.0.113.%d:40000", i)
				r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")
				r.Header.Set("Accept-Language", "en-US")
				reqs[i] = r
			}
			v := &request.View{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				v.Reset()
				now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
				if prob := w.p.Parser.ParseHTTP(reqs[i%len(reqs)], now, v); prob != nil {
					b.Fatal(prob)
				}
				vd := w.p.Decide(v)
				w.p.Observe(v, verdict.Outcome{Status: 200, Latency: time.Millisecond})
				vd.Finish(now)
			}
		})
	}
}
