// Package grpcserver builds the gRPC servers of the gateway fronts (Envoy
// ext_authz, rate limit service, access log service): bounded messages and
// streams, keepalive enforcement, and the gRPC health protocol.
package grpcserver

import (
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// Options bound a server. Zero fields get safe defaults.
type Options struct {
	// MaxRecvBytes is the largest request message accepted (default 4 MiB,
	// gRPC's own default, enough for an ext_authz Check with a buffered body).
	MaxRecvBytes int
	// MaxStreams is the most concurrent streams per connection (default 1024).
	MaxStreams uint32
	// Tracer, when set, traces every call (otelgrpc, W3C trace context
	// from the caller's metadata); nil: tracing is off.
	Tracer trace.TracerProvider
}

// Server is a gRPC server with a health service. Services register on
// GRPC, then Ready marks them SERVING.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
}

// New returns a server whose health service reports NOT_SERVING until
// Ready is called.
func New(opts Options) *Server {
	if opts.MaxRecvBytes <= 0 {
		opts.MaxRecvBytes = 4 << 20
	}
	if opts.MaxStreams == 0 {
		opts.MaxStreams = 1024
	}
	so := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(opts.MaxRecvBytes),
		grpc.MaxConcurrentStreams(opts.MaxStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
	}
	if opts.Tracer != nil {
		so = append(so, grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(opts.Tracer),
			otelgrpc.WithPropagators(propagation.TraceContext{}))))
	}
	g := grpc.NewServer(so...)
	h := health.NewServer()
	healthpb.RegisterHealthServer(g, h)
	h.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return &Server{GRPC: g, Health: h}
}

// Ready marks the server and each named service SERVING.
func (s *Server) Ready(services ...string) {
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range services {
		s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
}

// Drain marks every service NOT_SERVING, so health-checking gateways stop
// sending, and then stops the server gracefully.
func (s *Server) Drain() {
	s.Health.Shutdown()
	s.GRPC.GracefulStop()
}
