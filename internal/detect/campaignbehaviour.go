package detect

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Shared behaviour beyond id walks. Every client (detect.Subject) keeps a
// small summary of how it behaves: a min-hash of the route-template
// bigrams it sent (its route sequence), a histogram of the gaps between
// its bursts of requests (its cadence), when it started, and what its
// requests did (new paths, failed answers). A client whose cadence is
// machine-regular joins the behaviour group of its fingerprint, route
// sequence and cadence; a group with enough members on enough networks
// that does a campaign's work (most answers failed: guessing; most
// requests new paths: harvesting) is a campaign. Human cadence (think
// times that vary by more than a factor of two) joins no group, so a
// launch-day crowd on the same first routes is never one, and an office
// behind one address is one network.

// Bounds and thresholds of behaviour groups.
const (
	// behaviourBurst is the gap below which a request belongs to the
	// burst before it (a page's fan-out of API calls): not a cadence.
	behaviourBurst = 500 * time.Millisecond
	// behaviourBuckets are the gap histogram's buckets: half octaves
	// from behaviourBurst (0.5 s, 0.71 s, 1 s, ... 90 s and over).
	behaviourBuckets = 16
	// behaviourGaps is how many gaps between bursts a client needs
	// before its cadence is judged.
	behaviourGaps = 5
	// behaviourRegular is the share of a client's gaps in its densest
	// pair of adjacent buckets (a factor of two) from which its cadence
	// is a machine's, and behaviourGroupRegular the mean of its members'
	// from which a group's is: a person whose think times happened to
	// fall close together for a while is rarely as even as a loop.
	behaviourRegular      = 0.8
	behaviourGroupRegular = 0.9
	// behaviourNets is the least number of /24 (/48) networks among a
	// group's members: one address or one office is never a campaign.
	behaviourNets = 3
	// behaviourFailed and behaviourNew are the least shares of a group's
	// requests that failed (guessing), or asked for a path its sender
	// had not asked before (harvesting), for a campaign.
	behaviourFailed = 0.5
	behaviourNew    = 0.8
	// behaviourSteps is the most distinct route bigrams a client's
	// sequence may have to join a group: a machine loops over a few
	// steps (config then login, login, login; product, product), a
	// person's browsing wanders (pages, reviews, cart, back).
	behaviourSteps = 4
	// behaviourHashes is how many min-hashes summarise a route sequence:
	// two clients whose sets of route bigrams overlap by a share J have
	// the same summary with probability J^4, so a person who also paged
	// from product to product is not taken for a scraper that only does.
	behaviourHashes = 4
	// behaviourStart is how close to its group's first member a member
	// must start for a coordinated start.
	behaviourStart = 2 * time.Minute
)

// campaignBehaviour is one client's behaviour summary.
type campaignBehaviour struct {
	first, last int64
	prevRoute   uint64
	minHash     [behaviourHashes]uint64 // of its route bigrams
	paths       [2]uint64               // a small Bloom filter of the paths it asked for
	steps       uint64                  // one bit per distinct route bigram (hashed): its loop's length
	group       uint64                  // the behaviour group it is in, 0 for none
	n, newPaths uint32
	fails       uint32
	// itemRoute is the route of its first read of an item (a GET of a
	// path with an identifier), items how many of its requests were
	// reads of an item on that route: items == n is a client that only
	// fetches item pages (harvest.go).
	itemRoute   uint64
	items       uint32
	pendingFail uint32 // failures since its last request, not yet in its group
	hist        [behaviourBuckets]uint8
}

// regularity returns the share of b's gaps in its densest pair of
// adjacent buckets and the lower bucket of the pair; 0 when b has fewer
// than behaviourGaps gaps.
func (b *campaignBehaviour) regularity() (float64, int) {
	total, best, at := 0, 0, 0
	for i, c := range b.hist {
		total += int(c)
		pair := int(c)
		if i+1 < len(b.hist) {
			pair += int(b.hist[i+1])
		}
		if pair > best {
			best, at = pair, i
		}
	}
	if total < behaviourGaps {
		return 0, 0
	}
	return float64(best) / float64(total), at
}

// gapBucket returns the histogram bucket of a gap of at least
// behaviourBurst.
func gapBucket(gap int64) int {
	// floor(2 log2(gap/burst)) = floor(log2((gap/burst)^2)), in whole
	// microseconds (a gap is capped at an hour, so the square fits).
	us := uint64(min(gap, int64(time.Hour)) / int64(time.Microsecond))
	q := us * us / uint64(behaviourBurst/time.Microsecond*(behaviourBurst/time.Microsecond))
	if q == 0 {
		return 0
	}
	return min(bits.Len64(q)-1, behaviourBuckets-1)
}

// behaviourGroup is what a behaviour group's members did together.
type behaviourGroup struct {
	members, nets        Distinct
	requests, newPaths   uint32
	fails                uint32
	joined, coordinated  uint32
	firstStart, lastSeen int64
	regularity           float64 // the sum of its members' regularity when they joined
	steps                Steps
	dismissed            int64
}

