package redis_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	redisstore "github.com/abuseguard/abuseguard/internal/store/redis"
	"github.com/abuseguard/abuseguard/internal/store/redis/redistest"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

const benchConfig = `
detectors:
  honeypot: {mode: "off"}
  probing: {mode: "off"}
  automation: {mode: "off"}
  scraping: {mode: "off"}
  credentials: {mode: "off"}
  enumeration: {mode: "off"}
  sharing: {mode: "off"}
  volumetric: {mode: "off"}
  graphql: {mode: "off"}
routes:
  - {name: get-user, match: "GET /v1/users/{id}"}
limits:
  - {name: per-ip, key: [ip], rate: 1000000/s, burst: 1000000}
  - {name: per-key-route, key: [api_key, route], rate: 1000000/s, burst: 1000000}
`

// BenchmarkDecide measures whole decisions (parse, decide, finish) with two
// rate limits per request over each limiter store, with 2 (one per core)
// and 16 decisions in flight: ns/op is the inverse of decisions per
// second for the process; p50 and p99 are the latency of one decision
// (with 16 in flight, queueing for Redis included); calls/op the Redis
// round trips per decision.
//
//	go test -run '^$' -bench Decide -benchtime 3s -count 3 ./internal/store/redis
func BenchmarkDecide(b *testing.B) {
	srv := redistest.Start(b)
	for _, run := range []struct {
		name        string
		parallelism int
	}{{"memory", 1}, {"strict", 1}, {"local-first", 1}, {"memory", 8}, {"strict", 8}, {"local-first", 8}} {
		name := run.name
		b.Run(fmt.Sprintf("%s/inflight=%d", name, 2*run.parallelism), func(b *testing.B) {
			var limits limit.Store = memory.New(memory.Options{})
			var rs *redisstore.Store
			if name != "memory" {
				var err error
				rs, err = redisstore.New(context.Background(), redisstore.Options{Addrs: []string{srv.Addr},
					Mode: redisstore.Mode(name), Timeout: 50 * time.Millisecond, Prefix: "bench:" + name + ":"})
				if err != nil {
					b.Fatal(err)
				}
				defer rs.Close()
				limits = rs
			}
			c, err := config.Parse("bench.yaml", []byte(benchConfig))
			if err != nil {
				b.Fatal(err)
			}
			p, err := engine.Compile(c, engine.NewShared(engine.Options{Limits: limits, RiskEntities: 1000}))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			var mu sync.Mutex
			var all []time.Duration
			var worker atomic.Int64
			calls0 := uint64(0)
			if rs != nil {
				calls0 = rs.Stats().Calls
			}
			b.SetParallelism(run.parallelism) // GOMAXPROCS × this decisions in flight
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := worker.Add(1)
				lat := make([]time.Duration, 0, 1<<16)
				reqs := make([]*http.Request, 64)
				for i := range reqs {
					reqs[i] = newRequest(w, i)
				}
				v := &request.View{}
				i := 0
				for pb.Next() {
					r := reqs[i%len(reqs)]
					i++
					start := time.Now()
					v.Reset()
					if prob := p.Parser.ParseHTTP(r, start, v); prob != nil {
						b.Error(prob)
						return
					}
					vd := p.Decide(v)
					if vd.Action != verdict.Allow {
						b.Errorf("%+v", vd)
						return
					}
					vd.Finish(start)
					lat = append(lat, time.Since(start))
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			b.StopTimer()
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
			}
			if rs != nil {
				b.ReportMetric(float64(rs.Stats().Calls-calls0)/float64(b.N), "calls/op")
			}
		})
	}
}

// newRequest is request i of worker w: its own client IP and API key, so
// that the keys spread over shards and Redis.
func newRequest(w int64, i int) *http.Request {
	r := httptest.NewRequest("GET", "/v1/users/"+strconv.Itoa(i), nil)
	r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", w%250, i/250, i%250+1)
	r.Header.Set("X-API-Key", fmt.Sprintf("key-%d-%d", w, i))
	return r
}

// BenchmarkClient compares the two Redis clients the project may use on
// the call the strict store makes: one EVALSHA of the limit script with
// two keys, from many goroutines at once (where rueidis pipelines
// automatically).
//
//	go test -run '^$' -bench Client -benchtime 3s -count 3 ./internal/store/redis
func BenchmarkClient(b *testing.B) {
	srv := redistest.Start(b)
	script := redisstore.BatchScript
	args := func(i int) []string {
		return []string{strconv.FormatInt(time.Now().UnixNano(), 10), "1000",
			"r", "1000", "1000000", "1", "1", "r", "1000", "1000000", "1", "1"}
	}
	keys := func(i int) []string {
		k := "bench:client:{" + strconv.Itoa(i%1024) + "}"
		return []string{k + ":a", k + ":b"}
	}
	b.Run("rueidis", func(b *testing.B) {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true, AlwaysPipelining: true})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		sha, err := c.Do(context.Background(), c.B().ScriptLoad().Script(script).Build()).ToString()
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		b.SetParallelism(16)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				if err := c.Do(context.Background(), c.B().Evalsha().Sha1(sha).Numkeys(2).Key(keys(i)...).Arg(args(i)...).Build()).Error(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("go-redis", func(b *testing.B) {
		c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, PoolSize: 64})
		defer c.Close()
		sha, err := c.ScriptLoad(context.Background(), script).Result()
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		b.SetParallelism(16)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				a := args(i)
				ia := make([]any, len(a))
				for j := range a {
					ia[j] = a[j]
				}
				if err := c.EvalSha(context.Background(), sha, keys(i), ia...).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
