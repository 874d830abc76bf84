package replay

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseCase is one line in one format, and the entry, or the error text, it
// should give.
type parseCase struct {
	name    string
	format  string
	mapping JSONMapping
	line    string
	want    Entry
	err     string // a substring of the error; "" when the line parses
}

// ip is the client address most cases use.
var ip = netip.MustParseAddr("203.0.113.7")

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

func runParseCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.format+"/"+c.name, func(t *testing.T) {
			p, err := NewParser(c.format, c.mapping)
			if err != nil {
				t.Fatal(err)
			}
			var got Entry
			err = p.Parse(c.line, &got)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q (entry %+v)", err, c.err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !got.Time.Equal(c.want.Time) || got.Time.Location() != time.UTC {
				t.Errorf("Time = %v, want %v in UTC", got.Time, c.want.Time)
			}
			got.Time, c.want.Time = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestNewParser(t *testing.T) {
	for _, c := range []struct {
		name    string
		format  string
		mapping JSONMapping
		err     string
	}{
		{"every format", "", JSONMapping{}, ""},
		{"upper case", "NGINX", JSONMapping{}, ""},
		{"unknown", "w3c", JSONMapping{}, "combined, nginx, apache, envoy, json"},
		{"mapping for a text format", "combined", JSONMapping{Time: "ts"}, "--format json only"},
		{"bad latency unit", "json", JSONMapping{Latency: "took:minutes"}, "NAME:UNIT"},
		{"bad time format", "json", JSONMapping{TimeFormat: "iso"}, "time format"},
		{"go layout", "json", JSONMapping{TimeFormat: time.RFC1123}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			formats := []string{c.format}
			if c.format == "" {
				formats = Formats
			}
			for _, f := range formats {
				_, err := NewParser(f, c.mapping)
				if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
					t.Errorf("NewParser(%q) = %v, want error %q", f, err, c.err)
				}
			}
		})
	}
}

// The benchmark lines are typical of each format: a browser fetching an
// API path with a query, a referer and a user agent.
const (
	benchCombined = `198.51.100.23 - - [28/Nov/2026:12:00:00 +0000] "GET /api/v2/products/1234/reviews?page=3&sort=recent HTTP/1.1" 200 18734 "https://shop.example/products/1234" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`
	benchEnvoy    = `[2026-11-28T12:00:00.123Z] "GET /api/v2/products/1234/reviews?page=3&sort=recent HTTP/2" 200 - 0 18734 12 10 "198.51.100.23" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36" "0b7a3d1e-2f4c-4a8e-9c61-5d2f7e8a9b10" "shop.example" "10.1.2.3:8080"`
	benchJSON     = `{"time":"2026-11-28T12:00:00.123Z","remote_addr":"198.51.100.23","request_method":"GET","request_uri":"/api/v2/products/1234/reviews?page=3&sort=recent","status":200,"body_bytes_sent":18734,"request_time":0.012,"http_referer":"https://shop.example/products/1234","http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","http_host":"shop.example"}`
)

func benchParse(b *testing.B, format, line string) {
	p, err := NewParser(format, JSONMapping{})
	if err != nil {
		b.Fatal(err)
	}
	var e Entry
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := p.Parse(line, &e); err != nil {
			b.Fatal(err)
		}
	}
}
