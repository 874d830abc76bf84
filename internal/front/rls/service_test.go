package rls

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	commonpb "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlpb "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typepb "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

const (
	okCode   = rlpb.RateLimitResponse_OK
	overCode = rlpb.RateLimitResponse_OVER_LIMIT
)

// counting is a Recorder that keeps every call, for tests.
type counting struct {
	mu   sync.Mutex
	hits map[string]map[Outcome]uint64
}

func (c *counting) Hits(_, key string, hits uint64, o Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hits == nil {
		c.hits = map[string]map[Outcome]uint64{}
	}
	if c.hits[key] == nil {
		c.hits[key] = map[Outcome]uint64{}
	}
	c.hits[key][o] += hits
}

// start is 10s into a minute, so minute windows end 50s later.
var start = time.Date(2026, 12, 7, 6, 0, 10, 0, time.UTC)

func newService(t testing.TB, opts Options) (*Service, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	if opts.Store == nil {
		opts.Store = memory.New(memory.Options{MaxKeys: 1 << 12})
	}
	opts.Now = clk.Now
	return New(loadShop(t), opts), clk
}

func desc(kv ...string) *commonpb.RateLimitDescriptor {
	d := &commonpb.RateLimitDescriptor{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Entries = append(d.Entries, &commonpb.RateLimitDescriptor_Entry{Key: kv[i], Value: kv[i+1]})
	}
	return d
}

func ask(t *testing.T, s *Service, hits uint32, ds ...*commonpb.RateLimitDescriptor) *rlpb.RateLimitResponse {
	t.Helper()
	resp, err := s.ShouldRateLimit(context.Background(), &rlpb.RateLimitRequest{Domain: "shop", Descriptors: ds, HitsAddend: hits})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Statuses) != len(ds) {
		t.Fatalf("%d statuses for %d descriptors", len(resp.Statuses), len(ds))
	}
	return resp
}

func TestShouldRateLimitCountsToTheLimit(t *testing.T) {
	s, _ := newService(t, Options{})
	d := desc("remote_address", "192.0.2.1")
	for i := 1; i <= 63; i++ {
		resp := ask(t, s, 0, d)
		st := resp.Statuses[0]
		if i <= 60 {
			if resp.OverallCode != okCode || st.Code != okCode || st.LimitRemaining != uint32(60-i) {
				t.Fatalf("call %d: %v %v remaining %d, want OK remaining %d", i, resp.OverallCode, st.Code, st.LimitRemaining, 60-i)
			}
		} else if resp.OverallCode != overCode || st.Code != overCode || st.LimitRemaining != 0 {
			t.Fatalf("call %d: %v remaining %d, want OVER_LIMIT remaining 0", i, st.Code, st.LimitRemaining)
		}
		if l := st.CurrentLimit; l.GetRequestsPerUnit() != 60 || l.GetUnit() != rlpb.RateLimitResponse_RateLimit_MINUTE {
			t.Fatalf("call %d: current limit %v", i, l)
		}
		if got := st.DurationUntilReset.AsDuration(); got != 50*time.Second {
			t.Fatalf("call %d: duration until reset %v, want 50s", i, got)
		}
	}
	// Another client has its own counter.
	if st := ask(t, s, 0, desc("remote_address", "192.0.2.2")).Statuses[0]; st.Code != okCode || st.LimitRemaining != 59 {
		t.Errorf("second client: %v remaining %d", st.Code, st.LimitRemaining)
	}
}

func TestShouldRateLimitWindowResets(t *testing.T) {
	s, clk := newService(t, Options{})
	d := desc("api", "x")
	ask(t, s, 0, d)
	ask(t, s, 0, d)
	if st := ask(t, s, 0, d).Statuses[0]; st.Code != overCode {
		t.Fatalf("third call in a 2/minute window: %v", st.Code)
	}
	clk.Advance(49 * time.Second)
	if st := ask(t, s, 0, d).Statuses[0]; st.Code != overCode || st.DurationUntilReset.AsDuration() != time.Second {
		t.Fatalf("1s before the window ends: %v reset %v", st.Code, st.DurationUntilReset.AsDuration())
	}
	clk.Advance(time.Second)
	if st := ask(t, s, 0, d).Statuses[0]; st.Code != okCode || st.LimitRemaining != 1 || st.DurationUntilReset.AsDuration() != time.Minute {
		t.Fatalf("new window: %v remaining %d reset %v", st.Code, st.LimitRemaining, st.DurationUntilReset.AsDuration())
	}
}

func TestShouldRateLimitSeveralDescriptors(t *testing.T) {
	s, _ := newService(t, Options{})
	a, b := desc("remote_address", "192.0.2.9"), desc("path", "/exact")
	for i := 1; i <= 4; i++ {
		resp := ask(t, s, 0, a, b)
		ra, rb := resp.Statuses[0], resp.Statuses[1]
		if ra.Code != okCode || ra.LimitRemaining != uint32(60-i) {
			t.Errorf("call %d: first descriptor %v remaining %d", i, ra.Code, ra.LimitRemaining)
		}
		wantB, wantOverall := okCode, okCode
		if i > 2 {
			wantB, wantOverall = overCode, overCode
		}
		if rb.Code != wantB || resp.OverallCode != wantOverall {
			t.Errorf("call %d: second descriptor %v overall %v, want %v %v", i, rb.Code, resp.OverallCode, wantB, wantOverall)
		}
	}
}

