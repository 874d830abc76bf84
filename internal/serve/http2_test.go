package serve

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHTTP2RapidReset is CVE-2023-44487 against serve with cleartext
// HTTP/2: one connection opens streams and resets each at once, 20,000
// times, as fast as it can write. The streams in flight at the upstream
// never exceed max_concurrent_streams, the server ends the connection
// (GOAWAY ENHANCE_YOUR_CALM), and a benign HTTP/2 client on its
// own connection keeps getting answers.
func TestHTTP2RapidReset(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short")
	}
	const maxStreams = 16
	var inFlight, peak atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select { // a slow endpoint: resets arrive while it works
		case <-r.Context().Done():
		case <-time.After(50 * time.Millisecond):
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	cfg := filepath.Join(t.TempDir(), "h2.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`access_log: off
events: off
decisions: {path: ""}
limits: []
risk: {mode: shadow}
server:
  http2: {cleartext: true, max_concurrent_streams: %d}
`, maxStreams)), 0o600); err != nil {
		t.Fatal(err)
	}
	in := start(t, Options{ConfigFile: cfg, Upstream: up.URL})
	addr := strings.TrimPrefix(in.proxy, "http://")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "api.test"}, {":path", "/v1/items"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	block := hb.Bytes()
	goaway := make(chan http2.ErrCode, 1)
	go func() { // read the server's frames, note a GOAWAY
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				close(goaway)
				return
			}
			if g, ok := f.(*http2.GoAwayFrame); ok {
				goaway <- g.ErrCode
				return
			}
		}
	}()
	sent := 0
	_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for id := uint32(1); sent < 20000; id += 2 {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
			break
		}
		if err := fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			break
		}
		sent++
	}
	var code http2.ErrCode
	ended := true // the server sent GOAWAY or closed the connection
	select {
	case code = <-goaway:
	case <-time.After(5 * time.Second):
		ended = false
	}
	t.Logf("sent %d HEADERS+RST_STREAM pairs; GOAWAY %v; peak streams at the upstream %d", sent, code, peak.Load())
	if !ended {
		t.Error("the server kept a rapid-reset connection open")
	}
	if p := peak.Load(); p > maxStreams {
		t.Errorf("%d requests in flight at the upstream at once, want at most max_concurrent_streams %d", p, maxStreams)
	}

	// A benign HTTP/2 client on its own connection is served.
	h2 := &http.Client{Timeout: wait, Transport: &http.Transport{Protocols: h2cOnly()}}
	for range 5 {
		resp, err := h2.Get(in.proxy + "/v1/items")
		if err != nil {
			t.Fatalf("benign HTTP/2 request: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("benign request: %d over %s", resp.StatusCode, resp.Proto)
		}
	}
}

func h2cOnly() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}
