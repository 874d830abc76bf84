package request

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/abuseguard/abuseguard/internal/problem"
)

// Input is what a front knows about a request, in no protocol in
// particular: an HTTP request, an Envoy Check request, a forward-auth
// subrequest and an access-log line can each provide it. Parser.Parse turns
// it into a View.
type Input struct {
	// Peer is the address the request came from: "ip:port" or a bare IP of
	// the connection's peer (or what a gateway reports as the source).
	Peer string
	// PeerAddr is the peer's address when the front has it parsed
	// already (an access log's client); Peer is then ignored. With
	// neither, the request has no client address.
	PeerAddr netip.Addr
	// Method, Host and Path are the request's; Path is decoded (as
	// url.URL.Path), RawQuery is the query string without the "?".
	Method, Host, Path, RawQuery string
	// Target is the request target as sent on the request line ("/a?b",
	// "http://host/a", "*"), "" when the front does not know it.
	Target string
	// Header reads the request headers; nil when the front has none.
	Header Header
	// Body shows the start of the body; nil when the front cannot.
	Body Body
	// TLS is true when the client's connection is TLS (to the guard, or,
	// as a trusted gateway reports it, to the gateway), so that cookies
	// the guard sets are marked Secure.
	TLS bool
	// HTTP10 is true when the request came over HTTP/1.0 (to the guard
	// itself: a gateway's subrequest says nothing of its client's).
	HTTP10 bool
}

// Header reads request headers by canonical name (as
// net/textproto.CanonicalMIMEHeaderKey spells it).
type Header interface {
	// Get returns the first value of the header, or "".
	Get(name string) string
	// Values returns every value of the header, in order.
	Values(name string) []string
	// Names calls f with the name of every header the request carries.
	Names(f func(name string))
}

// Body shows the start of a request body without taking it from the
// upstream.
type Body interface {
	// Peek returns the first bytes of the body, at most max. It returns nil
	// when the body is empty, longer than max or cannot be read.
	Peek(max int) []byte
}

// HTTPHeader is an http.Header as a Header. Lookups use the map directly:
// names are already canonical.
type HTTPHeader http.Header

// Get returns the first value of name.
func (h HTTPHeader) Get(name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Values returns the values of name.
func (h HTTPHeader) Values(name string) []string { return h[name] }

// Names calls f with each header name.
func (h HTTPHeader) Names(f func(string)) {
	for k := range h {
		f(k)
	}
}

// HTTPInput fills in from r, for fronts that receive net/http requests.
// The body is peeked through r: what Peek reads is put back for the
// upstream.
func HTTPInput(r *http.Request, in *Input) {
	*in = Input{Peer: r.RemoteAddr, Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Target: r.RequestURI, Header: HTTPHeader(r.Header), Body: (*httpBody)(r), HTTP10: r.ProtoMajor == 1 && r.ProtoMinor == 0}
}

// httpBody peeks at an http.Request's body.
type httpBody http.Request

// Peek reads up to max+1 bytes of the body and puts them back in front of
// the rest, so the upstream still receives the whole body.
func (b *httpBody) Peek(max int) []byte {
	r := (*http.Request)(b)
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil || len(buf) > max || len(buf) == 0 {
		return nil
	}
	return buf
}

type readCloser struct {
	io.Reader
	io.Closer
}

var (
	_ Header = HTTPHeader(nil)
	_ Body   = (*httpBody)(nil)
)

// ParseHTTP parses an net/http request: Parse over HTTPInput(r).
func (p *Parser) ParseHTTP(r *http.Request, now time.Time, v *View) *problem.Problem {
	var in Input
	HTTPInput(r, &in)
	return p.Parse(&in, now, v)
}
