package rls

import (
	"context"
	"net"
	"strconv"
	"testing"

	commonpb "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlpb "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/abuseguard/abuseguard/internal/front/grpcserver"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

const benchKeys = 100_000

const benchConfig = `domain: bench
descriptors:
  - {key: key0, rate_limit: {unit: second, requests_per_unit: 1000000}}
  - {key: key1, rate_limit: {unit: second, requests_per_unit: 1000000}}
  - {key: key2, rate_limit: {unit: minute, requests_per_unit: 1000000}}
  - {key: key3, rate_limit: {unit: hour, requests_per_unit: 1000000}}
  - {key: key4, rate_limit: {unit: day, requests_per_unit: 1000000}}
`

// benchRequests are requests with n descriptors each, over benchKeys
// distinct values per key.
func benchRequests(n int) []*rlpb.RateLimitRequest {
	reqs := make([]*rlpb.RateLimitRequest, 4096)
	for i := range reqs {
		ds := make([]*commonpb.RateLimitDescriptor, n)
		for j := range ds {
			v := (i*7919 + j*104729) % benchKeys
			ds[j] = &commonpb.RateLimitDescriptor{Entries: []*commonpb.RateLimitDescriptor_Entry{{Key: "key" + strconv.Itoa(j), Value: "v" + strconv.Itoa(v)}}}
		}
		reqs[i] = &rlpb.RateLimitRequest{Domain: "bench", Descriptors: ds}
	}
	return reqs
}

func benchService(b *testing.B) *Service {
	cfg, err := Load([]File{{Name: "bench.yaml", Data: []byte(benchConfig)}}, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return New(cfg, Options{Store: memory.New(memory.Options{})})
}

// BenchmarkShouldRateLimit is the service's own cost (direct) beside the
// same call over gRPC on loopback, with 1 and 5 descriptors.
func BenchmarkShouldRateLimit(b *testing.B) {
	for _, n := range []int{1, 5} {
		reqs := benchRequests(n)
		b.Run("direct/descriptors="+strconv.Itoa(n), func(b *testing.B) {
			s := benchService(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.ShouldRateLimit(context.Background(), reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run("grpc/descriptors="+strconv.Itoa(n), func(b *testing.B) {
			s := benchService(b)
			srv := grpcserver.New(grpcserver.Options{})
			s.Register(srv.GRPC)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.GRPC.Serve(ln)
			defer srv.GRPC.Stop()
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c := rlpb.NewRateLimitServiceClient(conn)
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := c.ShouldRateLimit(context.Background(), reqs[i%len(reqs)]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}
