// Package proxy is the inline front: an http.Handler that decides each
// request with the engine and forwards the allowed ones to the upstream
// through net/http/httputil.ReverseProxy.
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/opsmetrics"
	"github.com/abuseguard/abuseguard/internal/problem"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/verdict"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// Options configures a Proxy. Nil fields get defaults.
type Options struct {
	Engine    *engine.Engine
	Metrics   *telemetry.Metrics   // default: a fresh, unexported set
	AccessLog *telemetry.AccessLog // default: none
	Logger    *slog.Logger         // default: slog.Default()
	Transport http.RoundTripper    // default: NewTransport(30s)
	Now       func() time.Time     // default: time.Now
	Tally     *rollout.Tally       // default: none; counts what each rule acted or would have acted on
}

// Proxy decides and forwards requests. It is safe for concurrent use.
type Proxy struct {
	opts    Options
	rp      *httputil.ReverseProxy
	ops     opsmetrics.Recorder
	guards  *upstreamGuards
	idBase  string
	idCount atomic.Uint64
}

// NewTransport returns the upstream transport: pooled keep-alive
// connections, and a bound on the wait for response headers.
func NewTransport(headerTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// New returns a Proxy.
func New(opts Options) *Proxy {
	if opts.Metrics == nil {
		opts.Metrics = telemetry.NewMetrics()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Transport == nil {
		opts.Transport = NewTransport(30 * time.Second)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := &Proxy{opts: opts, idBase: hex.EncodeToString(b[:]) + "-",
		ops:    opsmetrics.Recorder{Metrics: opts.Metrics, Tally: opts.Tally},
		guards: newUpstreamGuards(opts.Metrics.Registry, opts.Now)}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    opts.Transport,
		ErrorHandler: p.upstreamError,
		// FlushInterval 0: httputil still flushes at once for event streams
		// and bodies of unknown length; other responses go out in one write.
		BufferPool: copyBuffers{},
		ErrorLog:   slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return p
}

// exchange is one request's state, carried through the ReverseProxy in
// the request context.
type exchange struct {
	policy  *engine.Policy
	input   request.Input
	view    request.View
	trusted bool // the peer is a trusted proxy: keep its forwarding headers
	refused *problem.Problem
	span    trace.Span    // the request's span (otelhttp's, when tracing is on)
	body    *bodyDeadline // nil for a request without a body
}

type exchangeKey struct{}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// ServeHTTP decides r and either refuses it with a problem+json response
// or forwards it to the upstream.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.opts.Now()
	x := exchanges.Get().(*exchange)
	x.view.Reset()
	x.refused, x.body = nil, nil
	x.policy = p.opts.Engine.Policy()
	x.view.ID = p.requestID()
	defer exchanges.Put(x)
	rec := &recorder{ResponseWriter: w}
	cfg := x.policy.Config
	if r.Body != nil && r.Body != http.NoBody {
		// Connection deadlines are wall-clock time, whatever clock the
		// decisions use.
		lim := BodyLimits{Timeout: cfg.Server.ReadBodyTimeout, MinRate: int64(cfg.Server.MinBodyRate), Grace: cfg.Server.BodyRateGrace}
		if lim != (BodyLimits{}) {
			x.body = newBodyDeadline(w, r.Body, lim, time.Now)
			r.Body = x.body
		}
	}

	prob := p.admit(r, int64(cfg.Server.MaxBodyBytes), int64(cfg.Server.MaxHeaderBytes))
	if prob == nil {
		request.HTTPInput(r, &x.input)
		prob = x.policy.Parser.Parse(&x.input, start, &x.view)
		x.input = request.Input{} // holds r: drop it before the exchange is pooled
	}
	x.span = trace.SpanFromContext(r.Context())
	if sc := x.span.SpanContext(); sc.IsValid() {
		x.view.TraceID = sc.TraceID().String()
	}
	if prob != nil {
		if !x.view.ClientIP.IsValid() {
			x.view.ClientIP = peerIP(r.RemoteAddr)
		}
		if x.view.Method == "" {
			x.view.Method, x.view.Path = r.Method, r.URL.Path
		}
		p.refuse(rec, x, prob, start)
		return
	}
	vd := x.policy.Decide(&x.view)
	p.opts.Metrics.DecisionSeconds.Observe(p.opts.Now().Sub(start).Seconds())
	x.trusted = x.policy.Parser.Proxies.Trusts(peerIP(r.RemoteAddr))
	vd.Secure = r.TLS != nil || x.trusted && r.Header.Get("X-Forwarded-Proto") == "https"
	p.opts.Metrics.CountChallenge(&vd.Verdict)
	if vd.WriteHTTP(rec, x.view.ID) {
		p.finish(rec, x, vd, nil, start)
		return
	}
	if x.policy.Upstream == nil {
		prob := &problem.Problem{Status: http.StatusBadGateway, Reason: "no_upstream",
			Detail: "no upstream is configured", RequestID: x.view.ID}
		problem.Write(rec, prob)
		p.finish(rec, x, vd, prob, start)
		return
	}
	ps, prob := p.guards.admit(x.policy, x, vd, start)
	if prob != nil {
		prob.RequestID = x.view.ID
		problem.Write(rec, prob)
		p.finish(rec, x, vd, prob, start)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(rec, r.Body, int64(cfg.Server.MaxBodyBytes))
	}
	upstart := p.opts.Now()
	p.rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x)))
	took := p.opts.Now().Sub(upstart)
	failed := rec.status() >= 500 || x.refused != nil && x.refused.Status >= 500
	ps.done(p.opts.Now(), failed, rec.status() == 499, took)
	p.opts.Metrics.UpstreamSeconds.Observe(took.Seconds())
	status := rec.status()
	if x.refused != nil {
		status = 0 // no answer from the upstream: the guard's 502 or 504
	}
	route := ""
	if x.view.Route != nil {
		route = x.view.Route.Name
	}
	p.ops.Upstream(route, status, took)
	x.policy.Observe(&x.view, verdict.Outcome{Status: rec.status(), Latency: took, Bytes: rec.bytes,
		UpstreamError: x.refused != nil && x.refused.Status >= 500, Guard: x.refused != nil && x.refused.Status < 500,
		Cost: reportedCost(rec, x.view.Route)})
	p.finish(rec, x, vd, x.refused, start)
}

