// Package serve runs abuseguard as an inline reverse proxy: it loads the
// config, starts the proxy and admin listeners, reloads on SIGHUP or when
// the config file changes, and drains in-flight requests on shutdown.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/store"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// Options configures Run. Flag values, when set, override the config file
// (on every reload too).
type Options struct {
	ConfigFile  string // "" runs on the embedded defaults
	Upstream    string
	Listen      string
	AdminListen string
	// Gateway fronts (docs/fronts.md); each overrides its fronts.* setting.
	ForwardAuthListen string
	ExtAuthzListen    string
	RLSListen         string
	RLSConfig         string
	// Outcome receivers; each overrides its fronts.outcomes setting.
	ALSListen           string
	OutcomeSyslogListen string
	Logger              *slog.Logger // default: JSON to stderr
	// Ready, when set, is called once every listener is bound, with the
	// inline proxy's and the admin listener's addresses.
	Ready func(proxyAddr, adminAddr net.Addr)
	// Listening, when set, is called with each front's name ("proxy",
	// "admin", ...) and bound address, before Ready.
	Listening func(front string, addr net.Addr)
	// Reloaded, when set, is called after each reload attempt.
	Reloaded func(err error)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Run serves until ctx ends, then drains in-flight requests for up to
// server.shutdown_timeout. It returns an error when the config does not
// load or a listener cannot bind.
func Run(ctx context.Context, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	cfg, err := load(opts)
	if err != nil {
		return err
	}
	stores, err := store.Open(cfg, store.Options{Now: opts.Now, Context: ctx, Logger: log, Getenv: os.Getenv})
	if err != nil {
		return err
	}
	defer stores.Close()
	decisions := stores.Decisions
	// One writer per destination: the access log and the events share it
	// when they name the same one, so their lines never interleave.
	sinks := telemetry.NewSinks(100 * time.Millisecond)
	defer sinks.Close()
	eventsOut, err := sinks.Open(cfg.Events)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	shared := engine.NewShared(engine.Options{
		Limits: stores.Limits, Decisions: decisions, Events: telemetry.NewEvents(eventsOut),
		RiskEntities: stores.Sizes.RiskEntities, DetectorEntities: stores.Sizes.DetectorEntities,
		Getenv: os.Getenv, Context: ctx, Cluster: stores.Cluster(),
	})
	defer shared.Close()
	pol, err := engine.Compile(cfg, shared)
	if err != nil {
		return err
	}
	eng := engine.New(pol)
	metrics := telemetry.NewMetrics()
	if mem := stores.Memory; mem != nil {
		metrics.WatchState(func() telemetry.StateStats {
			s := mem.Stats()
			return telemetry.StateStats{Keys: s.Keys, MaxKeys: s.MaxKeys, Evictions: s.Evictions, Expirations: s.Expirations}
		})
	}
	if stores.Redis != nil {
		metrics.WatchRedis(func() telemetry.RedisStats { return redisStats(stores) })
	}
	metrics.WatchDecisions(func() telemetry.DecisionStats {
		s := decisions.Stats()
		return telemetry.DecisionStats{Active: s.Active, Dropped: s.Dropped, PersistErrors: s.PersistErrors, EventErrors: shared.Events.Errors()}
	})
	metrics.WatchDetectors(func() map[string]telemetry.StateStats {
		out := map[string]telemetry.StateStats{}
		for name, st := range eng.Policy().DetectorStats() {
			out[name] = telemetry.StateStats{Keys: st.Entries, MaxKeys: st.MaxEntries, Evictions: st.Evictions, Expirations: st.Expirations}
		}
		return out
	})
	metrics.WatchBudgets(func() map[string][2]uint64 {
		out := map[string][2]uint64{}
		for i, c := range shared.BudgetAlertCounts() {
			out[engine.BudgetNames[i]] = c
		}
		return out
	})
	logOut, err := sinks.Open(cfg.AccessLog)
	if err != nil {
		pol.Close()
		return fmt.Errorf("access_log: %w", err)
	}
	var accessLog *telemetry.AccessLog // nil when off: no line is even formatted
	if logOut != nil {
		accessLog = telemetry.NewAccessLog(logOut)
	}
	env := &frontEnv{cfg: cfg, engine: eng, metrics: metrics, accessLog: accessLog, log: log, now: opts.Now}
	fronts, err := buildFronts(env)
	if err != nil {
		pol.Close()
		return err
	}
	var draining atomic.Bool
	api := admin.Handler(admin.Options{
		Decisions: decisions, Explainer: eng, Token: os.Getenv(cfg.Admin.TokenEnv), Now: opts.Now,
		OnChange: func(kind string, d decision.Decision) { eng.Policy().DecisionEvent(&d, kind) },
	})
	adminSrv := &http.Server{Handler: adminMux(metrics, &draining, api), ReadHeaderTimeout: 10 * time.Second}
	fronts = append(fronts, Front{Name: "admin", Addr: cfg.AdminListen, Server: adminSrv})
	lns, err := listen(fronts)
	if err != nil {
		pol.Close()
		return err
	}
	proxyLn, adminLn := lns[0], lns[len(lns)-1] // proxyLn: the first front when the proxy does not run

	errc := make(chan error, len(fronts))
	for i, f := range fronts {
		go func() { errc <- f.Server.Serve(lns[i]) }()
		if opts.Listening != nil {
			opts.Listening(f.Name, lns[i].Addr())
		}
	}
	if env.syslog != nil {
		go func() { _ = env.syslog.Run(ctx) }()
		if opts.Listening != nil {
			opts.Listening("outcome_syslog", env.syslog.Addr())
		}
	}
	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(ctx)
	// Watch for reloads before announcing readiness, so a SIGHUP or a file
	// change right after Ready is not lost.
	watch := watchReloads([]string{opts.ConfigFile, cfg.Fronts.RLS.Config}, log)
	reload := func() {
		err := reloadPolicy(opts, eng, env)
		if err != nil {
			metrics.ConfigReloads.WithLabelValues("failed").Inc()
			metrics.ConfigReloadOK.Set(0)
			log.Error("config reload failed; keeping the last good config", "err", err)
		} else {
			metrics.ConfigReloads.WithLabelValues("ok").Inc()
			metrics.ConfigReloadOK.Set(1)
			log.Info("config reloaded", "config", opts.ConfigFile)
		}
		if opts.Reloaded != nil {
			opts.Reloaded(err)
		}
	}
	wg.Add(2)
	go func() { defer wg.Done(); watch.run(bg, reload) }()
	go func() {
		defer wg.Done()
		every(bg, 10*time.Second, func() {
			now := opts.Now()
			stores.Sweep(now)
			shared.Sweep(eng.Policy(), now)
		})
	}()
	// "listen" and "admin" as before; the gateway fronts under their names.
	listening := make([]any, 0, 2*len(fronts)+8)
	for i, f := range fronts {
		name := f.Name
		if name == "proxy" {
			name = "listen"
		}
		listening = append(listening, name, lns[i].Addr().String())
	}
	log.Info("abuseguard serving", append(listening,
		"upstream", cfg.Upstream, "config", describe(cfg.File), "limits", len(cfg.Limits))...)
	if opts.Ready != nil {
		opts.Ready(proxyLn.Addr(), adminLn.Addr())
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("listener failed", "err", err)
	}
	draining.Store(true)
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), eng.Policy().Config.Server.ShutdownTimeout)
	defer cancel()
	var shutdownErr error
	for _, f := range fronts { // the admin listener last: /readyz says draining until the end
		if err := f.Server.Shutdown(sctx); err != nil && shutdownErr == nil && f.Name != "admin" {
			shutdownErr = err
		}
	}
	stopBG()
	wg.Wait()
	eng.Policy().Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return shutdownErr
}

