// Package forwardauth is the HTTP authorization front: nginx auth_request,
// Caddy forward_auth and Traefik ForwardAuth ask it at /auth about the
// request they hold, and Envoy's HTTP ext_authz filter asks it under
// /ext_authz. A 200 answer lets the request through, with identity headers
// for the gateway to copy upstream; any other answer is the guard's
// refusal (status, problem+json body, Retry-After and RateLimit headers).
package forwardauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	pages "github.com/abuseguard/abuseguard/internal/challenge"
	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/problem"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// Paths the handler answers.
const (
	// AuthPath is the forward-auth endpoint.
	AuthPath = "/auth"
	// ExtAuthzPrefix is the path_prefix of Envoy's HTTP ext_authz service:
	// the original path follows it.
	ExtAuthzPrefix = "/ext_authz"
	// ChallengePath renders a challenge's interstitial page for gateways
	// that cannot pass the guard's refusal body through (nginx): they ask
	// it with the refusal's ProblemHeader.
	ChallengePath = "/challenge"
)

// Headers a refusal carries for gateways that cannot pass the guard's
// status and body through themselves (nginx's auth_request turns any
// status but 401 and 403 into 500): the status, and the problem+json body
// on one line.
// PageHeader ("1") marks a refusal whose body is a challenge's
// interstitial page rather than problem+json: such a gateway has
// ChallengePath render it.
const (
	StatusHeader  = "X-Abuseguard-Status"
	ProblemHeader = "X-Abuseguard-Problem"
	PageHeader    = "X-Abuseguard-Page"
)

// maxProblemHeader caps the problem body copied into ProblemHeader.
const maxProblemHeader = 2048

// Handler answers authorization subrequests. It is safe for concurrent use.
type Handler struct {
	checker *gateway.Checker
}

// New returns a Handler deciding with checker.
func New(checker *gateway.Checker) *Handler { return &Handler{checker: checker} }

