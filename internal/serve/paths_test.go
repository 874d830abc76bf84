package serve

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/testenv"
)

// nginxAPI serves two resources, told apart by X-Resource: the list at
// /v1/items and one item at /v1/items/ID, and 404 elsewhere. nginx
// normalises paths the usual way (decoding, dot segments, merge_slashes)
// before it matches a location.
const nginxAPI = `
    location = /v1/items { add_header X-Resource items always; return 200 "items\n"; }
    location ~ ^/v1/items/[^/]+$ { add_header X-Resource item always; return 200 "item\n"; }
    location / { return 404 "none\n"; }
`

// pathSpellings are ways to name /v1/items or /v1/items/5 (or to try to):
// the list, dot segments, encodings, double encoding, overlong
// UTF-8, NUL bytes, unicode dot look-alikes, backslashes, semicolons,
// case and the absolute form.
var pathSpellings = []struct{ method, target string }{
	{"GET", "/v1//items"},
	{"GET", "//v1/items"},
	{"GET", "/v1/./items"},
	{"GET", "/./v1/items"},
	{"GET", "/v1/%2e/items"},
	{"GET", "/v1/%2E/items"},
	{"GET", "/v1///items"},
	{"GET", "/v1//items/5"},
	{"GET", "/v1/./items/5"},
	{"GET", "//v1/items/5"},
	{"GET", "/v1/items//5"},
	{"HEAD", "/v1/items"},
	{"HEAD", "/v1/items/5"},
	{"GET", "/v1/x/../items"},
	{"GET", "/v1/x/%2e%2e/items"},
	{"GET", "/v1/x/%2E%2e/items"},
	{"GET", "/v1/x/y/../../items"},
	{"GET", "/v1/./././items"},
	{"GET", "/v1//.//items//5"},
	{"GET", "/v1/items/5/../5"},
	{"GET", "/v1/%2e%2e/v1/items"},
	{"GET", "/../v1/items"},
	{"GET", "/v1/items/."},
	{"GET", "/v1/items/5/."},
	{"GET", "/v1/items/%2e"},
	{"GET", "/v1/%69tems"},
	{"GET", "/%76%31/%69%74%65%6d%73"},
	{"GET", "/v1/items/%35"},
	{"GET", "/v1/items?x=1"},
	{"GET", "/v1/items/5?x=1"},
	{"GET", "/v1%2Fitems"},
	{"GET", "/v1%2fitems/5"},
	{"GET", "/v1/items%2F5"},
	{"GET", "/v1/x%2F..%2Fitems"},
	{"GET", "/v1/%252e/items"},
	{"GET", "/v1/x/%252e%252e/items"},
	{"GET", "/v1/%25%32%65/items"},
	{"GET", "/v1/%c0%ae/items"},
	{"GET", "/v1/x/%c0%ae%c0%ae/items"},
	{"GET", "/v1/x/%e0%80%ae%e0%80%ae/items"},
	{"GET", "/v1/items%c0%af5"},
	{"GET", "/v1/items%00"},
	{"GET", "/v1/items/5%00.json"},
	{"GET", "/v1/x%00/../items"},
	{"GET", "/v1/%EF%BC%8E/items"},
	{"GET", "/v1/x/%EF%BC%8E%EF%BC%8E/items"},
	{"GET", "/v1/%E2%80%A4/items"},
	{"GET", "/v1/x/%E2%80%A5/items"},
	{"GET", `/v1\items`},
	{"GET", `/v1/x\..\items`},
	{"GET", "/v1%5Citems"},
	{"GET", "/v1/x%5c..%5citems"},
	{"GET", "/v1/items;x=1"},
	{"GET", "/v1;x/items"},
	{"GET", "/v1/x/..;/items"},
	{"GET", "/v1/items/5;x"},
	{"GET", "/v1/items/5%3b"},
	{"GET", "/V1/ITEMS"},
	{"GET", "/v1/items/"},
	{"GET", "/v1/items/5/"},
	{"GET", "http://api.test/v1/items"},
	{"GET", "http://api.test//v1/./items/5"},
}

