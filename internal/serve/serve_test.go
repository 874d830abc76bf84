package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
)

// wait bounds every wait for the process under test: a server to start, a
// reload to happen, Run to return.
const wait = 10 * time.Second

// instance is one Run in this process.
type instance struct {
	proxy, admin string     // base URLs
	reloaded     chan error // one value per reload attempt
	client       *http.Client

	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
	runErr  error
}

// start runs Run with opts on loopback ports and returns once both
// listeners are bound. Run is stopped, and must return nil, when the test
// ends.
func start(t *testing.T, opts Options) *instance {
	t.Helper()
	t.Chdir(t.TempDir()) // the default decisions.path is relative
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.AdminListen == "" {
		opts.AdminListen = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	in := &instance{reloaded: make(chan error, 64), done: make(chan error, 1)}
	opts.Reloaded = func(err error) {
		select {
		case in.reloaded <- err:
		default:
			panic("more than 64 reloads")
		}
	}
	ready := make(chan [2]net.Addr, 1)
	opts.Ready = func(p, a net.Addr) { ready <- [2]net.Addr{p, a} }
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- Run(ctx, opts) }()
	select {
	case addrs := <-ready:
		in.proxy, in.admin = "http://"+addrs[0].String(), "http://"+addrs[1].String()
	case err := <-in.done:
		cancel()
		t.Fatalf("Run returned before Ready: %v", err)
	case <-time.After(wait):
		cancel()
		t.Fatal("Run did not call Ready")
	}
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 64}
	in.client = &http.Client{Transport: tr, Timeout: wait}
	t.Cleanup(func() {
		if err := in.stop(t); err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		tr.CloseIdleConnections()
	})
	return in
}

// stop cancels Run's context and returns what Run returned.
func (in *instance) stop(t *testing.T) error {
	t.Helper()
	in.stopped.Do(func() {
		in.cancel()
		select {
		case in.runErr = <-in.done:
		case <-time.After(wait):
			in.runErr = errors.New("Run did not return after its context ended")
		}
	})
	return in.runErr
}

// get fetches url and returns the status and body.
func (in *instance) get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := in.client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// statuses sends n requests through the proxy, one after another, and
// returns their statuses.
func (in *instance) statuses(t *testing.T, n int) []int {
	t.Helper()
	codes := make([]int, n)
	for i := range codes {
		codes[i], _, _ = in.get(t, in.proxy+"/v1/things")
	}
	return codes
}

// waitReload returns the error of the next reload attempt.
func (in *instance) waitReload(t *testing.T) error {
	t.Helper()
	select {
	case err := <-in.reloaded:
		return err
	case <-time.After(wait):
		t.Fatal("no reload within", wait)
		return nil
	}
}

// metric returns the value of the sample named series (name and labels
// exactly as exposed) on /metrics, and false when it is absent.
func (in *instance) metric(t *testing.T, series string) (string, bool) {
	t.Helper()
	code, _, body := in.get(t, in.admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v, true
		}
	}
	return "", false
}