// ServeHTTP answers /auth (forward-auth), /ext_authz/... (Envoy HTTP
// ext_authz) and /challenge (the interstitial page); any other path is
// 404.
//
// At /auth the original request is read from X-Forwarded-Method,
// X-Forwarded-Uri and X-Forwarded-Host (or nginx's X-Original-Method and
// X-Original-Uri), the client from X-Forwarded-For, and only when the
// subrequest comes from a trusted proxy: from any other peer the answer is
// 403 untrusted_gateway, since those headers would be the client's own.
// A client's Forwarded header is never read here; gateways pass it through
// untouched, so it would be the client's word. X-Forwarded-Proto "https"
// from the gateway marks the client's connection as TLS (cookies are then
// Secure).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in request.Input
	switch {
	case r.URL.Path == ChallengePath:
		h.page(w, r)
		return
	case r.URL.Path == AuthPath:
		if !h.checker.Trusts(r.RemoteAddr) {
			problem.Write(w, &problem.Problem{Status: http.StatusForbidden, Reason: "untrusted_gateway",
				Detail: "forward-auth answers trusted proxies only: add the gateway's address to network.trusted_proxies"})
			return
		}
		if !forwarded(r, &in) {
			problem.Write(w, &problem.Problem{Status: http.StatusBadRequest, Reason: "bad_forwarded_uri",
				Detail: "X-Forwarded-Uri (or X-Original-Uri) is not a request target"})
			return
		}
	case r.URL.Path == ExtAuthzPrefix || strings.HasPrefix(r.URL.Path, ExtAuthzPrefix+"/"):
		in = request.Input{Peer: r.RemoteAddr, Method: r.Method, Host: r.Host,
			Path: strings.TrimPrefix(r.URL.Path, ExtAuthzPrefix), RawQuery: r.URL.RawQuery,
			Header: gatewayHeader(r.Header), TLS: r.Header.Get("X-Forwarded-Proto") == "https"}
		if in.Path == "" {
			in.Path = "/"
		}
		in.Target = in.Path
		if in.RawQuery != "" {
			in.Target += "?" + in.RawQuery
		}
	default:
		problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "unknown_route",
			Detail: "this listener answers " + AuthPath + " and " + ExtAuthzPrefix + "/..."})
		return
	}
	a := h.checker.Check(&in)
	out := w.Header()
	for k, vs := range a.Header {
		out[k] = vs
	}
	if a.Allowed {
		for _, u := range a.Upstream {
			out.Set(u.Name, u.Value)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	out.Set(StatusHeader, strconv.Itoa(a.Status))
	if b := strings.TrimSpace(string(a.Problem)); len(b) <= maxProblemHeader && !strings.ContainsAny(b, "\r\n") {
		out.Set(ProblemHeader, b)
	}
	if a.Page {
		out.Set(PageHeader, "1")
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// forwarded fills in from a trusted gateway's subrequest, and reports
// false when its URI header does not parse.
func forwarded(r *http.Request, in *request.Input) bool {
	h := r.Header
	method := first(h, "X-Forwarded-Method", "X-Original-Method")
	if method == "" {
		method = r.Method
	}
	target := first(h, "X-Forwarded-Uri", "X-Original-Uri")
	if target == "" {
		target = "/"
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return false
	}
	host := h.Get("X-Forwarded-Host")
	if host == "" {
		host = r.Host
	}
	*in = request.Input{Peer: r.RemoteAddr, Method: method, Host: host, Path: u.Path, RawQuery: u.RawQuery,
		Target: target, Header: gatewayHeader(h), TLS: h.Get("X-Forwarded-Proto") == "https"}
	return true
}

// page answers ChallengePath: the interstitial page, with status 429 and
// WWW-Authenticate, for the challenge in the problem+json body a trusted
// gateway passes in ProblemHeader (the guard's own refusal, as /auth
// answered it). The page is the one /auth would have sent; it holds
// nothing but what the gateway sends.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	if !h.checker.Trusts(r.RemoteAddr) {
		problem.Write(w, &problem.Problem{Status: http.StatusForbidden, Reason: "untrusted_gateway",
			Detail: "the challenge page is rendered for trusted proxies only: add the gateway's address to network.trusted_proxies"})
		return
	}
	body := []byte(r.Header.Get(ProblemHeader))
	c, err := challenge.ParseProblem(body)
	if err != nil {
		problem.Write(w, &problem.Problem{Status: http.StatusBadRequest, Reason: "bad_challenge",
			Detail: ProblemHeader + " holds no challenge: " + err.Error()})
		return
	}
	var ref struct {
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(body, &ref) // ParseProblem read it: it is JSON
	out := w.Header()
	out.Set("Content-Type", "text/html; charset=utf-8")
	out.Set("Cache-Control", "no-store")
	out.Set("Www-Authenticate", c.WWWAuthenticate())
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(pages.Page(c, ref.RequestID))
}

func first(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// gatewayHeader is a subrequest's headers as the guard reads them: the
// original request's, without Forwarded (which gateways pass through from
// the client) and without the subrequest's own X-Forwarded-Method, -Uri,
// -Host and X-Original-* headers.
type gatewayHeader http.Header

func hidden(name string) bool {
	switch name {
	case "Forwarded", "X-Forwarded-Method", "X-Forwarded-Uri", "X-Forwarded-Host", "X-Original-Method", "X-Original-Uri", "X-Original-Url":
		return true
	}
	return false
}

// Get returns the first value of name.
func (g gatewayHeader) Get(name string) string {
	if hidden(name) {
		return ""
	}
	if vs := g[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Values returns the values of name.
func (g gatewayHeader) Values(name string) []string {
	if hidden(name) {
		return nil
	}
	return g[name]
}

// Names calls f with each header name.
func (g gatewayHeader) Names(f func(string)) {
	for k := range g {
		if !hidden(k) {
			f(k)
		}
	}
}

var (
	_ request.Header = gatewayHeader(nil)
	_ http.Handler   = (*Handler)(nil)
)
