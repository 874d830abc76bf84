// Package gateway is what the authorization fronts (forward-auth, Envoy
// ext_authz over gRPC and HTTP) share: a Checker decides a request a
// gateway asks about, described as a request.Input, and renders the
// verdict as an Answer each front writes in its own protocol.
package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/opsmetrics"
	"github.com/abuseguard/abuseguard/internal/problem"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// Options configure a Checker. Nil fields get defaults.
type Options struct {
	Engine    *engine.Engine
	Metrics   *telemetry.Metrics   // default: a fresh, unexported set
	AccessLog *telemetry.AccessLog // default: none
	Now       func() time.Time     // default: time.Now
	Tally     *rollout.Tally       // default: none; counts what each rule acted or would have acted on
	// Identity names the headers an allowed answer carries upstream.
	Identity config.IdentityHeaders
}

// Checker decides requests for gateways. It is safe for concurrent use.
type Checker struct {
	opts    Options
	ops     opsmetrics.Recorder
	idBase  string
	idCount atomic.Uint64
}

// New returns a Checker.
func New(opts Options) *Checker {
	if opts.Metrics == nil {
		opts.Metrics = telemetry.NewMetrics()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Checker{opts: opts, idBase: hex.EncodeToString(b[:]) + "-",
		ops: opsmetrics.Recorder{Metrics: opts.Metrics, Tally: opts.Tally}}
}

// Answer is a verdict rendered for a gateway.
type Answer struct {
	// Allowed says the gateway may send the request upstream.
	Allowed bool
	// Status is 200 when allowed, else the guard's status (429, 403, ...).
	Status int
	// Header goes to the client: the RateLimit headers on every answer;
	// Content-Type, Cache-Control and Retry-After on a refusal; a
	// challenge's WWW-Authenticate; the Abuseguard-Pass header (and, for
	// a browser, the one pass cookie) when a solution earned a pass.
	Header http.Header
	// Body is the body of a refusal, nil when allowed: the problem+json
	// body, or, when Page, the challenge's interstitial page.
	Body []byte
	// Problem is the problem+json body of a refusal even when Body is the
	// interstitial page (for gateways that pass the problem in a header
	// and have the page rendered apart, nginx).
	Problem []byte
	// Page: Body is the interstitial page of a challenge (a browser
	// navigating), text/html.
	Page bool
	// Upstream are the identity headers for the upstream, when allowed:
	// every configured one, with "" for what the request lacks, so that a
	// gateway replaces (or removes) any a client sent itself.
	Upstream []Header
	// RequestID names the decision in the access log and the problem body.
	RequestID string
	// Reason is the refusal's reason code, "" when allowed.
	Reason string
}

// Header is one header name and value.
type Header struct{ Name, Value string }

// Check decides in. in.Peer is the gateway's view of the client (for
// Envoy, the source address) or the gateway itself with the client in
// X-Forwarded-For: the client address is found through the configured
// trusted proxies, as the inline proxy finds it.
func (c *Checker) Check(in *request.Input) *Answer {
	return c.CheckContext(context.Background(), in)
}

// CheckContext is Check for a request whose context may carry a trace
// span (otelhttp's or otelgrpc's): the span's trace id goes into the
// request's events and access log line, and the verdict onto the span as
// attributes.
func (c *Checker) CheckContext(ctx context.Context, in *request.Input) *Answer {
	start := c.opts.Now()
	pol := c.opts.Engine.Policy()
	id := c.requestID()
	var v request.View
	v.ID = id
	span := trace.SpanFromContext(ctx)
	if sc := span.SpanContext(); sc.IsValid() {
		v.TraceID = sc.TraceID().String()
	}
	a := &Answer{Header: http.Header{}, RequestID: id}
	if prob := pol.Parser.Parse(in, start, &v); prob != nil {
		prob.RequestID = id
		c.refuse(a, prob)
		c.opts.Metrics.Refused.WithLabelValues(prob.Reason).Inc()
		c.log(span, &v, a, opsmetrics.Unparsed(&v, prob.Reason), start)
		return a
	}
	vd := pol.Decide(&v)
	c.opts.Metrics.DecisionSeconds.Observe(c.opts.Now().Sub(start).Seconds())
	// Gateways pass one Set-Cookie on at most (see verdict.OneCookie).
	vd.Secure, vd.OneCookie = in.TLS, true
	c.opts.Metrics.CountChallenge(&vd.Verdict)
	w := capture{h: a.Header}
	if vd.WriteHTTP(&w, id) {
		a.Status, a.Body, a.Problem = w.status, w.body.Bytes(), w.body.Bytes()
		if vd.Page && vd.Challenge.Token != "" {
			a.Page = true
			a.Problem = problem.Marshal(vd.Problem(id))
		}
	} else {
		a.Allowed, a.Status = true, http.StatusOK
		a.Upstream = c.identity(pol, &v, vd)
	}
	l := c.ops.Decided(&v, vd)
	a.Reason = l.Reason
	c.log(span, &v, a, l, start)
	// The gateway, not the guard, sees the request end: in-flight slots
	// are released at once, so concurrency limits do not apply here.
	vd.Finish(c.opts.Now())
	return a
}

// identity returns the configured identity headers, "" where the request
// has no value.
func (c *Checker) identity(pol *engine.Policy, v *request.View, vd *engine.Verdict) []Header {
	ih := &c.opts.Identity
	out := make([]Header, 0, 5)
	add := func(name, value string) {
		if name != "" {
			out = append(out, Header{name, value})
		}
	}
	add(ih.KeyID, v.Identity.KeyID)
	add(ih.User, v.Identity.User)
	add(ih.Tenant, v.Identity.Tenant)
	add(ih.Plan, v.Identity.Plan)
	if ih.Risk != "" {
		add(ih.Risk, pol.RiskBand(v, vd).String())
	}

	return out
}

// refuse renders a refusal made before any decision (a bad forwarding
// header, an expired token).
func (c *Checker) refuse(a *Answer, prob *problem.Problem) {
	w := capture{h: a.Header}
	problem.Write(&w, prob)
	a.Status, a.Body, a.Problem, a.Reason = w.status, w.body.Bytes(), w.body.Bytes(), prob.Reason
}

// log writes the access log line of a checked request and puts its
// labels on span when it records.
func (c *Checker) log(span trace.Span, v *request.View, a *Answer, l opsmetrics.Labels, start time.Time) {
	l.Annotate(span, a.RequestID)
	if c.opts.AccessLog != nil {
		line := l.Access(v, start, a.Status, c.opts.Now().Sub(start), int64(len(a.Body)))
		c.opts.AccessLog.Log(&line)
	}
}

func (c *Checker) requestID() string {
	var b [16]byte
	return c.idBase + string(strconv.AppendUint(b[:0], c.idCount.Add(1), 36))
}

// capture is the http.ResponseWriter verdicts are rendered into.
type capture struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *capture) Header() http.Header { return w.h }
func (w *capture) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *capture) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

