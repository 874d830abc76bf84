package request

import (
	"strings"
	"unicode/utf8"
)

// PathAction is what CanonicalPath does with one spelling that upstreams
// disagree on.
type PathAction uint8

// PathActions. Not every action applies to every spelling; PathPolicy
// says which do.
const (
	// Reject refuses the request: 400 ambiguous_path.
	Reject PathAction = iota
	// Keep keeps the spelling as data (normalised: raw "\" becomes %5C).
	Keep
	// Decode turns %2F or a backslash into a path separator.
	Decode
	// Strip removes ";" parameters from each segment, as Java servlet
	// containers do ("/a;jsessionid=1/b" is "/a/b").
	Strip
)

// PathPolicy says how CanonicalPath treats the spellings of a path that
// upstreams disagree on. Percent-decoding of unreserved characters,
// upper-case hex in the escapes that remain, dot-segment removal (RFC 3986
// §5.2.4), and refusing NUL and control bytes always apply. The zero
// value rejects every ambiguous spelling, keeps semicolons, merges
// nothing and keeps trailing slashes; DefaultPathPolicy is what serve uses
// unless configured otherwise.
type PathPolicy struct {
	// MergeSlashes turns runs of "/" into one, as nginx (merge_slashes on),
	// Envoy (merge_slashes) and Go's ServeMux do.
	MergeSlashes bool
	// StripTrailingSlash removes a final "/" ("/a/" is "/a"; "/" stays),
	// for upstreams that serve both alike (Express without strict routing,
	// Rails, Spring). Off, "/a/" and "/a" are different paths, as in nginx,
	// Envoy and ServeMux.
	StripTrailingSlash bool
	// FoldCase lower-cases ASCII letters, for case-insensitive upstreams
	// (IIS, ASP.NET). Off, paths are case-sensitive.
	FoldCase bool
	// Semicolon: Keep (";" is data, as in nginx, Envoy and ServeMux),
	// Strip (Java-style path parameters) or Reject.
	Semicolon PathAction
	// EncodedSlash (%2F): Reject, Decode (a separator, as nginx decodes
	// it) or Keep (data inside a segment, as Envoy and ServeMux keep it).
	EncodedSlash PathAction
	// Backslash ("\" or %5C): Reject, Decode (a separator, as browsers'
	// URL parsers and IIS treat it) or Keep (data, as nginx on Linux).
	Backslash PathAction
	// InvalidUTF8 (bytes that decode to no UTF-8 text, overlong forms
	// such as %C0%AE among them): Reject or Keep.
	InvalidUTF8 PathAction
	// DoubleEncoding (%25 followed by two hex digits, as in %252e, which
	// an upstream that decodes twice reads as "."): Reject or Keep.
	DoubleEncoding PathAction
	// HeadAsGet makes a GET route match HEAD requests when no route names
	// HEAD for the same path, as servers answer HEAD with the GET handler.
	HeadAsGet bool
}

// DefaultPathPolicy is what nginx, Envoy (normalize_path, merge_slashes)
// and Go's ServeMux agree on, with the spellings they disagree on (%2F,
// backslashes, invalid UTF-8, double encoding) refused as ambiguous.
var DefaultPathPolicy = PathPolicy{
	MergeSlashes: true, Semicolon: Keep, EncodedSlash: Reject, Backslash: Reject,
	InvalidUTF8: Reject, DoubleEncoding: Reject, HeadAsGet: true,
}

// PathError says why CanonicalPath refused a path. Form names the
// spelling: encoded_slash, backslash, semicolon, control_character,
// invalid_utf8, double_encoding, bad_escape or not_absolute.
type PathError struct {
	Form string
}

func (e *PathError) Error() string {
	switch e.Form {
	case "encoded_slash":
		return "the path holds an encoded slash (%2F)"
	case "backslash":
		return "the path holds a backslash"
	case "semicolon":
		return "the path holds a ';' parameter"
	case "control_character":
		return "the path holds a NUL or control byte"
	case "invalid_utf8":
		return "the path decodes to invalid UTF-8"
	case "double_encoding":
		return "the path holds a double-encoded escape (%25XX)"
	case "bad_escape":
		return "the path holds a malformed %-escape"
	}
	return "the path does not start with /"
}

