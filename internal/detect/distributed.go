package detect

import (
	"fmt"
	"strconv"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "distributed", Order: 55, Settings: func() Settings { return &DistributedConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewDistributed(*s.(*DistributedConfig), env.Hasher, env.Cluster)
		}})
}

// Cluster is what the nodes of a cluster count together
// (internal/store/redis implements it with state.store redis). Neither
// method waits on the network: each returns the cluster's total over the
// last window as of its last exchange with the others, plus what this
// node added since.
type Cluster interface {
	// Count adds n to set's windowed counter and returns its total.
	Count(set string, n int64, now int64, window time.Duration) float64
	// Distinct adds member to set's distinct members and returns how
	// many there are.
	Distinct(set, member string, now int64, window time.Duration) float64
}

// DistributedConfig configures the distributed detector, which sees the
// whole cluster's view of evidence a load balancer spreads over nodes. It
// does nothing on a single node (no Cluster). Zero fields get the defaults
// named; a negative threshold turns its check off.
type DistributedConfig struct {
	Common `yaml:",inline"`
	// Window is the window of every count (default 10m).
	Window time.Duration `yaml:"window"`
	// StuffingThreshold is the distinct identifiers one entity may fail to
	// log in as, on all nodes together, before the stuffing signal, weighted
	// by StuffingWeight (default 5, as the credentials detector per node;
	// weight 45).
	StuffingThreshold float64 `yaml:"stuffing_threshold" off:"negative"`
	StuffingWeight    float64 `yaml:"stuffing_weight"`
	// FingerprintThreshold is the failed logins from one client
	// fingerprint on all nodes before its signal (default 30; weight 50).
	FingerprintThreshold float64 `yaml:"fingerprint_threshold" off:"negative"`
	FingerprintWeight    float64 `yaml:"fingerprint_weight"`
	// NetworksThreshold is the distinct /24 (IPv6 /64) networks one API key
	// or user is used from in NetworksWindow, on all nodes, before the
	// leaked-credential signal (default 20 in 1h, weight 45: the sharing
	// detector's per node).
	NetworksThreshold float64       `yaml:"networks_threshold" off:"negative"`
	NetworksWindow    time.Duration `yaml:"networks_window"`
	NetworksWeight    float64       `yaml:"networks_weight"`
}

// Distributed signals on cluster-wide counts: distinct accounts failed by
// one entity (credential stuffing spread over nodes), failed logins by one
// fingerprint, and distinct networks per API key or user (a leaked key).
type Distributed struct {
	cfg   DistributedConfig
	h     Hasher
	c     Cluster
	steps *Table[distSteps]
}

type distSteps struct{ stuffing, fingerprint, networks Steps }

// Hash namespaces of the distributed detector's step table.
const (
	nsDistStuffing    = 'S'
	nsDistFingerprint = 'F'
	nsDistNetworks    = 'N'
)

// NewDistributed returns a Distributed detector over c (nil: it does nothing).
func NewDistributed(cfg DistributedConfig, h Hasher, c Cluster) *Distributed {
	cfg.Common = cfg.Common.Defaults(45)
	cfg.Window = orDefault(cfg.Window, 10*time.Minute)
	cfg.StuffingThreshold = orDefault(cfg.StuffingThreshold, 5)
	cfg.StuffingWeight = orDefault(cfg.StuffingWeight, 45)
	cfg.FingerprintThreshold = orDefault(cfg.FingerprintThreshold, 30)
	cfg.FingerprintWeight = orDefault(cfg.FingerprintWeight, 50)
	cfg.NetworksThreshold = orDefault(cfg.NetworksThreshold, 20)
	cfg.NetworksWindow = orDefault(cfg.NetworksWindow, time.Hour)
	cfg.NetworksWeight = orDefault(cfg.NetworksWeight, 45)
	return &Distributed{cfg: cfg, h: h, c: c, steps: NewTable[distSteps](cfg.MaxEntities, 3*max(cfg.Window, cfg.NetworksWindow))}
}

