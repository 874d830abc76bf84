package replay

import (
	"errors"
	"net/url"
	"strings"
)

// maxJunkMethod bounds the first word of a request line that is not HTTP,
// kept as Method.
const maxJunkMethod = 32

// cutRequestLine reads the quoted request line s starts with, after one
// space, into e (see setRequest) and returns what follows its closing
// quote.
func cutRequestLine(s string, e *Entry) (string, error) {
	if len(s) < 2 || s[0] != ' ' || s[1] != '"' {
		return "", errors.New("no quoted request line after the timestamp")
	}
	req, rest, ok := CutQuoted(s[2:])
	if !ok {
		return "", errors.New("unterminated request line")
	}
	setRequest(e, req)
	return rest, nil
}

// setRequest sets e's Method, Host, Path and Query from an HTTP request
// line ("GET /a?b HTTP/1.1"). No request line at all ("-", "", Envoy's
// "- - -": a connection closed before sending one) leaves them empty. A
// line that is not an HTTP request (a TLS handshake or other bytes sent to
// a plain-HTTP port, a bare word) sets Method to its first word (at most
// maxJunkMethod bytes, possibly not an HTTP token) and leaves Path empty:
// the client sent something, and what it sent was not HTTP.
func setRequest(e *Entry, r string) {
	r = unescape(r)
	method, target, ok := strings.Cut(r, " ")
	if method == "" || method == "-" {
		return
	}
	if !ok || !isToken(method) {
		e.Method = method[:min(len(method), maxJunkMethod)]
		return
	}
	e.Method = method
	proto := false
	if i := strings.LastIndexByte(target, ' '); i >= 0 && strings.HasPrefix(target[i+1:], "HTTP/") {
		target, proto = target[:i], true
	}
	target = strings.Trim(target, " ")
	switch {
	case target == "":
	case target[0] == '/':
		setTarget(e, target)
	case method == "CONNECT" && proto:
		e.Host = target
	default:
		if host, rest, ok := cutAbsoluteURI(target); ok {
			e.Host, e.Absolute = host, true
			setTarget(e, rest)
		} else if proto {
			// "*" for OPTIONS, or a target no server would take: keep what
			// the client sent.
			setTarget(e, target)
		}
	}
}

// setTarget sets e's Path, percent-decoded when it decodes, and Query from
// an origin-form request target.
func setTarget(e *Entry, t string) {
	if t == "" {
		e.Path = "/"
		return
	}
	if t[0] == '?' {
		e.Path, e.Query = "/", t[1:]
		return
	}
	path, query, _ := strings.Cut(t, "?")
	e.Path, e.Query = decodePath(path), query
}

// decodePath percent-decodes p, or returns it as it is when it has no
// escapes or a malformed one.
func decodePath(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	if d, err := url.PathUnescape(p); err == nil {
		return d
	}
	return p
}

// cutAbsoluteURI splits "scheme://[userinfo@]authority/rest" into the
// authority, without userinfo, and the rest (which may be "" or start with
// '?').
func cutAbsoluteURI(t string) (host, rest string, ok bool) {
	i := strings.Index(t, "://")
	if i <= 0 || i > 16 || !isScheme(t[:i]) {
		return "", "", false
	}
	auth := t[i+3:]
	j := strings.IndexAny(auth, "/?#")
	if j < 0 {
		j = len(auth)
	}
	auth, rest = auth[:j], auth[j:]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		auth = auth[at+1:]
	}
	if k := strings.IndexByte(rest, '#'); k >= 0 {
		rest = rest[:k]
	}
	return auth, rest, auth != ""
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= 'a' && c <= 'z') && !(i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
			return false
		}
	}
	return true
}

// isToken reports whether s is an HTTP token (RFC 9110 tchar), as a method is.
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
