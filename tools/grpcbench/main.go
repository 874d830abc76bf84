// Command grpcbench measures the gateway fronts' gRPC throughput and CPU:
// the rate limit service (ShouldRateLimit) and ext_authz (Check), with 1
// and 5 descriptors over distinct keys, on the memory store.
//
//	go run ./tools/grpcbench [-target rls|extauthz|both] [-keys 100000] [-concurrency 16] [-duration 5s] [-rounds 3]
//
// The server runs in a child process (this program with -serve), so its
// CPU time is measured apart from the client's: CPU per request is the
// child's user+system time over the requests it answered in the measured
// window (read from /proc). The client is closed-loop: -concurrency
// workers over one HTTP/2 connection each send the next request when the
// previous one is answered, each to a key drawn uniformly from -keys. It
// prints a Markdown table (median over rounds of req/s, p50, p99 and µs of
// server CPU per request) against the targets of issue 12: at least 3x
// envoyproxy/ratelimit's 5.0k req/s (1 descriptor) and 4.3k (5), at most
// 60 µs of CPU per request. All traffic stays on 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	commonpb "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	authpb "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rlpb "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/extauthz"
	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/front/grpcserver"
	"github.com/abuseguard/abuseguard/internal/front/rls"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

// Reference and targets (issue 12).
const (
	refRPS1, refRPS5 = 5000.0, 4300.0
	targetRatio      = 3.0
	targetCPU        = 60.0 // µs per request
)

func main() {
	serve := flag.String("serve", "", "internal: serve this target (rls or extauthz) and print the address")
	target := flag.String("target", "both", "rls, extauthz or both")
	keys := flag.Int("keys", 100000, "distinct keys (descriptor values, client addresses)")
	conc := flag.Int("concurrency", 16, "closed-loop workers")
	duration := flag.Duration("duration", 5*time.Second, "measured time per run")
	rounds := flag.Int("rounds", 3, "rounds (runs alternate within a round)")
	flag.Parse()
	if *serve != "" {
		if err := runServer(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "grpcbench:", err)
			os.Exit(1)
		}
		return
	}
	var runs []run
	for _, t := range []string{"rls", "extauthz"} {
		if *target != "both" && *target != t {
			continue
		}
		for _, n := range []int{1, 5} {
			if t == "extauthz" && n == 5 {
				continue // a Check is one request; descriptors are an RLS notion
			}
			runs = append(runs, run{target: t, descriptors: n})
		}
	}
	results := map[run][]result{}
	for r := range *rounds {
		for _, rn := range runs {
			res, err := measure(rn, *keys, *conc, *duration)
			if err != nil {
				fmt.Fprintln(os.Stderr, "grpcbench:", err)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "round %d %s/%d: %.0f req/s p99 %v cpu %.1fµs/req\n", r+1, rn.target, rn.descriptors, res.rps, res.p99, res.cpuPerReq)
			results[rn] = append(results[rn], res)
		}
	}
	fmt.Printf("| target | descriptors | req/s (median) | vs reference | p50 | p99 | server CPU µs/req | verdict |\n|---|---|---|---|---|---|---|---|\n")
	for _, rn := range runs {
		rs := results[rn]
		rps := median(rs, func(r result) float64 { return r.rps })
		cpu := median(rs, func(r result) float64 { return r.cpuPerReq })
		p50 := time.Duration(median(rs, func(r result) float64 { return float64(r.p50) }))
		p99 := time.Duration(median(rs, func(r result) float64 { return float64(r.p99) }))
		ref := refRPS1
		if rn.descriptors == 5 {
			ref = refRPS5
		}
		verdict := "PASS"
		if rps < targetRatio*ref || cpu > targetCPU {
			verdict = "MISS"
		}
		fmt.Printf("| %s | %d | %.0f | %.1fx | %v | %v | %.1f | %s |\n", rn.target, rn.descriptors, rps, rps/ref,
			p50.Round(time.Microsecond), p99.Round(time.Microsecond), cpu, verdict)
	}
}

type run struct {
	target      string
	descriptors int
}

type result struct {
	rps, cpuPerReq float64
	p50, p99       time.Duration
}

