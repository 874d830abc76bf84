// Command proxybench measures what abuseguard costs over a bare reverse
// proxy. In one process it starts a small upstream on loopback, a bare
// net/http/httputil.ReverseProxy in front of it, and abuseguard's real
// serve path in front of the same upstream (once with access_log off, once
// logging to a file), then drives each with a fixed-concurrency keep-alive
// client. Targets alternate within every round (bare, guard, guard+log) so
// that machine noise falls on all of them alike, and each guard run is
// compared with the bare run of its round.
//
//	go run ./tools/proxybench [-duration 10s] [-concurrency 32] [-rounds 3] [-out FILE]
//
// It prints a Markdown table with the throughput ratio guard/bare (target
// at least 0.85) and the added p99 latency (target at most 1ms), each
// marked PASS or MISS, and beside them the ratio of CPU time per request,
// which other load on a shared machine disturbs far less than throughput.
// It exits non-zero only when a request failed (a transport error or a
// non-2xx status) or the setup did; a missed target is a result, not an
// error. All traffic stays on 127.0.0.1. -cpuprofile writes one profile per
// measured run; `go tool pprof -focus 'proxy.\(\*Proxy\).ServeHTTP'`
// narrows one to the guard's request path.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/serve"
)

// Targets the guard must meet, by the median across rounds.
const (
	minRatio = 0.85
	maxAdded = time.Millisecond
)

const apiKey = "proxybench-key-0123456789"

// body is the upstream's answer: a JSON object of about 200 bytes.
var body = []byte(`{"id":"item-0042","name":"proxybench sample item","price":{"amount":1999,"currency":"EUR"},` +
	`"tags":["bench","sample","json"],"stock":17,"updated":"2026-11-28T12:00:00Z","owner":"team-abuseguard"}` + "\n")