// CanonicalPath returns the canonical form of raw, a path as sent in a
// request target (percent-encoded, without the query), under pol: escaped
// is the canonical spelling (what the upstream is sent), and path its
// decoded form (what routes, limits, detectors and logs see). It returns
// a *PathError for a spelling pol refuses. Under
// EncodedSlash Keep, path keeps %2F and %25 encoded, so that a "/" in path
// is always a separator. CanonicalPath is idempotent:
// CanonicalPath(escaped) returns escaped again. A path already canonical
// is returned without allocating.
func CanonicalPath(raw string, pol PathPolicy) (escaped, path string, err error) {
	if raw == "" || raw[0] != '/' {
		return "", "", &PathError{Form: "not_absolute"}
	}
	if isCanonical(raw, &pol) {
		return raw, raw, nil
	}
	c := canonicaliser{pol: pol}
	if err := c.run(raw); err != nil {
		return "", "", err
	}
	escaped = c.join()
	return escaped, decodePath(escaped, pol.EncodedSlash == Keep), nil
}

// isCanonical reports whether raw is already in canonical form and
// decodes to itself: only unreserved characters, sub-delimiters, ':', '@'
// and separators, with no dot segment and no empty segment that pol would
// remove.
func isCanonical(raw string, pol *PathPolicy) bool {
	segStart := 1
	for i := 1; i <= len(raw); i++ {
		if i < len(raw) {
			c := raw[i]
			switch {
			case c == '/':
			case c == ';':
				if pol.Semicolon != Keep {
					return false
				}
				continue
			case c >= 'A' && c <= 'Z':
				if pol.FoldCase {
					return false
				}
				continue
			case c == '%' || c == '\\' || !pchar(c):
				return false
			default:
				continue
			}
		}
		seg := raw[segStart:i]
		last := i == len(raw)
		switch {
		case seg == "." || seg == "..":
			return false
		case seg == "" && !last && pol.MergeSlashes:
			return false
		case seg == "" && last && pol.StripTrailingSlash && i > 1:
			return false
		}
		segStart = i + 1
	}
	return true
}

// canonicaliser builds a canonical path segment by segment.
type canonicaliser struct {
	pol  PathPolicy
	buf  []byte // the escaped form of the segments kept, back to back
	ends []int  // end of each kept segment in buf
	cur  int    // start of the segment being built
	// dirTail: the path ends in a separator after its last segment ("/a/."
	// or "/a/b/.." leave "/a/").
	dirTail bool
	highBit bool // the segment being built holds an escape of a byte >= 0x80
	endsBuf [16]int
}

func (c *canonicaliser) run(raw string) error {
	c.buf = make([]byte, 0, len(raw)+8)
	c.ends = c.endsBuf[:0]
	inParam := false // inside a ";" parameter that Strip drops
	for i := 1; i < len(raw); i++ {
		b := raw[i]
		if b == '/' {
			if err := c.endSegment(false); err != nil {
				return err
			}
			inParam = false
			continue
		}
		if b == '%' {
			if i+2 >= len(raw) || unhex(raw[i+1]) < 0 || unhex(raw[i+2]) < 0 {
				return &PathError{Form: "bad_escape"}
			}
			d := byte(unhex(raw[i+1])<<4 | unhex(raw[i+2]))
			i += 2
			if inParam && !c.separates(d) && d >= 0x20 && d != 0x7f {
				continue
			}
			split, err := c.escaped(d)
			if err != nil {
				return err
			}
			if split {
				if err := c.endSegment(false); err != nil {
					return err
				}
				inParam = false
			}
			continue
		}
		if b < 0x20 || b == 0x7f {
			return &PathError{Form: "control_character"}
		}
		if b == '\\' {
			switch c.pol.Backslash {
			case Reject:
				return &PathError{Form: "backslash"}
			case Decode:
				if err := c.endSegment(false); err != nil {
					return err
				}
				inParam = false
				continue
			}
		}
		switch {
		case inParam:
		case b == ';':
			switch c.pol.Semicolon {
			case Reject:
				return &PathError{Form: "semicolon"}
			case Strip:
				inParam = true
			default:
				c.buf = append(c.buf, b)
			}
		case unreserved(b):
			c.buf = append(c.buf, c.fold(b))
		case pchar(b):
			c.buf = append(c.buf, b)
		default: // a backslash kept, a byte >= 0x80, or another byte a path spells escaped
			if b >= 0x80 {
				c.highBit = true
			}
			c.buf = appendEscape(c.buf, b)
		}
	}
	return c.endSegment(true)
}

// separates reports whether the escaped byte d is a separator under pol.
func (c *canonicaliser) separates(d byte) bool {
	return d == '/' && c.pol.EncodedSlash == Decode || d == '\\' && c.pol.Backslash == Decode
}

