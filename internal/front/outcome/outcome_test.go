package outcome

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datapb "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alspb "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/front/grpcserver"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

// newEngine is the default config (every default detector on).
func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	ds, err := decision.Open(decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := engine.Compile(cfg, engine.NewShared(engine.Options{Limits: memory.New(memory.Options{}), Decisions: ds, RiskEntities: 1000, Getenv: os.Getenv}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pol.Close)
	return engine.New(pol)
}

func entry(ip, path string, status uint32, at time.Time) *datapb.HTTPAccessLogEntry {
	return &datapb.HTTPAccessLogEntry{
		CommonProperties: &datapb.AccessLogCommon{
			DownstreamRemoteAddress: &corepb.Address{Address: &corepb.Address_SocketAddress{SocketAddress: &corepb.SocketAddress{
				Address: ip, PortSpecifier: &corepb.SocketAddress_PortValue{PortValue: 50000}}}},
			StartTime:                  timestamppb.New(at),
			TimeToLastDownstreamTxByte: durationpb.New(3 * time.Millisecond),
		},
		Request: &datapb.HTTPRequestProperties{RequestMethod: corepb.RequestMethod_GET, Path: path, Authority: "api.example",
			UserAgent: "Mozilla/5.0", RequestHeaders: map[string]string{"accept-language": "en"}},
		Response: &datapb.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(status), ResponseBodyBytes: 12},
	}
}

// TestALSFeedsProbing streams Envoy access log entries of one client's
// 404s on many paths: the probing detector sees them and the client's next
// request is refused. Entries of requests the guard refused, and entries
// without a status, feed nothing.
func TestALSFeedsProbing(t *testing.T) {
	eng := newEngine(t)
	feeder := NewFeeder(eng)
	srv := grpcserver.New(grpcserver.Options{})
	srv.Ready(NewALS(feeder).Register(srv.GRPC))
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
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	checker := gateway.New(gateway.Options{Engine: eng})
	ask := func() *gateway.Answer {
		return checker.Check(&request.Input{Peer: "203.0.113.7:1234", Method: "GET", Host: "api.example", Path: "/items",
			Header: gateway.MapHeader{"user-agent": "Mozilla/5.0", "accept-language": "en", "accept-encoding": "gzip"}})
	}
	if a := ask(); !a.Allowed {
		t.Fatalf("refused before any outcome: %d %s", a.Status, a.Body)
	}

	stream, err := alspb.NewAccessLogServiceClient(conn).StreamAccessLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var logs []*datapb.HTTPAccessLogEntry
	for i := range 60 {
		logs = append(logs, entry("203.0.113.7", "/wp-admin/"+strconv.Itoa(i)+".php", 404, now))
	}
	denied := entry("198.51.100.1", "/x", 403, now)
	denied.CommonProperties.ResponseFlags = &datapb.ResponseFlags{UnauthorizedDetails: &datapb.ResponseFlags_Unauthorized{}}
	noStatus := entry("198.51.100.2", "/y", 0, now)
	noStatus.Response.ResponseCode = nil
	logs = append(logs, denied, noStatus)
	if err := stream.Send(&alspb.StreamAccessLogsMessage{
		Identifier: &alspb.StreamAccessLogsMessage_Identifier{Node: &corepb.Node{Id: "envoy-1"}, LogName: "api"},
		LogEntries: &alspb.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alspb.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: logs}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	if fed, refused, bad := feeder.Fed.Load(), feeder.Refused.Load(), feeder.Bad.Load(); fed != 60 || refused != 1 || bad != 1 {
		t.Errorf("fed %d refused %d bad %d, want 60 1 1", fed, refused, bad)
	}
	if a := ask(); a.Allowed {
		t.Error("60 404s on probing paths fed over ALS did not get the client refused")
	}
}

// TestSyslog feeds nginx's JSON lines (syslog-wrapped, as nginx sends
// them) and counts and skips a line that does not parse.
func TestSyslog(t *testing.T) {
	feeder := NewFeeder(newEngine(t))
	s, err := ListenSyslog("127.0.0.1:0", feeder, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := `<190>Dec  7 06:30:00 gw abuseguard: {"time":"2026-12-07T06:30:00+00:00","remote_addr":"203.0.113.9","method":"GET","host":"api.example","uri":"/items","args":"","status":404,"bytes":12,"request_time":0.003,"user_agent":"curl/8","key_id":"","user":""}`
	for _, line := range []string{"<190>Dec  7 06:30:00 gw abuseguard: not json", good} {
		if _, err := c.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for feeder.Fed.Load()+feeder.Bad.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fed, bad := feeder.Fed.Load(), feeder.Bad.Load(); fed != 1 || bad != 1 {
		t.Errorf("fed %d bad %d, want 1 and 1", fed, bad)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
