package detect

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "campaign", Order: 95, Settings: func() Settings { return &CampaignConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewCampaign(*s.(*CampaignConfig), env.Hasher)
		}})
}

// CampaignConfig configures the campaign detector. Zero fields get the
// defaults named on each field. The embedded Common weight is the risk a
// member's request adds when it does the campaign's work (default 80).
type CampaignConfig struct {
	Common `yaml:",inline"`
	// Window is how long a walk may pause before it ends, and how long
	// members are remembered after their last part in it (default 10m).
	Window time.Duration `yaml:"window"`
	// Walk is how many ids a walk covers before its group is a campaign
	// (default 20).
	Walk float64 `yaml:"walk"`
	// Members is how many distinct entities must share the walk (default
	// 5): one client walking alone is the scraping detector's.
	Members float64 `yaml:"members"`
	// Step is the largest gap between one id of a walk and the next
	// (default 3).
	Step int `yaml:"step"`
	// CampaignWeight is the risk a campaign itself takes each time its
	// walk grows by Walk ids (default 100: a campaign is blocked when
	// found, and its members with it).
	CampaignWeight float64 `yaml:"campaign_weight"`
	// Harvesters is how many clients that fetch only distinct items (two
	// or more each, nothing else) make a harvest campaign of their
	// fingerprint and route (default 10; campaignharvest.go).
	Harvesters float64 `yaml:"harvesters"`
	// MaxCampaigns bounds the campaigns listed at once (default 1000);
	// beyond it the least recently active is forgotten.
	MaxCampaigns int `yaml:"max_campaigns"`
}

// Campaign groups entities that share a client fingerprint (the user
// agent, the header set and its order, Accept-Language: request's
// Fingerprint) and one route, and watches for the signature of a
// distributed walk: the ids they request, taken together, cover one id
// space in sequence, while each takes a disjoint slice of it. A group
// whose walk spans Walk ids among Members or more entities is a
// campaign: it gets an ID ("c_" and 16 hex digits), its own risk (signals
// on campaign:ID, so decisions can target it) and evidence (members,
// networks, ids, pace, start). Its members are remembered, so the engine
// finds a member's campaign with one table lookup (CampaignOf), and a
// request that extends a campaign's walk signals its own subject too.
// Verified identities are never members.
type Campaign struct {
	cfg     CampaignConfig
	h       Hasher
	groups  *Table[campaignGroup]
	members *Table[campaignMember]
	// behaviour and bgroups are the clients' behaviour summaries and
	// their behaviour groups (campaignbehaviour.go).
	behaviour *Table[campaignBehaviour]
	bgroups   *Table[behaviourGroup]
	// hgroups are the harvest groups (campaignharvest.go).
	hgroups *Table[harvestGroup]

	mu        sync.Mutex
	campaigns map[string]*campaignRecord
}

// campaignWalks is how many walks one group follows at once: a walk's
// start survives this many others' first requests in between (a crowd of
// clients with the same fingerprint on the same route).
const campaignWalks = 8

// campaignWalk is one sequence of ids being followed.
type campaignWalk struct {
	frontier uint64 // the highest id of the walk
	low      uint64 // its first id
	walk     uint32 // ids it covered
	startAt  int64
	lastAt   int64
	last     uint64 // the subject that last extended it
	seenAt   uint32 // the group's request count when it started
}

// campaignGroup is one fingerprint and route's walks.
type campaignGroup struct {
	walks     [campaignWalks]campaignWalk
	members   Distinct // subjects that extended a walk
	nets      Distinct // their /24 (IPv4) or /48 (IPv6) networks
	steps     Steps
	seen      uint32 // requests with an id the group has seen
	dismissed int64  // when an operator dismissed it (0: never)
}