// Name returns "distributed".
func (d *Distributed) Name() string { return "distributed" }

// Request does nothing: the detector needs the outcome.
func (d *Distributed) Request(*request.View, Sink) {}

// Response counts a failed login and an identified client's network in the
// cluster's sketches, and signals each threshold multiple crossed.
func (d *Distributed) Response(v *request.View, o verdict.Outcome, s Sink) {
	if d.c == nil {
		return
	}
	now, w := v.Time.UnixNano(), d.cfg.Window
	ent := Subject(v)
	if v.Route != nil && v.Route.Kind == "login" && (o.Status == 401 || o.Status == 403) {
		if v.Subject != "" && d.cfg.StuffingThreshold > 0 {
			// The identifier is hashed: no account name leaves the node.
			member := strconv.FormatUint(d.h.String(nsCredTried, v.Subject), 36)
			n := d.c.Distinct("stuffing:"+ent.String(), member, now, w)
			if d.cross(nsDistStuffing, ent.String(), now, n, d.cfg.StuffingThreshold, func(st *distSteps) *Steps { return &st.stuffing }) {
				d.emit(s, v, ent, d.cfg.StuffingWeight, n, d.cfg.StuffingThreshold,
					fmt.Sprintf("failed logins on %.0f distinct accounts in %v across the cluster", n, w))
			}
		}
		if v.Fingerprint != 0 && d.cfg.FingerprintThreshold > 0 {
			fp := verdict.Entity{Scope: verdict.ScopeFingerprint, Value: v.Fingerprint.String()}
			n := d.c.Count("fingerprint-failures:"+fp.Value, 1, now, w)
			if d.cross(nsDistFingerprint, fp.Value, now, n, d.cfg.FingerprintThreshold, func(st *distSteps) *Steps { return &st.fingerprint }) {
				d.emit(s, v, fp, d.cfg.FingerprintWeight, n, d.cfg.FingerprintThreshold,
					fmt.Sprintf("%.0f failed logins from one client fingerprint in %v across the cluster", n, w))
			}
		}
	}
	if (v.Identity.KeyID != "" || v.Identity.User != "") && v.ClientIP.IsValid() && d.cfg.NetworksThreshold > 0 {
		network := request.Prefix(v.ClientIP, 24, 64).String()
		nw := d.cfg.NetworksWindow
		n := d.c.Distinct("networks:"+ent.String(), network, now, nw)
		if d.cross(nsDistNetworks, ent.String(), now, n, d.cfg.NetworksThreshold, func(st *distSteps) *Steps { return &st.networks }) {
			d.emit(s, v, ent, d.cfg.NetworksWeight, n, d.cfg.NetworksThreshold,
				fmt.Sprintf("used from %.0f distinct networks in %v across the cluster", n, nw))
		}
	}
}

// cross records measure n for the entity's steps and reports whether it
// crossed a new multiple of threshold.
func (d *Distributed) cross(ns byte, entity string, now int64, n, threshold float64, steps func(*distSteps) *Steps) bool {
	crossed := false
	d.steps.Update(d.h.String(ns, entity), now, func(st *distSteps) { crossed = steps(st).Cross(n, threshold) > 0 })
	return crossed
}

func (d *Distributed) emit(s Sink, v *request.View, e verdict.Entity, weight, count, threshold float64, summary string) {
	s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: weight, Severity: High, Evidence: Evidence{
		Summary: summary, Count: count, Threshold: threshold, Window: d.cfg.Window, RequestID: v.ID,
	}})
}

// Sweep drops step records idle for three windows.
func (d *Distributed) Sweep(now int64) { d.steps.Sweep(now) }

// Stats returns the size and churn of the step table.
func (d *Distributed) Stats() TableStats { return d.steps.Stats() }

var _ Detector = (*Distributed)(nil)
