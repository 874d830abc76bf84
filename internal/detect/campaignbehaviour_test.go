package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// behaviourCrew sends n clients (one per /24) that each fetch a config
// then post a login every period (jitter ±10%), with status, k times,
// from start on; the requests are sent in time order.
func behaviourCrew(d *Campaign, s Sink, rng *rand.Rand, start time.Duration, n, k int, period time.Duration, status int, verified bool) {
	var reqs []*request.View
	for i := range n {
		ip := netip.AddrFrom4([4]byte{100, 64, byte(i), 7})
		at := start + time.Duration(rng.IntN(60_000))*time.Millisecond
		for j := range k + 1 {
			method, path := "POST", "/v1/session/new"
			if j == 0 {
				method, path = "GET", "/v1/config"
			}
			v := &request.View{Time: time.Unix(0, t0).Add(at), ClientIP: ip, Method: method, Path: path, Fingerprint: 0xc0ffee}
			v.Identity.Verified = verified
			if verified {
				v.Identity.KeyID = fmt.Sprintf("k%d", i)
			}
			reqs = append(reqs, v)
			at += period + time.Duration((rng.Float64()-0.5)*0.2*float64(period))
		}
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Time.Before(reqs[j].Time) })
	for _, v := range reqs {
		d.Request(v, s)
		d.Response(v, verdict.Outcome{Status: status}, s)
	}
}

// TestCampaignBehaviour checks behaviour groups on their own: a crew of
// 20 clients looping over one failing login at a machine's cadence is a
// campaign with its own signal and sure members; the same loop answered
// 200 (a polling app), the same crew of verified keys, and clients with
// a person's think times are none; a dismissed behaviour campaign is not
// signalled again.
func TestCampaignBehaviour(t *testing.T) {
	t.Run("crew", func(t *testing.T) {
		d := NewCampaign(CampaignConfig{}, NewFixedHasher())
		var s signals
		behaviourCrew(d, &s, rand.New(rand.NewPCG(1, 2)), 0, 20, 12, 7*time.Second, 401, false)
		cs := d.Campaigns()
		if len(cs) != 1 || cs[0].Kind != "behaviour" || cs[0].FailedShare < 0.8 || cs[0].Networks < 3 || cs[0].CoordinatedStart < 10 || cs[0].Strength < 0.5 {
			t.Fatalf("campaigns %+v, want one behaviour campaign of failing, coordinated clients", cs)
		}
		var own, members int
		for _, sig := range s.got {
			switch sig.Entity.Scope {
			case verdict.ScopeCampaign:
				own++
			case verdict.ScopeIP:
				members++
			}
		}
		if own == 0 || members == 0 {
			t.Fatalf("%d campaign signals, %d member signals", own, members)
		}
		v := &request.View{ClientIP: netip.AddrFrom4([4]byte{100, 64, 3, 7}), Fingerprint: 0xc0ffee}
		if got := d.CampaignOf(v); got != cs[0].ID {
			m, _ := d.members.Get(subjectTableKey(d.h, v))
			b, _ := d.behaviour.Get(subjectTableKey(d.h, v))
			t.Errorf("CampaignOf a member = %q, want %s (%+v, %+v)", got, cs[0].ID, m, b)
		}
		if !d.Dismiss(cs[0].ID, time.Unix(0, t0).Add(10*time.Minute)) {
			t.Fatal("dismiss failed")
		}
		// The crew carries on with its loop after the dismissal.
		s.got = nil
		for k := range 6 {
			for i := range 20 {
				v := &request.View{Time: time.Unix(0, t0).Add(150*time.Second + time.Duration(k)*7*time.Second + time.Duration(i)*100*time.Millisecond),
					ClientIP: netip.AddrFrom4([4]byte{100, 64, byte(i), 7}), Method: "POST", Path: "/v1/session/new", Fingerprint: 0xc0ffee}
				d.Request(v, &s)
				d.Response(v, verdict.Outcome{Status: 401}, &s)
			}
		}
		for _, sig := range s.got {
			if sig.Entity.Scope == verdict.ScopeCampaign {
				t.Fatalf("a dismissed campaign signalled: %+v", sig)
			}
		}
	})
	for _, tc := range []struct {
		name     string
		status   int
		verified bool
	}{{"polling app", 200, false}, {"verified keys", 401, true}} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewCampaign(CampaignConfig{}, NewFixedHasher())
			var s signals
			behaviourCrew(d, &s, rand.New(rand.NewPCG(1, 2)), 0, 20, 12, 7*time.Second, tc.status, tc.verified)
			if cs := d.Campaigns(); len(cs) != 0 || len(s.got) != 0 {
				t.Fatalf("campaigns %+v, %d signals; want none", cs, len(s.got))
			}
		})
	}
	t.Run("human think times", func(t *testing.T) {
		d := NewCampaign(CampaignConfig{}, NewFixedHasher())
		var s signals
		rng := rand.New(rand.NewPCG(5, 6))
		for i := range 200 {
			ip := netip.AddrFrom4([4]byte{100, 64, byte(i), 9})
			at := time.Duration(rng.IntN(60_000)) * time.Millisecond
			for range 12 {
				v := &request.View{Time: time.Unix(0, t0).Add(at), ClientIP: ip, Method: "POST", Path: "/v1/session/new", Fingerprint: 0xc0ffee}
				d.Request(v, &s)
				d.Response(v, verdict.Outcome{Status: 401}, &s)
				at += time.Duration(math.Exp(math.Log(7)+rng.NormFloat64()) * float64(time.Second))
			}
		}
		if cs := d.Campaigns(); len(cs) != 0 {
			t.Fatalf("campaigns %+v among people who mistype their passwords, want none", cs)
		}
	})
}