func describe(file string) string {
	if file == "" {
		return "embedded defaults"
	}
	return file
}

// load reads the config and applies the flag overrides.
func load(opts Options) (*config.Config, error) {
	var cfg *config.Config
	var err error
	if opts.ConfigFile == "" {
		cfg, err = config.Default()
	} else {
		cfg, err = config.Load(opts.ConfigFile)
	}
	if err != nil {
		return nil, err
	}
	if opts.Upstream != "" {
		if _, err := config.ParseUpstream(opts.Upstream); err != nil {
			return nil, fmt.Errorf("--upstream: %w", err)
		}
		cfg.Upstream = opts.Upstream
	}
	if opts.Listen != "" {
		cfg.Listen = opts.Listen
	}
	if opts.AdminListen != "" {
		cfg.AdminListen = opts.AdminListen
	}
	if err := overrideFronts(cfg, opts); err != nil {
		return nil, err
	}
	if cfg.Upstream == "" && !cfg.Fronts.Any() {
		return nil, errors.New("no upstream: pass --upstream URL or set upstream in the config (or run a gateway front: --forward-auth-listen, --ext-authz-listen, --rls-listen)")
	}
	return cfg, nil
}

// reloadPolicy loads and compiles the config again and swaps it in; on any
// error the current Policy stays. Listener addresses, server timeouts and
// state.max_memory take effect only on restart.
func reloadPolicy(opts Options, eng *engine.Engine, env *frontEnv) error {
	cfg, err := load(opts)
	if err != nil {
		return err
	}
	rlsCfg, err := env.loadRLS(cfg)
	if err != nil {
		return err
	}
	pol, err := engine.Compile(cfg, eng.Shared())
	if err != nil {
		return err
	}
	eng.Swap(pol).Close()
	if rlsCfg != nil {
		env.rls.SetConfig(rlsCfg)
	}
	return nil
}