func TestShouldRateLimitHitsAddend(t *testing.T) {
	s, _ := newService(t, Options{})
	d := desc("remote_address", "192.0.2.3")
	if st := ask(t, s, 50, d).Statuses[0]; st.Code != okCode || st.LimitRemaining != 10 {
		t.Fatalf("50 hits: %v remaining %d", st.Code, st.LimitRemaining)
	}
	if st := ask(t, s, 11, d).Statuses[0]; st.Code != overCode || st.LimitRemaining != 0 {
		t.Fatalf("11 more hits: %v remaining %d", st.Code, st.LimitRemaining)
	}
	// A descriptor's own hits_addend overrides the request's; 0 only looks.
	d.HitsAddend = wrapperspb.UInt64(0)
	if st := ask(t, s, 30, d).Statuses[0]; st.Code != okCode || st.LimitRemaining != 10 {
		t.Fatalf("descriptor hits_addend 0: %v remaining %d", st.Code, st.LimitRemaining)
	}
	d.HitsAddend = wrapperspb.UInt64(10)
	if st := ask(t, s, 30, d).Statuses[0]; st.Code != okCode || st.LimitRemaining != 0 {
		t.Fatalf("descriptor hits_addend 10: %v remaining %d", st.Code, st.LimitRemaining)
	}
}

func TestShouldRateLimitShadowMode(t *testing.T) {
	rec := &counting{}
	s, _ := newService(t, Options{Recorder: rec})
	d := desc("tenant", "acme", "route", "/checkout")
	for i := 1; i <= 7; i++ {
		resp := ask(t, s, 0, d)
		if resp.OverallCode != okCode || resp.Statuses[0].Code != okCode {
			t.Fatalf("call %d in shadow mode: %v", i, resp.Statuses[0].Code)
		}
	}
	key := "shop.tenant_acme.route_/checkout"
	if got := rec.hits[key]; got[WithinLimit] != 5 || got[ShadowOverLimit] != 2 {
		t.Errorf("recorded %v for %s, want 5 within and 2 shadow", got, key)
	}

	// The service-wide shadow mode reports every limit OK.
	g, _ := newService(t, Options{ShadowMode: true})
	for range 3 {
		ask(t, g, 0, desc("api", "x"))
	}
	if resp := ask(t, g, 0, desc("api", "x")); resp.OverallCode != okCode {
		t.Errorf("global shadow mode: %v", resp.OverallCode)
	}
}

func TestShouldRateLimitUnlimitedAndUnmatched(t *testing.T) {
	rec := &counting{}
	s, _ := newService(t, Options{Recorder: rec})
	for range 3 {
		resp := ask(t, s, 1000, desc("health", "x"), desc("nope", "y"), desc("remote_address", "127.0.0.1"))
		u, n, a := resp.Statuses[0], resp.Statuses[1], resp.Statuses[2]
		if resp.OverallCode != okCode || u.Code != okCode || u.LimitRemaining != math.MaxUint32 || u.CurrentLimit != nil {
			t.Fatalf("unlimited: %v", u)
		}
		if n.Code != okCode || n.CurrentLimit != nil || n.LimitRemaining != 0 {
			t.Fatalf("unmatched: %v", n)
		}
		if a.Code != okCode || a.CurrentLimit != nil {
			t.Fatalf("allowlisted value: %v", a)
		}
	}
	if rec.hits["shop.health"][Unlimited] != 3000 {
		t.Errorf("unlimited hits recorded: %v", rec.hits)
	}
}

func TestShouldRateLimitZeroBlocks(t *testing.T) {
	s, _ := newService(t, Options{})
	if st := ask(t, s, 0, desc("banned", "x")).Statuses[0]; st.Code != overCode || st.DurationUntilReset.AsDuration() != time.Second {
		t.Errorf("requests_per_unit 0: %v reset %v", st.Code, st.DurationUntilReset.AsDuration())
	}
}

func TestShouldRateLimitReplaces(t *testing.T) {
	s, _ := newService(t, Options{})
	generic, premium := desc("api", "x"), desc("premium", "yes")
	// With premium present, the generic 2/minute limit is not counted.
	for i := 1; i <= 4; i++ {
		resp := ask(t, s, 0, generic, premium)
		g, p := resp.Statuses[0], resp.Statuses[1]
		if resp.OverallCode != okCode || g.CurrentLimit != nil || p.LimitRemaining != uint32(4-i) {
			t.Fatalf("call %d: generic %v, premium %v", i, g, p)
		}
	}
	if resp := ask(t, s, 0, generic, premium); resp.OverallCode != overCode || resp.Statuses[1].Code != overCode {
		t.Fatalf("fifth premium call: %v", resp)
	}
	// Alone, the generic limit still counts from zero: it was never hit.
	if st := ask(t, s, 0, generic).Statuses[0]; st.Code != okCode || st.LimitRemaining != 1 {
		t.Fatalf("generic alone: %v", st)
	}
}