// TestCampaignBehaviourBounded checks a flood of one-request clients
// keeps the behaviour table at its cap.
func TestCampaignBehaviourBounded(t *testing.T) {
	d := NewCampaign(CampaignConfig{Common: Common{MaxEntities: 1000}}, NewFixedHasher())
	var s signals
	for i := range 20000 {
		v := &request.View{Time: time.Unix(0, t0).Add(time.Duration(i) * time.Millisecond), ClientIP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Method: "GET", Path: "/", Fingerprint: 1}
		d.Request(v, &s)
	}
	if st := d.behaviour.Stats(); st.Entries > st.MaxEntries || st.MaxEntries > 1100 || st.Evictions == 0 {
		t.Fatalf("behaviour table %+v, want at most its cap, with evictions", st)
	}
}

// BenchmarkCampaignRequestMix is the campaign detector's per-request cost
// on 256 clients sampling product ids at a machine's pace (so behaviour
// groups form and are updated: the costly case), against the id walks
// alone (the detector before behaviour groups) in the same run.
func BenchmarkCampaignRequestMix(b *testing.B) {
	views := make([]*request.View, 256)
	for i := range views {
		views[i] = &request.View{ClientIP: netip.AddrFrom4([4]byte{203, 0, byte(i / 4), byte(i)}), Method: "GET",
			Path: fmt.Sprintf("/api/products/%d", 1+i*37), Fingerprint: request.Fingerprint(i % 3)}
	}
	for _, mode := range []string{"walks+behaviour", "walks"} {
		b.Run(mode, func(b *testing.B) {
			d := NewCampaign(CampaignConfig{}, NewFixedHasher())
			var s signals
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				v := views[i%len(views)]
				v.Time = time.Unix(0, t0).Add(time.Duration(i) * 50 * time.Millisecond)
				if mode == "walks" {
					k := d.keys(v)
					d.requestWalk(v, &s, &k)
				} else {
					d.Request(v, &s)
				}
				d.Response(v, verdict.Outcome{Status: 200}, &s)
				s.got = s.got[:0]
				i++
			}
		})
	}
}

func TestGapBucket(t *testing.T) {
	for _, tc := range []struct {
		gap  time.Duration
		want int
	}{{500 * time.Millisecond, 0}, {700 * time.Millisecond, 0}, {710 * time.Millisecond, 1}, {time.Second, 2},
		{5600 * time.Millisecond, 6}, {5700 * time.Millisecond, 7}, {6 * time.Second, 7}, {90 * time.Second, 14}, {time.Hour, 15}, {48 * time.Hour, 15}} {
		if got := gapBucket(int64(tc.gap)); got != tc.want {
			t.Errorf("gapBucket(%s) = %d, want %d (2 log2(gap/0.5s) = %.2f)", tc.gap, got, tc.want, 2*math.Log2(tc.gap.Seconds()/0.5))
		}
	}
}
