package detect

import (
	"fmt"
	"math"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Harvest groups: a scraper that rotates over many addresses and reads
// ids that have no order (UUIDs, random tokens) leaves no walk and, at a
// few requests per address, no cadence to judge. What its members share
// is the work: each fetches item pages of one route and nothing else (no
// listing, search, account or asset), never the same id twice, and the
// group's ids do not repeat (a catalogue covered in disjoint slices). A
// person reads a listing, searches, opens an item, goes back; a crowd on
// one fingerprint concentrates on popular items. So clients that share a
// fingerprint and an id route are grouped, and a group is a campaign when
// Harvesters of them, from several networks, fetched two or more distinct
// items and nothing else, are most of the group's returning clients, and
// the group's ids rarely repeat. Members with one request each carry
// little evidence alone: the group carries it, and members inherit it by
// how much of their traffic is the group's work.

// Bounds and thresholds of harvest groups.
const (
	// harvestSure is how many item reads (and nothing else) make a
	// client an item harvester: a sure member of its group's campaign.
	harvestSure = 2
	// harvestMemberShare is the least share of a group's returning
	// clients (two item reads or more) that are item harvesters.
	harvestMemberShare = 0.5
	// harvestRepeatShare is the largest share of a group's item reads
	// that repeat one of its recent ids: people on one fingerprint
	// come back to the same popular items, a split catalogue does not.
	harvestRepeatShare = 0.1
	// harvestSpread is the least number of /24 (/48) networks per
	// harvester: an operator rotating over addresses takes them from
	// many networks, one address each; a crowd of people on one
	// fingerprint comes through a few providers' networks, many to each.
	harvestSpread = 0.8
	// harvestRecent is how many of a group's last ids are remembered to
	// tell a repeat.
	harvestRecent = 16
)

// nsCampaignHarvest and nsCampaignItem namespace harvest group keys and
// the ids of their items.
const (
	nsCampaignHarvest = 'H'
	nsCampaignItem    = 'I'
)

// itemReads is what one client read of items (GETs of a path with an
// identifier), from its behaviour summary: its item reads on its first
// item route, and its requests when every one of them was a read of a
// distinct item there (0 otherwise).
type itemReads struct {
	items, only uint32
}

// harvestGroup is what the clients of one fingerprint and id route read.
type harvestGroup struct {
	returning, harvesters, nets Distinct // clients with 2+ item reads; item harvesters; their networks
	recent                      [harvestRecent]uint64
	next                        uint32
	reads, repeats              uint32
	firstAt                     int64
	steps                       Steps
	dismissed                   int64
}

// shares returns the group's item-only share of its returning clients
// and the share of its reads that repeated a recent id.
func (g *harvestGroup) shares(returning, harvesters float64) (itemOnly, repeats float64) {
	if returning > 0 {
		itemOnly = min(1, harvesters/returning)
	}
	if g.reads > 0 {
		repeats = float64(g.repeats) / float64(g.reads)
	}
	return itemOnly, repeats
}

// strength weighs a harvest group's evidence into [0, 1) as the
// behaviour groups' does: the shared fingerprint and route (0.3), the
// item-only share of its returning clients (0.4), how disjoint its ids
// are (0.3), and networks per harvester (0.2: an operator rotating
// addresses).
func (g *harvestGroup) strength(returning, harvesters, nets float64) float64 {
	itemOnly, repeats := g.shares(returning, harvesters)
	spread := 0.0
	if harvesters > 0 {
		spread = min(1, 2*nets/harvesters)
	}
	c := 0.0
	for _, w := range [...]float64{0.3, 0.4 * itemOnly, 0.3 * (1 - repeats), 0.2 * spread} {
		c = 1 - (1-c)*(1-w)
	}
	return c
}

// requestHarvest follows v in its fingerprint and route's harvest group
// (item reads only) and signals the group and v's subject when the group
// is a campaign.
func (d *Campaign) requestHarvest(v *request.View, s Sink, k *campaignKeys, reads itemReads) {
	if v.Method != "GET" && v.Method != "HEAD" || k.param == "" || d.cfg.Harvesters <= 0 {
		return
	}
	now, w := v.Time.UnixNano(), d.cfg.Window
	var b [16]byte
	fp := uint64(v.Fingerprint)
	for i := range 8 {
		b[i], b[8+i] = byte(fp>>(8*i)), byte(k.route>>(8*i))
	}
	group := d.h.Bytes(nsCampaignHarvest, b[:])
	item := d.h.String(nsCampaignItem, k.param)
	subject := k.subject
	sure := reads.only >= harvestSure
	var (
		returning, harvesters, nets, strength float64
		found, grew                           bool
		info                                  harvestGroup
	)
	d.hgroups.Update(group, now, func(g *harvestGroup) {
		if g.firstAt == 0 {
			g.firstAt = now
		}
		repeat := false
		for _, r := range g.recent {
			if r == item {
				repeat = true
				break
			}
		}
		if !repeat {
			g.recent[g.next%harvestRecent] = item
			g.next++
		}
		if g.reads == math.MaxUint32 {
			g.reads, g.repeats = g.reads/2, g.repeats/2
		}
		g.reads++
		if repeat {
			g.repeats++
		}
		if reads.items >= harvestSure {
			g.returning.Add(now, w, subject)
		}
		if sure {
			g.harvesters.Add(now, w, subject)
			g.nets.Add(now, w, d.netKey(v.ClientIP))
		}
		returning, harvesters, nets = g.returning.Count(now, w), g.harvesters.Count(now, w), g.nets.Count(now, w)
		itemOnly, repeats := g.shares(returning, harvesters)
		if g.dismissed == 0 && harvesters >= d.cfg.Harvesters && nets >= behaviourNets && nets >= harvestSpread*harvesters &&
			float64(g.reads) >= 2*d.cfg.Harvesters && itemOnly >= harvestMemberShare && repeats <= harvestRepeatShare {
			found = true
			grew = g.steps.Cross(harvesters, d.cfg.Harvesters) > 0
			strength = g.strength(returning, harvesters, nets)
		}
		info = *g
	})
	if !found || reads.only == 0 {
		return // no campaign, or a client that also does other things: no member
	}
	cid := d.recordHarvest(group, v, &info, returning, harvesters, nets, strength)
	// A member belongs by how much of the group's work it did: an item
	// harvester fully, a client with one item read and nothing else yet
	// (a person who landed on an item page) by half.
	belong := 0.5
	if sure {
		belong = 1
	}
	d.members.Update(subject, now, func(m *campaignMember) {
		if m.group != group {
			*m = campaignMember{group: group}
		}
		m.contribs = reads.only
		m.id, m.sure = cid, m.sure || sure
	})
	summary := harvestSummary(&info, returning, harvesters, nets, strength)
	if grew {
		s.Emit(Signal{Detector: "campaign", Entity: verdict.Entity{Scope: verdict.ScopeCampaign, Value: cid},
			Weight: d.cfg.CampaignWeight * strength, Severity: High, Evidence: Evidence{
				Summary: summary, Count: harvesters, Threshold: d.cfg.Harvesters, Window: w, RequestID: v.ID}})
	}
	s.Emit(Signal{Detector: "campaign", Entity: Subject(v), Weight: d.cfg.Weight * strength * belong, Severity: High, Evidence: Evidence{
		Summary: fmt.Sprintf("member of campaign %s (%d distinct items read, nothing else; belonging %.2f); %s", cid, reads.only, belong, summary),
		Count:   harvesters, Threshold: d.cfg.Harvesters, Window: w, RequestID: v.ID}})
}

// harvestSummary describes a harvest campaign.
func harvestSummary(g *harvestGroup, returning, harvesters, nets, strength float64) string {
	itemOnly, repeats := g.shares(returning, harvesters)
	return fmt.Sprintf("%.0f clients sharing one fingerprint from %.0f networks fetched only distinct items of one route (%.0f%% of its returning clients), %d reads, %.0f%% of them repeating a recent id, since %s (strength %.2f)",
		harvesters, nets, 100*itemOnly, g.reads, 100*repeats, time.Unix(0, g.firstAt).UTC().Format(time.RFC3339), strength)
}

// recordHarvest lists a harvest group as a campaign (or refreshes it)
// and returns its ID.
func (d *Campaign) recordHarvest(group uint64, v *request.View, g *harvestGroup, returning, harvesters, nets, strength float64) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.listed(group, "harvest", v)
	itemOnly, repeats := g.shares(returning, harvesters)
	r.info.Members, r.info.Networks = harvesters, nets
	r.info.Start, r.info.LastSeen = time.Unix(0, g.firstAt).UTC(), v.Time.UTC()
	r.info.Requests, r.info.ItemOnlyShare, r.info.RepeatShare, r.info.Strength = int(g.reads), itemOnly, repeats, strength
	if mins := v.Time.Sub(r.info.Start).Minutes(); mins > 0 {
		r.info.PerMinute = float64(g.reads) / mins
	}
	r.info.Summary = harvestSummary(g, returning, harvesters, nets, strength)
	return r.info.ID
}
