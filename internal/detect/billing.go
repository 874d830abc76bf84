package detect

import (
	"fmt"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "billing", Order: 95, Settings: func() Settings { return &BillingConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewBilling(*s.(*BillingConfig), env.Hasher)
		}})
}

// BillingConfig configures the billing detector. Zero fields get the
// defaults named on each field; the embedded Common weight defaults to 30.
type BillingConfig struct {
	Common `yaml:",inline"`
	// Bucket is the tumbling interval spend is summed over (default 10m).
	Bucket time.Duration `yaml:"bucket"`
	// Alpha is the weight of the newest bucket in the baseline, 0 < alpha
	// <= 1 (default 0.05: about the last 20 buckets, idle ones included).
	Alpha float64 `yaml:"alpha"`
	// Factor is how many times its baseline a bucket's spend must reach to
	// signal (default 10).
	Factor float64 `yaml:"factor"`
	// MinSpend is the cost units per bucket below which nothing signals
	// (default 1000).
	MinSpend float64 `yaml:"min_spend"`
	// Warmup is the buckets a baseline needs before it is trusted
	// (default 6).
	Warmup int `yaml:"warmup"`
}

// Billing detects a billing anomaly: a tenant (or, without a tenant, an
// API key) spending cost units far faster than its own baseline: a
// leaked key run up, a runaway integration, a scraper on a paid plan. It
// sums each verified tenant's spend (a request's cost, View.Cost, plus
// what the upstream reported after the fact, Outcome.Cost) per Bucket,
// keeps an exponential average of past buckets, and signals on the
// request's subject when the running bucket passes Factor × the average
// (and MinSpend), again at each doubling within the bucket.
//
// False-positive traps: a customer's month-end batch or a launch (raise
// Factor, or allowlist the key), and a new tenant (no signal before
// Warmup buckets of history).
type Billing struct {
	cfg    BillingConfig
	hasher Hasher
	state  *Table[billingState]
}

type billingState struct {
	bucket   int64 // index of the running bucket
	spend    float64
	next     float64 // the spend that signals next in this bucket (0: not set)
	baseline EWMA
}

// NewBilling returns a Billing detector for cfg with defaults applied.
func NewBilling(cfg BillingConfig, h Hasher) *Billing {
	cfg.Common = cfg.Common.Defaults(30)
	if cfg.Bucket <= 0 {
		cfg.Bucket = 10 * time.Minute
	}
	if cfg.Alpha <= 0 || cfg.Alpha > 1 {
		cfg.Alpha = 0.05
	}
	if cfg.Factor <= 0 {
		cfg.Factor = 10
	}
	if cfg.MinSpend <= 0 {
		cfg.MinSpend = 1000
	}
	cfg.Warmup = orDefault(cfg.Warmup, 6)
	return &Billing{cfg: cfg, hasher: h, state: NewTable[billingState](cfg.MaxEntities, 3*cfg.Bucket*time.Duration(cfg.Warmup+20))}
}

// Name returns "billing".
func (d *Billing) Name() string { return "billing" }

// Request adds the request's cost to its tenant's bucket.
func (d *Billing) Request(v *request.View, s Sink) { d.spend(v, max(1, v.Cost), s) }

// Response adds what the upstream reported beyond the request's cost.
func (d *Billing) Response(v *request.View, o verdict.Outcome, s Sink) {
	if extra := o.Cost - max(1, v.Cost); extra > 0 {
		d.spend(v, extra, s)
	}
}

// payer returns whose budget v spends: its verified tenant, else its
// verified API key; "" for anyone else.
func payer(v *request.View) (scope, who string) {
	switch {
	case !v.Identity.Verified:
		return "", ""
	case v.Identity.Tenant != "":
		return "tenant", v.Identity.Tenant
	case v.Identity.KeyID != "":
		return "key", v.Identity.KeyID
	}
	return "", ""
}

func (d *Billing) spend(v *request.View, cost int64, s Sink) {
	scope, who := payer(v)
	if who == "" {
		return
	}
	now := v.Time.UnixNano()
	bucket := now / int64(d.cfg.Bucket)
	var fired bool
	var spend, base float64
	d.state.Update(d.hasher.String('b', scope+"\x00"+who), now, func(st *billingState) {
		if st.bucket != bucket {
			if st.bucket != 0 {
				st.baseline.Observe(st.spend, d.cfg.Alpha)
				for range min(bucket-st.bucket-1, 100) { // idle buckets spent nothing
					st.baseline.Observe(0, d.cfg.Alpha)
				}
			}
			st.bucket, st.spend, st.next = bucket, 0, 0
		}
		st.spend += float64(cost)
		if int(st.baseline.N()) < d.cfg.Warmup {
			return
		}
		if st.next == 0 {
			st.next = max(d.cfg.MinSpend, d.cfg.Factor*st.baseline.Mean())
		}
		if st.spend >= st.next {
			fired, spend, base = true, st.spend, st.baseline.Mean()
			for st.next <= st.spend {
				st.next *= 2
			}
		}
	})
	if !fired {
		return
	}
	s.Emit(Signal{Detector: d.Name(), Entity: Subject(v), Weight: d.cfg.Weight, Severity: Medium, Evidence: Evidence{
		Summary: fmt.Sprintf("%s %s spent %.0f cost units in %s, %.1fx its baseline of %.0f", scope, who, spend, d.cfg.Bucket, spend/max(1, base), base),
		Count:   spend, Threshold: d.cfg.Factor * base, Window: d.cfg.Bucket, RequestID: v.ID,
	}})
}

// Stats returns the detector's table size and churn.
func (d *Billing) Stats() TableStats { return d.state.Stats() }

var _ Detector = (*Billing)(nil)
