// Command soak runs abuseguard's serve, as its own process, under steady
// load on loopback for a long time, reloading its config every minute,
// and checks that it holds: resident memory and goroutines stay flat and
// no request is dropped.
//
//	go run ./tools/soak [-duration 30m] [-rate 300] [-reload-every 1m] [-clients 64]
//
// It builds the binary, starts a small upstream in this process and serve
// in front of it, and sends -rate requests a second from -clients loopback
// addresses (GETs and small POSTs over keep-alive connections, with a new
// connection every so often). Every -reload-every it changes the config
// file (a limit's rate flips between two values; the file watch reloads)
// or, every fifth time, sends SIGHUP; every fifth reload writes a config
// that does not load, which must be refused with the last good config
// kept. Every 10s it samples the process's RSS
// (/proc/PID/status) and go_goroutines (/metrics).
//
// Requests the pacer could not hand to an idle client are counted as not
// sent (the machine or the guard could not keep the rate up), apart from
// dropped ones. It passes when every request sent got a 200 from the upstream (a transport
// error, a timeout or any other status is a dropped request), every good
// reload succeeded and every bad one failed, and, past the first two
// minutes of warm-up, the last fifth of the samples is within 25% (RSS)
// and 25% plus 20 (goroutines) of the first fifth (judged only with at
// least 10 samples past the warm-up). It prints the samples
// and a summary as Markdown, and exits 1 on a failure. Linux only (RSS is
// read from /proc).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	duration := flag.Duration("duration", 30*time.Minute, "how long to run")
	rate := flag.Int("rate", 300, "requests a second")
	reloadEvery := flag.Duration("reload-every", time.Minute, "time between reloads")
	clients := flag.Int("clients", 64, "client addresses (127.0.4.x)")
	sample := flag.Duration("sample", 10*time.Second, "time between samples")
	flag.Parse()
	if err := run(*duration, *rate, *reloadEvery, *clients, *sample); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// config is the soak's config; limit is the per-ip rate, which reloads
// flip. Limits are far above the load, and risk is in shadow (the
// detectors run and decisions are recorded, but none acts: the paced,
// id-walking load looks like a scraper), so no request is refused.
func config(limit int) string {
	return fmt.Sprintf(`access_log: off
events: off
decisions: {path: decisions.db}
risk: {mode: shadow}
routes:
  - {name: items, match: "GET /v1/items/{id}"}
  - {name: orders, match: "POST /v1/orders"}
limits:
  - {name: per-ip, key: [ip], rate: %d/m, burst: %d}
  - {name: per-route, key: [route], rate: 1000000/m, burst: 100000}
`, limit, limit)
}

const badConfig = "limits:\n  - {name: per-ip, key: [planet], rate: 5/m}\n"

// warmup is how long connections and pools take to reach their working
// size; samples before it are not judged.
const warmup = 2 * time.Minute

type sampleRow struct {
	at         time.Duration
	rss        int64 // KiB
	goroutines int
	sent, ok   int64
}

