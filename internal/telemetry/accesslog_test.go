package telemetry

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"
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