func TestShouldRateLimitShareThreshold(t *testing.T) {
	s, _ := newService(t, Options{})
	// Values under a share_threshold wildcard share one counter of 3.
	for i, v := range []string{"shared-a", "shared-b", "shared-c"} {
		if st := ask(t, s, 0, desc("bucket", v)).Statuses[0]; st.Code != okCode || st.LimitRemaining != uint32(2-i) {
			t.Fatalf("%s: %v", v, st)
		}
	}
	if st := ask(t, s, 0, desc("bucket", "shared-d")).Statuses[0]; st.Code != overCode {
		t.Fatalf("fourth shared value: %v", st.Code)
	}
	// Without it, each value counts on its own.
	for _, v := range []string{"own-a", "own-b", "own-c", "own-d"} {
		if st := ask(t, s, 0, desc("bucket", v)).Statuses[0]; st.Code != okCode || st.LimitRemaining != 2 {
			t.Fatalf("%s: %v", v, st)
		}
	}
}

func TestShouldRateLimitOverride(t *testing.T) {
	s, _ := newService(t, Options{})
	d := desc("nope", "anything")
	d.Limit = &commonpb.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: 1, Unit: typepb.RateLimitUnit_HOUR}
	if st := ask(t, s, 0, d).Statuses[0]; st.Code != okCode || st.CurrentLimit.GetUnit() != rlpb.RateLimitResponse_RateLimit_HOUR {
		t.Fatalf("override, first call: %v", st)
	}
	if st := ask(t, s, 0, d).Statuses[0]; st.Code != overCode {
		t.Fatalf("override, second call: %v", st)
	}
}

func TestShouldRateLimitHeaders(t *testing.T) {
	s, _ := newService(t, Options{Headers: true})
	resp := ask(t, s, 0, desc("remote_address", "192.0.2.5"), desc("api", "x"))
	got := map[string]string{}
	for _, h := range resp.ResponseHeadersToAdd {
		got[h.Key] = h.Value
	}
	want := map[string]string{"X-RateLimit-Limit": "2, 2;w=60", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "50"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if plain, _ := newService(t, Options{}); len(ask(t, plain, 0, desc("api", "x")).ResponseHeadersToAdd) != 0 {
		t.Error("headers added without Options.Headers")
	}
}

func TestShouldRateLimitBadRequests(t *testing.T) {
	s, _ := newService(t, Options{})
	many := make([]*commonpb.RateLimitDescriptor, maxDescriptors+1)
	for i := range many {
		many[i] = desc("api", "x")
	}
	cases := []struct {
		name string
		req  *rlpb.RateLimitRequest
		code codes.Code
	}{
		{"no domain", &rlpb.RateLimitRequest{Descriptors: []*commonpb.RateLimitDescriptor{desc("api", "x")}}, codes.InvalidArgument},
		{"no descriptors", &rlpb.RateLimitRequest{Domain: "shop"}, codes.InvalidArgument},
		{"too many descriptors", &rlpb.RateLimitRequest{Domain: "shop", Descriptors: many}, codes.InvalidArgument},
	}
	for _, c := range cases {
		if _, err := s.ShouldRateLimit(context.Background(), c.req); status.Code(err) != c.code {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.code)
		}
	}
	empty := New(nil, Options{Store: memory.New(memory.Options{})})
	if _, err := empty.ShouldRateLimit(context.Background(), &rlpb.RateLimitRequest{Domain: "shop", Descriptors: []*commonpb.RateLimitDescriptor{desc("api", "x")}}); status.Code(err) != codes.Unavailable {
		t.Errorf("no config: err = %v", err)
	}
	// An unknown domain is not an error: nothing is limited.
	resp, err := s.ShouldRateLimit(context.Background(), &rlpb.RateLimitRequest{Domain: "other", Descriptors: []*commonpb.RateLimitDescriptor{desc("api", "x")}})
	if err != nil || resp.OverallCode != okCode {
		t.Errorf("unknown domain: %v %v", resp, err)
	}
}

func TestSetConfigKeepsCounters(t *testing.T) {
	s, _ := newService(t, Options{})
	d := desc("api", "x")
	ask(t, s, 0, d)
	next, err := Load([]File{{Name: "next.yaml", Data: []byte("domain: shop\ndescriptors:\n  - key: api\n    rate_limit: {unit: minute, requests_per_unit: 3}\n")}}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.SetConfig(next)
	if st := ask(t, s, 0, d).Statuses[0]; st.Code != okCode || st.LimitRemaining != 1 || st.CurrentLimit.GetRequestsPerUnit() != 3 {
		t.Errorf("after reload: %v", st)
	}
}
