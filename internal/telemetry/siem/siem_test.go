package siem

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var at = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

var rfc5424 = regexp.MustCompile(`^<109>1 2026-12-01T12:00:00Z host abuseguard \d+ event - (\{.*\})$`)

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := NewSyslog(SyslogOptions{Network: "udp", Addr: pc.LocalAddr().String(), Hostname: "host", Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send([][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for _, want := range []string{`{"a":1}`, `{"b":2}`} {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if m := rfc5424.FindStringSubmatch(string(buf[:n])); m == nil || m[1] != want {
			t.Errorf("datagram %q, want an RFC 5424 message carrying %s", buf[:n], want)
		}
	}
}

// readFramed reads n octet-counted messages (RFC 6587) from c.
func readFramed(c net.Conn, n int) []string {
	r := bufio.NewReader(c)
	var out []string
	for range n {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		lenStr, err := r.ReadString(' ')
		if err != nil {
			return append(out, "read: "+err.Error())
		}
		size, err := strconv.Atoi(strings.TrimSpace(lenStr))
		if err != nil || size > 1<<20 {
			return append(out, "bad frame length "+lenStr)
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(r, msg); err != nil {
			return append(out, "read: "+err.Error())
		}
		out = append(out, string(msg))
	}
	return out
}

func testStream(t *testing.T, network string, ln net.Listener, cfg *tls.Config) {
	t.Helper()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		got <- readFramed(c, 2)
	}()
	s, err := NewSyslog(SyslogOptions{Network: network, Addr: ln.Addr().String(), TLS: cfg, Hostname: "host", Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send([][]byte{[]byte(`{"a":1}`), []byte(`{"b":"x y"}`)}); err != nil {
		t.Fatal(err)
	}
	msgs := <-got
	if len(msgs) != 2 {
		t.Fatalf("got %v", msgs)
	}
	for i, want := range []string{`{"a":1}`, `{"b":"x y"}`} {
		if m := rfc5424.FindStringSubmatch(msgs[i]); m == nil || m[1] != want {
			t.Errorf("message %q, want one carrying %s", msgs[i], want)
		}
	}
}

func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	testStream(t, "tcp", ln, nil)
}

func TestSyslogTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate only
	cert := srv.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	testStream(t, "tls", ln, &tls.Config{RootCAs: pool, ServerName: "example.com"})
}

func TestSyslogOptions(t *testing.T) {
	for _, o := range []SyslogOptions{{Network: "tcp4x", Addr: "127.0.0.1:514"}, {Network: "udp", Addr: "nohost"}} {
		if _, err := NewSyslog(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestWebhookBatchesAndRetries(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	fails := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/x-ndjson" || r.Header.Get("Authorization") != "Bearer k" {
			w.WriteHeader(400)
			return
		}
		if fails > 0 {
			fails--
			w.WriteHeader(503)
			return
		}
		bodies = append(bodies, string(b))
	}))
	defer srv.Close()
	var waits []time.Duration
	wh := NewWebhook(WebhookOptions{URL: srv.URL, Header: http.Header{"Authorization": {"Bearer k"}}, Backoff: time.Second,
		Sleep: func(d time.Duration) { waits = append(waits, d) }})
	if err := wh.Send([][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 || bodies[0] != "{\"a\":1}\n{\"b\":2}\n" {
		t.Errorf("bodies %q", bodies)
	}
	if fmt.Sprint(waits) != "[1s 2s]" {
		t.Errorf("backoff %v, want [1s 2s]", waits)
	}
	// A 4xx is not retried.
	bad := NewWebhook(WebhookOptions{URL: srv.URL, Sleep: func(time.Duration) { t.Error("a 400 was retried") }})
	if err := bad.Send([][]byte{[]byte(`{}`)}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a 400: %v", err)
	}
}

// blockingSink never returns from Send until released: a SIEM that hangs.
type blockingSink struct {
	release chan struct{}
	mu      sync.Mutex
	got     int
}

func (b *blockingSink) Send(batch [][]byte) error {
	<-b.release
	b.mu.Lock()
	b.got += len(batch)
	b.mu.Unlock()
	return nil
}
func (b *blockingSink) Close() error { return nil }

// TestQueueNeverBlocks fills a queue whose sink hangs: every Write
// returns at once, what does not fit is dropped and counted, and the
// rest is delivered once the sink recovers.
func TestQueueNeverBlocks(t *testing.T) {
	sink := &blockingSink{release: make(chan struct{})}
	q := NewQueue(sink, QueueOptions{Size: 10, Batch: 1, Interval: time.Hour})
	for i := range 100 {
		if n, err := q.Write([]byte(fmt.Sprintf("{\"i\":%d}\n", i))); err != nil || n == 0 {
			t.Fatalf("Write: %d %v", n, err)
		}
	}
	st := q.Stats()
	// One line may be held by the hung Send; ten wait in the queue.
	if st.Dropped < 89 || st.Dropped > 90 || st.Queued < 9 || st.Queued > 10 {
		t.Errorf("stats with a hung sink: %+v, want 89 or 90 dropped and 9 or 10 queued", st)
	}
	close(sink.release)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	st = q.Stats()
	if uint64(sink.got) != st.Sent || st.Sent+st.Dropped != 100 {
		t.Errorf("after recovery: sink got %d, stats %+v; want sent + dropped = 100", sink.got, st)
	}
}

// TestQueueToDeadSyslog sends through a queue to a TCP syslog port that
// nothing listens on: writes return, every line is counted as failed.
func TestQueueToDeadSyslog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down
	s, _ := NewSyslog(SyslogOptions{Network: "tcp", Addr: addr, Timeout: time.Second})
	q := NewQueue(s, QueueOptions{Size: 100, Batch: 10})
	for range 50 {
		q.Write([]byte(`{"x":1}`))
	}
	q.Close()
	if st := q.Stats(); st.Failed+st.Dropped != 50 || st.Sent != 0 {
		t.Errorf("to a dead syslog: %+v, want all 50 failed or dropped", st)
	}
}
