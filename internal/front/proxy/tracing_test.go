package proxy

import (
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTracing wraps the proxy in otelhttp, as serve does when tracing is
// on: the span carries the verdict, continues the client's trace, and its
// trace id is in the access log.
func TestTracing(t *testing.T) {
	up := newUpstream(t)
	h := newHarness(t, "limits:\n  - {name: per-ip, key: [ip], rate: 1/m, burst: 1}\n", up.URL, nil)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	handler := otelhttp.NewHandler(h.p, "abuseguard", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{}))
	const parent = "4bf92f3577b34da6a3ce929d0e0e4736"
	for range 2 {
		r := newRequest("GET", "/x", nil, "Traceparent: 00-"+parent+"-00f067aa0ba902b7-01")
		r.RemoteAddr = "203.0.113.9:1000"
		handler.ServeHTTP(httptest.NewRecorder(), r)
	}
	ended := spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans, want 2", len(ended))
	}
	attrs := map[string]string{}
	for _, kv := range ended[1].Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["abuseguard.action"] != "throttle" || attrs["abuseguard.rule"] != "per-ip" || attrs["abuseguard.reason"] != "rate_limited" {
		t.Errorf("span attributes %v, want the throttle verdict", attrs)
	}
	if got := ended[1].SpanContext().TraceID().String(); got != parent {
		t.Errorf("trace id %s, want the client's %s", got, parent)
	}
	for _, line := range h.logLines(t) {
		if line["trace_id"] != parent {
			t.Errorf("access log trace_id = %v, want %s", line["trace_id"], parent)
		}
	}
}

func TestNoTraceIDWithoutTracing(t *testing.T) {
	up := newUpstream(t)
	h := newHarness(t, "", up.URL, nil)
	r := newRequest("GET", "/x", nil, "Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.do(r, "203.0.113.9:1000")
	if lines := h.logLines(t); len(lines) != 1 || lines[0]["trace_id"] != nil {
		t.Errorf("without tracing the access log has %v", lines)
	}
}
