package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/verdict"
)

// campaignEvent is one request of a population, at an offset from t0.
type campaignEvent struct {
	at       time.Duration
	who      string // "crew", "crowd", "office", "poller"
	ip       string
	method   string
	path     string
	status   int
	sessions string   // a session cookie, "" for none
	headers  []string // nil: browserHeaders
}

// browserHeaders are the headers of the app's web client, shared by the
// crowd and (in the attacks) by the crew that copies them.
var browserHeaders = []string{"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
	"Accept-Language: en-US,en;q=0.9", "Accept: application/json", "Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors"}

// launchCrowd is a launch-day spike: n new browsers from many networks
// arriving within a minute, each booting the same app (the same first
// routes in one burst), then browsing at a human pace: page views a few
// seconds to a minute apart (log-normal think time), each a burst of one
// to three API calls.
func launchCrowd(rng *rand.Rand, n int, who string, ip func(i int) string, session func(i int) string) []campaignEvent {
	var out []campaignEvent
	for i := range n {
		at := time.Duration(rng.IntN(60_000)) * time.Millisecond
		sess := ""
		if session != nil {
			sess = session(i)
		}
		add := func(method, path string, status int) {
			out = append(out, campaignEvent{at: at, who: who, ip: ip(i), method: method, path: path, status: status, sessions: sess})
			at += time.Duration(30+rng.IntN(150)) * time.Millisecond
		}
		add("GET", "/", 200)
		add("GET", "/api/config", 200)
		add("GET", "/api/products", 200)
		for range 8 + rng.IntN(10) {
			at += time.Duration(math.Exp(math.Log(8)+rng.NormFloat64()) * float64(time.Second))
			id := 1 + rng.IntN(500)
			add("GET", fmt.Sprintf("/api/products/%d", id), 200)
			if rng.IntN(2) == 0 {
				add("GET", fmt.Sprintf("/api/products/%d/reviews", id), 200)
			}
			if rng.IntN(5) == 0 {
				add("POST", "/api/cart", 201)
			}
		}
	}
	return out
}

// crewHeaders are a script's copy of the app's headers: the user agent
// and languages, not the fetch metadata.
var crewHeaders = []string{"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
	"Accept-Language: en-US,en;q=0.9", "Accept: application/json"}

// runCampaignWorld sends the events in time order through the engine and
// returns, by population, the requests sent and refused; check, when not
// nil, runs once when the events pass checkAt.
func runCampaignWorld(t *testing.T, w *world, events []campaignEvent, checkAt time.Duration, check func()) (sent, refused map[string]int) {
	t.Helper()
	reasons := map[string]int{}
	defer func() {
		if len(reasons) > 0 {
			t.Logf("refusal reasons: %v", reasons)
		}
	}()
	sort.SliceStable(events, func(i, j int) bool { return events[i].at < events[j].at })
	sent, refused = map[string]int{}, map[string]int{}
	for _, ev := range events {
		if check != nil && ev.at >= checkAt {
			check()
			check = nil
		}
		w.now = t0.Add(ev.at) // the events' own time: do's steps would bend cadences
		headers := browserHeaders
		if ev.headers != nil {
			headers = ev.headers
		}
		if ev.sessions != "" {
			headers = append(append([]string(nil), headers...), "Cookie: session="+ev.sessions)
		}
		sent[ev.who]++
		if a, _, reason := w.do(ev.ip, ev.method, ev.path, ev.status, headers...); a != verdict.Allow {
			refused[ev.who]++
			reasons[ev.who+" "+reason]++
		}
	}
	return sent, refused
}

// crowdIP spreads n clients over many networks.
func crowdIP(i int) string { return fmt.Sprintf("198.%d.%d.%d", 18+i%2, i/7%250, 10+i%200) }

