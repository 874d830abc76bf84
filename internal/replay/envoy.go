package replay

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// envoyParser parses Envoy's default access log format:
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//	%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//	%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//	"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//
// Up to three fields between %RESPONSE_FLAGS% and %BYTES_RECEIVED% (Istio
// adds %RESPONSE_CODE_DETAILS%, %CONNECTION_TERMINATION_DETAILS% and
// "%UPSTREAM_TRANSPORT_FAILURE_REASON%") are skipped, found by the shape of
// the fields that follow them, and fields after "%UPSTREAM_HOST%" are
// accepted. The client is the leftmost X-Forwarded-For address; without
// one, %DOWNSTREAM_REMOTE_ADDRESS%: the fourth field after
// "%UPSTREAM_HOST%" when there are at least four (the layout Istio and most
// gateways append: cluster, upstream local, downstream local, downstream
// remote), else the last of them that is an address. An X-Forwarded-For
// whose leftmost entry is not an address falls back the same way. Latency is %DURATION%
// (milliseconds), Bytes %BYTES_SENT%, Host :AUTHORITY.
type envoyParser struct {
	f      [maxEnvoyFields]string
	quoted uint64 // bit i: f[i] was quoted
}

const maxEnvoyFields = 40

func (p *envoyParser) Parse(line string, e *Entry) error {
	*e = Entry{}
	s := stripSyslog(line)
	if len(s) == 0 || s[0] != '[' {
		return errors.New("want [START_TIME] first")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return errors.New("unterminated [START_TIME]")
	}
	var ok bool
	if e.Time, ok = parseRFC3339(s[1:end]); !ok {
		return fmt.Errorf("bad timestamp %s: want RFC 3339", quote(s[1:end]))
	}
	s = s[end+1:]
	s, err := cutRequestLine(s, e)
	if err != nil {
		return err
	}
	n := p.split(s)
	if n == 0 || p.isQuoted(0) {
		return errors.New("missing status")
	}
	if e.Status, ok = parseStatus(p.f[0]); !ok {
		return fmt.Errorf("bad status %s", quote(p.f[0]))
	}
	k := p.layout(n)
	if k < 0 {
		return errors.New(`want Envoy's default format after the status: FLAGS BYTES_RECEIVED BYTES_SENT DURATION UPSTREAM_TIME "XFF" "USER-AGENT" "REQUEST-ID" "AUTHORITY"`)
	}
	if e.Bytes, ok = parseBytes(p.f[k+1]); !ok {
		return fmt.Errorf("bad bytes sent %s", quote(p.f[k+1]))
	}
	if d := p.f[k+2]; d != "-" {
		ms, ok := parseBytes(d)
		if !ok || ms > math.MaxInt64/int64(time.Millisecond) {
			return fmt.Errorf("bad duration %s", quote(d))
		}
		e.Latency = time.Duration(ms) * time.Millisecond
	}
	e.UserAgent = optional(unescape(p.f[k+5]))
	if a := p.f[k+7]; a != "-" && a != "" {
		e.Host = a
	}
	xff := p.f[k+4]
	if xff != "-" && xff != "" {
		if e.ClientIP, ok = leftmostAddr(xff); ok {
			return nil
		}
	}
	extra := p.f[min(k+9, n):n]
	if len(extra) >= 4 {
		if e.ClientIP, ok = ParseAddr(extra[3]); ok {
			return nil
		}
	}
	for i := len(extra) - 1; i >= 0; i-- {
		if e.ClientIP, ok = ParseAddr(extra[i]); ok {
			return nil
		}
	}
	if xff != "-" && xff != "" {
		return fmt.Errorf("bad X-Forwarded-For %s and no downstream remote address", quote(xff))
	}
	return errors.New("no client address: X-Forwarded-For is empty and no field holds the downstream remote address")
}

// split cuts s into space-separated fields, bare or quoted, up to
// maxEnvoyFields, and returns how many there are. A quoted field is stored
// without its quotes and escapes.
func (p *envoyParser) split(s string) int {
	p.quoted = 0
	n := 0
	for n < maxEnvoyFields {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == '"' {
			f, rest, ok := CutQuoted(s[1:])
			if !ok {
				f, rest = s[1:], ""
			}
			p.f[n], s = f, rest
			p.quoted |= 1 << n
		} else {
			i := strings.IndexByte(s, ' ')
			if i < 0 {
				i = len(s)
			}
			p.f[n], s = s[:i], s[i:]
		}
		n++
	}
	return n
}

func (p *envoyParser) isQuoted(i int) bool { return p.quoted&(1<<i) != 0 }

// layout returns the index of %BYTES_RECEIVED% among the n fields after the
// request line, or -1 when they are not Envoy's default layout: three bare
// numbers (or "-") and a bare upstream time, then at least four quoted
// fields.
func (p *envoyParser) layout(n int) int {
	for k := 2; k <= 5 && k+7 < n; k++ {
		if p.isQuoted(k) || p.isQuoted(k+1) || p.isQuoted(k+2) || p.isQuoted(k+3) ||
			!numberOrDash(p.f[k]) || !numberOrDash(p.f[k+1]) || !numberOrDash(p.f[k+2]) {
			continue
		}
		if p.isQuoted(k+4) && p.isQuoted(k+5) && p.isQuoted(k+6) && p.isQuoted(k+7) {
			return k
		}
	}
	return -1
}

var _ Parser = (*envoyParser)(nil)
