package serve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authpb "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestGatewayFrontsFeedOperations runs serve with forward-auth and
// ext_authz only (no inline proxy) and events going to a syslog listener:
// what those fronts decide counts in the operations metrics (acted by
// reason, limit usage) exactly as the proxy's decisions do, and the
// decision a prober earns through forward-auth reaches the SIEM.
func TestGatewayFrontsFeedOperations(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := filepath.Join(t.TempDir(), "abuseguard.yaml")
	conf := fmt.Sprintf(`decisions: {path: ""}
access_log: off
events: "syslog+udp://%s"
network: {trusted_proxies: [127.0.0.1/32]}
limits:
  - {name: tight, key: [ip], rate: 1/h, burst: 1, routes: [login]}
routes:
  - {name: login, match: /login}
  - {name: trap, match: /admin-backup, kind: decoy}
`, pc.LocalAddr())
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	addrs := map[string]string{}
	in := start(t, Options{ConfigFile: cfg, ForwardAuthListen: "127.0.0.1:0", ExtAuthzListen: "127.0.0.1:0",
		Listening: func(front string, a net.Addr) { mu.Lock(); addrs[front] = a.String(); mu.Unlock() }})
	mu.Lock()
	fa, ea := addrs["forward_auth"], addrs["ext_authz"]
	mu.Unlock()

	auth := func(client, uri string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+fa+"/auth", nil)
		req.Header.Set("X-Forwarded-For", client)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", uri)
		req.Header.Set("X-Forwarded-Host", "api.example")
		resp, err := in.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The limit through forward-auth: the second login is refused.
	if s1, s2 := auth("192.0.2.10", "/login"), auth("192.0.2.10", "/login"); s1 != 200 || s2 != 429 {
		t.Fatalf("forward-auth logins: %d then %d, want 200 then 429", s1, s2)
	}
	// The same limit through ext_authz over gRPC.
	conn, err := grpc.NewClient(ea, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	check := func(client string) int32 {
		resp, err := authpb.NewAuthorizationClient(conn).Check(ctx, &authpb.CheckRequest{Attributes: &authpb.AttributeContext{
			Source: &authpb.AttributeContext_Peer{Address: &corepb.Address{Address: &corepb.Address_SocketAddress{
				SocketAddress: &corepb.SocketAddress{Address: client, PortSpecifier: &corepb.SocketAddress_PortValue{PortValue: 4000}}}}},
			Request: &authpb.AttributeContext_Request{Http: &authpb.AttributeContext_HttpRequest{
				Method: "GET", Path: "/login", Host: "api.example", Headers: map[string]string{}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus().GetCode()
	}
	if c1, c2 := check("192.0.2.11"), check("192.0.2.11"); c1 != 0 || c2 == 0 {
		t.Fatalf("ext_authz logins: code %d then %d, want OK then a denial", c1, c2)
	}
	// A prober through forward-auth touches the decoy route: the
	// honeypot blocks it at once.
	if s1, s2 := auth("192.0.2.12", "/admin-backup"), auth("192.0.2.12", "/"); s1 != 403 || s2 != 403 {
		t.Fatalf("the prober through forward-auth: %d then %d, want 403 (the decoy) then 403 (the decision)", s1, s2)
	}

	for series, want := range map[string]string{
		`abuseguard_acted_total{action="throttle",identity="anonymous",mode="enforce",reason="rate_limited"}`: "2",
		`abuseguard_limit_usage_ratio_count{limit="tight"}`:                                                   "4",
		`abuseguard_decisions_total{action="block",mode="enforce",reason="honeypot",source="detector"}`:       "1",
	} {
		if got, _ := in.metric(t, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	if got, _ := in.metric(t, `abuseguard_acted_total{action="block",identity="anonymous",mode="enforce",reason="honeypot"}`); got != "2" {
		t.Errorf("the prober's refusals through forward-auth in abuseguard_acted_total: %q, want 2", got)
	}

	if err := in.stop(t); err != nil { // delivers what is queued
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the forward-auth decision's event did not reach syslog: %v", err)
		}
		if msg := string(buf[:n]); strings.Contains(msg, `"action":"decision"`) && strings.Contains(msg, `"ip":"192.0.2.12"`) {
			return
		}
	}
}
