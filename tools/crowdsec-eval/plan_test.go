package main

import (
	"strings"
	"testing"
)

// TestPlanLines checks that lines a replay format reads stay as they are,
// that the others are adapted in order, and that the CRI header is
// stripped.
func TestPlanLines(t *testing.T) {
	native := `203.0.113.5 - - [03/Feb/2026:10:11:12 +0000] "GET /a HTTP/1.1" 200 1 "-" "ua/1"`
	vhost := `api.example.net 203.0.113.5 - 9d1c - [03/Feb/2026:10:11:13 +0000] "GET /b HTTP/1.1" 404 1 "-" "ua/1"`
	common := `203.0.113.6 - - [03/Feb/2026:10:11:14 +0000] "GET /c HTTP/1.1" 404 1`
	p, err := planLines("nginx", []string{native, vhost, common, "", "not a log line"})
	if err != nil {
		t.Fatal(err)
	}
	// One combined segment: the adapted line is combined too.
	if seg := p.Segments; p.Native || len(seg) != 1 || len(seg[0].Lines) != 3 || seg[0].Lines[0] != native || seg[0].Lines[2] != common ||
		!strings.HasPrefix(seg[0].Lines[1], "203.0.113.5 - - [03/Feb/2026:10:11:13 +0000]") {
		t.Fatalf("plan %+v", p)
	}
	if !p.NoUA["203.0.113.6"] || p.NoUA["203.0.113.5"] {
		t.Fatalf("NoUA %v: want only the common-format client", p.NoUA)
	}
	if n := len(p.How); n != 3 || !strings.HasPrefix(p.How[2].How, "not replayed") {
		t.Fatalf("how %+v", p.How)
	}

	cri := `2026-02-03T10:11:12.000000001+00:00 stdout F {"start_time":"2026-02-03T10:11:12.000Z","method":"GET","x-envoy-origin-path":"/p","response_code":404,"user-agent":"ua/2","downstream_remote_address":"198.51.100.8:4000",":authority":"h"}`
	p, err = planLines("containerd", []string{cri})
	if err != nil {
		t.Fatal(err)
	}
	if p.Native || len(p.Segments) != 1 || p.Segments[0].Format != "json" || strings.HasPrefix(p.Segments[0].Lines[0], "2026") {
		t.Fatalf("plan %+v", p)
	}
}
