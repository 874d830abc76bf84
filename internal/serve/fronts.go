package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/conncap"
	"github.com/abuseguard/abuseguard/internal/front/extauthz"
	"github.com/abuseguard/abuseguard/internal/front/forwardauth"
	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/front/grpcserver"
	"github.com/abuseguard/abuseguard/internal/front/opsmetrics"
	"github.com/abuseguard/abuseguard/internal/front/outcome"
	"github.com/abuseguard/abuseguard/internal/front/proxy"
	"github.com/abuseguard/abuseguard/internal/front/rls"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// Front is one protocol served on its own listener over the shared engine:
// the inline proxy, and (as they are added) forward-auth, Envoy ext_authz
// and rate limit service. The admin listener is served the same way.
type Front struct {
	Name   string // "proxy", "admin", ...
	Addr   string // listen address
	Server Server
	// Wrap, when set, wraps the front's listener (connection caps).
	Wrap func(net.Listener) net.Listener
}

// Server is what serve needs of a front's server; *http.Server has both
// methods, and a gRPC server is wrapped to have them.
type Server interface {
	Serve(net.Listener) error
	// Shutdown stops accepting and waits for in-flight requests until ctx
	// ends.
	Shutdown(ctx context.Context) error
}

// frontEnv is what fronts are built from.
type frontEnv struct {
	cfg       *config.Config
	engine    *engine.Engine
	metrics   *telemetry.Metrics
	accessLog *telemetry.AccessLog
	log       *slog.Logger
	now       func() time.Time
	tally     *rollout.Tally
	tracer    trace.TracerProvider // nil: tracing is off

	// rls is the rate limit service when it runs; a reload gives it the
	// envoyproxy/ratelimit config anew.
	rls *rls.Service
	// syslog is the nginx outcome receiver when it runs; serve runs it.
	syslog *outcome.Syslog
}