func run(duration time.Duration, rate int, reloadEvery time.Duration, clients int, sampleEvery time.Duration) error {
	dir, err := os.MkdirTemp("", "abuseguard-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "abuseguard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/abuseguard")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"item-0042","name":"soak","price":1999}`+"\n")
	}))
	defer up.Close()

	cfgFile := filepath.Join(dir, "soak.yaml")
	if err := os.WriteFile(cfgFile, []byte(config(600000)), 0o600); err != nil {
		return err
	}
	listen, admin := freeAddr(), freeAddr()
	cmd := exec.Command(bin, "serve", "--config", cfgFile, "--upstream", up.URL, "--listen", listen, "--admin-listen", admin)
	cmd.Dir = dir
	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	if err := waitReady("http://" + admin + "/readyz"); err != nil {
		return err
	}
	fmt.Printf("soak: serve pid %d on %s (admin %s), %d req/s from %d clients for %v, reload every %v\n\n",
		cmd.Process.Pid, listen, admin, rate, clients, duration, reloadEvery)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var sent, ok atomic.Int64
	var mu sync.Mutex
	failures := map[string]int{}
	fail := func(why string) {
		mu.Lock()
		failures[why]++
		mu.Unlock()
	}
	jobs := make(chan int, rate)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client(c, "http://"+listen, jobs, &sent, &ok, fail)
		}()
	}
	var unsent atomic.Int64
	go func() { // pace: rate requests a second by the clock, checked every 10ms
		defer close(jobs)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		began := time.Now()
		n := int64(0)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				due := int64(time.Since(began).Seconds() * float64(rate))
				for ; n < due; n++ {
					select {
					case jobs <- int(n):
					default: // every client is busy: the request is not sent
						unsent.Add(1)
					}
				}
			}
		}
	}()

	start := time.Now()
	var rows []sampleRow
	reloads, badReloads := 0, 0
	reloadTick := time.NewTicker(reloadEvery)
	sampleTick := time.NewTicker(sampleEvery)
	defer reloadTick.Stop()
	defer sampleTick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-reloadTick.C:
			// Each reload is one file change (seen by the file watch) or
			// one SIGHUP, never both: one reload attempt each.
			reloads++
			switch reloads % 5 {
			case 0:
				badReloads++
				writeConfig(cfgFile, badConfig)
			case 2: // the file is good again since reload 1 of 5
				_ = cmd.Process.Signal(syscall.SIGHUP)
			default:
				writeConfig(cfgFile, config(600000+1000*(reloads%2)))
			}
		case <-sampleTick.C:
			g, _ := metric("http://"+admin+"/metrics", "go_goroutines")
			rows = append(rows, sampleRow{at: time.Since(start).Round(time.Second), rss: rssKiB(cmd.Process.Pid), goroutines: int(g),
				sent: sent.Load(), ok: ok.Load()})
			r := rows[len(rows)-1]
			fmt.Printf("%8v  rss %7d KiB  goroutines %4d  requests %9d  ok %9d\n", r.at, r.rss, r.goroutines, r.sent, r.ok)
		}
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the last reload finish
	okReloads, _ := metric("http://"+admin+"/metrics", `abuseguard_config_reloads_total{result="ok"}`)
	failedReloads, _ := metric("http://"+admin+"/metrics", `abuseguard_config_reloads_total{result="failed"}`)

	var problems []string
	dropped := sent.Load() - ok.Load()
	if dropped != 0 || len(failures) != 0 {
		problems = append(problems, fmt.Sprintf("%d requests dropped: %v", dropped, failures))
	}
	if int(okReloads) != reloads-badReloads || int(failedReloads) != badReloads {
		problems = append(problems, fmt.Sprintf("reloads: %v ok and %v failed, want %d and %d", okReloads, failedReloads, reloads-badReloads, badReloads))
	}
	rssGrowth, gGrowth := flat(rows, warmup)
	first, last := fifths(rows, warmup)
	judged := 0
	for _, r := range rows {
		if r.at >= warmup {
			judged++
		}
	}
	switch {
	case judged < 10:
		fmt.Printf("\nsoak: %d samples after the %v warm-up: too short a run to judge RSS and goroutines\n", judged, warmup)
	case rssGrowth > 1.25:
		problems = append(problems, fmt.Sprintf("RSS grew %.0f%%", 100*(rssGrowth-1)))
	}
	if judged >= 10 && last.goroutines > first.goroutines*5/4+20 {
		problems = append(problems, fmt.Sprintf("goroutines grew from %d to %d", first.goroutines, last.goroutines))
	}
	fmt.Printf("\n| measure | result |\n|---|---|\n")
	fmt.Printf("| duration | %v at %d req/s, %d clients |\n", duration, rate, clients)
	fmt.Printf("| requests | %d sent, %d ok, %d dropped; %d not sent (all %d clients busy: the rate was not reached) |\n",
		sent.Load(), ok.Load(), dropped, unsent.Load(), clients)
	fmt.Printf("| reloads | %d (%d with a bad config): %v ok, %v failed as they should |\n", reloads, badReloads, okReloads, failedReloads)
	fmt.Printf("| RSS | first fifth %d KiB, last fifth %d KiB (x%.2f) |\n", first.rss, last.rss, rssGrowth)
	fmt.Printf("| goroutines | first fifth %d, last fifth %d (x%.2f) |\n", first.goroutines, last.goroutines, gGrowth)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Println("\nsoak: PASS")
	return nil
}

// client sends the requests it is given from its own loopback address,
// over keep-alive connections; every 200th request it starts a new one.
func client(c int, base string, jobs <-chan int, sent, ok *atomic.Int64, fail func(string)) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 4, byte(1+c%250))}
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}).DialContext, MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for n := range jobs {
		sent.Add(1)
		var resp *http.Response
		var err error
		if n%4 == 3 {
			resp, err = hc.Post(base+"/v1/orders", "application/json", strings.NewReader(`{"item":42,"quantity":1}`))
		} else {
			resp, err = hc.Get(base + "/v1/items/" + strconv.Itoa(n%1000))
		}
		if err != nil {
			fail("transport: " + errors.Unwrap(err).Error())
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			fail("status " + strconv.Itoa(resp.StatusCode))
			continue
		}
		ok.Add(1)
		if n%200 == 0 {
			tr.CloseIdleConnections()
		}
	}
}

// fifths returns the mean of the first and the last fifth of the rows
// after warm-up.
func fifths(rows []sampleRow, warmup time.Duration) (first, last sampleRow) {
	var kept []sampleRow
	for _, r := range rows {
		if r.at >= warmup {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		kept = rows
	}
	if len(kept) == 0 {
		return
	}
	n := max(1, len(kept)/5)
	mean := func(rs []sampleRow) sampleRow {
		var m sampleRow
		for _, r := range rs {
			m.rss += r.rss
			m.goroutines += r.goroutines
		}
		m.rss /= int64(len(rs))
		m.goroutines /= len(rs)
		return m
	}
	return mean(kept[:n]), mean(kept[len(kept)-n:])
}

// flat returns the growth ratios (last fifth / first fifth) of RSS and
// goroutines after warm-up.
func flat(rows []sampleRow, warmup time.Duration) (rss, goroutines float64) {
	first, last := fifths(rows, warmup)
	if first.rss == 0 || first.goroutines == 0 {
		return 1, 1
	}
	return float64(last.rss) / float64(first.rss), float64(last.goroutines) / float64(first.goroutines)
}

// rssKiB reads VmRSS of pid, 0 when it cannot.
func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// metric returns the value of the series (name and labels exactly as
// exposed) on a Prometheus text endpoint.
func metric(url, series string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil
}

// writeConfig replaces the config file in one rename, as editors and
// config management do.
func writeConfig(path, data string) {
	if err := os.WriteFile(path+".tmp", []byte(data), 0o600); err == nil {
		_ = os.Rename(path+".tmp", path)
	}
}

func waitReady(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("serve did not become ready in 30s")
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