// reloadWatch delivers reload requests: SIGHUP and, when config files
// are set, changes to them.
type reloadWatch struct {
	hup     chan os.Signal
	watcher *fsnotify.Watcher // nil when not watching files
	files   map[string]bool   // absolute paths of the watched files
	dirs    map[string]bool   // watched directories whose every file counts (a directory of rls configs)
}

// watchReloads starts listening for SIGHUP and, for each path set (the
// config file, the rate limit service's config file or directory), for
// changes in its directory, so that editors that replace the file and
// Kubernetes ConfigMap symlink swaps are seen. Nothing is missed between
// this call and run.
func watchReloads(paths []string, log *slog.Logger) *reloadWatch {
	w := &reloadWatch{hup: make(chan os.Signal, 1), files: map[string]bool{}, dirs: map[string]bool{}}
	signal.Notify(w.hup, syscall.SIGHUP)
	var watchDirs []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		abs, _ := filepath.Abs(p)
		if info, err := os.Stat(abs); err == nil && info.IsDir() {
			w.dirs[abs] = true
			watchDirs = append(watchDirs, abs)
			continue
		}
		w.files[abs] = true
		watchDirs = append(watchDirs, filepath.Dir(abs))
	}
	if len(watchDirs) == 0 {
		return w
	}
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		for _, d := range watchDirs {
			if err = fw.Add(d); err != nil {
				break
			}
		}
		if err == nil {
			w.watcher = fw
		} else {
			fw.Close()
		}
	}
	if err != nil {
		log.Warn("not watching the config files; reload with SIGHUP", "err", err)
	}
	return w
}

// concerns reports whether a change to name is a change to the config.
func (w *reloadWatch) concerns(name string) bool {
	p, _ := filepath.Abs(name)
	return w.files[p] || w.dirs[filepath.Dir(p)] || filepath.Base(name) == "..data"
}

// run calls reload for each SIGHUP and for each burst of file events
// (debounced by 250ms) until ctx ends, then stops watching.
func (w *reloadWatch) run(ctx context.Context, reload func()) {
	defer signal.Stop(w.hup)
	var events <-chan fsnotify.Event
	if w.watcher != nil {
		defer w.watcher.Close()
		events = w.watcher.Events
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.hup:
			reload()
		case ev := <-events:
			if w.concerns(ev.Name) {
				debounce = time.After(250 * time.Millisecond)
			}
		case <-debounce:
			debounce = nil
			reload()
		}
	}
}

// every calls f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

func adminMux(m *telemetry.Metrics, draining *atomic.Bool, api http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	return mux
}
