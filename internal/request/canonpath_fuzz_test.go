package request

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// fuzzPolicies are the policies the fuzz targets try each input under.
func fuzzPolicies() []PathPolicy {
	loose := PathPolicy{MergeSlashes: true, StripTrailingSlash: true, FoldCase: true, Semicolon: Strip,
		EncodedSlash: Decode, Backslash: Decode, InvalidUTF8: Keep, DoubleEncoding: Keep, HeadAsGet: true}
	keep := DefaultPathPolicy
	keep.EncodedSlash, keep.Backslash, keep.MergeSlashes = Keep, Keep, false
	return []PathPolicy{DefaultPathPolicy, loose, keep}
}

func addPathSeeds(f *testing.F) {
	for _, s := range []string{
		"/", "/v1/items", "/v1//items", "//v1/items", "/v1/./items", "/v1/%2e/items", "/v1/x/%2E%2e/items",
		"/../v1", "/v1/items/.", "/v1/items/5/..", "/v1%2Fitems", "/v1\\items", "/v1%5c..%5citems",
		"/v1/items;x=1", "/v1/x/..;/items", "/v1/%252e", "/v1/%25%32%65", "/v1/%c0%ae", "/v1/items%00",
		"/v1/%EF%BC%8E", "/V1/Items/", "/a%zz", "/caf\xc3\xa9", "/%7e~", "/a/b/c/../../..", "/a/%2F../b",
	} {
		f.Add(s)
	}
}

// FuzzCanonicalPath: normalising twice changes nothing, a canonical path
// has no dot segment and (merging) no empty segment, its decoded form is
// its escaped form decoded, and nothing panics.
func FuzzCanonicalPath(f *testing.F) {
	addPathSeeds(f)
	pols := fuzzPolicies()
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 2048 {
			return
		}
		for i, pol := range pols {
			escaped, p, err := CanonicalPath(raw, pol)
			if err != nil {
				continue
			}
			again, p2, err := CanonicalPath(escaped, pol)
			if err != nil || again != escaped || p2 != p {
				t.Fatalf("policy %d: CanonicalPath(%q) = %q; again: %q, %q, %v", i, raw, escaped, again, p2, err)
			}
			for _, seg := range strings.Split(escaped[1:], "/") {
				if seg == "." || seg == ".." {
					t.Fatalf("policy %d: %q -> %q keeps a dot segment", i, raw, escaped)
				}
			}
			if pol.MergeSlashes && strings.Contains(escaped, "//") {
				t.Fatalf("policy %d: %q -> %q keeps //", i, raw, escaped)
			}
			if pol.EncodedSlash != Keep {
				if dec, err := url.PathUnescape(escaped); err != nil || dec != p {
					t.Fatalf("policy %d: %q -> %q decodes to %q (%v), path %q", i, raw, escaped, dec, err, p)
				}
			}
		}
	})
}

// FuzzCanonicalPathRouter: the route the guard decides on for a path is
// the route the path it forwards would match (the router agrees with the
// normaliser), and, for spellings nginx, Envoy and ServeMux agree on, the
// canonical path is what Go's path.Clean makes of the decoded path, up to
// the trailing slash RFC 3986 keeps after a final dot segment.
func FuzzCanonicalPathRouter(f *testing.F) {
	addPathSeeds(f)
	router, err := NewRouter([]Route{
		{Name: "items", Template: "GET /v1/items"},
		{Name: "item", Template: "GET /v1/items/{id}"},
		{Name: "orders", Template: "* /v1/users/{id}/orders"},
		{Name: "static", Template: "GET /static/{path...}"},
		{Name: "root", Template: "GET /"},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 2048 {
			return
		}
		escaped, p, err := CanonicalPath(raw, DefaultPathPolicy)
		if err != nil {
			return
		}
		rt, param := router.MatchRequest("HEAD", p, true)
		_, p2, _ := CanonicalPath(escaped, DefaultPathPolicy)
		rt2, param2 := router.MatchRequest("HEAD", p2, true)
		if rt != rt2 || param != param2 {
			t.Fatalf("%q: route %v %q, forwarded %q: route %v %q", raw, rt, param, escaped, rt2, param2)
		}
		dec, err := url.PathUnescape(raw)
		if err != nil {
			t.Fatalf("%q accepted but does not unescape: %v", raw, err)
		}
		clean := path.Clean(dec)
		if strings.HasSuffix(dec, "/") && clean != "/" {
			clean += "/"
		}
		if strings.ContainsAny(raw, ";") {
			return
		}
		if got := strings.TrimSuffix(p, "/"); got != strings.TrimSuffix(clean, "/") && !(got == "" && clean == "/") {
			t.Fatalf("%q: canonical %q, path.Clean of the decoded path %q", raw, p, clean)
		}
	})
}