// behaviourShares returns the group's failed and new-path shares.
func (g *behaviourGroup) shares() (failed, fresh float64) {
	if g.requests == 0 {
		return 0, 0
	}
	return float64(g.fails) / float64(g.requests), float64(g.newPaths) / float64(g.requests)
}

// strength weighs a campaign group's evidence into [0, 1): a shared
// fingerprint and route sequence (every group has them), machine-regular
// cadence, the work (failed or new-path share), networks per member (an
// operator rotating addresses), and a coordinated start. Each adds its
// weight w as 1-(1-c)(1-w).
func (g *behaviourGroup) strength(members, nets float64) float64 {
	failed, fresh := g.shares()
	reg := 0.0
	if g.joined > 0 {
		reg = g.regularity / float64(g.joined)
	}
	spread := 0.0
	if members > 0 {
		spread = min(1, 2*nets/members)
	}
	start := 0.0
	if g.joined > 0 {
		start = float64(g.coordinated) / float64(g.joined)
	}
	c := 0.0
	for _, w := range [...]float64{0.3, 0.3 * reg, 0.4 * max(failed, fresh), 0.2 * spread, 0.2 * start} {
		c = 1 - (1-c)*(1-w)
	}
	return c
}

// nsCampaignBehaviour namespaces behaviour group keys.
const nsCampaignBehaviour = 'B'

// mix64 is a 64-bit finaliser (splitmix64's).
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// behave updates v's subject's behaviour summary, its group's, and
// signals the group and the subject when the group is a campaign. It
// returns what the subject read of items (campaignharvest.go).
func (d *Campaign) behave(v *request.View, s Sink, k *campaignKeys) (reads itemReads) {
	now, w := v.Time.UnixNano(), d.cfg.Window
	subject := k.subject
	route := k.route
	for i := 0; i < len(v.Method); i++ {
		route = (route ^ uint64(v.Method[i])) * 1099511628211
	}
	// The path's hash picks Bloom bits only: an unkeyed FNV-1a will do
	// (a client that makes its paths collide only hides its own work).
	path := uint64(14695981039346656037)
	for i := 0; i < len(v.Path); i++ {
		path = (path ^ uint64(v.Path[i])) * 1099511628211
	}
	path = mix64(path)
	fp := uint64(v.Fingerprint)
	var (
		group, left       uint64
		joined            bool
		add               [3]uint32 // requests, new paths, failures for the group
		reg               float64
		start             int64
		memberWork        float64
		memberN, memberFl uint32
	)
	d.behaviour.Update(subject, now, func(b *campaignBehaviour) {
		if b.n == 0 {
			b.first = now
			for i := range b.minHash {
				b.minHash[i] = math.MaxUint64
			}
		} else {
			if gap := now - b.last; gap >= int64(behaviourBurst) {
				k := gapBucket(gap)
				if b.hist[k] == math.MaxUint8 {
					for i := range b.hist {
						b.hist[i] /= 2
					}
				}
				b.hist[k]++
			}
			h := mix64(b.prevRoute*31 ^ route) // the bigram
			b.steps |= 1 << (h >> 58)
			for i := range b.minHash {
				b.minHash[i] = min(b.minHash[i], h)
				h = mix64(h ^ 0x5851F42D4C957F2D)
			}
		}
		b.prevRoute, b.last = route, now
		b.n++
		bit := uint64(1) << (path & 63)
		word := &b.paths[path>>63]
		fresh := uint32(0)
		if *word&bit == 0 {
			fresh = 1
			*word |= bit
			if bits.OnesCount64(b.paths[0])+bits.OnesCount64(b.paths[1]) > 64 {
				b.paths = [2]uint64{} // half full: start again, so new paths stay told apart
			}
		}
		b.newPaths += fresh
		if (v.Method == "GET" || v.Method == "HEAD") && k.param != "" && (b.items == 0 || b.itemRoute == k.route) {
			b.itemRoute = k.route
			b.items++
		}
		reads.items = b.items
		if b.items == b.n && b.newPaths == b.n {
			reads.only = b.n
		}
		r, bucket := b.regularity()
		g := uint64(0)
		if r >= behaviourRegular && b.n > behaviourGaps && bits.OnesCount64(b.steps) <= behaviourSteps {
			// The min-hashes come from keyed route hashes: mixing them
			// keeps the group key as hard to aim at as they are.
			g = mix64(fp ^ nsCampaignBehaviour<<56)
			for _, m := range b.minHash {
				g = mix64(g ^ m)
			}
			g = mix64(g ^ uint64(bucket+1))
		}
		if g != b.group {
			joined, left = g != 0, b.group
			b.group = g
			add = [3]uint32{b.n, b.newPaths, b.fails}
		} else {
			add = [3]uint32{1, fresh, b.pendingFail}
		}
		b.pendingFail = 0
		group, reg, start = g, r, b.first
		memberN, memberFl = b.n, b.fails
		memberWork = max(float64(b.fails), float64(b.newPaths)) / float64(b.n)
	})
	if left != 0 {
		// It no longer behaves like its group: decisions on the group's
		// campaign no longer apply to it.
		d.members.Update(subject, now, func(m *campaignMember) {
			if m.group == left {
				*m = campaignMember{}
			}
		})
	}
	if group == 0 {
		return reads
	}
	var members, nets, strength float64
	var found, grew bool
	var info behaviourGroup
	d.bgroups.Update(group, now, func(g *behaviourGroup) {
		if g.joined == 0 && g.firstStart == 0 {
			g.firstStart = start
		}
		if joined {
			g.joined++
			g.regularity += reg
			if start-g.firstStart <= int64(behaviourStart) && g.firstStart-start <= int64(behaviourStart) {
				g.coordinated++
			}
			g.firstStart = min(g.firstStart, start)
		}
		g.requests += add[0]
		g.newPaths += add[1]
		g.fails += add[2]
		g.lastSeen = now
		g.members.Add(now, w, subject)
		g.nets.Add(now, w, d.netKey(v.ClientIP))
		members, nets = g.members.Count(now, w), g.nets.Count(now, w)
		failed, fresh := g.shares()
		if g.dismissed == 0 && members >= d.cfg.Members && nets >= behaviourNets && float64(g.requests) >= 4*d.cfg.Members &&
			g.regularity >= behaviourGroupRegular*float64(g.joined) &&
			(failed >= behaviourFailed || fresh >= behaviourNew) {
			found = true
			grew = g.steps.Cross(members, d.cfg.Members) > 0
			strength = g.strength(members, nets)
		}
		info = *g
	})
	if !found {
		return reads
	}
	cid := d.recordBehaviour(group, v, &info, members, nets, strength)
	// A member belongs by how regular its cadence is and how much of the
	// campaign's work its own requests do.
	belong := reg * min(1, memberWork/behaviourFailed)
	sure := belong >= 0.5
	d.members.Update(subject, now, func(m *campaignMember) {
		if m.group != group {
			*m = campaignMember{group: group}
		}
		m.contribs = memberN
		m.id, m.sure = cid, m.sure || sure
	})
	summary := behaviourSummary(&info, members, nets, strength)
	if grew {
		s.Emit(Signal{Detector: "campaign", Entity: verdict.Entity{Scope: verdict.ScopeCampaign, Value: cid},
			Weight: d.cfg.CampaignWeight * strength, Severity: High, Evidence: Evidence{
				Summary: summary, Count: members, Threshold: d.cfg.Members, Window: w, RequestID: v.ID}})
	}
	s.Emit(Signal{Detector: "campaign", Entity: Subject(v), Weight: d.cfg.Weight * strength * belong, Severity: High, Evidence: Evidence{
		Summary: fmt.Sprintf("member of campaign %s (%d requests, %d failed, belonging %.2f); %s", cid, memberN, memberFl, belong, summary),
		Count:   members, Threshold: d.cfg.Members, Window: w, RequestID: v.ID}})
	return reads
}

