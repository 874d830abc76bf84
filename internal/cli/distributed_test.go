package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/store/redis/redistest"
)

// execEnv makes the test binary run the CLI instead of the tests, so the
// distributed tests start real `abuseguard serve` processes without a
// separate build.
const execEnv = "ABUSEGUARD_TEST_EXEC_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		os.Exit(Execute(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// process is one `abuseguard serve` process.
type process struct {
	proxy, admin string
	cmd          *exec.Cmd
	logs         *lockedBuffer
	done         chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) add(s string) {
	l.mu.Lock()
	l.b.WriteString(s)
	l.b.WriteByte('\n')
	l.mu.Unlock()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProcess runs `abuseguard serve` on loopback with config and waits for
// its "abuseguard serving" log line, which names its addresses.
func startProcess(t *testing.T, config, upstream string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", config, "--upstream", upstream,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), execEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &lockedBuffer{}, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.add(line)
			var l struct{ Msg, Listen, Admin string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "abuseguard serving" {
				p.proxy, p.admin = "http://"+l.Listen, "http://"+l.Admin
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("serve exited:\n%s", p.logs)
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("serve did not start:\n%s", p.logs)
	}
	t.Cleanup(p.stop)
	return p
}

// stop ends the process with SIGTERM, as an orchestrator would.
func (p *process) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.cmd.Wait()
}

func (p *process) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// distributedConfig writes a config for nodes sharing one Redis: a single
// limit on the client IP, detectors and risk decisions out of the way, so
// that every refusal is the shared limit's.
func distributedConfig(t *testing.T, addrs []string, mode, onError, timeout, rate string, burst int) string {
	t.Helper()
	quoted := make([]string, len(addrs))
	for i, a := range addrs {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	conf := fmt.Sprintf(`access_log: off
events: off
decisions: {path: ""}
risk: {mode: shadow}
limits:
  - name: shared
    key: [ip]
    rate: %s
    burst: %d
state:
  store: redis
  redis:
    addrs: [%s]
    mode: %s
    on_error: %s
    timeout: %s
    sync_interval: 100ms
`, rate, burst, strings.Join(quoted, ", "), mode, onError, timeout)
	conf += "detectors:\n"
	for _, d := range []string{"honeypot", "probing", "automation", "scraping", "credentials", "enumeration", "sharing", "volumetric", "graphql"} {
		conf += "  " + d + ": {mode: off}\n"
	}
	path := filepath.Join(t.TempDir(), "abuseguard.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load sends requests round robin over nodes from senders goroutines for
// d and counts the answers by status; slowest is the longest answer.
type loadResult struct {
	status  map[int]int
	slowest time.Duration
}

func roundRobin(t *testing.T, nodes []*process, d time.Duration, senders int, pause time.Duration) loadResult {
	t.Helper()
	client := clientFrom("127.0.0.2")
	var next atomic.Uint64
	var mu sync.Mutex
	res := loadResult{status: map[int]int{}}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				n := nodes[next.Add(1)%uint64(len(nodes))]
				start := time.Now()
				resp, err := client.Get(n.proxy + "/")
				took := time.Since(start)
				status := 0
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				res.status[status]++
				res.slowest = max(res.slowest, took)
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	wg.Wait()
	return res
}

func okUpstream(t *testing.T) string {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	t.Cleanup(up.Close)
	return up.URL
}

// TestDistributedSharedLimit: three serve processes on one Redis share a
// limit. The rate is the 100/min scaled to 100 per 6s (burst 2),
// so a 6-second run stands for the minute: strict admits at most 2 + 100,
// on one Redis and on a 3-master cluster; local-first at most its
// documented rate × 2 × interval + nodes more.
func TestDistributedSharedLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process load test")
	}
	for _, tc := range []struct {
		mode         string
		cluster      bool
		bound, least int
	}{
		{"strict", false, 102, 95},
		// rate × 2 × interval + nodes: 16.7/s × 0.2s + 3 = 6.
		{"local-first", false, 102 + 6, 90},
		{"strict", true, 102, 95},
	} {
		name := tc.mode
		if tc.cluster {
			name += "/cluster"
		}
		t.Run(name, func(t *testing.T) {
			var addrs []string
			if tc.cluster {
				addrs = redistest.Addrs(redistest.StartCluster(t, 3))
			} else {
				addrs = []string{redistest.Start(t).Addr}
			}
			// A generous timeout: this test is about sharing, and the
			// machine is shared; TestDistributedRedisKilled is about failure.
			cfg := distributedConfig(t, addrs, tc.mode, "closed", "1s", "100/6s", 2)
			up := okUpstream(t)
			nodes := []*process{startProcess(t, cfg, up), startProcess(t, cfg, up), startProcess(t, cfg, up)}
			res := roundRobin(t, nodes, 6*time.Second, 4, 2*time.Millisecond)
			t.Logf("%s: %v, slowest answer %v", tc.mode, res.status, res.slowest)
			if res.status[200] > tc.bound {
				t.Fatalf("%s admitted %d in 6s of a 100/6s limit shared by 3 nodes, bound %d", tc.mode, res.status[200], tc.bound)
			}
			if res.status[200] < tc.least {
				t.Fatalf("%s admitted only %d of a 100/6s limit", tc.mode, res.status[200])
			}
			if res.status[200]+res.status[429] != total(res.status) {
				t.Fatalf("answers other than 200 and 429: %v", res.status)
			}
		})
	}
}

func total(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestDistributedRedisKilled: Redis killed under load. No answer waits
// long, on_error applies (open: the nodes go on with local limits; closed:
// 503 store_unavailable), a metric and a log line say so, and when Redis
// is back the nodes share the limit again.
func TestDistributedRedisKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process load test")
	}
	for _, onError := range []string{"open", "closed"} {
		t.Run(onError, func(t *testing.T) {
			srv := redistest.Start(t)
			cfg := distributedConfig(t, []string{srv.Addr}, "strict", onError, "50ms", "100/s", 100)
			up := okUpstream(t)
			nodes := []*process{startProcess(t, cfg, up), startProcess(t, cfg, up), startProcess(t, cfg, up)}
			if res := roundRobin(t, nodes, 300*time.Millisecond, 2, 5*time.Millisecond); res.status[200] == 0 {
				t.Fatalf("before the outage: %v", res.status)
			}
			srv.Kill()
			res := roundRobin(t, nodes, time.Second, 2, 5*time.Millisecond)
			t.Logf("during the outage (%s): %v, slowest %v", onError, res.status, res.slowest)
			if res.slowest > time.Second {
				t.Fatalf("an answer took %v with Redis down", res.slowest)
			}
			switch onError {
			case "open":
				if res.status[200] == 0 || res.status[503] != 0 {
					t.Fatalf("open: %v, want local decisions, no 503", res.status)
				}
			case "closed":
				if res.status[503] == 0 || res.status[200] != 0 {
					t.Fatalf("closed: %v, want 503 store_unavailable only", res.status)
				}
			}
			for _, n := range nodes {
				if v := n.metric(t, "abuseguard_redis_available"); v != "0" {
					t.Fatalf("abuseguard_redis_available = %q during the outage", v)
				}
				// What the StoreUnavailable alert reads besides the gauge.
				counter := map[string]string{"open": "abuseguard_redis_fallback_checks_total", "closed": "abuseguard_redis_refused_checks_total"}[onError]
				if v := n.metric(t, counter); v == "" || v == "0" {
					t.Fatalf("%s = %q during the outage, want the checks on_error %s decided", counter, v, onError)
				}
				if !strings.Contains(n.logs.String(), `"msg":"redis unavailable"`) {
					t.Fatalf("no log line for the outage:\n%s", n.logs)
				}
			}
			srv.Restart(t)
			deadline := time.Now().Add(10 * time.Second)
			for _, n := range nodes {
				for n.metric(t, "abuseguard_redis_available") != "1" {
					if time.Now().After(deadline) {
						t.Fatal("a node did not see Redis come back")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			res = roundRobin(t, nodes, 300*time.Millisecond, 2, 5*time.Millisecond)
			if res.status[200] == 0 || res.status[503] != 0 {
				t.Fatalf("after recovery: %v", res.status)
			}
			if n, _ := redistest.Command(srv.Addr, "DBSIZE"); n == "0" {
				t.Fatal("after recovery the limit state is not in Redis")
			}
		})
	}
}

// TestDistributedBlockPropagates: a block made through node A's admin API
// is enforced by B and C within 100ms; a node started afterwards enforces
// it as soon as it is ready.
func TestDistributedBlockPropagates(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	srv := redistest.Start(t)
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "test-token")
	cfg := distributedConfig(t, []string{srv.Addr}, "strict", "open", "50ms", "100/s", 100)
	up := okUpstream(t)
	a, b, c := startProcess(t, cfg, up), startProcess(t, cfg, up), startProcess(t, cfg, up)
	client := clientFrom("127.0.0.9")
	for _, n := range []*process{a, b, c} {
		if status, _ := get(t, client, n.proxy+"/"); status != 200 {
			t.Fatalf("before the block: %d", status)
		}
	}
	req, _ := http.NewRequest("POST", a.admin+"/v1/decisions",
		strings.NewReader(`{"scope":"ip","value":"127.0.0.9","action":"block","ttl":"1h"}`))
	req.Header.Set("Authorization", "Bearer test-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	made := time.Now()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/decisions: %d", resp.StatusCode)
	}
	for name, n := range map[string]*process{"B": b, "C": c} {
		for {
			status, _ := get(t, client, n.proxy+"/")
			if status == http.StatusForbidden {
				took := time.Since(made)
				t.Logf("node %s enforces the block %v after A's admin API answered", name, took)
				if took > 100*time.Millisecond {
					t.Fatalf("node %s took %v to enforce a block made on A", name, took)
				}
				break
			}
			if time.Since(made) > 2*time.Second {
				t.Fatalf("node %s never enforced the block (status %d)", name, status)
			}
		}
	}
	if v := b.metric(t, "abuseguard_redis_decisions_received_total"); v != "1" {
		t.Fatalf("B's abuseguard_redis_decisions_received_total = %q, want 1", v)
	}
	if v := a.metric(t, "abuseguard_redis_decisions_published_total"); v != "1" {
		t.Fatalf("A's abuseguard_redis_decisions_published_total = %q, want 1", v)
	}
	late := startProcess(t, cfg, up)
	if status, _ := get(t, client, late.proxy+"/"); status != http.StatusForbidden {
		t.Fatalf("a node started after the block answered %d", status)
	}
}

// stuffingConfig is a login route with only the credentials and the
// distributed detectors on.
func stuffingConfig(t *testing.T, store, addr string) string {
	t.Helper()
	conf := `access_log: off
events: off
decisions: {path: ""}
routes:
  - {name: login, match: "POST /login", kind: login, field: username}
detectors:
`
	for _, d := range []string{"honeypot", "probing", "automation", "scraping", "enumeration", "sharing", "volumetric", "graphql"} {
		conf += "  " + d + ": {mode: off}\n"
	}
	if store == "redis" {
		conf += fmt.Sprintf("state:\n  store: redis\n  redis: {addrs: [%q], timeout: 1s}\n", addr)
	}
	path := filepath.Join(t.TempDir(), "abuseguard.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// attemptsToFlag sends failed logins on distinct accounts from one IP,
// round robin over nodes, one every 150ms (longer than a sketch flush),
// and returns after how many attempts a decision on that IP exists.
func attemptsToFlag(t *testing.T, nodes []*process) int {
	t.Helper()
	client := clientFrom("127.0.0.30")
	for i := 1; i <= 40; i++ {
		n := nodes[i%len(nodes)]
		resp, err := client.Post(n.proxy+"/login", "application/x-www-form-urlencoded",
			strings.NewReader(fmt.Sprintf("username=victim%d&password=guess", i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		time.Sleep(150 * time.Millisecond)
		req, _ := http.NewRequest("GET", nodes[0].admin+"/v1/decisions", nil)
		req.Header.Set("Authorization", "Bearer test-token")
		dresp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(dresp.Body)
		dresp.Body.Close()
		if strings.Contains(string(body), `"127.0.0.30"`) {
			return i
		}
	}
	t.Fatal("the stuffing was not flagged within 40 attempts")
	return 0
}

// TestDistributedStuffingFlagged: credential stuffing from one IP sent a
// third to each of three nodes is flagged after as many attempts as when
// one node sees it all.
func TestDistributedStuffingFlagged(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "test-token")
	t.Setenv("ABUSEGUARD_SECRET", "a-secret-every-node-shares")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "wrong password", http.StatusUnauthorized)
	}))
	defer upstream.Close()
	one := startProcess(t, stuffingConfig(t, "memory", ""), upstream.URL)
	single := attemptsToFlag(t, []*process{one})
	one.stop()

	srv := redistest.Start(t)
	cfg := stuffingConfig(t, "redis", srv.Addr)
	nodes := []*process{startProcess(t, cfg, upstream.URL), startProcess(t, cfg, upstream.URL), startProcess(t, cfg, upstream.URL)}
	cluster := attemptsToFlag(t, nodes)
	t.Logf("flagged after %d attempts on one node, %d spread over three", single, cluster)
	if cluster > single {
		t.Fatalf("three nodes flagged the stuffing after %d attempts, one node after %d", cluster, single)
	}
}