// admit refuses requests over the body or header caps before any parsing.
func (p *Proxy) admit(r *http.Request, maxBody, maxHeader int64) *problem.Problem {
	if r.ContentLength > maxBody {
		return &problem.Problem{Status: http.StatusRequestEntityTooLarge, Reason: "request_too_large",
			Detail: "the request body is larger than " + strconv.FormatInt(maxBody, 10) + " bytes"}
	}
	size := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	if int64(size) > maxHeader {
		return &problem.Problem{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "headers_too_large",
			Detail: "the request line and headers are larger than " + strconv.FormatInt(maxHeader, 10) + " bytes"}
	}
	return nil
}

// rewrite builds the upstream request. Forwarding headers survive only
// from trusted proxies: the client address is appended to a trusted
// X-Forwarded-For, and a trusted X-Forwarded-Host and -Proto (say, from a
// TLS-terminating load balancer) are kept. The path sent is the
// canonical one the decision was made on.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	x := pr.In.Context().Value(exchangeKey{}).(*exchange)
	if e := x.view.EscapedPath; e != "" {
		if path, err := url.PathUnescape(e); err == nil {
			pr.Out.URL.Path, pr.Out.URL.RawPath = path, e
		}
	}
	pr.SetURL(x.policy.Upstream)
	if !x.trusted {
		pr.Out.Header.Del("Forwarded")
		pr.Out.Header.Del("X-Real-Ip")
		pr.SetXForwarded()
	} else {
		if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
			pr.Out.Header["X-Forwarded-For"] = xff
		}
		pr.SetXForwarded()
		for _, h := range [...]string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header[h]; len(v) > 0 {
				pr.Out.Header[h] = v
			}
		}
	}
	pr.Out.Header.Set("X-Request-Id", x.view.ID)
	pr.Out.Header.Del(challenge.SolutionHeader) // the guard's business, not the upstream's
	pr.Out.Header.Del(challenge.PassHeader)
}

