package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// cannedUpstream answers every request with 200 "ok" in memory, so a
// benchmark measures the proxy and its guards, not a network.
type cannedUpstream struct{}

func (cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Content-Length": {"2"}},
		Body: io.NopCloser(strings.NewReader("ok")), ContentLength: 2, Request: r}, nil
}

// BenchmarkUpstreamGuards is the cost per proxied request of the circuit
// breaker and the adaptive concurrency limit, each off and on, in the
// same run (an in-memory upstream; detectors off).
func BenchmarkUpstreamGuards(b *testing.B) {
	const base = `
detectors:
  honeypot: {mode: "off"}
  probing: {mode: "off"}
  automation: {mode: "off"}
  scraping: {mode: "off"}
  credentials: {mode: "off"}
  enumeration: {mode: "off"}
  sharing: {mode: "off"}
  volumetric: {mode: "off"}
routes:
  - {name: orders, match: "GET /orders"}
limits:
  - {name: per-ip, key: [ip], rate: 1000000/s, burst: 1000000}
`
	for _, bc := range []struct{ name, yaml string }{
		{"guards=off", base},
		{"breaker=on", base + "breaker: {enabled: true, consecutive_failures: 5, failure_ratio: 0.5, min_requests: 20, window: 10s, open_for: 30s, probes: 3}\n"},
		{"adaptive=on", base + "adaptive: {mode: enforce, algorithm: gradient, initial: 100, min: 10, max: 1000}\n"},
		{"both=on", base + "breaker: {enabled: true, consecutive_failures: 5, failure_ratio: 0.5, min_requests: 20, window: 10s, open_for: 30s, probes: 3}\n" +
			"adaptive: {mode: enforce, algorithm: gradient, initial: 100, min: 10, max: 1000}\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := config.Parse("bench.yaml", []byte(bc.yaml))
			if err != nil {
				b.Fatal(err)
			}
			c.Upstream = "http://127.0.0.1:9"
			pol, err := engine.Compile(c, engine.NewShared(engine.Options{Limits: memory.New(memory.Options{}), RiskEntities: 1000, Getenv: os.Getenv}))
			if err != nil {
				b.Fatal(err)
			}
			defer pol.Close()
			p := New(Options{Engine: engine.New(pol), Metrics: telemetry.NewMetrics(), Logger: slog.New(slog.DiscardHandler), Transport: cannedUpstream{}, Now: time.Now})
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("GET", "/orders", nil)
				r.RemoteAddr = "203.0.113.7:40000"
				w := httptest.NewRecorder()
				p.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