// behaviourSummary describes a behaviour campaign.
func behaviourSummary(g *behaviourGroup, members, nets, strength float64) string {
	failed, fresh := g.shares()
	work := fmt.Sprintf("%.0f%% of their answers failed", 100*failed)
	if fresh > failed {
		work = fmt.Sprintf("%.0f%% of their requests for paths each had not asked before", 100*fresh)
	}
	return fmt.Sprintf("%.0f clients sharing one fingerprint, one route sequence and one machine-regular cadence from %.0f networks, %d of %d starting within %s of the first; %s (strength %.2f)",
		members, nets, g.coordinated, g.joined, behaviourStart, work, strength)
}

// behaviourFailure counts a failed answer (401, 403, 404, 400, 422)
// against v's subject, for its group's work.
func (d *Campaign) behaviourFailure(v *request.View, o verdict.Outcome) {
	switch o.Status {
	case 400, 401, 403, 404, 422:
	default:
		return
	}
	if v.Identity.Verified || o.Guard {
		return
	}
	key := subjectTableKey(d.h, v)
	if _, ok := d.behaviour.Get(key); !ok {
		return
	}
	d.behaviour.Update(key, v.Time.UnixNano(), func(b *campaignBehaviour) {
		b.fails++
		b.pendingFail++
	})
}

// recordBehaviour lists a behaviour group as a campaign (or refreshes it)
// and returns its ID.
func (d *Campaign) recordBehaviour(group uint64, v *request.View, g *behaviourGroup, members, nets, strength float64) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.listed(group, "behaviour", v)
	failed, fresh := g.shares()
	r.info.Members, r.info.Networks = members, nets
	r.info.Start, r.info.LastSeen = time.Unix(0, g.firstStart).UTC(), v.Time.UTC()
	r.info.Requests, r.info.FailedShare, r.info.NewPathShare = int(g.requests), failed, fresh
	r.info.CoordinatedStart, r.info.Strength = int(g.coordinated), strength
	if mins := time.Duration(g.lastSeen - g.firstStart).Minutes(); mins > 0 {
		r.info.PerMinute = float64(g.requests) / mins
	}
	r.info.Summary = behaviourSummary(g, members, nets, strength)
	return r.info.ID
}