func main() {
	duration := flag.Duration("duration", 10*time.Second, "measured load per target per round")
	warmup := flag.Duration("warmup", time.Second, "unmeasured load per target per round, before the measured part")
	concurrency := flag.Int("concurrency", 32, "concurrent client connections")
	rounds := flag.Int("rounds", 3, "rounds; each runs every target once")
	maxRequests := flag.Int64("max-requests", 5_000_000, "cap on requests per measured run")
	out := flag.String("out", "", "also write the Markdown report to this file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of each measured run to `PREFIX`.TARGET.rROUND.pprof")
	flag.Parse()
	if *concurrency < 1 || *rounds < 1 || *duration <= 0 || *maxRequests < 1 {
		fmt.Fprintln(os.Stderr, "proxybench: -concurrency, -rounds, -duration and -max-requests must be positive")
		os.Exit(2)
	}
	b := bench{duration: *duration, warmup: *warmup, concurrency: *concurrency, rounds: *rounds, maxRequests: *maxRequests}
	if err := b.run(*out, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

type bench struct {
	duration, warmup time.Duration
	concurrency      int
	rounds           int
	maxRequests      int64
}

// target is one endpoint under test, with its own client connection pool.
type target struct {
	name   string
	desc   string
	url    string
	client *http.Client
}

// result is one measured run against one target.
type result struct {
	requests int64
	errors   int64
	firstErr error
	elapsed  time.Duration
	lats     []time.Duration // sorted
	cpu      time.Duration   // process CPU time (user+system) during the run; 0 when unknown
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// cpuPerRequest is the whole process's CPU time (client, proxy and
// upstream) per request. Other processes on the machine slow the run far
// more than they change it, so it is a steadier comparison than throughput.
func (r result) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

func (r result) quantile(q float64) time.Duration {
	if len(r.lats) == 0 {
		return 0
	}
	i := int(float64(len(r.lats))*q+0.999999) - 1
	return r.lats[min(max(i, 0), len(r.lats)-1)]
}

func (b bench) run(outFile, cpuprofile string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "proxybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	upstream, stopUpstream, err := startUpstream()
	if err != nil {
		return err
	}
	defer stopUpstream()
	bare, stopBare, err := startBare(upstream, b.concurrency)
	if err != nil {
		return err
	}
	defer stopBare()
	guard, stopGuard, err := startGuard(ctx, dir, "guard", upstream, "off")
	if err != nil {
		return err
	}
	defer stopGuard()
	logFile := filepath.Join(dir, "access.log")
	guardLog, stopGuardLog, err := startGuard(ctx, dir, "guard-log", upstream, logFile)
	if err != nil {
		return err
	}
	defer stopGuardLog()

	targets := []*target{
		{name: "bare", desc: "httputil.ReverseProxy (Rewrite: SetURL + SetXForwarded)", url: bare},
		{name: "guard", desc: "abuseguard serve.Run, access_log: off", url: guard},
		{name: "guard+log", desc: "abuseguard serve.Run, access_log: a file", url: guardLog},
	}
	for _, t := range targets {
		t.client = newClient(b.concurrency)
		if err := probe(t); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}

	results := make([][]result, b.rounds) // by round, then target
	var failed int64
	for round := range b.rounds {
		for _, t := range targets {
			if b.warmup > 0 {
				w := b.load(t, b.warmup)
				failed += w.errors
				report(w.firstErr, t.name, "warm-up")
			}
			runtime.GC()
			stop, err := startProfile(cpuprofile, t.name, round+1)
			if err != nil {
				return err
			}
			cpu0 := processCPU()
			res := b.load(t, b.duration)
			if cpu0 > 0 {
				res.cpu = processCPU() - cpu0
			}
			if err := stop(); err != nil {
				return err
			}
			failed += res.errors
			report(res.firstErr, t.name, "run")
			fmt.Fprintf(os.Stderr, "round %d %-9s %8.0f req/s  p50 %s  p99 %s  errors %d\n", round+1, t.name,
				res.rps(), ms(res.quantile(0.50)), ms(res.quantile(0.99)), res.errors)
			results[round] = append(results[round], res)
		}
	}
	sizes := map[string]int64{}
	for _, name := range []string{"access.log", "guard.events", "guard-log.events"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			sizes[name] = fi.Size()
		}
	}

	md := b.markdown(targets, results, sizes)
	fmt.Print(md)
	if outFile != "" {
		if err := os.WriteFile(outFile, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d requests failed (transport errors or non-2xx responses)", failed)
	}
	return nil
}

// startProfile starts a CPU profile of one measured run, written to
// prefix.TARGET.rROUND.pprof, and returns the function that ends it. With
// an empty prefix it does nothing. The profile covers the whole process
// (client, proxy and upstream); pprof -focus narrows it to the proxy.
func startProfile(prefix, target string, round int) (func() error, error) {
	if prefix == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(fmt.Sprintf("%s.%s.r%d.pprof", prefix, target, round))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// processCPU returns the user and system CPU time this process has used,
// from /proc/self/stat (Linux; in USER_HZ ticks, which the kernel fixes at
// 100 per second), or 0 where that is not available.
func processCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the line, so the 12th and 13th after it.
	i := strings.LastIndex(string(b), ") ")
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * (time.Second / 100)
}

func report(err error, name, phase string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: first error: %v\n", name, phase, err)
	}
}

// load drives t with b.concurrency keep-alive clients for d, or until
// b.maxRequests requests were sent. A request in flight at the deadline
// completes and counts; the elapsed time runs until the last one ends.
func (b bench) load(t *target, d time.Duration) result {
	var (
		sent     atomic.Int64
		failed   atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	lats := make([][]time.Duration, b.concurrency)
	start := time.Now()
	deadline := start.Add(d)
	for w := range b.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, t.url, nil)
			req.Header.Set("X-API-Key", apiKey)
			req.Header.Set("Accept", "application/json")
			own := make([]time.Duration, 0, 1<<14)
			for sent.Add(1) <= b.maxRequests {
				t0 := time.Now()
				if !t0.Before(deadline) {
					sent.Add(-1)
					break
				}
				err := do(t.client, req)
				own = append(own, time.Since(t0))
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
				}
			}
			lats[w] = own
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lats...)
	slices.Sort(all)
	return result{requests: int64(len(all)), errors: failed.Load(), firstErr: firstErr, elapsed: elapsed, lats: all}
}

