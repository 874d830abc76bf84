package rls

import (
	"context"
	"net"
	"testing"
	"time"

	commonpb "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlpb "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/abuseguard/abuseguard/internal/front/grpcserver"
)

// TestGRPC plays Envoy's part with go-control-plane's generated client over
// a loopback connection.
func TestGRPC(t *testing.T) {
	svc, _ := newService(t, Options{})
	srv := grpcserver.New(grpcserver.Options{})
	name := svc.Register(srv.GRPC)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.GRPC.Serve(ln)
	t.Cleanup(srv.Drain)

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	hc := healthpb.NewHealthClient(conn)
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: name}); err == nil && r.Status == healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("serving before Ready: %v", r)
	}
	srv.Ready(name)
	for _, svcName := range []string{"", name} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svcName})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", svcName, r, err)
		}
	}

	client := rlpb.NewRateLimitServiceClient(conn)
	req := &rlpb.RateLimitRequest{Domain: "shop", Descriptors: []*commonpb.RateLimitDescriptor{desc("api", "x")}}
	for i, want := range []rlpb.RateLimitResponse_Code{okCode, okCode, overCode} {
		resp, err := client.ShouldRateLimit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.OverallCode != want {
			t.Fatalf("call %d: %v, want %v", i+1, resp.OverallCode, want)
		}
	}
}