// follow finds the walk id extends, or starts one in place of the
// weakest (the shortest, then the least recent, stale ones first); it
// returns the walk and whether id extended it.
func (g *campaignGroup) follow(id uint64, now, window int64, step uint64) (*campaignWalk, bool) {
	weakest := 0
	for i := range g.walks {
		w := &g.walks[i]
		if w.walk > 0 && now-w.lastAt <= window && id > w.frontier && id-w.frontier <= step {
			w.frontier, w.walk, w.lastAt = id, w.walk+1, now
			return w, true
		}
		if w.walk > 0 && now-w.lastAt <= window && id == w.frontier {
			return nil, false // a retry
		}
		v := &g.walks[weakest]
		stale, vstale := w.walk == 0 || now-w.lastAt > window, v.walk == 0 || now-v.lastAt > window
		if stale && !vstale || stale == vstale && (w.walk < v.walk || w.walk == v.walk && w.lastAt < v.lastAt) {
			weakest = i
		}
	}
	w := &g.walks[weakest]
	*w = campaignWalk{frontier: id, low: id, walk: 1, startAt: now, lastAt: now, seenAt: g.seen}
	return w, false
}

// campaignSure is how many ids of a campaign's walk make an entity surely
// a member: it takes the campaign's full weight, and decisions on the
// campaign apply to it.
const campaignSure = 2

// campaignDominant is the share of its group's requests from which a
// campaign's walk is the group: one id of it makes a sure member.
const campaignDominant = 0.5

// campaignShare is the least share of its group's requests since it
// started that a campaign's walk takes.
const campaignShare = 0.05

// campaignMember is one entity's part in a group's walk.
type campaignMember struct {
	group    uint64
	contribs uint32
	id       string // the campaign's ID; "" until the group is one
	sure     bool   // a sure member: decisions on the campaign apply to it
}

// campaignRecord is what is listed about a campaign.
type campaignRecord struct {
	info  CampaignInfo
	group uint64
}

// CampaignInfo describes a campaign: what it shares and the evidence.
type CampaignInfo struct {
	ID string `json:"id"`
	// Kind is what the members share: "walk" (disjoint slices of one id
	// space), "behaviour" (one route sequence and machine-regular
	// cadence, doing a campaign's work) or "harvest" (fetching only
	// distinct items of one route, ids in any order).
	Kind        string    `json:"kind"`
	Route       string    `json:"route"`       // the route or inferred template the walk is on
	Fingerprint string    `json:"fingerprint"` // the client fingerprint the members share
	Members     float64   `json:"members"`     // distinct members in the walk's window (estimate)
	Networks    float64   `json:"networks"`    // distinct /24 or /48 networks among them
	Walk        int       `json:"walk"`        // ids the walk covered
	FirstID     uint64    `json:"first_id"`
	LastID      uint64    `json:"last_id"`
	Start       time.Time `json:"start"`
	LastSeen    time.Time `json:"last_seen"`
	PerMinute   float64   `json:"ids_per_minute"` // the walk's pace
	Dismissed   bool      `json:"dismissed"`
	Summary     string    `json:"summary"`
	// Behaviour campaigns: the members' requests, the share of them that
	// failed or asked for a path new to its sender, how many members
	// started together (within 2 minutes of the first), and the
	// evidence's strength in [0, 1).
	Requests         int     `json:"requests,omitempty"`
	FailedShare      float64 `json:"failed_share,omitempty"`
	NewPathShare     float64 `json:"new_path_share,omitempty"`
	CoordinatedStart int     `json:"coordinated_start,omitempty"`
	Strength         float64 `json:"strength,omitempty"`
	// Harvest campaigns: the share of the group's returning clients that
	// fetched only distinct items, and the share of its fetches that
	// repeated an id it had just fetched.
	ItemOnlyShare float64 `json:"item_only_share,omitempty"`
	RepeatShare   float64 `json:"repeat_share,omitempty"`
}