func median(rs []result, f func(result) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

// measure starts a server child for rn and drives it for d.
func measure(rn run, keys, conc int, d time.Duration) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(self, "-serve", rn.target)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return result{}, fmt.Errorf("server did not start: %w", err)
	}
	conn, err := grpc.NewClient(strings.TrimSpace(addr), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	call := caller(rn, conn, keys)

	// Warm up (connections, the store's tables), then measure.
	drive(call, conc, time.Second, nil)
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	lat := make([][]time.Duration, conc)
	start := time.Now()
	n, errs := drive(call, conc, d, lat)
	elapsed := time.Since(start)
	cpu1, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	if errs > 0 {
		return result{}, fmt.Errorf("%s/%d: %d requests failed", rn.target, rn.descriptors, errs)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return result{
		rps:       float64(n) / elapsed.Seconds(),
		cpuPerReq: float64(cpu1-cpu0) / float64(time.Microsecond) / float64(n),
		p50:       all[len(all)/2],
		p99:       all[len(all)*99/100],
	}, nil
}

// caller returns the request function of rn; worker w uses its own rand.
func caller(rn run, conn *grpc.ClientConn, keys int) func(r *rand.Rand) error {
	ctx := context.Background()
	switch rn.target {
	case "rls":
		c := rlpb.NewRateLimitServiceClient(conn)
		return func(r *rand.Rand) error {
			ds := make([]*commonpb.RateLimitDescriptor, rn.descriptors)
			for i := range ds {
				ds[i] = &commonpb.RateLimitDescriptor{Entries: []*commonpb.RateLimitDescriptor_Entry{
					{Key: "key" + strconv.Itoa(i), Value: "v" + strconv.Itoa(r.IntN(keys))}}}
			}
			_, err := c.ShouldRateLimit(ctx, &rlpb.RateLimitRequest{Domain: "bench", Descriptors: ds})
			return err
		}
	default:
		c := authpb.NewAuthorizationClient(conn)
		return func(r *rand.Rand) error {
			k := r.IntN(keys)
			ip := fmt.Sprintf("10.%d.%d.%d", k>>16&255, k>>8&255, k&255)
			resp, err := c.Check(ctx, &authpb.CheckRequest{Attributes: &authpb.AttributeContext{
				Source: &authpb.AttributeContext_Peer{Address: &corepb.Address{Address: &corepb.Address_SocketAddress{
					SocketAddress: &corepb.SocketAddress{Address: ip, PortSpecifier: &corepb.SocketAddress_PortValue{PortValue: 40000}}}}},
				Request: &authpb.AttributeContext_Request{Http: &authpb.AttributeContext_HttpRequest{
					Method: "GET", Path: "/v1/items/" + strconv.Itoa(k), Host: "api.example",
					Headers: map[string]string{"user-agent": "bench/1", "accept": "*/*"}}},
			}})
			if err == nil && resp.GetStatus().GetCode() != 0 {
				err = fmt.Errorf("denied: %v", resp.GetDeniedResponse().GetStatus())
			}
			return err
		}
	}
}

// drive runs conc closed-loop workers for d; with lat set, each records
// its latencies. It returns the requests answered and failed.
func drive(call func(*rand.Rand) error, conc int, d time.Duration, lat [][]time.Duration) (int64, int64) {
	var n, errs atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 12))
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := call(r); err != nil {
					errs.Add(1)
					continue
				}
				if lat != nil {
					lat[w] = append(lat[w], time.Since(t0))
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load(), errs.Load()
}

// cpuTime is the user+system CPU time of process pid.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may hold spaces) start after ") ".
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// benchRLS is the rate limit service's config: five keys, each limited
// per value, far above what a run sends, so every request is counted.
const benchRLS = `domain: bench
descriptors:
  - {key: key0, rate_limit: {unit: second, requests_per_unit: 1000000}}
  - {key: key1, rate_limit: {unit: second, requests_per_unit: 1000000}}
  - {key: key2, rate_limit: {unit: minute, requests_per_unit: 1000000}}
  - {key: key3, rate_limit: {unit: hour, requests_per_unit: 1000000}}
  - {key: key4, rate_limit: {unit: day, requests_per_unit: 1000000}}
`

// benchGuard is the ext_authz server's config: the default limits and
// detectors, with a per-IP rate far above what a run sends.
const benchGuard = `
limits:
  - name: per-ip
    key: [ip]
    rate: 1000000/s
    burst: 1000000
`

func runServer(target string) error {
	store := memory.New(memory.Options{})
	srv := grpcserver.New(grpcserver.Options{})
	switch target {
	case "rls":
		cfg, err := rls.Load([]rls.File{{Name: "bench.yaml", Data: []byte(benchRLS)}}, rls.LoadOptions{})
		if err != nil {
			return err
		}
		srv.Ready(rls.New(cfg, rls.Options{Store: store}).Register(srv.GRPC))
	case "extauthz":
		cfg, err := config.Parse("bench.yaml", []byte(benchGuard))
		if err != nil {
			return err
		}
		pol, err := engine.Compile(cfg, engine.NewShared(engine.Options{Limits: store, RiskEntities: 200000, Getenv: os.Getenv}))
		if err != nil {
			return err
		}
		checker := gateway.New(gateway.Options{Engine: engine.New(pol), Identity: cfg.Fronts.ForwardAuth.IdentityHeaders})
		srv.Ready(extauthz.New(checker).Register(srv.GRPC))
	default:
		return fmt.Errorf("unknown target %q", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	return srv.GRPC.Serve(ln)
}