var (
	_ http.ResponseWriter = (*capture)(nil)
	_ request.Header      = MapHeader(nil)
)

// Trusts reports whether peer ("ip:port" or an IP) is one of the
// configured trusted proxies, whose forwarding headers are believed.
func (c *Checker) Trusts(peer string) bool {
	pol := c.opts.Engine.Policy()
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		a, err := netip.ParseAddr(peer)
		if err != nil {
			return false
		}
		return pol.Parser.Proxies.Trusts(a.Unmap())
	}
	return pol.Parser.Proxies.Trusts(ap.Addr().Unmap())
}

// MapHeader is Envoy's header map (lower-case names, repeated headers
// joined by commas), as Check requests and access log entries carry it,
// as a request.Header.
type MapHeader map[string]string

// lower returns name in lower case, using buf when it must change.
func lower(name string, buf []byte) []byte {
	buf = append(buf[:0], name...)
	for i, c := range buf {
		if 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return buf
}

// Get returns the value of name.
func (h MapHeader) Get(name string) string {
	var buf [64]byte
	return h[string(lower(name, buf[:0]))]
}

// Values returns the value of name as one element, or nil.
func (h MapHeader) Values(name string) []string {
	var buf [64]byte
	if v, ok := h[string(lower(name, buf[:0]))]; ok {
		return []string{v}
	}
	return nil
}

// Names calls f with each header's canonical name; HTTP/2 pseudo-headers
// (":path") are left out.
func (h MapHeader) Names(f func(string)) {
	for k := range h {
		if !strings.HasPrefix(k, ":") {
			f(textproto.CanonicalMIMEHeaderKey(k))
		}
	}
}
