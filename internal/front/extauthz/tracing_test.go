package extauthz

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authpb "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/front/grpcserver"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// TestTracing serves ext_authz on a traced gRPC server (otelgrpc, as serve
// does when tracing is on): Envoy's trace context in the call's metadata
// is continued, the span carries the verdict, and the access log line
// names the trace.
func TestTracing(t *testing.T) {
	cfg, err := config.Parse("guard.yaml", []byte(guardYAML))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := engine.Compile(cfg, engine.NewShared(engine.Options{Limits: memory.New(memory.Options{}), RiskEntities: 1000, Getenv: os.Getenv}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pol.Close)
	var logBuf bytes.Buffer
	checker := gateway.New(gateway.Options{Engine: engine.New(pol), AccessLog: telemetry.NewAccessLog(&logBuf)})
	spans := tracetest.NewSpanRecorder()
	srv := grpcserver.New(grpcserver.Options{Tracer: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))})
	srv.Ready(New(checker).Register(srv.GRPC))
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

	const parent = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+parent+"-00f067aa0ba902b7-01")
	resp, err := authpb.NewAuthorizationClient(conn).Check(ctx, &authpb.CheckRequest{Attributes: &authpb.AttributeContext{
		Source: &authpb.AttributeContext_Peer{Address: &corepb.Address{Address: &corepb.Address_SocketAddress{
			SocketAddress: &corepb.SocketAddress{Address: "198.51.100.9", PortSpecifier: &corepb.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authpb.AttributeContext_Request{Http: &authpb.AttributeContext_HttpRequest{Method: "GET", Path: "/x", Host: "api.example"}},
	}})
	if err != nil || resp.GetStatus().GetCode() == 0 {
		t.Fatalf("the banned client was not denied: %v %v", resp, err)
	}
	srv.Drain() // ends the server's spans
	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans, want 1", len(ended))
	}
	if got := ended[0].SpanContext().TraceID().String(); got != parent {
		t.Errorf("trace id %s, want Envoy's %s", got, parent)
	}
	attrs := map[string]string{}
	for _, kv := range ended[0].Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["abuseguard.action"] != "block" || attrs["abuseguard.rule"] != "rule:banned" || attrs["abuseguard.reason"] != "banned" {
		t.Errorf("span attributes %v, want the rule's block", attrs)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(logBuf.String())), &line); err != nil {
		t.Fatalf("access log %q: %v", logBuf.String(), err)
	}
	if line["trace_id"] != parent {
		t.Errorf("access log trace_id = %v, want %s", line["trace_id"], parent)
	}
}