// NewCampaign returns a Campaign detector with cfg's defaults filled in.
func NewCampaign(cfg CampaignConfig, h Hasher) *Campaign {
	cfg.Common = cfg.Common.Defaults(80)
	cfg.Window = orDefault(cfg.Window, 10*time.Minute)
	cfg.Walk = orDefault(cfg.Walk, 20)
	cfg.Members = orDefault(cfg.Members, 5)
	cfg.Step = orDefault(cfg.Step, 3)
	cfg.CampaignWeight = orDefault(cfg.CampaignWeight, 100)
	cfg.Harvesters = orDefault(cfg.Harvesters, 10)
	cfg.MaxCampaigns = orDefault(cfg.MaxCampaigns, 1000)
	return &Campaign{
		cfg: cfg, h: h,
		groups:    NewTable[campaignGroup](cfg.MaxEntities/4+1, cfg.Window),
		members:   NewTable[campaignMember](cfg.MaxEntities, cfg.Window),
		behaviour: NewTable[campaignBehaviour](cfg.MaxEntities, cfg.Window),
		bgroups:   NewTable[behaviourGroup](cfg.MaxEntities/4+1, cfg.Window),
		hgroups:   NewTable[harvestGroup](cfg.MaxEntities/4+1, cfg.Window),
		campaigns: map[string]*campaignRecord{},
	}
}

// Name implements Detector.
func (d *Campaign) Name() string { return "campaign" }

// Hash namespaces.
const (
	nsCampaignGroup = 'G'
	nsCampaignNet   = 'N'
)

// campaignKeys are what the walks and the behaviour groups both need of
// a request, hashed once: its subject's table key, and its route's hash
// (declared, or its inferred template) with the last identifier-looking
// segment ("" when none).
type campaignKeys struct {
	subject, route uint64
	param          string
}

// keys returns v's campaignKeys.
func (d *Campaign) keys(v *request.View) campaignKeys {
	k := campaignKeys{subject: subjectTableKey(d.h, v)}
	if v.Route != nil {
		k.route, k.param = uint64(v.Route.Index+1)*0x9E3779B97F4A7C15, v.Param
		return k
	}
	param, tmpl, ok := inferredResource(d.h, v.Path)
	if ok {
		k.param = param
	}
	k.route = tmpl
	return k
}

// Request implements Detector.
func (d *Campaign) Request(v *request.View, s Sink) {
	if v.Identity.Verified {
		return
	}
	k := d.keys(v)
	reads := d.behave(v, s, &k)
	d.requestHarvest(v, s, &k, reads)
	d.requestWalk(v, s, &k)
}

// requestWalk follows v in its group's id walks: GETs of a numeric id.
func (d *Campaign) requestWalk(v *request.View, s Sink, k *campaignKeys) {
	if v.Method != "GET" && v.Method != "HEAD" || k.param == "" {
		return
	}
	id, ok := scrapingNumericID(k.param)
	if !ok {
		return
	}
	route := k.route
	now, w := v.Time.UnixNano(), d.cfg.Window
	var b [16]byte
	fp := uint64(v.Fingerprint)
	for i := range 8 {
		b[i], b[8+i] = byte(fp>>(8*i)), byte(route>>(8*i))
	}
	group := d.h.Bytes(nsCampaignGroup, b[:])
	subject := k.subject
	var extended, found bool
	var grew int
	var g campaignWalk
	var members, nets, share float64
	d.groups.Update(group, now, func(st *campaignGroup) {
		st.seen++
		wk, ok := st.follow(id, now, int64(w), uint64(d.cfg.Step))
		if wk == nil {
			return
		}
		extended = ok && subject != wk.last
		wk.last = subject
		if !ok {
			return // a walk starts, or none: a person's page view
		}
		st.members.Add(now, w, subject)
		st.nets.Add(now, w, d.netKey(v.ClientIP))
		members, nets = st.members.Count(now, w), st.nets.Count(now, w)
		// A walk is a campaign's when it spans Walk ids among Members
		// clients and is a share of the group's requests: ids that land
		// next to each other by chance in a busy group (many people on a
		// small catalogue) make a walk too, but a thin one.
		share = float64(wk.walk) / float64(st.seen-wk.seenAt+1)
		if st.dismissed == 0 && float64(wk.walk) >= d.cfg.Walk && members >= d.cfg.Members && share >= campaignShare {
			found = true
			grew = st.steps.Cross(float64(wk.walk), d.cfg.Walk)
		}
		g = *wk
	})
	if !extended {
		return
	}
	cid := ""
	if found {
		cid = d.record(group, v, &g, members, nets)
	}
	// A member belongs by how much of the walk it took: one id may be a
	// person's page view that happened to land next to the walk (half the
	// weight, a throttle at the default bands), unless the walk is most of
	// its group's traffic; two or more ids are its work.
	var contribs uint32
	strength := 0.0
	d.members.Update(subject, now, func(m *campaignMember) {
		if m.group != group {
			*m = campaignMember{group: group}
		}
		m.contribs++
		contribs = m.contribs
		if cid != "" {
			strength = min(1, float64(contribs)/campaignSure)
			if share >= campaignDominant {
				strength = 1
			}
			m.id, m.sure = cid, m.sure || strength == 1
		}
	})
	if !found {
		return
	}
	if grew > 0 {
		s.Emit(Signal{Detector: "campaign", Entity: verdict.Entity{Scope: verdict.ScopeCampaign, Value: cid},
			Weight: d.cfg.CampaignWeight, Severity: High, Evidence: Evidence{
				Summary: campaignSummary(&g, members, nets), Count: float64(g.walk), Threshold: d.cfg.Walk, Window: w, RequestID: v.ID}})
	}
	s.Emit(Signal{Detector: "campaign", Entity: Subject(v), Weight: d.cfg.Weight * strength, Severity: High, Evidence: Evidence{
		Summary: fmt.Sprintf("member of campaign %s (%d of its ids): this request extends its walk; %s", cid, contribs, campaignSummary(&g, members, nets)),
		Count:   float64(g.walk), Threshold: d.cfg.Walk, Window: w, RequestID: v.ID}})
}