// escaped adds the byte d that the segment spelled as %XX; split reports
// that d is a separator under pol.
func (c *canonicaliser) escaped(d byte) (split bool, err error) {
	switch {
	case unreserved(d):
		c.buf = append(c.buf, c.fold(d))
	case d == '/' && c.pol.EncodedSlash == Reject:
		return false, &PathError{Form: "encoded_slash"}
	case d == '\\' && c.pol.Backslash == Reject:
		return false, &PathError{Form: "backslash"}
	case c.separates(d):
		return true, nil
	case d < 0x20 || d == 0x7f:
		return false, &PathError{Form: "control_character"}
	default:
		if d >= 0x80 {
			c.highBit = true
		}
		c.buf = appendEscape(c.buf, d)
	}
	return false, nil
}

func (c *canonicaliser) fold(b byte) byte {
	if c.pol.FoldCase && b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// endSegment closes the segment being built: a dot segment removes itself
// (and ".." its parent), an empty one is dropped when slashes merge; last
// says it is the final segment.
func (c *canonicaliser) endSegment(last bool) error {
	seg := c.buf[c.cur:]
	if c.pol.DoubleEncoding == Reject && doubleEncoded(seg) {
		return &PathError{Form: "double_encoding"}
	}
	if c.highBit && c.pol.InvalidUTF8 == Reject && !utf8.ValidString(decodePath(string(seg), true)) {
		return &PathError{Form: "invalid_utf8"}
	}
	c.highBit = false
	switch {
	case len(seg) == 1 && seg[0] == '.':
		c.buf = c.buf[:c.cur]
		c.dirTail = true
	case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
		c.buf = c.buf[:c.cur]
		if n := len(c.ends); n > 0 {
			c.buf = c.buf[:c.segStart(n-1)]
			c.ends = c.ends[:n-1]
		}
		c.dirTail = true
	case len(seg) == 0 && last:
		c.dirTail = true
	case len(seg) == 0 && c.pol.MergeSlashes:
	default:
		c.ends = append(c.ends, len(c.buf))
		c.dirTail = false
	}
	if last && c.pol.StripTrailingSlash {
		c.dirTail = false
	}
	c.cur = len(c.buf)
	return nil
}

// doubleEncoded reports whether an escaped segment holds %25 followed by
// two hex digits: an escape that decodes to another escape.
func doubleEncoded(seg []byte) bool {
	for i := 0; i+4 < len(seg); i++ {
		if seg[i] == '%' && seg[i+1] == '2' && seg[i+2] == '5' && unhex(seg[i+3]) >= 0 && unhex(seg[i+4]) >= 0 {
			return true
		}
	}
	return false
}

// segStart returns where kept segment i starts in buf.
func (c *canonicaliser) segStart(i int) int {
	if i == 0 {
		return 0
	}
	return c.ends[i-1]
}

// join returns "/" followed by the kept segments separated by "/".
func (c *canonicaliser) join() string {
	var sb strings.Builder
	sb.Grow(len(c.buf) + len(c.ends) + 1)
	start := 0
	for _, end := range c.ends {
		sb.WriteByte('/')
		sb.Write(c.buf[start:end])
		start = end
	}
	if len(c.ends) == 0 || c.dirTail {
		sb.WriteByte('/')
	}
	return sb.String()
}

// decodePath decodes the escapes of a canonical escaped path; keepSlash
// leaves %2F and %25 encoded.
func decodePath(escaped string, keepSlash bool) string {
	if strings.IndexByte(escaped, '%') < 0 {
		return escaped
	}
	out := make([]byte, 0, len(escaped))
	for i := 0; i < len(escaped); i++ {
		b := escaped[i]
		if b == '%' && i+2 < len(escaped) {
			d := byte(unhex(escaped[i+1])<<4 | unhex(escaped[i+2]))
			if keepSlash && (d == '/' || d == '%') {
				out = append(out, escaped[i:i+3]...)
			} else {
				out = append(out, d)
			}
			i += 2
			continue
		}
		out = append(out, b)
	}
	return string(out)
}

// unreserved reports whether b is an RFC 3986 unreserved character.
func unreserved(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~'
}

// pchar reports whether b may appear raw in a path segment (RFC 3986
// pchar, without pct-encoded).
func pchar(b byte) bool {
	if unreserved(b) {
		return true
	}
	switch b {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

func unhex(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'a' && b <= 'f':
		return int(b - 'a' + 10)
	case b >= 'A' && b <= 'F':
		return int(b - 'A' + 10)
	}
	return -1
}

func appendEscape(dst []byte, b byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	return append(dst, '%', hexDigits[b>>4], hexDigits[b&15])
}
