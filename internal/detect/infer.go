package detect

import (
	"strings"

	"github.com/abuseguard/abuseguard/internal/request"
)

// Zero-config route learning, the part detectors need on their own: a path
// no declared route matched is read as a template whose identifier-looking
// segments (numbers, UUIDs, long hex, slugs with digits, long opaque
// tokens) are {id}, so per-resource checks (distinct ids, sequential walks)
// work without a routes section. Declared routes always win: this is used
// only for requests that matched none.

// nsInferred namespaces the hashes of inferred templates.
const nsInferred = 'T'

// nsRoute namespaces the hashes of declared routes' names.
const nsRoute = 'F'

// RouteOf returns a hash of the route v is on: its declared route's name,
// else its path's inferred template (identifier-looking segments as {id};
// the method is not part of it). It allocates nothing.
func RouteOf(h Hasher, v *request.View) uint64 {
	if v.Route != nil {
		return h.String(nsRoute, v.Route.Name)
	}
	_, t, _ := inferredResource(h, v.Path)
	return t
}

// inferredResource returns the last identifier-looking segment of path and
// a hash of path's template (each such segment replaced by {id}); ok is
// false when no segment looks like an identifier. It allocates nothing.
func inferredResource(h Hasher, path string) (id string, template uint64, ok bool) {
	st := h.Stream(nsInferred)
	for rest := strings.TrimPrefix(path, "/"); ; {
		seg, more, found := strings.Cut(rest, "/")
		if looksLikeID(seg) {
			id, ok = seg, true
			st.AddString("/{id}")
		} else {
			st.AddByte('/')
			st.AddString(seg)
		}
		if !found {
			break
		}
		rest = more
	}
	return id, st.Sum64(), ok
}

// looksLikeID reports whether a path segment is an identifier rather than
// a word of the API's vocabulary: all digits; a UUID; 8 or more hex digits
// with at least one digit; or a slug or token of letters, digits, '-' and
// '_' that has a digit and either a separator or 20 or more characters.
func looksLikeID(seg string) bool {
	if seg == "" || len(seg) > 128 {
		return false
	}
	digits, hex, sep, other := 0, 0, 0, 0
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c >= '0' && c <= '9':
			digits++
			hex++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			hex++
		case c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z':
		case c == '-' || c == '_':
			sep++
		default:
			other++
		}
	}
	switch {
	case other > 0 || digits == 0:
		return false
	case digits == len(seg):
		return true
	case len(seg) == 36 && sep == 4 && hex == 32:
		return true
	case hex == len(seg) && len(seg) >= 8:
		return true
	}
	return sep > 0 || len(seg) >= 20
}