// buildFronts returns the fronts cfg asks for, the inline proxy first
// (when an upstream is set), then forward-auth, ext_authz and the rate
// limit service. Adding a front is a package under internal/front and an
// entry here.
func buildFronts(e *frontEnv) ([]Front, error) {
	cfg := e.cfg
	var fronts []Front
	if cfg.Upstream != "" {
		fronts = append(fronts, e.proxyFront())
	} else if o := cfg.Fronts.Outcomes; o.ALSListen == "" && o.SyslogListen == "" {
		// Gateway fronts decide before the upstream answers and never see
		// its status: say which detectors go without.
		e.log.Warn("no inline proxy: the detectors see no response statuses (probing's 404s, credentials' 401s, enumeration's not-founds, volumetric's latency); they act on requests alone; feed them with --als-listen or --outcome-syslog-listen",
			"fronts", "forward_auth, ext_authz, rls")
	}
	var checker *gateway.Checker
	if cfg.Fronts.ForwardAuth.Listen != "" || cfg.Fronts.ExtAuthz.Listen != "" {
		checker = gateway.New(gateway.Options{Engine: e.engine, Metrics: e.metrics, AccessLog: e.accessLog,
			Now: e.now, Identity: cfg.Fronts.ForwardAuth.IdentityHeaders, Tally: e.tally})
	}
	if addr := cfg.Fronts.ForwardAuth.Listen; addr != "" {
		var h http.Handler = forwardauth.New(checker)
		if e.tracer != nil {
			h = otelhttp.NewHandler(h, "abuseguard forward_auth", otelhttp.WithTracerProvider(e.tracer), otelhttp.WithPropagators(propagation.TraceContext{}))
		}
		fronts = append(fronts, Front{Name: "forward_auth", Addr: addr, Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
			IdleTimeout:       cfg.Server.IdleTimeout,
			MaxHeaderBytes:    int(2*cfg.Server.MaxHeaderBytes) + 4096,
			ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		}})
	}
	if addr := cfg.Fronts.ExtAuthz.Listen; addr != "" {
		srv := grpcserver.New(grpcserver.Options{Tracer: e.tracer})
		name := extauthz.New(checker).Register(srv.GRPC)
		srv.Ready(name)
		fronts = append(fronts, Front{Name: "ext_authz", Addr: addr, Server: grpcFront{srv}})
	}
	if addr := cfg.Fronts.RLS.Listen; addr != "" {
		rc, err := e.loadRLS(cfg)
		if err != nil {
			return nil, err
		}
		e.rls = rls.New(rc, rls.Options{Store: e.engine.Store(), Now: e.now,
			ShadowMode: cfg.Fronts.RLS.ShadowMode, Headers: cfg.Fronts.RLS.ResponseHeaders,
			Recorder: rls.NewMetrics(e.metrics.Registry), Requests: rlsRequests{opsmetrics.Recorder{Metrics: e.metrics}}})
		srv := grpcserver.New(grpcserver.Options{Tracer: e.tracer})
		name := e.rls.Register(srv.GRPC)
		srv.Ready(name)
		fronts = append(fronts, Front{Name: "rls", Addr: addr, Server: grpcFront{srv}})
	}
	var feeder *outcome.Feeder
	if o := cfg.Fronts.Outcomes; o.ALSListen != "" || o.SyslogListen != "" {
		feeder = outcome.NewFeeder(e.engine)
		feeder.Ops = &opsmetrics.Recorder{Metrics: e.metrics}
		for result, n := range map[string]*atomic.Uint64{"fed": &feeder.Fed, "refused": &feeder.Refused, "bad": &feeder.Bad} {
			e.metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "abuseguard_outcomes_total",
				Help:        "Outcomes from the gateway (ALS, syslog) by result: fed to the detectors, skipped because the guard refused the request, or not parsed (skipped).",
				ConstLabels: prometheus.Labels{"result": result},
			}, func() float64 { return float64(n.Load()) }))
		}
	}
	if addr := cfg.Fronts.Outcomes.ALSListen; addr != "" {
		srv := grpcserver.New(grpcserver.Options{Tracer: e.tracer})
		srv.Ready(outcome.NewALS(feeder).Register(srv.GRPC))
		fronts = append(fronts, Front{Name: "als", Addr: addr, Server: grpcFront{srv}})
	}
	if addr := cfg.Fronts.Outcomes.SyslogListen; addr != "" {
		s, err := outcome.ListenSyslog(addr, feeder, e.log)
		if err != nil {
			return nil, fmt.Errorf("outcome syslog listen: %w", err)
		}
		e.syslog = s
	}
	return fronts, nil
}

// rlsRequests counts the rate limit service's answers in the operations
// metrics.
type rlsRequests struct{ ops opsmetrics.Recorder }

func (r rlsRequests) Request(domain string, o rls.Outcome) {
	r.ops.RateLimitService(domain, o == rls.OverLimit, o == rls.ShadowOverLimit)
}

var _ rls.RequestRecorder = rlsRequests{}

// loadRLS loads the rate limit service's config, or returns nil when the
// service does not run.
func (e *frontEnv) loadRLS(cfg *config.Config) (*rls.Config, error) {
	r := &cfg.Fronts.RLS
	if r.Listen == "" {
		return nil, nil
	}
	if r.Config == "" {
		return nil, errors.New("the rate limit service needs an envoyproxy/ratelimit config: --rls-config FILE or fronts.rls.config")
	}
	rc, err := rls.LoadPath(r.Config, rls.LoadOptions{MergeDomains: r.MergeDomains})
	if err != nil {
		return nil, fmt.Errorf("fronts.rls.config: %w", err)
	}
	return rc, nil
}

// grpcFront serves a gRPC server as a Front: Shutdown marks it not
// serving and stops it gracefully, or at once when ctx ends first.
type grpcFront struct{ srv *grpcserver.Server }

func (g grpcFront) Serve(ln net.Listener) error { return g.srv.GRPC.Serve(ln) }

func (g grpcFront) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { g.srv.Drain(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		g.srv.GRPC.Stop()
		return ctx.Err()
	}
}

