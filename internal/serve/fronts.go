package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/conncap"
	"github.com/abuseguard/abuseguard/internal/front/proxy"
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
}

// buildFronts returns the fronts cfg asks for, the inline proxy first.
// Adding a front is a package under internal/front and an entry here.
func buildFronts(e *frontEnv) []Front {
	cfg := e.cfg
	inline := proxy.New(proxy.Options{
		Engine: e.engine, Metrics: e.metrics, AccessLog: e.accessLog, Logger: e.log,
		Transport: proxy.NewTransport(cfg.Server.UpstreamTimeout), Now: e.now,
	})
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
	return []Front{{Name: "proxy", Addr: cfg.Listen, Server: srv,
		Wrap: func(ln net.Listener) net.Listener { return capConns(ln, cfg.Server, e.metrics) }}}
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