// TestBehaviourCampaigns checks campaigns beyond id walks, through the
// engine with every default detector: a distributed gift-card guessing
// crew (60 addresses on 40 networks, a script with the app's user agent,
// each a config fetch then one random code every ~9 s answered 404, 8
// each: below every per-client threshold) and a rotating scraper that
// samples random product ids with the app's very headers (120 worker
// addresses, each a product every ~6 s) are each grouped by their shared
// fingerprint, route sequence and cadence, and mitigated, beside a
// launch-day crowd of 300 new browsers on the same first routes; the
// crowd is never refused. Without the campaign detector both go through.
// (A stuffing crew of the same shape is stopped by the credentials
// detector's spread gate before its members join a group.) Campaign
// decisions, explain and dismiss work on behaviour campaigns as on walks.
func TestBehaviourCampaigns(t *testing.T) {
	for _, tc := range []struct {
		name string
		crew func(rng *rand.Rand) []campaignEvent
		// refused is the least share of the crew's requests refused.
		refused float64
	}{
		{"guessing crew", func(rng *rand.Rand) []campaignEvent {
			var out []campaignEvent
			for i := range 60 {
				ip := fmt.Sprintf("100.%d.%d.%d", 64+i%40/10, i%40, 20+i)
				at := 30*time.Second + time.Duration(rng.IntN(120_000))*time.Millisecond
				out = append(out, campaignEvent{at: at, who: "crew", ip: ip, method: "GET", path: "/api/config", status: 200, headers: crewHeaders})
				for range 8 {
					at += 9*time.Second + time.Duration(rng.IntN(1200)-600)*time.Millisecond
					out = append(out, campaignEvent{at: at, who: "crew", ip: ip, method: "GET",
						path: fmt.Sprintf("/api/v2/gift-cards/GC-%d", rng.IntN(1_000_000)), status: 404, headers: crewHeaders})
				}
			}
			return out
		}, 0.4},
		{"rotating scraper", func(rng *rand.Rand) []campaignEvent {
			var out []campaignEvent
			for i := range 120 {
				ip := fmt.Sprintf("203.0.%d.%d", i/2, 10+i)
				at := 20*time.Second + time.Duration(rng.IntN(300_000))*time.Millisecond
				for range 15 {
					out = append(out, campaignEvent{at: at, who: "crew", ip: ip, method: "GET",
						path: fmt.Sprintf("/api/products/%d", 1+rng.IntN(100_000)), status: 200})
					at += 6*time.Second + time.Duration(rng.IntN(800)-400)*time.Millisecond
				}
			}
			return out
		}, 0.6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c *CampaignView
			run := func(mode string) (sent, refused map[string]int, e *Engine, w *world) {
				w = newWorld(t, "detectors:\n  campaign: {mode: "+mode+"}\n")
				e = New(w.p)
				rng := rand.New(rand.NewPCG(7, 8))
				crew := tc.crew(rng)
				events := append(launchCrowd(rng, 300, "crowd", crowdIP, nil), crew...)
				// The campaign is looked at while the crew is at work.
				sort.Slice(crew, func(i, j int) bool { return crew[i].at < crew[j].at })
				sent, refused = runCampaignWorld(t, w, events, crew[len(crew)*2/3].at, func() {
					for _, x := range e.Campaigns(w.now) {
						if x.Kind == "behaviour" {
							if c != nil && mode != "off" {
								t.Errorf("two behaviour campaigns: %s and %s", c.Summary, x.Summary)
							}
							c = &x
						}
					}
				})
				return sent, refused, e, w
			}
			offSent, offRefused, _, _ := run("off")
			if c != nil {
				t.Fatalf("a campaign with the detector off: %+v", c)
			}
			sent, refused, e, w := run("enforce")
			t.Logf("campaign off: crew %d of %d refused, crowd %d; on: crew %d of %d, crowd %d of %d", offRefused["crew"], offSent["crew"],
				offRefused["crowd"], refused["crew"], sent["crew"], refused["crowd"], sent["crowd"])
			if refused["crowd"] > 0 {
				t.Errorf("%d launch-day crowd requests refused", refused["crowd"])
			}
			// A member joins its group at its 6th request: of a guesser's 9,
			// at most the last 4 can be refused (44%), of a worker's 15 the
			// last 10.
			if share := float64(refused["crew"]) / float64(sent["crew"]); share < tc.refused {
				t.Errorf("the crew: %d of %d refused, want %.0f%%", refused["crew"], sent["crew"], 100*tc.refused)
			}
			if offRefused["crew"]*10 > offSent["crew"] {
				t.Errorf("without the campaign detector %d of the crew's %d requests refused: the test shows nothing", offRefused["crew"], offSent["crew"])
			}
			if c == nil || c.Members < 5 || c.Networks < 3 || c.Strength <= 0 || len(c.Decisions) == 0 {
				t.Fatalf("campaign %+v, want one behaviour campaign with members, networks, strength and a decision", c)
			}
			if x := e.Explain(verdict.Entity{Scope: verdict.ScopeIP, Value: crowdIP(7)}, w.now); x.Campaign != "" {
				t.Errorf("a crowd member is in campaign %s", x.Campaign)
			}
			if ok, err := e.DismissCampaign(c.ID, w.now); !ok || err != nil {
				t.Fatalf("dismiss: %v %v", ok, err)
			}
			if d := w.ds.ForEntity(verdict.ScopeCampaign, c.ID, w.now); len(d) != 0 {
				t.Fatalf("decisions on the dismissed campaign: %+v", d)
			}
			if x, _ := e.Campaign(c.ID, w.now); !x.Dismissed {
				t.Error("the campaign is not marked dismissed")
			}
		})
	}
}

// TestBehaviourCampaignsBenign checks the traps: a launch-day crowd of 300
// new browsers (same headers, same first routes, human think times), an
// office of 40 signed-in sessions behind one address, and 100 browsers
// polling one notifications route every 30 s exactly (a machine cadence
// and one route sequence, but the same path over and over, answered):
// no campaign, no refusal.
func TestBehaviourCampaignsBenign(t *testing.T) {
	w := newWorld(t, "")
	rng := rand.New(rand.NewPCG(9, 10))
	events := launchCrowd(rng, 300, "crowd", crowdIP, nil)
	events = append(events, launchCrowd(rng, 40, "office", func(int) string { return "192.0.2.44" },
		func(i int) string { return fmt.Sprintf("office-session-%02d-7f3a9c", i) })...)
	for i := range 100 {
		at := time.Duration(rng.IntN(60_000)) * time.Millisecond
		for range 20 {
			events = append(events, campaignEvent{at: at, who: "poller", ip: fmt.Sprintf("100.%d.%d.9", 80+i%20, i), method: "GET", path: "/api/notifications", status: 200})
			at += 30 * time.Second
		}
	}
	sent, refused := runCampaignWorld(t, w, events, 0, nil)
	for _, who := range []string{"crowd", "office", "poller"} {
		if refused[who] > 0 {
			t.Errorf("%s: %d of %d requests refused", who, refused[who], sent[who])
		}
	}
	if cs := New(w.p).Campaigns(w.now); len(cs) > 0 {
		t.Errorf("campaigns %+v, want none", cs)
	}
}
