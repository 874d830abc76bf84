package replay

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseEnvoy(t *testing.T) {
	const head = `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - 154 512 37 35 `
	at := t0.Add(123 * time.Millisecond)
	want := Entry{Time: at, ClientIP: ip, Method: "POST", Host: "api.shop.example", Path: "/api/v1/orders", Query: "dry=1",
		Status: 201, Bytes: 512, Latency: 37 * time.Millisecond, UserAgent: "okhttp/4.12.0"}
	with := func(f func(e *Entry)) Entry {
		e := want
		f(&e)
		return e
	}
	const tail = ` "okhttp/4.12.0" "7f3c2a9e-1b2d-4c5e-8f90-123456789abc" "api.shop.example" "10.1.2.3:8080"`
	cases := []parseCase{
		{name: "default", line: head + `"203.0.113.7"` + tail, want: want},
		{name: "forwarded-for list with port", line: head + `"203.0.113.7:51234, 10.0.0.1"` + tail, want: want},
		{name: "forwarded-for ipv6", line: head + `"[2001:db8::7]:443,10.0.0.1"` + tail,
			want: with(func(e *Entry) { e.ClientIP = netip.MustParseAddr("2001:db8::7") })},
		{name: "offset time", line: strings.Replace(head, "12:00:00.123Z", "13:00:00.123+01:00", 1) + `"203.0.113.7"` + tail, want: want},
		{name: "no upstream time", line: strings.Replace(head, " 37 35 ", " 37 - ", 1) + `"203.0.113.7"` + tail, want: want},
		{name: "extra fields", line: head + `"203.0.113.7"` + tail + ` "-" 198.51.100.9:40000`, want: want},
		{name: "no forwarded-for, appended downstream address", line: head + `"-"` + tail + ` "-" 198.51.100.9:40000`,
			want: with(func(e *Entry) { e.ClientIP = netip.MustParseAddr("198.51.100.9") })},
		{name: "istio layout", line: `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - via_upstream - "-" 154 512 37 35 "-"` + tail +
			` outbound|8080||orders.shop.svc.cluster.local 10.1.0.4:39612 10.1.0.4:8080 203.0.113.7:52110 - default`, want: want},
		{name: "istio layout ipv6 downstream", line: `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - via_upstream - "-" 154 512 37 35 "-"` + tail +
			` cluster 10.1.0.4:39612 10.1.0.4:8080 [2001:db8::9]:52110 - default`, want: with(func(e *Entry) { e.ClientIP = netip.MustParseAddr("2001:db8::9") })},
		{name: "old istio layout", line: `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - "-" "-" 154 512 37 35 "203.0.113.7"` + tail, want: want},
		{name: "bad forwarded-for falls back", line: head + `"unknown, 10.0.0.1"` + tail + ` c 10.1.0.4:1 10.1.0.4:8080 203.0.113.7:52110`, want: want},
		{name: "no upstream host", line: head + `"203.0.113.7" "okhttp/4.12.0" "id" "api.shop.example"`, want: want},
		{name: "no authority", line: head + `"203.0.113.7" "okhttp/4.12.0" "id" "-" "-"`, want: with(func(e *Entry) { e.Host = "" })},
		{name: "tcp proxy", line: `[2026-11-28T12:00:00.123Z] "- - -" 0 UF 0 0 1 - "203.0.113.7" "-" "-" "-" "10.1.2.3:5432"`,
			want: Entry{Time: at, ClientIP: ip, Latency: time.Millisecond}},
		{name: "syslog wrapped", line: "<134>Nov 28 12:00:00 edge-1 envoy[1]: " + head + `"203.0.113.7"` + tail, want: want},

		{name: "no forwarded-for and no downstream address", line: head + `"-"` + tail, err: "no client address"},
		{name: "bad forwarded-for", line: head + `"unknown"` + tail, err: "bad X-Forwarded-For"},
		{name: "bad time", line: strings.Replace(head, "2026-11-28T12:00:00.123Z", "28/Nov/2026:12:00:00 +0000", 1) + `"203.0.113.7"` + tail, err: "bad timestamp"},
		{name: "no time", line: `"GET / HTTP/1.1" 200 - 0 0 1 1 "203.0.113.7" "-" "-" "-" "-"`, err: "want [START_TIME]"},
		{name: "bad status", line: strings.Replace(head, " 201 ", " OK ", 1) + `"203.0.113.7"` + tail, err: "bad status"},
		{name: "missing status", line: `[2026-11-28T12:00:00.123Z] "GET / HTTP/1.1"`, err: "missing status"},
		{name: "bad duration", line: strings.Replace(head, " 37 35 ", " 99999999999999999 35 ", 1) + `"203.0.113.7"` + tail, err: "bad duration"},
		{name: "truncated", line: `[2026-11-28T12:00:00.123Z] "GET / HTTP/1.1" 200 - 0 0`, err: "default format"},
		{name: "combined line", line: ip.String() + ` - - [28/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1`, err: "want [START_TIME]"},
	}
	for i := range cases {
		cases[i].format = "envoy"
	}
	runParseCases(t, cases)
}

func BenchmarkParseEnvoy(b *testing.B) { benchParse(b, "envoy", benchEnvoy) }
