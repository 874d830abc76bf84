// Package outcome feeds the outcomes of requests a gateway forwarded
// (status, latency, bytes) back to the detectors, for the fronts that
// decide before the upstream answers (forward-auth, ext_authz, RLS): an
// Envoy access log service (ALS v3) receiver, and an nginx access-log
// receiver over syslog (UDP). Requests the guard refused are not fed: the
// gateway logs the guard's own 429 or 403, which is no outcome of the API.
package outcome

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	datapb "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alspb "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"

	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/front/opsmetrics"
	"github.com/abuseguard/abuseguard/internal/replay"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Feeder shows outcomes to the current policy's detectors. It counts what
// it fed and what it skipped; it is safe for concurrent use.
type Feeder struct {
	engine *engine.Engine
	// Fed, Refused and Bad count outcomes fed, skipped because the guard
	// refused the request, and entries or lines that did not parse.
	Fed, Refused, Bad atomic.Uint64
	// Ops, when set before the first Feed, records each fed outcome's
	// upstream status and time (abuseguard_upstream_responses_total and
	// _cost_seconds_total), as the inline proxy does.
	Ops *opsmetrics.Recorder
}

// NewFeeder returns a Feeder for e.
func NewFeeder(e *engine.Engine) *Feeder { return &Feeder{engine: e} }

// Feed parses in as the front that decided the request did and shows the
// detectors its outcome. keyID and user, when the log carries the guard's
// identity headers, stand for the identity the headers would give.
func (f *Feeder) Feed(in *request.Input, at time.Time, keyID, user string, o verdict.Outcome) {
	pol := f.engine.Policy()
	var v request.View
	if prob := pol.Parser.Parse(in, at, &v); prob != nil {
		f.Bad.Add(1)
		return
	}
	if keyID != "" {
		v.Identity.KeyID = keyID
	}
	if user != "" {
		v.Identity.User = user
	}
	pol.Observe(&v, o)
	f.Fed.Add(1)
	if f.Ops != nil {
		route := ""
		if v.Route != nil {
			route = v.Route.Name
		}
		f.Ops.Upstream(route, o.Status, o.Latency)
	}
}

// ALS is the Envoy access log service: envoy.service.accesslog.v3
// StreamAccessLogs. Configure Envoy's http_grpc access logger with the
// request headers the guard reads (the API key header, Authorization,
// X-Forwarded-For) in additional_request_headers_to_log.
type ALS struct {
	alspb.UnimplementedAccessLogServiceServer
	feeder *Feeder
}

// NewALS returns an ALS server feeding f.
func NewALS(f *Feeder) *ALS { return &ALS{feeder: f} }

// Register adds s to g and returns the service name.
func (s *ALS) Register(g *grpc.Server) string {
	alspb.RegisterAccessLogServiceServer(g, s)
	return alspb.AccessLogService_ServiceDesc.ServiceName
}

// StreamAccessLogs feeds every HTTP entry of the stream until it ends.
// Entries of requests ext_authz denied or the rate limit filter limited
// are skipped (counted in Refused); TCP entries are ignored.
func (s *ALS) StreamAccessLogs(stream alspb.AccessLogService_StreamAccessLogsServer) error {
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&alspb.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			s.entry(e)
		}
	}
}

// entry feeds one HTTP access log entry.
func (s *ALS) entry(e *datapb.HTTPAccessLogEntry) {
	c, req, resp := e.GetCommonProperties(), e.GetRequest(), e.GetResponse()
	if fl := c.GetResponseFlags(); fl.GetRateLimited() || fl.GetUnauthorizedDetails() != nil {
		s.feeder.Refused.Add(1)
		return
	}
	code := resp.GetResponseCode()
	sa := c.GetDownstreamRemoteAddress().GetSocketAddress()
	if code == nil || sa == nil || req.GetPath() == "" {
		s.feeder.Bad.Add(1)
		return
	}
	target := req.GetPath()
	path, query, _ := cutQuery(target)
	h := gateway.MapHeader(req.GetRequestHeaders())
	if ua := req.GetUserAgent(); ua != "" {
		if h == nil {
			h = gateway.MapHeader{}
		}
		h["user-agent"] = ua
	}
	in := request.Input{
		Peer:   net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10)),
		Method: req.GetRequestMethod().String(), Host: req.GetAuthority(), Path: path, RawQuery: query,
		Target: target, Header: h,
	}
	at := c.GetStartTime().AsTime()
	o := verdict.Outcome{Status: int(code.GetValue()), Latency: c.GetTimeToLastDownstreamTxByte().AsDuration(),
		Bytes: int64(resp.GetResponseBodyBytes())}
	s.feeder.Feed(&in, at, "", "", o)
}

// cutQuery splits a request target at '?', unescaping the path.
func cutQuery(target string) (path, query string, ok bool) {
	p, q, ok := strings.Cut(target, "?")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	return p, q, ok
}

// NginxMapping is the JSON access log format the nginx syslog receiver
// reads: nginx's log_format abuseguard_outcome in deploy/gateways/nginx.conf.
var NginxMapping = replay.JSONMapping{
	Time: "time", ClientIP: "remote_addr", Method: "method", Host: "host", Path: "uri",
	Query: "args", Status: "status", Bytes: "bytes", Latency: "request_time", UserAgent: "user_agent",
	KeyID: "key_id", User: "user",
}

// maxDatagram is the largest syslog message read; longer ones are cut and
// then fail to parse (counted in Bad).
const maxDatagram = 64 << 10

// Syslog receives nginx access log lines over syslog on UDP (nginx's
// access_log syslog:server=ADDR), one JSON line per datagram in the
// NginxMapping format, and feeds each. Lines that do not parse are counted
// in the Feeder's Bad and skipped.
type Syslog struct {
	feeder *Feeder
	conn   net.PacketConn
	log    *slog.Logger
}

// ListenSyslog binds addr (UDP; keep it on loopback: anyone who can send
// to it can feed outcomes).
func ListenSyslog(addr string, f *Feeder, log *slog.Logger) (*Syslog, error) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Syslog{feeder: f, conn: c, log: log}, nil
}

// Addr returns the bound address.
func (s *Syslog) Addr() net.Addr { return s.conn.LocalAddr() }

// Run reads datagrams until ctx ends or the socket fails.
func (s *Syslog) Run(ctx context.Context) error {
	go func() { <-ctx.Done(); s.conn.Close() }()
	p, err := replay.NewParser("json", NginxMapping)
	if err != nil {
		return err
	}
	buf := make([]byte, maxDatagram)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var e replay.Entry
		if err := p.Parse(string(buf[:n]), &e); err != nil || !e.ClientIP.IsValid() {
			if s.feeder.Bad.Add(1) == 1 {
				s.log.Warn("outcome: a syslog line does not parse; skipped and counted", "err", err)
			}
			continue
		}
		in := request.Input{PeerAddr: e.ClientIP, Method: e.Method, Host: e.Host, Path: e.Path, RawQuery: e.Query,
			Header: gateway.MapHeader{"user-agent": e.UserAgent}}
		s.feeder.Feed(&in, e.Time, e.KeyID, e.User, verdict.Outcome{Status: e.Status, Latency: e.Latency, Bytes: e.Bytes})
	}
}

var _ alspb.AccessLogServiceServer = (*ALS)(nil)