// newUpstream returns the URL of a loopback API that answers 200 "hi".
func newUpstream(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hi")
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// writeFile writes data to path through a temporary file and a rename,
// the way editors and config management do, so a reload never reads a
// half-written file.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// perIP is a config with one per-ip limit of rate/m and burst rate.
func perIP(rate int) string {
	return fmt.Sprintf(`# quickstart
access_log: off
limits:
  - name: per-ip
    key: [ip]
    rate: %d/m
    burst: %d
`, rate, rate)
}

// wantLimit checks that the proxy lets exactly n requests through, then
// throttles, and that it advertises a policy of n per minute.
func wantLimit(t *testing.T, in *instance, n int) {
	t.Helper()
	_, h, _ := in.get(t, in.proxy+"/v1/things")
	if got, want := h.Get("RateLimit-Policy"), fmt.Sprintf(`"per-ip";q=%d;w=60`, n); got != want {
		t.Errorf("RateLimit-Policy = %q, want %q", got, want)
	}
	codes := in.statuses(t, n)
	for i, c := range codes {
		want := http.StatusOK
		if i == n-1 {
			want = http.StatusTooManyRequests
		}
		if c != want {
			t.Errorf("statuses with a limit of %d = %v, want %d allowed, then 429", n, append([]int{200}, codes...), n)
			return
		}
	}
}

func TestRunOnEmbeddedDefaults(t *testing.T) {
	in := start(t, Options{Upstream: newUpstream(t)})

	code, h, body := in.get(t, in.proxy+"/hello")
	if code != http.StatusOK || body != "hi" {
		t.Errorf("proxied GET: %d %q", code, body)
	}
	if got, want := h.Get("RateLimit-Policy"), `"per-ip";q=200;w=10`; got != want {
		t.Errorf("RateLimit-Policy = %q, want the default per-ip limit %q", got, want)
	}
	for _, tt := range []struct {
		path, body string
	}{{"/healthz", "ok\n"}, {"/readyz", "ready\n"}} {
		if code, _, body := in.get(t, in.admin+tt.path); code != http.StatusOK || body != tt.body {
			t.Errorf("%s: %d %q, want 200 %q", tt.path, code, body, tt.body)
		}
	}
	for series, want := range map[string]string{
		`abuseguard_requests_total{action="allow",mode="",route="unmatched",rule=""}`: "1",
		`abuseguard_config_reloads_total{result="failed"}`:                            "0",
		`abuseguard_config_last_reload_successful`:                                    "1",
		`abuseguard_state_keys`:                                                       "1",
		`abuseguard_decision_seconds_count`:                                           "1",
		`abuseguard_upstream_seconds_count`:                                           "1",
	} {
		if got, ok := in.metric(t, series); !ok || got != want {
			t.Errorf("/metrics %s = %q (present %v), want %s", series, got, ok, want)
		}
	}
	if _, ok := in.metric(t, "go_goroutines"); !ok {
		t.Error("/metrics lacks the Go runtime metrics")
	}
}

func TestReloadOnFileChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "abuseguard.yaml")
	writeFile(t, path, perIP(5))
	clk := clock.NewFake(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	in := start(t, Options{ConfigFile: path, Upstream: newUpstream(t), Now: clk.Now})
	wantLimit(t, in, 5)

	// A valid change applies. Run watches the file before it calls Ready,
	// so one write is enough.
	writeFile(t, path, perIP(2))
	if err := in.waitReload(t); err != nil {
		t.Fatalf("reload of a valid config: %v", err)
	}
	clk.Advance(time.Hour) // a fresh window, so only the new limit counts
	wantLimit(t, in, 2)

	// An invalid change is refused: the last good config keeps serving.
	writeFile(t, path, "limits:\n  - name: per-ip\n    key: [ip]\n    rate: 5/fortnight\n")
	err := in.waitReload(t)
	if err == nil {
		t.Fatal("reload of an invalid config succeeded")
	}
	if want := path + ":4:11: limits[0].rate"; !strings.Contains(err.Error(), want) {
		t.Errorf("reload error %q, want it to name %s", err, want)
	}
	clk.Advance(time.Hour)
	wantLimit(t, in, 2)
	for series, want := range map[string]string{
		`abuseguard_config_reloads_total{result="failed"}`: "1",
		`abuseguard_config_last_reload_successful`:         "0",
	} {
		if got, ok := in.metric(t, series); !ok || got != want {
			t.Errorf("/metrics %s = %q (present %v), want %s", series, got, ok, want)
		}
	}
	if got, _ := in.metric(t, `abuseguard_config_reloads_total{result="ok"}`); got == "0" || got == "" {
		t.Errorf(`abuseguard_config_reloads_total{result="ok"} = %q, want at least 1`, got)
	}

	// Fixing the file recovers.
	writeFile(t, path, perIP(3))
	if err := in.waitReload(t); err != nil {
		t.Fatalf("reload of the fixed config: %v", err)
	}
	if got, _ := in.metric(t, `abuseguard_config_last_reload_successful`); got != "1" {
		t.Errorf("abuseguard_config_last_reload_successful = %q after a good reload, want 1", got)
	}
	clk.Advance(time.Hour)
	wantLimit(t, in, 3)
}

