package request

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Bounds of BodyFields.
const (
	maxBodyFields    = 16  // names kept per request
	maxBodyFieldName = 64  // a longer name is skipped
	bodyFieldsBytes  = 512 // bytes of names kept per request
	// maxFieldsBody is the largest body whose field names are read: a
	// form or a login's JSON is small; a larger body is an upload.
	maxFieldsBody = 16 << 10
)

// BodyFields are the names of a request body's top-level fields (JSON
// object keys, form field names), bounded: at most 16 names of at most 64
// bytes, 512 bytes in all; further names are counted in Dropped. It holds
// its names inline, so a View that is reused keeps no allocation for
// them. The zero value holds no names.
type BodyFields struct {
	buf     [bodyFieldsBytes]byte
	ends    [maxBodyFields]uint16
	n       uint8
	Dropped uint8 // names that did not fit (saturates at 255)
}

// Len returns how many names f holds.
func (f *BodyFields) Len() int { return int(f.n) }

// Each calls fn with each name, in body order, without allocating; fn
// must not keep the string past its call (it points into f).
func (f *BodyFields) Each(fn func(name string)) {
	start := uint16(0)
	for _, end := range f.ends[:f.n] {
		fn(unsafeString(f.buf[start:end]))
		start = end
	}
}

// Names returns a copy of the names.
func (f *BodyFields) Names() []string {
	if f.n == 0 {
		return nil
	}
	out := make([]string, 0, f.n)
	f.Each(func(name string) { out = append(out, strings.Clone(name)) })
	return out
}

// SetNames replaces f's names with names (a replayed log's), within the
// same bounds.
func (f *BodyFields) SetNames(names []string) {
	f.Reset()
	for _, n := range names {
		f.add([]byte(n))
	}
}

// Reset empties f.
func (f *BodyFields) Reset() { f.n, f.Dropped = 0, 0 }

// add appends name unless it is empty, too long, a repeat or over the
// bounds.
func (f *BodyFields) add(name []byte) {
	if len(name) == 0 || len(name) > maxBodyFieldName {
		f.drop()
		return
	}
	start := uint16(0)
	for _, end := range f.ends[:f.n] {
		if bytes.Equal(f.buf[start:end], name) {
			return
		}
		start = end
	}
	if int(f.n) == maxBodyFields || int(start)+len(name) > len(f.buf) {
		f.drop()
		return
	}
	copy(f.buf[start:], name)
	f.ends[f.n] = start + uint16(len(name))
	f.n++
}

func (f *BodyFields) drop() {
	if f.Dropped < 255 {
		f.Dropped++
	}
}

// ReadBodyFields fills f with the top-level field names of body, a JSON
// object (media type application/json or +json) or a form
// (application/x-www-form-urlencoded), replacing what f held. Another
// media type, a body over 16 KiB, or one that does not parse leaves f
// empty; it never fails otherwise.
func ReadBodyFields(body []byte, mediaType string, f *BodyFields) {
	f.Reset()
	if len(body) == 0 || len(body) > maxFieldsBody {
		return
	}
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		for q := body; len(q) > 0; {
			pair := q
			if i := bytes.IndexByte(q, '&'); i >= 0 {
				pair, q = q[:i], q[i+1:]
			} else {
				q = nil
			}
			name := pair
			if i := bytes.IndexByte(pair, '='); i >= 0 {
				name = pair[:i]
			}
			if bytes.ContainsAny(name, "%+") {
				s, err := url.QueryUnescape(string(name))
				if err != nil {
					f.drop()
					continue
				}
				name = []byte(s)
			}
			f.add(name)
		}
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		readJSONKeys(body, f)
	}
}

// readJSONKeys adds the top-level keys of the JSON object body, when it
// is one. encoding/json checks the body is valid JSON (json.Valid, which
// allocates nothing); the keys are then found by tracking nesting and
// strings, and only a key with an escape or invalid UTF-8 is decoded by
// encoding/json.
// Decoding the body into a map would allocate its every value.
func readJSONKeys(body []byte, f *BodyFields) {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
		return
	}
	depth, expectKey := 0, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			depth++
			expectKey = c == '{' && depth == 1
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			j, escaped := i+1, false
			for ; j < len(body) && body[j] != '"'; j++ {
				if body[j] == '\\' {
					j++
					escaped = true
				}
			}
			if depth == 1 && expectKey {
				if escaped || !utf8.Valid(body[i+1:j]) { // as encoding/json spells it
					var key string
					if json.Unmarshal(body[i:j+1], &key) != nil {
						f.drop()
					} else {
						f.add([]byte(key))
					}
				} else {
					f.add(body[i+1 : j])
				}
				expectKey = false
			}
			i = j
		}
	}
}