// campaignSummary describes a walk.
func campaignSummary(g *campaignWalk, members, nets float64) string {
	return fmt.Sprintf("%d ids in sequence (%d to %d) walked by %.0f clients sharing one fingerprint from %.0f networks since %s",
		g.walk, g.low, g.frontier, members, nets, time.Unix(0, g.startAt).UTC().Format(time.RFC3339))
}

// netKey hashes a's /24 (IPv4) or /48 (IPv6) network.
func (d *Campaign) netKey(a netip.Addr) uint64 {
	bits := 24
	if !a.Is4() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return addrKey(d.h, nsCampaignNet, p.Addr())
}

// record lists group as a campaign (or refreshes it) and returns its ID.
func (d *Campaign) record(group uint64, v *request.View, g *campaignWalk, members, nets float64) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.listed(group, "walk", v)
	r.info.Members, r.info.Networks = members, nets
	r.info.Walk, r.info.FirstID, r.info.LastID = int(g.walk), g.low, g.frontier
	r.info.Start, r.info.LastSeen = time.Unix(0, g.startAt).UTC(), v.Time.UTC()
	if mins := time.Duration(g.lastAt - g.startAt).Minutes(); mins > 0 {
		r.info.PerMinute = float64(g.walk) / mins
	}
	r.info.Summary = campaignSummary(g, members, nets)
	return r.info.ID
}

// listed returns the record of group's campaign, listing it (and
// forgetting the least recently active when MaxCampaigns are listed) when
// it is new; kind says which kind of group it is (CampaignInfo.Kind).
// d.mu must be held.
func (d *Campaign) listed(group uint64, kind string, v *request.View) *campaignRecord {
	var hb [8]byte
	for i := range hb {
		hb[i] = byte(group >> (56 - 8*i))
	}
	cid := "c_" + hex.EncodeToString(hb[:])
	r := d.campaigns[cid]
	if r != nil {
		return r
	}
	if len(d.campaigns) >= d.cfg.MaxCampaigns {
		d.forgetOldest()
	}
	route := v.Path
	if v.Route != nil {
		route = v.Route.Template
	}
	r = &campaignRecord{group: group, info: CampaignInfo{ID: cid, Kind: kind, Route: route, Fingerprint: v.Fingerprint.String()}}
	d.campaigns[cid] = r
	return r
}

func (d *Campaign) forgetOldest() {
	oldest := ""
	for id, r := range d.campaigns {
		if oldest == "" || r.info.LastSeen.Before(d.campaigns[oldest].info.LastSeen) {
			oldest = id
		}
	}
	delete(d.campaigns, oldest)
}