// do sends req and reads the whole response; a non-2xx status is an error.
func do(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// probe checks that t answers 200 with the upstream's body.
func probe(t *target) error {
	req, _ := http.NewRequest(http.MethodGet, t.url, nil)
	req.Header.Set("X-API-Key", apiKey)
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(got) != string(body) {
		return fmt.Errorf("probe: status %d, body %q", resp.StatusCode, got)
	}
	return nil
}

func newClient(concurrency int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        2 * concurrency,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// startUpstream serves body on a loopback port.
func startUpstream() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	size := fmt.Sprint(len(body))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Content-Length"] = []string{size}
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// startBare serves a plain ReverseProxy to upstream on a loopback port.
func startBare(upstream string, concurrency int) (string, func(), error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return "", nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: max(256, 2*concurrency),
			IdleConnTimeout:     90 * time.Second,
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// guardConfig has limits that apply to every request but never throttle:
// per client IP and per API key (a known key, so identity is a hash
// lookup), and the default shape's in-flight cap per key. The detectors
// keep the shipped defaults and run on every request, but risk is in
// shadow mode: one client at thousands of requests a second is what the
// volumetric detector exists to catch, and here it must only be measured.
// State files and events go to the temporary directory.
const guardConfig = `# proxybench: limits that apply to every request and never throttle.
access_log: %s
events: %s
decisions:
  path: %s
risk:
  mode: shadow
identity:
  api_key:
    header: X-API-Key
    keys:
      - {id: proxybench, sha256: %s, plan: bench}
limits:
  - {name: per-ip, key: [ip], rate: 1000000/s, burst: 100000000}
  - {name: per-api-key, key: [api_key], rate: 1000000/s, burst: 100000000}
  - {name: api-key-concurrency, key: [api_key], concurrency: 100000}
`

// startGuard runs abuseguard's serve path in-process, proxying to
// upstream, and returns its URL once both listeners are bound.
func startGuard(ctx context.Context, dir, name, upstream, accessLog string) (string, func(), error) {
	sum := sha256.Sum256([]byte(apiKey))
	file := filepath.Join(dir, name+".yaml")
	cfg := fmt.Sprintf(guardConfig, quoteYAML(accessLog), quoteYAML(filepath.Join(dir, name+".events")),
		quoteYAML(filepath.Join(dir, name+".db")), hex.EncodeToString(sum[:]))
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, serve.Options{
			ConfigFile:  file,
			Upstream:    upstream,
			Listen:      "127.0.0.1:0",
			AdminListen: "127.0.0.1:0",
			Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Ready:       func(proxy, _ net.Addr) { ready <- "http://" + proxy.String() },
		})
	}()
	select {
	case u := <-ready:
		return u, func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("serve returned before it was ready")
		}
		return "", nil, fmt.Errorf("%s: %w", name, err)
	case <-time.After(10 * time.Second):
		cancel()
		return "", nil, fmt.Errorf("%s: not ready after 10s", name)
	}
}

