package serve

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlowBodyFlood is the flood of issue 11: 2,000 connections that send
// headers and then a request body a byte at a time, from 20 loopback
// addresses (half of them from 2), while benign clients from other addresses keep calling the
// API. The body rate bound cuts each slow body off after its grace, the
// per-client cap holds each attacking address to 64 connections and the
// total cap (800 here, standing for a small file descriptor budget)
// sheds the addresses holding the most; benign clients keep at least 99%
// success.
func TestSlowBodyFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10-second flood; skipped with -short")
	}
	const (
		attackConns   = 2000
		attackAddrs   = 20
		benignClients = 8
		grace         = 2 * time.Second
		flood         = 8 * time.Second
	)
	if lim := openFileLimit(); lim != 0 && lim < 4*attackConns {
		t.Skipf("open file limit %d: the flood needs %d (both ends of every connection live in this process)", lim, 4*attackConns)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	cfg := filepath.Join(t.TempDir(), "flood.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`access_log: off
events: off
decisions: {path: ""}
limits: []
risk: {mode: shadow}
server:
  read_body_timeout: 20s
  min_body_rate: 1KiB
  body_rate_grace: %s
  max_conns: 800
  max_conns_per_client: 64
`, grace)), 0o600); err != nil {
		t.Fatal(err)
	}
	in := start(t, Options{ConfigFile: cfg, Upstream: up.URL})
	addr := strings.TrimPrefix(in.proxy, "http://")

	stop := make(chan struct{})
	var attackers sync.WaitGroup
	var opened, cut atomic.Int64
	var longest atomic.Int64 // nanoseconds the longest attacking connection stayed open
	for i := range attackConns {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			// half the connections spread over 20 addresses, half from
			// two addresses that run into the per-client cap
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+i/2%attackAddrs))}
			if i%2 == 1 {
				src.IP = net.IPv4(127, 0, 1, byte(200+i%4/2))
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				lived, ok := slowBody(addr, src, stop)
				if ok {
					opened.Add(1)
					cut.Add(1)
				}
				for {
					old := longest.Load()
					if int64(lived) <= old || longest.CompareAndSwap(old, int64(lived)) {
						break
					}
				}
				if !ok { // refused at a cap: try again in a second
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
	time.Sleep(time.Second) // let the flood build up

	var ok, failed atomic.Int64
	var benign sync.WaitGroup
	end := time.Now().Add(flood)
	for i := range benignClients {
		benign.Add(1)
		go func() {
			defer benign.Done()
			tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(2+i))}}).DialContext}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for n := 0; time.Now().Before(end); n++ {
				var resp *http.Response
				var err error
				if n%2 == 0 {
					resp, err = client.Get(in.proxy + "/v1/items")
				} else {
					resp, err = client.Post(in.proxy+"/v1/orders", "application/json", strings.NewReader(`{"item": 5, "quantity": 1}`))
				}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err == nil && resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	benign.Wait()
	close(stop)
	attackers.Wait()

	total := ok.Load() + failed.Load()
	rate := float64(ok.Load()) / float64(max(total, 1))
	t.Logf("benign: %d of %d ok (%.2f%%); attack: %d slow-body connections admitted and cut, longest open %v",
		ok.Load(), total, 100*rate, cut.Load(), time.Duration(longest.Load()).Round(time.Millisecond))
	if total < 100 {
		t.Fatalf("only %d benign requests were made", total)
	}
	if rate < 0.99 {
		t.Errorf("benign success %.2f%%, want at least 99%%", 100*rate)
	}
	if opened.Load() < attackConns/2 {
		t.Errorf("only %d slow-body connections got in: the flood did not happen", opened.Load())
	}
	// Measured from the dial, so time in the accept queue counts too: the
	// bound is the grace and a margin, well short of read_body_timeout.
	if got := time.Duration(longest.Load()); got > grace+10*time.Second {
		t.Errorf("a slow body held its connection %v, want about its grace %v, far short of read_body_timeout 20s", got, grace)
	}
	counts := map[string]string{}
	for _, reason := range []string{"connection_per_client", "connection_total", "connection_evicted", "body_timeout"} {
		counts[reason], _ = in.metric(t, `abuseguard_refused_total{reason="`+reason+`"}`)
	}
	t.Logf("refused: %v", counts)
	if counts["connection_per_client"] == "" || counts["connection_total"]+counts["connection_evicted"] == "" || counts["body_timeout"] == "" {
		t.Errorf("refused %v: a cap or the body bound never acted", counts)
	}
}

// slowBody opens a connection from src, sends the headers of a 1 MB
// upload and then one byte every 250ms until the server cuts it off or
// stop closes. It returns how long the connection stayed open, and false
// when it was refused before a byte of body was taken.
func slowBody(addr string, src *net.TCPAddr, stop <-chan struct{}) (time.Duration, bool) {
	d := net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "POST /v1/upload HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"); err != nil {
		return 0, false
	}
	closed := make(chan struct{})
	go func() { // the server closing (or answering 408) ends the read
		var b [512]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				close(closed)
				return
			}
		}
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	sent := false
	for {
		select {
		case <-stop:
			return time.Since(start), sent
		case <-closed:
			return time.Since(start), sent
		case <-tick.C:
			if _, err := c.Write([]byte{'x'}); err != nil {
				return time.Since(start), sent
			}
			sent = true
		}
	}
}
