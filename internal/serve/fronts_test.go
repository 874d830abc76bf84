package serve

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	commonpb "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlpb "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestGatewayFronts runs serve with only gateway fronts (no upstream): the
// forward-auth and rate limit service listeners answer, the gRPC one
// reports SERVING, and a change to the envoyproxy/ratelimit file takes
// effect without a restart.
func TestGatewayFronts(t *testing.T) {
	dir := t.TempDir()
	rlsFile := filepath.Join(dir, "ratelimit.yaml")
	writeRLS := func(n string) {
		data := "domain: api\ndescriptors:\n  - key: remote_address\n    rate_limit: {unit: minute, requests_per_unit: " + n + "}\n"
		if err := os.WriteFile(rlsFile, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeRLS("1")
	var mu sync.Mutex
	addrs := map[string]string{}
	in := start(t, Options{
		ForwardAuthListen: "127.0.0.1:0", RLSListen: "127.0.0.1:0", RLSConfig: rlsFile,
		ALSListen: "127.0.0.1:0", OutcomeSyslogListen: "127.0.0.1:0",
		Listening: func(front string, a net.Addr) { mu.Lock(); addrs[front] = a.String(); mu.Unlock() },
	})
	mu.Lock()
	fa, rlsAddr, proxy := addrs["forward_auth"], addrs["rls"], addrs["proxy"]
	als, syslog := addrs["als"], addrs["outcome_syslog"]
	mu.Unlock()
	if fa == "" || rlsAddr == "" || als == "" || syslog == "" || proxy != "" {
		t.Fatalf("fronts listening: %v (want forward_auth, rls, als and outcome_syslog, no proxy)", addrs)
	}

	// Forward-auth from an untrusted peer (no trusted proxies configured).
	if code, _, body := in.get(t, "http://"+fa+"/auth"); code != http.StatusForbidden {
		t.Errorf("forward-auth: %d %s", code, body)
	}

	conn, err := grpc.NewClient(rlsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.ratelimit.v3.RateLimitService"})
	if err != nil || hr.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", hr, err)
	}
	rl := rlpb.NewRateLimitServiceClient(conn)
	ask := func(ip string) rlpb.RateLimitResponse_Code {
		resp, err := rl.ShouldRateLimit(ctx, &rlpb.RateLimitRequest{Domain: "api", Descriptors: []*commonpb.RateLimitDescriptor{
			{Entries: []*commonpb.RateLimitDescriptor_Entry{{Key: "remote_address", Value: ip}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.OverallCode
	}
	if ask("192.0.2.1") != rlpb.RateLimitResponse_OK || ask("192.0.2.1") != rlpb.RateLimitResponse_OVER_LIMIT {
		t.Fatal("1/minute did not refuse the second request")
	}
	// The service's answers count in the operations metrics; a domain the
	// config does not name is "other", never a new label value.
	if _, err := rl.ShouldRateLimit(ctx, &rlpb.RateLimitRequest{Domain: "minted-by-a-caller", Descriptors: []*commonpb.RateLimitDescriptor{
		{Entries: []*commonpb.RateLimitDescriptor_Entry{{Key: "remote_address", Value: "192.0.2.1"}}}}}); err != nil {
		t.Fatal(err)
	}
	// An nginx outcome over syslog counts as an upstream response.
	udp, err := net.Dial("udp", syslog)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if _, err := udp.Write([]byte(`<190>Dec  7 06:30:00 gw abuseguard: {"time":"2026-12-07T06:30:00+00:00","remote_addr":"203.0.113.9","method":"GET","host":"api.example","uri":"/items","args":"","status":401,"bytes":12,"request_time":0.25,"user_agent":"curl/8","key_id":"","user":""}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for v, _ := in.metric(t, `abuseguard_upstream_responses_total{code="401",route="unmatched"}`); v != "1"; v, _ = in.metric(t, `abuseguard_upstream_responses_total{code="401",route="unmatched"}`) {
		if time.Now().After(deadline) {
			t.Fatalf("the nginx outcome is not in abuseguard_upstream_responses_total (%q)", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for series, want := range map[string]string{
		`abuseguard_requests_total{action="allow",mode="",route="rls:api",rule=""}`:                           "1",
		`abuseguard_requests_total{action="throttle",mode="enforce",route="rls:api",rule="rls"}`:              "1",
		`abuseguard_requests_total{action="allow",mode="",route="rls:other",rule=""}`:                         "1",
		`abuseguard_acted_total{action="throttle",identity="anonymous",mode="enforce",reason="rate_limited"}`: "1",
		`abuseguard_upstream_cost_seconds_total{route="unmatched"}`:                                           "0.25",
	} {
		if got, _ := in.metric(t, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}

	writeRLS("5")
	select {
	case err := <-in.reloaded:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("no reload after the rls config changed")
	}
	if ask("192.0.2.1") != rlpb.RateLimitResponse_OK {
		t.Error("the reloaded 5/minute limit still refuses the second request")
	}

	// A broken rls file keeps the last good one.
	if err := os.WriteFile(rlsFile, []byte("domain: api\ndescriptors:\n  - value: nokey\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-in.reloaded:
		if err == nil {
			t.Fatal("a broken rls config reloaded")
		}
	case <-time.After(wait):
		t.Fatal("no reload attempt after the rls config broke")
	}
	if ask("192.0.2.1") != rlpb.RateLimitResponse_OK {
		t.Error("the last good rls config was dropped")
	}
}