// TestPathSpellingsAgainstNginx is the attack of issue 11: a per-route
// limit in front of a real nginx, the limit used up with the canonical
// spelling, then every other spelling of the limited routes. A bypass is
// a spelling the guard lets through and nginx serves as a limited
// resource; there must be none. Spellings nginx itself serves as the
// resource (asked directly) must be refused by the guard with 429 (it
// saw the route) or 400 ambiguous_path.
func TestPathSpellingsAgainstNginx(t *testing.T) {
	nginx := testenv.Nginx(t, nginxAPI)
	cfg := filepath.Join(t.TempDir(), "paths.yaml")
	if err := os.WriteFile(cfg, []byte(`access_log: off
events: off
decisions: {path: ""}
# Detectors and risk decisions would soon block this client outright for
# its 429s; off, each answer shows what the router made of the spelling.
risk: {mode: shadow}
routes:
  - {name: items, match: "GET /v1/items"}
  - {name: item, match: "GET /v1/items/{id}"}
limits:
  - {name: per-route, key: [ip, route], routes: [items, item], rate: 1/h, burst: 1}
detectors:
  honeypot: {mode: off}
  probing: {mode: off}
  automation: {mode: off}
  scraping: {mode: off}
  credentials: {mode: off}
  enumeration: {mode: off}
  sharing: {mode: off}
  volumetric: {mode: off}
  graphql: {mode: off}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	in := start(t, Options{ConfigFile: cfg, Upstream: "http://" + nginx})
	guard := strings.TrimPrefix(in.proxy, "http://")

	for _, target := range []string{"/v1/items", "/v1/items/5"} {
		if code, res := rawRequest(t, guard, "GET", target); code != 200 || res == "" {
			t.Fatalf("GET %s: %d %q, want 200 from nginx", target, code, res)
		}
		if code, _ := rawRequest(t, guard, "GET", target); code != http.StatusTooManyRequests {
			t.Fatalf("GET %s again: %d, want 429", target, code)
		}
	}
	if len(pathSpellings) < 40 {
		t.Fatalf("%d spellings, want at least 40", len(pathSpellings))
	}
	bypasses, dangerous := 0, 0
	for _, sp := range pathSpellings {
		direct, directRes := rawRequest(t, nginx, sp.method, sp.target)
		code, res := rawRequest(t, guard, sp.method, sp.target)
		if directRes != "" {
			dangerous++
		}
		switch {
		case res != "":
			bypasses++
			t.Errorf("bypass: %s %s reached nginx as %q (%d)", sp.method, sp.target, res, code)
		case directRes != "" && code != http.StatusTooManyRequests && code != http.StatusBadRequest:
			t.Errorf("%s %s: nginx serves it as %q but the guard answered %d, want 429 or 400", sp.method, sp.target, directRes, code)
		}
		t.Logf("%-4s %-34s nginx direct: %d %-5s guard: %d", sp.method, sp.target, direct, directRes, code)
	}
	t.Logf("%d spellings, %d of them served by nginx as a limited resource, %d bypasses", len(pathSpellings), dangerous, bypasses)
	if dangerous < len(pathSpellings)/2 {
		t.Errorf("only %d spellings name the resource at nginx: the table tests too little", dangerous)
	}
}

// rawRequest sends one request with the target exactly as given (no
// client-side cleaning) and returns the status and X-Resource.
func rawRequest(t *testing.T, addr, method, target string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n", method, target); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s to %s: %v", method, target, addr, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Resource")
}

// TestUpstreamGetsCanonicalPath: the upstream is sent the path the guard
// decided on, not the spelling the client chose; the query is kept.
func TestUpstreamGetsCanonicalPath(t *testing.T) {
	seen := make(chan string, 8)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.RequestURI
	}))
	t.Cleanup(up.Close)
	cfg := filepath.Join(t.TempDir(), "quiet.yaml")
	if err := os.WriteFile(cfg, []byte("access_log: off\nevents: off\ndecisions: {path: \"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := start(t, Options{ConfigFile: cfg, Upstream: up.URL})
	guard := strings.TrimPrefix(in.proxy, "http://")
	for target, want := range map[string]string{
		"/v1//./items/%7euser?q=%2e": "/v1/items/~user?q=%2e",
		"/a/%41%3c":                  "/a/A%3C",
		"//x/%2E/y/":                 "/x/y/",
	} {
		if code, _ := rawRequest(t, guard, "GET", target); code != 200 {
			t.Fatalf("GET %s: %d", target, code)
		}
		if got := <-seen; got != want {
			t.Errorf("GET %s reached the upstream as %s, want %s", target, got, want)
		}
	}
}