// guardSIGHUP keeps SIGHUP from ending the test process while Run's own
// handler is not installed, and returns the signals it sees.
func guardSIGHUP(t *testing.T) chan os.Signal {
	t.Helper()
	c := make(chan os.Signal, 16)
	signal.Notify(c, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(c) })
	return c
}

func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	guardSIGHUP(t)
	// The config is a symlink into another directory: editing its target
	// makes no event where Run watches, so only SIGHUP can pick it up.
	real := filepath.Join(t.TempDir(), "real.yaml")
	writeFile(t, real, perIP(5))
	path := filepath.Join(t.TempDir(), "abuseguard.yaml")
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	in := start(t, Options{ConfigFile: path, Upstream: newUpstream(t), Now: clk.Now})
	wantLimit(t, in, 5)

	writeFile(t, real, perIP(2))
	// Run's handler is installed before Ready (TestReloadSignalRightAfterReady),
	// so one signal is enough.
	hup(t)
	if err := in.waitReload(t); err != nil {
		t.Fatalf("SIGHUP reload: %v", err)
	}
	clk.Advance(time.Hour)
	wantLimit(t, in, 2)
}

// TestReloadSignalRightAfterReady sends SIGHUP from the Ready callback:
// once Ready says the server is up, a SIGHUP must reload, not be lost (or,
// without another handler in the process, kill it).
func TestReloadSignalRightAfterReady(t *testing.T) {
	guard := guardSIGHUP(t)
	t.Chdir(t.TempDir()) // the default decisions.path is relative
	path := filepath.Join(t.TempDir(), "abuseguard.yaml")
	writeFile(t, path, perIP(5))
	reloaded := make(chan error, 16)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		done <- Run(ctx, Options{
			ConfigFile: path, Upstream: newUpstream(t), Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			Logger: slog.New(slog.DiscardHandler),
			Ready: func(net.Addr, net.Addr) {
				hup(t)
				<-guard // the signal has been delivered
			},
			Reloaded: func(err error) { reloaded <- err },
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case err := <-reloaded:
		if err != nil {
			t.Errorf("reload: %v", err)
		}
	case err := <-done:
		t.Fatalf("Run returned %v", err)
	case <-time.After(2 * time.Second): // a reload takes well under a millisecond
		t.Error("the SIGHUP sent once Ready was called did not reload")
	}
}

func TestGracefulShutdown(t *testing.T) {
	const n = 20
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "done")
	}))
	t.Cleanup(slow.Close)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before slow.Close when the test fails early

	draining := make(chan struct{})
	in := start(t, Options{Upstream: slow.URL, Logger: slog.New(logWatch{"shutting down", draining, new(sync.Once)})})
	type result struct {
		code int
		body string
		err  error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			resp, err := in.client.Get(in.proxy + "/slow")
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			results <- result{resp.StatusCode, string(body), err}
		}()
	}
	for i := range n {
		select {
		case <-arrived:
		case <-time.After(wait):
			t.Fatalf("only %d of %d requests reached the upstream", i, n)
		}
	}

	// Every request is in flight at the upstream: shut down.
	stopped := make(chan error, 1)
	go func() { stopped <- in.stop(t) }()

	// While draining, /readyz says so, so load balancers stop sending. Run
	// logs that it is shutting down once it has marked itself draining.
	select {
	case <-draining:
	case <-time.After(wait):
		t.Fatal("Run did not log that it is shutting down")
	}
	if code, _, _ := in.get(t, in.admin+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d while draining, want 503", code)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned %v with %d requests in flight", err, n)
	default:
	}

	unblock()
	for range n {
		select {
		case r := <-results:
			if r.err != nil || r.code != http.StatusOK || r.body != "done" {
				t.Errorf("in-flight request: %d %q %v; want 200 \"done\"", r.code, r.body, r.err)
			}
		case <-time.After(wait):
			t.Fatal("an in-flight request did not complete")
		}
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Run returned %v after draining, want nil", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after draining")
	}
	if _, err := in.client.Get(in.proxy + "/after"); err == nil {
		t.Error("the proxy still accepts requests after Run returned")
	}
}

