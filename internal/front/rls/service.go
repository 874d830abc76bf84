package rls

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	commonpb "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlpb "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/abuseguard/abuseguard/internal/limit"
)

// maxDescriptors is the most descriptors one request may carry; Envoy sends
// one per matching rate limit action, so a few dozen is already unusual.
const maxDescriptors = 64

// keyPrefix starts every store key the service builds, so RLS counters
// never share a key with the engine's limits in one store.
const keyPrefix = "rls\x00"

// Outcome is what happened to one descriptor's hits.
type Outcome int

// Outcomes, as envoyproxy/ratelimit counts them.
const (
	WithinLimit     Outcome = iota // counted, under the limit
	OverLimit                      // counted, over the limit: refused
	ShadowOverLimit                // over the limit in shadow mode: reported OK
	Unlimited                      // matched an unlimited descriptor: not counted
)

// Recorder counts hits by stats key (Match.StatsKey). Implementations must
// be safe for concurrent use and must bound what they keep: detailed_metric
// keys carry request values.
type Recorder interface {
	Hits(domain, statsKey string, hits uint64, o Outcome)
}

// RequestRecorder counts answered requests by domain ("" for a domain the
// config does not name, so a caller cannot mint labels) and overall outcome:
// OverLimit when any descriptor was refused, else ShadowOverLimit when
// any was over its limit in shadow mode, else WithinLimit. It must be
// safe for concurrent use.
type RequestRecorder interface {
	Request(domain string, o Outcome)
}

// Options configure a Service. Nil and zero fields get safe defaults.
type Options struct {
	// Store holds the counters. Required.
	Store limit.Store
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Recorder counts hits; none when nil.
	Recorder Recorder
	// Requests counts answered requests; none when nil.
	Requests RequestRecorder
	// ShadowMode reports every descriptor OK whatever its count, as
	// envoyproxy/ratelimit's SHADOW_MODE does.
	ShadowMode bool
	// Headers adds X-RateLimit-Limit, -Remaining and -Reset of the most
	// constrained descriptor to every response, as LIMIT_RESPONSE_HEADERS_ENABLED does.
	Headers bool
}

// Service answers ShouldRateLimit from a Config and a limit.Store. The
// config can be swapped while it serves (SetConfig).
type Service struct {
	rlpb.UnimplementedRateLimitServiceServer
	store    limit.Store
	now      func() time.Time
	recorder Recorder
	requests RequestRecorder
	shadow   bool
	headers  bool
	cfg      atomic.Pointer[Config]
	bufs     sync.Pool
}

// New returns a Service answering from cfg (which may be nil until
// SetConfig is called: requests then fail with Unavailable).
func New(cfg *Config, opts Options) *Service {
	s := &Service{
		store:    opts.Store,
		now:      opts.Now,
		recorder: opts.Recorder,
		requests: opts.Requests,
		shadow:   opts.ShadowMode,
		headers:  opts.Headers,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	s.cfg.Store(cfg)
	return s
}

// SetConfig makes cfg the config of every later request. A request in
// flight finishes with the config it started with.
func (s *Service) SetConfig(cfg *Config) { s.cfg.Store(cfg) }

// Config returns the config in use.
func (s *Service) Config() *Config { return s.cfg.Load() }

// ShouldRateLimit counts the request's hits against each descriptor's
// limit and answers OVER_LIMIT when any enforced limit is exceeded.
// Each descriptor's status carries its limit, limit_remaining and
// duration_until_reset. A descriptor's own hits_addend overrides the
// request's; a hits_addend of 0 on the request means 1. Limits named in
// another matched limit's replaces are not counted.
func (s *Service) ShouldRateLimit(_ context.Context, req *rlpb.RateLimitRequest) (*rlpb.RateLimitResponse, error) {
	cfg := s.cfg.Load()
	switch {
	case cfg == nil:
		return nil, status.Error(codes.Unavailable, "no rate limit configuration loaded")
	case req.GetDomain() == "":
		return nil, status.Error(codes.InvalidArgument, "rate limit domain must not be empty")
	case len(req.GetDescriptors()) == 0:
		return nil, status.Error(codes.InvalidArgument, "rate limit descriptor list must not be empty")
	case len(req.GetDescriptors()) > maxDescriptors:
		return nil, status.Errorf(codes.InvalidArgument, "more than %d descriptors in one request", maxDescriptors)
	}
	now := s.now()
	domain := req.GetDomain()
	ds := req.GetDescriptors()

	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)

	var limitsArr [8]*Limit
	var statsArr [8]string
	var offArr [9]int
	limits, stats, offs := limitsArr[:0], statsArr[:0], offArr[:1]
	if len(ds) > len(limitsArr) {
		limits = make([]*Limit, 0, len(ds))
		stats = make([]string, 0, len(ds))
		offs = make([]int, 1, len(ds)+1)
	}
	buf := (*bp)[:0]
	replaced := false
	for _, d := range ds {
		var lim *Limit
		var sk string
		buf = append(buf, keyPrefix...)
		if o := d.GetLimit(); o != nil {
			lim, sk = overrideLimit(domain, d, o)
			es := protoEntries(d.GetEntries())
			buf = append(buf, domain...)
			for i := range es.len() {
				k, v := es.at(i)
				buf = append(append(append(append(buf, 0), k...), 1), v...)
			}
		} else {
			es := protoEntries(d.GetEntries())
			lim, buf, sk = cfg.lookup(domain, &es, buf, s.recorder != nil)
		}
		if lim != nil {
			buf = append(buf, 0, byte(lim.Unit))
			replaced = replaced || len(lim.Replaces) > 0
		}
		limits = append(limits, lim)
		stats = append(stats, sk)
		offs = append(offs, len(buf))
	}
	*bp = buf
	if replaced {
		dropReplaced(limits)
	}

	resp := &rlpb.RateLimitResponse{
		OverallCode: rlpb.RateLimitResponse_OK,
		Statuses:    make([]*rlpb.RateLimitResponse_DescriptorStatus, len(ds)),
	}
	statuses := make([]rlpb.RateLimitResponse_DescriptorStatus, len(ds))
	nowNs := now.UnixNano()
	hitsReq := uint64(max(req.GetHitsAddend(), 1))
	tightest := -1
	overall := WithinLimit
	for i, lim := range limits {
		st := &statuses[i]
		resp.Statuses[i] = st
		st.Code = rlpb.RateLimitResponse_OK
		if lim == nil {
			continue
		}
		hits := hitsReq
		if h := ds[i].GetHitsAddend(); h != nil {
			hits = h.GetValue()
		}
		if lim.Unlimited {
			st.LimitRemaining = math.MaxUint32
			s.record(domain, stats[i], hits, Unlimited)
			continue
		}
		st.CurrentLimit = &rlpb.RateLimitResponse_RateLimit{
			Name:            lim.Name,
			RequestsPerUnit: lim.RequestsPerUnit,
			Unit:            lim.Unit,
		}
		period := lim.seconds * int64(time.Second)
		periodEnd := (nowNs/period + 1) * period
		cost := int64(min(hits, math.MaxInt32))
		res := s.store.Quota(buf[offs[i]:offs[i+1]], nowNs, periodEnd, int64(lim.RequestsPerUnit), cost)
		st.DurationUntilReset = durationpb.New(ceilSecond(time.Duration(periodEnd - nowNs)))
		switch {
		case res.Allowed:
			st.LimitRemaining = uint32(min(max(res.Remaining, 0), math.MaxUint32))
			s.record(domain, stats[i], hits, WithinLimit)
		case lim.ShadowMode || s.shadow:
			s.record(domain, stats[i], hits, ShadowOverLimit)
			if overall == WithinLimit {
				overall = ShadowOverLimit
			}
		default:
			st.Code = rlpb.RateLimitResponse_OVER_LIMIT
			resp.OverallCode = rlpb.RateLimitResponse_OVER_LIMIT
			s.record(domain, stats[i], hits, OverLimit)
			overall = OverLimit
		}
		if tightest < 0 || st.LimitRemaining < statuses[tightest].LimitRemaining {
			tightest = i
		}
	}
	if s.headers && tightest >= 0 {
		resp.ResponseHeadersToAdd = rateLimitHeaders(&statuses[tightest])
	}
	if s.requests != nil {
		if cfg.domains[domain] == nil {
			domain = ""
		}
		s.requests.Request(domain, overall)
	}
	return resp, nil
}