// Response counts a failed answer to a client with a behaviour summary.
func (d *Campaign) Response(v *request.View, o verdict.Outcome, _ Sink) { d.behaviourFailure(v, o) }

// CampaignOf returns the ID of the campaign v's subject is surely a
// member of (since the campaign was found it took an id of the walk, and
// two in all or the walk is most of its group's traffic), "" when none:
// one table lookup, no allocation.
func (d *Campaign) CampaignOf(v *request.View) string {
	if v.Identity.Verified {
		return ""
	}
	m, ok := d.members.Get(subjectTableKey(d.h, v))
	if !ok || !m.sure {
		return ""
	}
	return m.id
}

// MemberOf returns the campaign entity e is a member of and how many ids
// of its walk e took, for explanations; ok is false when e is in none.
func (d *Campaign) MemberOf(e verdict.Entity) (id string, contribs int, ok bool) {
	var key uint64
	switch e.Scope {
	case verdict.ScopeIP:
		a, err := netip.ParseAddr(e.Value)
		if err != nil {
			return "", 0, false
		}
		ip := a.As16()
		key = d.h.Bytes(byte(verdict.ScopeIP), ip[:])
	case verdict.ScopeKey, verdict.ScopeUser, verdict.ScopeSession:
		key = d.h.String(byte(e.Scope), e.Value)
	default:
		return "", 0, false
	}
	m, found := d.members.Get(key)
	if !found || m.id == "" {
		return "", 0, false
	}
	return m.id, int(m.contribs), true
}

// Campaigns returns the campaigns found, the most recently active first.
func (d *Campaign) Campaigns() []CampaignInfo {
	d.mu.Lock()
	out := make([]CampaignInfo, 0, len(d.campaigns))
	for _, r := range d.campaigns {
		out = append(out, r.info)
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out
}

// Campaign returns the campaign with id.
func (d *Campaign) Campaign(id string) (CampaignInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.campaigns[id]
	if !ok {
		return CampaignInfo{}, false
	}
	return r.info, true
}

// Dismiss marks the campaign id as no campaign (an operator's call): its
// walk stops counting, its members are no longer signalled for it, and
// it is not found again until its group's state expires. It reports
// whether id was a campaign.
func (d *Campaign) Dismiss(id string, now time.Time) bool {
	d.mu.Lock()
	r, ok := d.campaigns[id]
	if ok {
		r.info.Dismissed = true
	}
	d.mu.Unlock()
	if !ok {
		return false
	}
	switch r.info.Kind {
	case "behaviour":
		d.bgroups.Update(r.group, now.UnixNano(), func(g *behaviourGroup) { g.dismissed = now.UnixNano() })
		return true
	case "harvest":
		d.hgroups.Update(r.group, now.UnixNano(), func(g *harvestGroup) { g.dismissed = now.UnixNano() })
		return true
	}
	d.groups.Update(r.group, now.UnixNano(), func(g *campaignGroup) {
		g.dismissed = now.UnixNano()
	})
	return true
}

// Sweep implements Stateful.
func (d *Campaign) Sweep(now int64) {
	d.groups.Sweep(now)
	d.members.Sweep(now)
	d.behaviour.Sweep(now)
	d.bgroups.Sweep(now)
	d.hgroups.Sweep(now)
	d.mu.Lock()
	for id, r := range d.campaigns {
		if now-r.info.LastSeen.UnixNano() > 6*int64(d.cfg.Window) {
			delete(d.campaigns, id)
		}
	}
	d.mu.Unlock()
}

// Stats implements Stateful.
func (d *Campaign) Stats() TableStats {
	return tableStatsSum(tableStatsSum(tableStatsSum(d.groups.Stats(), d.members.Stats()), tableStatsSum(d.behaviour.Stats(), d.bgroups.Stats())), d.hgroups.Stats())
}

var (
	_ Detector = (*Campaign)(nil)
	_ Stateful = (*Campaign)(nil)
)