// logWatch is a slog.Handler that drops every record and closes seen at the
// first whose message starts with prefix, so a test can wait for what Run
// says it has done.
type logWatch struct {
	prefix string
	seen   chan struct{}
	once   *sync.Once
}

func (h logWatch) Enabled(context.Context, slog.Level) bool { return true }

func (h logWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}

func (h logWatch) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logWatch) WithGroup(string) slog.Handler      { return h }

var _ slog.Handler = logWatch{}

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // the default decisions.path is relative
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "limits:\n  - name: per-ip\n    key: [ip, colour]\n    rate: 5/m\n    burts: 3\n")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })

	tests := []struct {
		name string
		opts Options
		want []string // regexps the error must match
	}{{
		name: "config with errors",
		opts: Options{ConfigFile: bad, Upstream: "http://127.0.0.1:1"},
		want: []string{
			regexp.QuoteMeta(bad) + `:3:15: limits\[0\]\.key\[1\]: unknown dimension "colour"`,
			regexp.QuoteMeta(bad) + `:5:5: limits\[0\]: unknown field "burts"`,
		},
	}, {
		name: "missing config file",
		opts: Options{ConfigFile: filepath.Join(dir, "nope.yaml"), Upstream: "http://127.0.0.1:1"},
		want: []string{`nope\.yaml`},
	}, {
		name: "no upstream",
		opts: Options{},
		want: []string{`--upstream`},
	}, {
		name: "bad upstream flag",
		opts: Options{Upstream: "ftp://files.example"},
		want: []string{`^--upstream: .*ftp://files\.example`},
	}, {
		name: "listen address in use",
		opts: Options{Upstream: "http://127.0.0.1:1", Listen: busy.Addr().String()},
		want: []string{`^proxy listen: `},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Listen = cmpOr(opts.Listen, "127.0.0.1:0")
			opts.AdminListen = "127.0.0.1:0"
			opts.Logger = slog.New(slog.DiscardHandler)
			opts.Ready = func(net.Addr, net.Addr) { t.Error("Ready called for a config that does not load") }
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			err := Run(ctx, opts)
			if err == nil {
				t.Fatal("Run returned nil")
			}
			if ctx.Err() != nil {
				t.Fatalf("Run returned only when its context ended: %v", err)
			}
			for _, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(err.Error()) {
					t.Errorf("error %q does not match %s", err, re)
				}
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestAccessLogAndEventsToOneFile sends concurrent requests through a
// guard whose access log and events name one file, each request making
// one access line and, past the first, one would_act event of a shadow
// limit, and checks that every line of the file parses and none is lost.
func TestAccessLogAndEventsToOneFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "all.jsonl")
	cfg := filepath.Join(dir, "abuseguard.yaml")
	writeFile(t, cfg, fmt.Sprintf(`access_log: %[1]q
events: %[1]q
limits:
  - name: per-ip
    key: [ip]
    rate: 1/m
    burst: 1
    mode: shadow
# 1,200 requests walking ids from one address are a scraper; this test is
# about the log, so nothing but the shadow limit acts.
detectors:
  scraping: {mode: off}
`, out))
	in := start(t, Options{ConfigFile: cfg, Upstream: newUpstream(t)})
	const clients, perClient = 8, 150
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				// Long paths make long lines, so batches fill up mid-stream.
				resp, err := in.client.Get(fmt.Sprintf("%s/v1/%d/%d/%s", in.proxy, c, i, strings.Repeat("x", (c*131+i*977)%3000)))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if err := in.stop(t); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var access, events int
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		var doc struct {
			RequestID string `json:"request_id"`
			Timestamp string `json:"@timestamp"`
			Event     struct {
				Action string `json:"action"`
			} `json:"event"`
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("line %d is torn: %v: %.100s", n, err, line)
		}
		switch {
		case doc.RequestID != "":
			access++
		case doc.Event.Action == "would_act":
			events++
		}
	}
	if access != clients*perClient || events != clients*perClient-1 {
		t.Errorf("%d access lines and %d would_act events, want %d and %d", access, events, clients*perClient, clients*perClient-1)
	}
}