func (s *Service) record(domain, statsKey string, hits uint64, o Outcome) {
	if s.recorder != nil {
		s.recorder.Hits(domain, statsKey, hits, o)
	}
}

// overrideLimit is the limit a descriptor carries itself (Envoy's
// limit override): never in shadow mode, named after the request's values.
func overrideLimit(domain string, d *commonpb.RateLimitDescriptor, o *commonpb.RateLimitDescriptor_RateLimitOverride) (*Limit, string) {
	es := protoEntries(d.GetEntries())
	key := detailedKey(domain, &es)
	unit := Unit(o.GetUnit())
	secs := unitSeconds[unit]
	if secs == 0 {
		return nil, ""
	}
	if m := o.GetUnitMultiplier(); m != nil && m.GetValue() > 1 {
		secs *= int64(m.GetValue())
	}
	return &Limit{FullKey: key, RequestsPerUnit: o.GetRequestsPerUnit(), Unit: unit, seconds: secs}, key
}

// dropReplaced removes the limits that another limit of the same request
// replaces.
func dropReplaced(limits []*Limit) {
	for i, l := range limits {
		if l == nil || l.Name == "" {
			continue
		}
	search:
		for _, other := range limits {
			if other == nil {
				continue
			}
			for _, name := range other.Replaces {
				if name == l.Name {
					limits[i] = nil
					break search
				}
			}
		}
	}
}

// ceilSecond rounds d up to a whole second, as envoyproxy/ratelimit
// reports duration_until_reset.
func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// rateLimitHeaders are the X-RateLimit-* headers for st, in the form
// envoyproxy/ratelimit writes them.
func rateLimitHeaders(st *rlpb.RateLimitResponse_DescriptorStatus) []*corepb.HeaderValue {
	lim := st.GetCurrentLimit()
	window := unitSeconds[lim.GetUnit()]
	reset := int64(st.GetDurationUntilReset().AsDuration() / time.Second)
	rpu := strconv.FormatUint(uint64(lim.GetRequestsPerUnit()), 10)
	return []*corepb.HeaderValue{
		{Key: "X-RateLimit-Limit", Value: rpu + ", " + rpu + ";w=" + strconv.FormatInt(window, 10)},
		{Key: "X-RateLimit-Remaining", Value: strconv.FormatUint(uint64(st.GetLimitRemaining()), 10)},
		{Key: "X-RateLimit-Reset", Value: strconv.FormatInt(reset, 10)},
	}
}

var _ rlpb.RateLimitServiceServer = (*Service)(nil)

// Register adds s to g as envoy.service.ratelimit.v3.RateLimitService and
// returns the service name, for the health service.
func (s *Service) Register(g *grpc.Server) string {
	rlpb.RegisterRateLimitServiceServer(g, s)
	return rlpb.RateLimitService_ServiceDesc.ServiceName
}