// overrideFronts applies the gateway fronts' flags to cfg.
func overrideFronts(cfg *config.Config, opts Options) error {
	f := &cfg.Fronts
	for _, o := range []struct {
		flag, value string
		dst         *string
	}{
		{"--forward-auth-listen", opts.ForwardAuthListen, &f.ForwardAuth.Listen},
		{"--ext-authz-listen", opts.ExtAuthzListen, &f.ExtAuthz.Listen},
		{"--rls-listen", opts.RLSListen, &f.RLS.Listen},
		{"--als-listen", opts.ALSListen, &f.Outcomes.ALSListen},
		{"--outcome-syslog-listen", opts.OutcomeSyslogListen, &f.Outcomes.SyslogListen},
	} {
		if o.value == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(o.value); err != nil || port == "" {
			return fmt.Errorf("%s: %q is not host:port", o.flag, o.value)
		}
		*o.dst = o.value
	}
	if opts.RLSConfig != "" {
		f.RLS.Config = opts.RLSConfig
	}
	return nil
}

// proxyFront is the inline reverse proxy.
func (e *frontEnv) proxyFront() Front {
	cfg := e.cfg
	var transport http.RoundTripper = proxy.NewTransport(cfg.Server.UpstreamTimeout)
	if e.tracer != nil {
		transport = otelhttp.NewTransport(transport, otelhttp.WithTracerProvider(e.tracer), otelhttp.WithPropagators(propagation.TraceContext{}))
	}
	var inline http.Handler = proxy.New(proxy.Options{
		Engine: e.engine, Metrics: e.metrics, AccessLog: e.accessLog, Logger: e.log,
		Transport: transport, Now: e.now, Tally: e.tally,
	})
	if e.tracer != nil {
		inline = otelhttp.NewHandler(inline, "abuseguard", otelhttp.WithTracerProvider(e.tracer), otelhttp.WithPropagators(propagation.TraceContext{}))
	}
	srv := &http.Server{
		Handler:           inline,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		// The proxy answers oversized headers itself (431 problem+json);
		// net/http's own plain-text limit sits well above the configured one.
		MaxHeaderBytes: int(2*cfg.Server.MaxHeaderBytes) + 4096,
		ErrorLog:       slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		HTTP2:          http2Config(cfg.Server.HTTP2),
	}
	if cfg.Server.HTTP2.Cleartext {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	return Front{Name: "proxy", Addr: cfg.Listen, Server: srv,
		Wrap: func(ln net.Listener) net.Listener { return capConns(ln, cfg.Server, e.metrics) }}
}

// capConns wraps the proxy listener with the connection caps; refusals
// are counted in abuseguard_refused_total as connection_per_client,
// connection_total and connection_evicted.
func capConns(ln net.Listener, s config.Server, m *telemetry.Metrics) net.Listener {
	max := s.MaxConns
	if max == 0 {
		max = openFileLimit() / 2
	}
	if max == 0 && s.MaxConnsPerClient == 0 {
		return ln
	}
	return conncap.New(ln, conncap.Options{Max: max, MaxPerClient: s.MaxConnsPerClient,
		Refused: func(reason string) { m.Refused.WithLabelValues("connection_" + reason).Inc() }})
}

// http2Config returns the HTTP/2 server settings.
func http2Config(h config.HTTP2) *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxConcurrentStreams:          h.MaxConcurrentStreams,
		MaxReadFrameSize:              int(h.MaxReadFrameSize),
		MaxReceiveBufferPerConnection: int(h.MaxReceiveBufferPerConnection),
		MaxReceiveBufferPerStream:     int(h.MaxReceiveBufferPerStream),
	}
}

// listen binds every front's address, in order; on an error it closes
// what it bound.
func listen(fronts []Front) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, len(fronts))
	for _, f := range fronts {
		ln, err := net.Listen("tcp", f.Addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("%s listen: %w", f.Name, err)
		}
		if f.Wrap != nil {
			ln = f.Wrap(ln)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

var _ admin.Explainer = (*engine.Engine)(nil)
