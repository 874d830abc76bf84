package gameday

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/examples"
	"github.com/abuseguard/abuseguard/internal/sample"
	"github.com/abuseguard/abuseguard/internal/sample/bank"
	"github.com/abuseguard/abuseguard/internal/sample/desk"
	"github.com/abuseguard/abuseguard/internal/sample/market"
	"github.com/abuseguard/abuseguard/internal/sample/tickets"
	"github.com/abuseguard/abuseguard/internal/serve"
)

// DemoOptions configures Demo.
type DemoOptions struct {
	Duration  time.Duration // the game day's length
	Seed      uint64
	Out       string   // directory for guard.yaml, events and the access log (and, by the caller, the reports)
	Scenarios []string // default: mixed
	// Virtual runs on a virtual clock shared by the guard: the game day
	// takes as long as its requests take to answer, and is reproducible.
	Virtual  bool
	Progress func(Progress)
	// Ready, when set, is told the guard's and the sample API's URLs.
	Ready func(guard, api string)
	// AdminListen is the guard's admin listener (default 127.0.0.1:9090,
	// or a free loopback port when that one is taken).
	AdminListen string
	// Dashboard, when set, is told the built-in dashboard's URL and the
	// admin token to sign in with (from ABUSEGUARD_ADMIN_TOKEN, or made up
	// for this demo).
	Dashboard func(url, token string)
	// Upstream, when set, wraps the sample API (Overloaded: the API on a
	// small server).
	Upstream func(http.Handler) http.Handler
	// GuardConfig is YAML appended to the guard's config: settings the
	// example config leaves at their defaults (OverloadGuardConfig).
	GuardConfig string
	// API is the sample API to run against, one of APIs: "shop" (the
	// default, internal/sample), "market" (internal/sample/market) or
	// "tickets" (internal/sample/tickets, held out) or "desk"
	// (internal/sample/desk, held out) or "bank" (internal/sample/bank,
	// held out).
	API string
	// Defaults runs the guard under its embedded defaults, as `serve
	// --upstream` alone would (no routes, keys or rules), instead of the
	// API's example config (examples/shop.yaml, examples/market.yaml,
	// examples/tickets.yaml, examples/desk.yaml, examples/bank.yaml).
	Defaults bool
	// Config, when set, is the guard's config instead of the API's example
	// config or the defaults (listen addresses and log files are appended
	// to it).
	Config []byte
}

// upstream returns the sample API's handler and the guard config written
// for it, before the demo's own lines.
func (o *DemoOptions) upstream(secret string) (http.Handler, []byte, error) {
	var h http.Handler
	var example []byte
	switch o.API {
	case "", "shop":
		h, example = sample.New(sample.Options{Seed: o.Seed, TokenSecret: []byte(secret)}), examples.Shop
	case "market":
		h, example = market.New(market.Options{Seed: o.Seed}), examples.Market
	case "tickets":
		h, example = tickets.New(tickets.Options{Seed: o.Seed}), examples.Tickets
	case "desk":
		// The guard verifies the app's tokens with the secret in
		// desk.JWTSecretEnv (examples/desk.yaml).
		if os.Getenv(desk.JWTSecretEnv) == "" {
			if err := os.Setenv(desk.JWTSecretEnv, secret); err != nil {
				return nil, nil, err
			}
		}
		h, example = desk.New(desk.Options{Seed: o.Seed, JWTSecret: []byte(os.Getenv(desk.JWTSecretEnv))}), examples.Desk
	case "bank":
		h, example = bank.New(bank.Options{Seed: o.Seed}), examples.Bank
	default:
		return nil, nil, fmt.Errorf("unknown API %q; known: %s", o.API, strings.Join(APIs, ", "))
	}
	switch {
	case o.Config != nil:
		example = o.Config
	case o.Defaults:
		// Storage only: a demo keeps its decisions in memory.
		example = []byte("# The embedded defaults: no routes, keys, limits or rules.\ndecisions: {path: \"\"}\n")
	}
	return h, append([]byte(nil), example...), nil
}

// DefaultDemoAdmin is where the demo's dashboard listens when it can.
const DefaultDemoAdmin = "127.0.0.1:9090"

// demoAdmin returns addr when it can be bound now, else a free loopback
// port.
func demoAdmin(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	ln.Close()
	return addr
}