// upstreamError answers when the upstream cannot be reached or the
// request body breaks a cap: 413, 504 or 502, as problem+json.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	x := r.Context().Value(exchangeKey{}).(*exchange)
	prob := &problem.Problem{Status: http.StatusBadGateway, Reason: "upstream_unavailable", Detail: "the upstream did not answer"}
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case x.body != nil && x.body.timedOut:
		prob = &problem.Problem{Status: http.StatusRequestTimeout, Reason: "body_timeout",
			Detail: "the request body did not arrive in time or fell below the minimum rate"}
	case x.body != nil && x.body.failed:
		prob = &problem.Problem{Status: 499, Reason: "client_closed", Detail: "the client went away while sending the body"}
	case errors.As(err, &tooLarge):
		prob = &problem.Problem{Status: http.StatusRequestEntityTooLarge, Reason: "request_too_large",
			Detail: "the request body is larger than " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes"}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		prob = &problem.Problem{Status: http.StatusGatewayTimeout, Reason: "upstream_timeout", Detail: "the upstream did not answer in time"}
	case errors.Is(err, context.Canceled):
		prob = &problem.Problem{Status: 499, Reason: "client_closed", Detail: "the client went away"}
	}
	if prob.Status != 499 {
		p.opts.Logger.Warn("upstream request failed", "request_id", x.view.ID, "reason", prob.Reason, "err", err)
	}
	x.refused = prob
	prob.RequestID = x.view.ID
	if prob.Status != 499 {
		problem.Write(w, prob)
	}
}

// refuse answers a request refused before any decision.
func (p *Proxy) refuse(rec *recorder, x *exchange, prob *problem.Problem, start time.Time) {
	prob.RequestID = x.view.ID
	problem.Write(rec, prob)
	p.opts.Metrics.Refused.WithLabelValues(prob.Reason).Inc()
	p.log(rec, x, opsmetrics.Unparsed(&x.view, prob.Reason), start)
}

// finish records the request and releases the verdict; prob is a refusal
// on the way to the upstream (502, 504, 413), nil when there was none.
func (p *Proxy) finish(rec *recorder, x *exchange, vd *engine.Verdict, prob *problem.Problem, start time.Time) {
	l := p.ops.Decided(&x.view, vd)
	if vd.Action == verdict.Allow && prob != nil {
		p.opts.Metrics.Refused.WithLabelValues(prob.Reason).Inc()
		l.Reason = prob.Reason
	}
	p.log(rec, x, l, start)
	vd.Finish(p.opts.Now())
}

func (p *Proxy) log(rec *recorder, x *exchange, l opsmetrics.Labels, start time.Time) {
	l.Annotate(x.span, x.view.ID)
	if p.opts.AccessLog != nil {
		line := l.Access(&x.view, start, rec.status(), p.opts.Now().Sub(start), rec.bytes)
		p.opts.AccessLog.Log(&line)
	}
}

func (p *Proxy) requestID() string {
	var b [16]byte
	return p.idBase + string(strconv.AppendUint(b[:0], p.idCount.Add(1), 36))
}

// reportedCost is the cost the upstream reported in the route's cost
// header, 0 when the route has none or the value is not a whole number.
func reportedCost(rec *recorder, rt *request.Route) int64 {
	if rt == nil || rt.CostHeader == "" {
		return 0
	}
	n, err := strconv.ParseInt(rec.Header().Get(rt.CostHeader), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func peerIP(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// copyBuffers recycles the 32 KiB buffers ReverseProxy copies bodies with.
type copyBuffers struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *buffers.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { buffers.Put(&b) }

// recorder remembers the status and size of a response for the log.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) status() int {
	if r.code == 0 {
		return 499 // nothing was written: the client went away
	}
	return r.code
}

// Unwrap lets http.ResponseController reach the connection (for Flush).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
