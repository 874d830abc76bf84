package extauthz

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	bootstrappb "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmpb "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	authpb "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/front/grpcserver"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

const guardYAML = `
network:
  trusted_proxies: [10.0.0.0/8]
identity:
  api_key:
    header: X-API-Key
    keys:
      - {id: acme-prod, sha256: 0b131655124822cb1cf254042086d2bf26a4f1c6cd82727aab583e915346aca3, tenant: acme}
limits:
  - name: per-ip
    key: [ip]
    rate: 2/m
    burst: 2
rules:
  - name: banned
    when: 'request.ip == "198.51.100.9"'
    action: block
    reason: banned
detectors:
  honeypot: {mode: off}
  probing: {mode: off}
  automation: {mode: off}
  scraping: {mode: off}
  credentials: {mode: off}
  enumeration: {mode: off}
  sharing: {mode: off}
  volumetric: {mode: off}
  graphql: {mode: off}
`

// newServer is a Server over guardYAML and a fresh memory store.
func newServer(t testing.TB) *Server {
	t.Helper()
	return newServerYAML(t, guardYAML)
}

// newServerYAML is newServer with the config yaml.
func newServerYAML(t testing.TB, yaml string) *Server {
	t.Helper()
	cfg, err := config.Parse("guard.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := engine.Compile(cfg, engine.NewShared(engine.Options{Limits: memory.New(memory.Options{}), RiskEntities: 1000, Getenv: os.Getenv}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pol.Close)
	return New(gateway.New(gateway.Options{Engine: engine.New(pol), Identity: cfg.Fronts.ForwardAuth.IdentityHeaders}))
}

func client(t *testing.T) authpb.AuthorizationClient {
	t.Helper()
	return clientOf(t, newServer(t))
}

// clientOf serves s on a loopback port and returns a client of it.
func clientOf(t *testing.T, s *Server) authpb.AuthorizationClient {
	t.Helper()
	srv := grpcserver.New(grpcserver.Options{})
	srv.Ready(s.Register(srv.GRPC))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.GRPC.Serve(ln)
	t.Cleanup(srv.Drain)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authpb.NewAuthorizationClient(conn)
}

// check asks as Envoy does about a request from source with headers.
func check(t *testing.T, c authpb.AuthorizationClient, source, path string, headers map[string]string) *authpb.CheckResponse {
	t.Helper()
	return checkScheme(t, c, source, path, "http", headers)
}

// checkScheme is check for a request Envoy received over scheme.
func checkScheme(t *testing.T, c authpb.AuthorizationClient, source, path, scheme string, headers map[string]string) *authpb.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Check(ctx, &authpb.CheckRequest{Attributes: &authpb.AttributeContext{
		Source: &authpb.AttributeContext_Peer{Address: &corepb.Address{Address: &corepb.Address_SocketAddress{
			SocketAddress: &corepb.SocketAddress{Address: source, PortSpecifier: &corepb.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authpb.AttributeContext_Request{Http: &authpb.AttributeContext_HttpRequest{
			Method: "GET", Path: path, Host: "api.example", Scheme: scheme, Headers: headers}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func headerMap(hs []*corepb.HeaderValueOption) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return m
}

func TestCheck(t *testing.T) {
	c := client(t)
	// A client Envoy sees directly: its own X-Forwarded-For is not read.
	for i := range 2 {
		resp := check(t, c, "203.0.113.5", "/items?page=2", map[string]string{"x-forwarded-for": "198.51.100.9", "x-abuseguard-user": "mallory"})
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			t.Fatalf("request %d denied: %v", i+1, resp)
		}
		ok := resp.GetOkResponse()
		if !contains(ok.GetHeadersToRemove(), "X-Abuseguard-User") {
			t.Errorf("the client's own identity header is not removed: %v", ok.GetHeadersToRemove())
		}
		if rl := headerMap(ok.GetResponseHeadersToAdd())["Ratelimit"]; !strings.HasPrefix(rl, `"per-ip";r=`) {
			t.Errorf("RateLimit for the client: %q", rl)
		}
	}
	resp := check(t, c, "203.0.113.5", "/items", nil)
	d := resp.GetDeniedResponse()
	if codes.Code(resp.GetStatus().GetCode()) != codes.ResourceExhausted || d.GetStatus().GetCode() != 429 {
		t.Fatalf("third request: %v", resp)
	}
	h := headerMap(d.GetHeaders())
	if h["Retry-After"] == "" || h["Content-Type"] != "application/problem+json" || !strings.Contains(d.GetBody(), `"reason":"rate_limited"`) {
		t.Errorf("429: headers %v body %s", h, d.GetBody())
	}

	// Behind a trusted load balancer, the client is the one it names.
	resp = check(t, c, "10.1.2.3", "/items", map[string]string{"x-forwarded-for": "192.0.2.1, 198.51.100.9"})
	if d := resp.GetDeniedResponse(); d.GetStatus().GetCode() != 403 || !strings.Contains(d.GetBody(), `"reason":"banned"`) {
		t.Errorf("banned client behind the balancer: %v", resp)
	}

	// A known key's identity goes upstream.
	resp = check(t, c, "203.0.113.6", "/items", map[string]string{"x-api-key": "k-acme"})
	if got := headerMap(resp.GetOkResponse().GetHeaders()); got["X-Abuseguard-Key-Id"] != "acme-prod" || got["X-Abuseguard-Tenant"] != "acme" {
		t.Errorf("identity headers: %v (%v)", got, resp)
	}

	// A Check without an HTTP request is refused, not a panic.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bad, err := c.Check(ctx, &authpb.CheckRequest{})
	if err != nil || bad.GetDeniedResponse().GetStatus().GetCode() != 400 {
		t.Errorf("empty Check: %v %v", bad, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDeployEnvoyConfig decodes deploy/gateways/envoy.yaml as Envoy's v3
// bootstrap, with every typed_config resolved, and checks it against the
// protos' validation rules: Envoy is not packaged here, so this is the
// check that the example is a valid Envoy config.
func TestDeployEnvoyConfig(t *testing.T) {
	raw, err := os.ReadFile("../../../deploy/gateways/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrappb.Bootstrap
	if err := protojson.Unmarshal(js, &b); err != nil {
		t.Fatalf("envoy.yaml is not a v3 bootstrap: %v", err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	validateAny := func(a *anypb.Any) proto.Message {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("%s: %v", a.GetTypeUrl(), err)
		}
		if v, ok := m.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				t.Errorf("%s: %v", a.GetTypeUrl(), err)
			}
		}
		return m
	}
	var filters []string
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm, ok := validateAny(f.GetTypedConfig()).(*hcmpb.HttpConnectionManager)
				if !ok {
					continue
				}
				for _, al := range hcm.GetAccessLog() {
					validateAny(al.GetTypedConfig())
					filters = append(filters, al.GetName())
				}
				for _, hf := range hcm.GetHttpFilters() {
					validateAny(hf.GetTypedConfig())
					filters = append(filters, hf.GetName())
				}
			}
		}
	}
	if got := strings.Join(filters, ","); got != "envoy.access_loggers.http_grpc,envoy.filters.http.ext_authz,envoy.filters.http.ratelimit,envoy.filters.http.router" {
		t.Errorf("access loggers and http filters %s", got)
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		for _, a := range c.GetTypedExtensionProtocolOptions() {
			validateAny(a)
		}
	}
}

// FuzzCheck sends Check requests with arbitrary HTTP attributes: every
// answer is an allow or a denial with a 4xx status, never a panic or an
// error.
func FuzzCheck(f *testing.F) {
	f.Add("GET", "/items?x=1", "api.example", "203.0.113.5", "198.51.100.9", "k-acme", []byte(nil))
	f.Add("POST", "%zz", "", "not-an-ip", "", "", []byte(`{"username":"a"}`))
	f.Add("", "", "", "", "", "", []byte{})
	s := newServer(f)
	f.Fuzz(func(t *testing.T, method, path, host, source, xff, key string, body []byte) {
		if len(method)+len(path)+len(host)+len(source)+len(xff)+len(key)+len(body) > 8192 {
			return
		}
		req := &authpb.CheckRequest{Attributes: &authpb.AttributeContext{
			Source: &authpb.AttributeContext_Peer{Address: &corepb.Address{Address: &corepb.Address_SocketAddress{
				SocketAddress: &corepb.SocketAddress{Address: source}}}},
			Request: &authpb.AttributeContext_Request{Http: &authpb.AttributeContext_HttpRequest{
				Method: method, Path: path, Host: host, RawBody: body,
				Headers: map[string]string{"x-forwarded-for": xff, "x-api-key": key}}},
		}}
		resp, err := s.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if d := resp.GetDeniedResponse(); d != nil && (d.GetStatus().GetCode() < 400 || d.GetStatus().GetCode() >= 500) {
			t.Fatalf("denied with %v", d.GetStatus())
		}
	})
}