// demoToken returns the admin token of the demo: the environment's, or a
// new random one, set in the environment for the guard to read.
func demoToken() (string, error) {
	const env = "ABUSEGUARD_ADMIN_TOKEN" // admin.token_env in examples/shop.yaml's defaults
	if tok := os.Getenv(env); tok != "" {
		return tok, nil
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	return tok, os.Setenv(env, tok)
}

// Demo starts a sample API (the shop unless opts.API names another) and
// the guard in front of it (the API's embedded example config, or the
// embedded defaults with opts.Defaults), both on loopback ports of their own, runs a game day through
// the guard and returns the run and its summary; the caller writes the
// reports (internal/gameday/report), into opts.Out beside the guard's files.
func Demo(ctx context.Context, opts DemoOptions) (*Run, *Summary, error) {
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, nil, err
	}
	if len(opts.Scenarios) == 0 {
		opts.Scenarios = []string{Mixed}
	}
	params, err := ParamsFor(opts.API)
	if err != nil {
		return nil, nil, err
	}
	secret := os.Getenv(sample.TokenSecretEnv)
	if secret == "" {
		// The guard reads the shop's token secret from the environment.
		var b [16]byte
		_, _ = rand.Read(b[:])
		secret = hex.EncodeToString(b[:])
		if err := os.Setenv(sample.TokenSecretEnv, secret); err != nil {
			return nil, nil, err
		}
	}
	start := time.Now()
	var clock *VirtualClock
	now := time.Now
	if opts.Virtual {
		clock = NewVirtualClock(start)
		now = clock.Now
	}

	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	handler, example, err := opts.upstream(secret)
	if err != nil {
		return nil, nil, err
	}
	if opts.Upstream != nil {
		handler = opts.Upstream(handler)
	}
	apiSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = apiSrv.Serve(api) }()
	defer apiSrv.Close()
	apiURL := "http://" + api.Addr().String()

	// The guard appends to its logs; a demo's are its own.
	for _, f := range []string{"access.log", "events.jsonl", "guard.log"} {
		if err := os.Remove(filepath.Join(opts.Out, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	if opts.AdminListen == "" {
		opts.AdminListen = demoAdmin(DefaultDemoAdmin)
	}
	token, err := demoToken()
	if err != nil {
		return nil, nil, err
	}
	configFile := filepath.Join(opts.Out, "guard.yaml")
	guardConfig := fmt.Appendf(example,
		"\n# Written by abuseguard demo.\nlisten: 127.0.0.1:0\nadmin_listen: %s\naccess_log: %s\nevents: %s\n%s",
		strconv.Quote(opts.AdminListen), strconv.Quote(filepath.Join(opts.Out, "access.log")), strconv.Quote(filepath.Join(opts.Out, "events.jsonl")), opts.GuardConfig)
	if err := os.WriteFile(configFile, guardConfig, 0o644); err != nil {
		return nil, nil, err
	}
	logFile, err := os.Create(filepath.Join(opts.Out, "guard.log"))
	if err != nil {
		return nil, nil, err
	}
	defer logFile.Close()

	guardCtx, stopGuard := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan [2]string, 1)
	guardDone := make(chan error, 1)
	go func() {
		guardDone <- serve.Run(guardCtx, serve.Options{
			ConfigFile: configFile, Upstream: apiURL, Now: now,
			Logger: slog.New(slog.NewJSONHandler(logFile, nil)),
			Ready: func(proxy, admin net.Addr) {
				ready <- [2]string{"http://" + proxy.String(), "http://" + admin.String()}
			},
		})
	}()
	var guardURL, adminURL string
	select {
	case urls := <-ready:
		guardURL, adminURL = urls[0], urls[1]
	case err := <-guardDone:
		stopGuard()
		return nil, nil, fmt.Errorf("guard: %w", err)
	}
	if opts.Ready != nil {
		opts.Ready(guardURL, apiURL)
	}
	if opts.Dashboard != nil {
		opts.Dashboard(adminURL+"/ui/", token)
	}

	run, simErr := Simulate(ctx, Options{
		Target: guardURL, Direct: apiURL, Scenarios: opts.Scenarios, Duration: opts.Duration,
		Seed: opts.Seed, Clock: clock, Progress: opts.Progress, Params: params,
	})
	stopGuard()
	if err := <-guardDone; err != nil && simErr == nil {
		simErr = fmt.Errorf("guard: %w", err)
	}
	if simErr != nil {
		return nil, nil, simErr
	}
	return run, Evaluate(run), nil
}
