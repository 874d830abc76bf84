package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAccessLogLine(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	NewAccessLog(&buf).Log(&Access{
		Time: at, RequestID: "r-1", ClientIP: netip.MustParseAddr("203.0.113.7"), Method: "GET", Path: "/v1/x",
		Route: "x", KeyID: "k_0123456789abcdef", User: "u1", Status: 429, Latency: 1500 * time.Microsecond,
		Action: "throttle", Rule: "per-ip", Mode: "enforce", Reason: "rate_limited",
	})
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	want := map[string]any{
		"time": "2026-11-28T12:00:00Z", "request_id": "r-1", "client_ip": "203.0.113.7", "method": "GET",
		"path": "/v1/x", "route": "x", "key_id": "k_0123456789abcdef", "user": "u1", "status": 429.0,
		"latency_ms": 1.5, "bytes": 0.0, "action": "throttle", "rule": "per-ip", "mode": "enforce", "reason": "rate_limited",
	}
	if len(got) != len(want) {
		t.Errorf("fields = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if bytes.Count(buf.Bytes(), []byte(`"time"`)) != 1 {
		t.Errorf("time appears more than once: %s", buf.String())
	}
}

// TestAccessLogSampleBenign keeps about a tenth of benign lines, the same
// ones for the same request ids, counts the rest, and keeps every
// suspicious line: refused, shadow would-act, or an upstream error status.
func TestAccessLogSampleBenign(t *testing.T) {
	var buf bytes.Buffer
	l := NewAccessLog(&buf)
	out := prometheus.NewCounter(prometheus.CounterOpts{Name: "out"})
	l.SampleBenign(0.1, out)
	const n = 10000
	for i := range n {
		l.Log(&Access{RequestID: fmt.Sprintf("r-%d", i), Action: "allow", Status: 200})
	}
	kept := bytes.Count(buf.Bytes(), []byte("\n"))
	if kept < n/10*8/10 || kept > n/10*12/10 {
		t.Errorf("kept %d of %d benign lines, want about %d", kept, n, n/10)
	}
	if got := testutil.ToFloat64(out); int(got) != n-kept {
		t.Errorf("sampled out counted %v, want %d", got, n-kept)
	}
	var again bytes.Buffer
	l2 := NewAccessLog(&again)
	l2.SampleBenign(0.1, nil)
	for i := range n {
		l2.Log(&Access{RequestID: fmt.Sprintf("r-%d", i), Action: "allow", Status: 200})
	}
	if again.String() != buf.String() {
		t.Error("the same request ids were sampled differently")
	}

	buf.Reset()
	suspicious := []Access{
		{Action: "block", Status: 403, Reason: "probing"},
		{Action: "throttle", Status: 429, Reason: "rate_limited", Rule: "per-ip", Mode: "enforce"},
		{Action: "allow", Status: 200, Rule: "per-ip", Mode: "shadow", Reason: "rate_limited"},
		{Action: "allow", Status: 404},
		{Action: "allow", Status: 502},
	}
	for i := range n / 10 {
		for _, a := range suspicious {
			a.RequestID = fmt.Sprintf("s-%d", i)
			l.Log(&a)
		}
	}
	if kept := bytes.Count(buf.Bytes(), []byte("\n")); kept != n/10*len(suspicious) {
		t.Errorf("kept %d suspicious lines, want all %d", kept, n/10*len(suspicious))
	}
}

// BenchmarkAccessLog compares a benign line written with one sampled out
// (access_log_benign_sample: 0).
func BenchmarkAccessLog(b *testing.B) {
	a := &Access{Time: time.Now(), RequestID: "abcdef012345-1a", ClientIP: netip.MustParseAddr("203.0.113.7"),
		Method: "GET", Path: "/v1/items/42", Route: "items", Action: "allow", Status: 200, Latency: time.Millisecond}
	for _, share := range []float64{1, 0} {
		b.Run(fmt.Sprintf("sample=%v", share), func(b *testing.B) {
			l := NewAccessLog(io.Discard)
			l.SampleBenign(share, nil)
			b.ReportAllocs()
			for b.Loop() {
				l.Log(a)
			}
		})
	}
}