func quoteYAML(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

func (b bench) markdown(targets []*target, results [][]result, sizes map[string]int64) string {
	var s strings.Builder
	fmt.Fprintf(&s, "## proxybench\n\n")
	fmt.Fprintf(&s, "%s %s/%s, GOMAXPROCS=%d (%d CPUs); client, proxies and upstream share one process.\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(&s, "Concurrency %d keep-alive connections; %v measured (after %v warm-up) per target per round; %d rounds; "+
		"at most %d requests per run. Upstream: %d-byte JSON.\n\n",
		b.concurrency, b.duration, b.warmup, b.rounds, b.maxRequests, len(body))
	for _, t := range targets {
		fmt.Fprintf(&s, "- **%s**: %s\n", t.name, t.desc)
	}
	fmt.Fprintf(&s, "- written: access log of guard+log %s, events of guard %s and of guard+log %s\n",
		mib(sizes["access.log"]), mib(sizes["guard.events"]), mib(sizes["guard-log.events"]))
	s.WriteString("\nCPU µs/req is the whole process's CPU time (client, proxy and upstream) per request; " +
		"other load on the machine moves it far less than req/s. CPU ratio is bare's CPU µs/req over the guard's: " +
		"about the throughput ratio when the CPU is the bottleneck, as here.\n")
	s.WriteString("\n| round | target | requests | req/s | p50 ms | p99 ms | CPU µs/req | errors |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for round, rs := range results {
		for i, r := range rs {
			fmt.Fprintf(&s, "| %d | %s | %d | %.0f | %s | %s | %s | %d |\n", round+1, targets[i].name, r.requests,
				r.rps(), ms(r.quantile(0.50)), ms(r.quantile(0.99)), us(r.cpuPerRequest()), r.errors)
		}
	}
	fmt.Fprintf(&s, "\n| round | target | throughput guard/bare | added p99 ms | CPU ratio | added CPU µs/req |\n|---|---|---:|---:|---:|---:|\n")
	ratios := make([][]float64, len(targets))
	cpuRatios := make([][]float64, len(targets))
	added := make([][]time.Duration, len(targets))
	addedCPU := make([][]time.Duration, len(targets))
	for round, rs := range results {
		bare := rs[0]
		for i := 1; i < len(rs); i++ {
			ratio := rs[i].rps() / bare.rps()
			add := rs[i].quantile(0.99) - bare.quantile(0.99)
			cpuRatio := float64(bare.cpuPerRequest()) / float64(max(1, rs[i].cpuPerRequest()))
			addCPU := rs[i].cpuPerRequest() - bare.cpuPerRequest()
			ratios[i] = append(ratios[i], ratio)
			added[i] = append(added[i], add)
			cpuRatios[i] = append(cpuRatios[i], cpuRatio)
			addedCPU[i] = append(addedCPU[i], addCPU)
			fmt.Fprintf(&s, "| %d | %s | %.3f | %s | %.3f | %s |\n", round+1, targets[i].name, ratio, signedMs(add),
				cpuRatio, signedUs(addCPU))
		}
	}
	fmt.Fprintf(&s, "\n**Median across %d rounds** (targets: throughput ratio >= %.2f, added p99 <= %s):\n\n", b.rounds, minRatio, maxAdded)
	s.WriteString("| target | throughput guard/bare | | (range) | added p99 ms | | (range) | CPU ratio | (range) | added CPU µs/req |\n" +
		"|---|---:|---|---|---:|---|---|---:|---|---:|\n")
	for i := 1; i < len(targets); i++ {
		ratio, add := median(ratios[i]), median(added[i])
		fmt.Fprintf(&s, "| %s | %.3f | %s | %.3f – %.3f | %s | %s | %s – %s | %.3f | %.3f – %.3f | %s |\n",
			targets[i].name, ratio, verdict(ratio >= minRatio), slices.Min(ratios[i]), slices.Max(ratios[i]),
			signedMs(add), verdict(add <= maxAdded), signedMs(slices.Min(added[i])), signedMs(slices.Max(added[i])),
			median(cpuRatios[i]), slices.Min(cpuRatios[i]), slices.Max(cpuRatios[i]), signedUs(median(addedCPU[i])))
	}
	s.WriteString("\nA wide range means other load on the machine moved the rounds apart; rerun with more, shorter " +
		"rounds (e.g. -rounds 9 -duration 2s) and trust the CPU ratio more than the throughput ratio.\n")
	return s.String()
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func median[T float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

func signedMs(d time.Duration) string { return fmt.Sprintf("%+.3f", float64(d)/1e6) }

func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e3) }

func signedUs(d time.Duration) string { return fmt.Sprintf("%+.1f", float64(d)/1e3) }
