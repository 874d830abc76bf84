// The readers of log fields every format shares. The exported ones also
// serve tools that read layouts no format reads (tools/crowdsec-eval).

package replay

import (
	"net/netip"
	"strconv"
	"strings"
)

// CutQuoted returns the quoted field s starts with (s starts after the
// opening quote) up to the closing quote, and what follows the closing
// quote. A quote after an odd number of backslashes is escaped.
func CutQuoted(s string) (field, rest string, ok bool) {
	for off := 0; ; {
		i := strings.IndexByte(s[off:], '"')
		if i < 0 {
			return "", "", false
		}
		i += off
		n := 0
		for k := i - 1; k >= 0 && s[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return s[:i], s[i+1:], true
		}
		off = i + 1
	}
}

// cutToken returns the space-separated field s starts with, after one space,
// and the rest of s from the space after it.
func cutToken(s string) (tok, rest string) {
	if s == "" || s[0] != ' ' {
		return "", s
	}
	s = s[1:]
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// unescape undoes the escapes Apache (\" \\ \n \t \xHH ...) and nginx (\xHH)
// write in quoted fields. It allocates only when s has a backslash.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		switch n := s[i+1]; n {
		case '"', '\\':
			b = append(b, n)
			i++
		case 'n':
			b = append(b, '\n')
			i++
		case 'r':
			b = append(b, '\r')
			i++
		case 't':
			b = append(b, '\t')
			i++
		case 'b':
			b = append(b, '\b')
			i++
		case 'v':
			b = append(b, '\v')
			i++
		case 'x':
			if i+3 < len(s) {
				if h, ok := unhex(s[i+2]); ok {
					if l, ok := unhex(s[i+3]); ok {
						b = append(b, h<<4|l)
						i += 3
						continue
					}
				}
			}
			b = append(b, c)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// optional unescapes a quoted log field that is "-" or "" when absent.
func optional(s string) string {
	if s == "-" {
		return ""
	}
	return unescape(s)
}

// parseStatus parses an HTTP status code, 0 to 999 (0: no response sent).
func parseStatus(s string) (int, bool) {
	if s == "" || len(s) > 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int(d)
	}
	return n, true
}

// parseBytes parses a byte count; "-" is 0.
func parseBytes(s string) (int64, bool) {
	if s == "-" {
		return 0, true
	}
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	return n, true
}

// ParseAddr parses a client address, "ip", "ip:port", "[ipv6]" or
// "[ipv6]:port", without allocating. IPv4-mapped IPv6 addresses become
// IPv4 and zones are dropped.
func ParseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		var port string
		switch {
		case s != "" && s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return netip.Addr{}, false
			}
			if rest := s[end+1:]; rest != "" {
				if rest[0] != ':' {
					return netip.Addr{}, false
				}
				port = rest[1:]
			}
			s = s[1:end]
		case strings.Count(s, ":") == 1:
			s, port, _ = strings.Cut(s, ":")
		default:
			return netip.Addr{}, false
		}
		if port != "" && !numberOrDash(port) || port == "-" {
			return netip.Addr{}, false
		}
		if a, err = netip.ParseAddr(s); err != nil {
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}

// leftmostAddr parses the first address of a comma-separated list, as in
// X-Forwarded-For: the client, as the first proxy saw it.
func leftmostAddr(s string) (netip.Addr, bool) {
	first, _, _ := strings.Cut(s, ",")
	return ParseAddr(strings.TrimSpace(first))
}

// stripPort returns host without a trailing ":port".
func stripPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i:], ']') < 0 && numberOrDash(host[i+1:]) {
		return host[:i]
	}
	return host
}

// quote quotes s for an error message, cut to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}

func numberOrDash(s string) bool {
	if s == "-" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
