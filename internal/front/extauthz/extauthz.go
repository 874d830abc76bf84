// Package extauthz is the Envoy external authorization front
// (envoy.service.auth.v3.Authorization/Check over gRPC). Envoy asks about
// each request before routing it; the guard's refusal reaches the client
// as Envoy's denied response (status, problem+json body, Retry-After and
// RateLimit headers), and an allowed request goes upstream with identity
// headers added.
package extauthz

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authpb "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typepb "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// Server answers Check. It is safe for concurrent use.
type Server struct {
	authpb.UnimplementedAuthorizationServer
	checker *gateway.Checker
}

// New returns a Server deciding with checker.
func New(checker *gateway.Checker) *Server { return &Server{checker: checker} }

// Register adds s to g and returns the service name, for the health
// service.
func (s *Server) Register(g *grpc.Server) string {
	authpb.RegisterAuthorizationServer(g, s)
	return authpb.Authorization_ServiceDesc.ServiceName
}

// Check decides the HTTP request in req. The client is the request's
// source address, or, when that is a trusted proxy, the address its
// X-Forwarded-For names. A request Check cannot read (no HTTP attributes,
// a path that is not a request target) is denied with 400.
func (s *Server) Check(_ context.Context, req *authpb.CheckRequest) (*authpb.CheckResponse, error) {
	var in request.Input
	if !input(req, &in) {
		return denied(http.StatusBadRequest, nil, `{"type":"https://abuseguard.dev/problems/bad_check_request","status":400,"reason":"bad_check_request"}`), nil
	}
	a := s.checker.Check(&in)
	if !a.Allowed {
		return denied(a.Status, a.Header, string(a.Body)), nil
	}
	// The challenge protocol's headers are the guard's business, not the
	// upstream's.
	ok := &authpb.OkHttpResponse{HeadersToRemove: []string{protocolSolution, protocolPass}}
	for _, u := range a.Upstream {
		if u.Value == "" {
			// Not the client's to say: drop one it sent.
			ok.HeadersToRemove = append(ok.HeadersToRemove, u.Name)
			continue
		}
		ok.Headers = append(ok.Headers, header(u.Name, u.Value))
	}
	// To the client: RateLimit, and the pass (header and, for a browser,
	// cookie) a solution earned.
	for name, vs := range a.Header {
		for _, v := range vs {
			ok.ResponseHeadersToAdd = append(ok.ResponseHeadersToAdd, header(name, v))
		}
	}
	return &authpb.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authpb.CheckResponse_OkResponse{OkResponse: ok},
	}, nil
}

// input fills in from req, and reports false when req holds no HTTP
// request it can read.
func input(req *authpb.CheckRequest, in *request.Input) bool {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	if h == nil || h.GetMethod() == "" {
		return false
	}
	target := h.GetPath()
	if target == "" {
		target = "/"
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return false
	}
	*in = request.Input{Method: h.GetMethod(), Host: h.GetHost(), Path: u.Path, RawQuery: u.RawQuery,
		Target: target, Header: gateway.MapHeader(h.GetHeaders()), TLS: h.GetScheme() == "https"}
	if sa := attrs.GetSource().GetAddress().GetSocketAddress(); sa != nil {
		in.Peer = net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
	}
	if body := h.GetRawBody(); len(body) > 0 {
		in.Body = peekBody(body)
	} else if b := h.GetBody(); b != "" {
		in.Body = peekBody(b)
	}
	return true
}

// denied is a refusal in Envoy's terms: the gRPC code that matches the
// status, and the HTTP response for the client.
func denied(status int, h http.Header, body string) *authpb.CheckResponse {
	code := codes.PermissionDenied
	switch status {
	case http.StatusTooManyRequests:
		code = codes.ResourceExhausted
	case http.StatusUnauthorized:
		code = codes.Unauthenticated
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	}
	d := &authpb.DeniedHttpResponse{Status: &typepb.HttpStatus{Code: typepb.StatusCode(status)}, Body: body}
	if h == nil {
		d.Headers = append(d.Headers, header("Content-Type", "application/problem+json"))
	}
	for name, vs := range h {
		for _, v := range vs {
			d.Headers = append(d.Headers, header(name, v))
		}
	}
	return &authpb.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(code)},
		HttpResponse: &authpb.CheckResponse_DeniedResponse{DeniedResponse: d},
	}
}

// header is one header for Envoy to set: it replaces one of the same
// name, but for Set-Cookie, which is added (cookies do not combine).
func header(name, value string) *corepb.HeaderValueOption {
	action := corepb.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	if strings.EqualFold(name, "Set-Cookie") {
		action = corepb.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	}
	return &corepb.HeaderValueOption{Header: &corepb.HeaderValue{Key: name, Value: value}, AppendAction: action}
}

// The challenge protocol's request headers, as Envoy names them.
var (
	protocolSolution = strings.ToLower(challenge.SolutionHeader)
	protocolPass     = strings.ToLower(challenge.PassHeader)
)

// peekBody is a body Envoy buffered into the Check request
// (with_request_body).
type peekBody []byte

// Peek returns the body when it is at most max bytes.
func (b peekBody) Peek(max int) []byte {
	if len(b) == 0 || len(b) > max {
		return nil
	}
	return b
}

var (
	_ authpb.AuthorizationServer = (*Server)(nil)
	_ request.Body               = peekBody(nil)
)
