package request

import (
	"errors"
	"net/url"
	"path"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	keepSlash := DefaultPathPolicy
	keepSlash.EncodedSlash = Keep
	decode := DefaultPathPolicy
	decode.EncodedSlash, decode.Backslash = Decode, Decode
	java := DefaultPathPolicy
	java.Semicolon = Strip
	loose := DefaultPathPolicy
	loose.StripTrailingSlash, loose.FoldCase, loose.DoubleEncoding, loose.InvalidUTF8, loose.Backslash = true, true, Keep, Keep, Keep
	strictSemi := DefaultPathPolicy
	strictSemi.Semicolon = Reject
	noMerge := DefaultPathPolicy
	noMerge.MergeSlashes = false
	for _, tc := range []struct {
		name, in      string
		pol           PathPolicy
		escaped, path string
		form          string // the PathError's Form, when refused
	}{
		{name: "canonical", in: "/v1/items", escaped: "/v1/items", path: "/v1/items"},
		{name: "root", in: "/", escaped: "/", path: "/"},
		{name: "double slash", in: "/v1//items", escaped: "/v1/items", path: "/v1/items"},
		{name: "leading double slash", in: "//v1/items", escaped: "/v1/items", path: "/v1/items"},
		{name: "dot", in: "/v1/./items", escaped: "/v1/items", path: "/v1/items"},
		{name: "encoded dot", in: "/v1/%2e/items", escaped: "/v1/items", path: "/v1/items"},
		{name: "encoded dot upper", in: "/v1/%2E/items", escaped: "/v1/items", path: "/v1/items"},
		{name: "dot dot", in: "/v1/x/../items", escaped: "/v1/items", path: "/v1/items"},
		{name: "dot dot above root", in: "/../v1/items", escaped: "/v1/items", path: "/v1/items"},
		{name: "encoded dot dot", in: "/v1/x/%2e%2E/items", escaped: "/v1/items", path: "/v1/items"},
		{name: "trailing dot", in: "/v1/items/.", escaped: "/v1/items/", path: "/v1/items/"},
		{name: "trailing dot dot", in: "/v1/items/5/..", escaped: "/v1/items/", path: "/v1/items/"},
		{name: "trailing slash kept", in: "/v1/items/", escaped: "/v1/items/", path: "/v1/items/"},
		{name: "trailing slash stripped", in: "/v1/items/", pol: loose, escaped: "/v1/items", path: "/v1/items"},
		{name: "root stays with strip", in: "/", pol: loose, escaped: "/", path: "/"},
		{name: "unreserved decoded", in: "/v1/%69tems", escaped: "/v1/items", path: "/v1/items"},
		{name: "escape upper-cased", in: "/a%3cb", escaped: "/a%3Cb", path: "/a<b"},
		{name: "raw byte escaped", in: "/caf\xc3\xa9", escaped: "/caf%C3%A9", path: "/caf\u00e9"},
		{name: "unicode dot leader is data", in: "/v1/%E2%80%A4/items", escaped: "/v1/%E2%80%A4/items", path: "/v1/\u2024/items"},
		{name: "fullwidth dot is data", in: "/v1/%EF%BC%8E%EF%BC%8E/items", escaped: "/v1/%EF%BC%8E%EF%BC%8E/items", path: "/v1/\uff0e\uff0e/items"},
		{name: "case kept", in: "/V1/Items", escaped: "/V1/Items", path: "/V1/Items"},
		{name: "case folded", in: "/V1/%49tems", pol: loose, escaped: "/v1/items", path: "/v1/items"},
		{name: "semicolon kept", in: "/v1/items;x=1", escaped: "/v1/items;x=1", path: "/v1/items;x=1"},
		{name: "semicolon stripped", in: "/v1/items;jsessionid=1/5", pol: java, escaped: "/v1/items/5", path: "/v1/items/5"},
		{name: "semicolon traversal", in: "/v1/admin/..;/items", pol: java, escaped: "/v1/items", path: "/v1/items"},
		{name: "encoded semicolon is data", in: "/v1/items%3bx", pol: java, escaped: "/v1/items%3Bx", path: "/v1/items;x"},
		{name: "semicolon refused", in: "/v1/items;x", pol: strictSemi, form: "semicolon"},
		{name: "encoded slash refused", in: "/v1%2Fitems", form: "encoded_slash"},
		{name: "encoded slash decoded", in: "/v1%2fitems", pol: decode, escaped: "/v1/items", path: "/v1/items"},
		{name: "encoded slash traversal decoded", in: "/v1/x%2F..%2Fitems", pol: decode, escaped: "/v1/items", path: "/v1/items"},
		{name: "encoded slash kept", in: "/v1/a%2fb", pol: keepSlash, escaped: "/v1/a%2Fb", path: "/v1/a%2Fb"},
		{name: "percent kept encoded with slash", in: "/v1/100%25", pol: keepSlash, escaped: "/v1/100%25", path: "/v1/100%25"},
		{name: "backslash refused", in: "/v1\\items", form: "backslash"},
		{name: "encoded backslash refused", in: "/v1%5citems", form: "backslash"},
		{name: "backslash decoded", in: "/v1\\.\\items", pol: decode, escaped: "/v1/items", path: "/v1/items"},
		{name: "backslash kept", in: "/v1\\items", pol: loose, escaped: "/v1%5Citems", path: "/v1\\items"},
		{name: "nul refused", in: "/v1/items%00", form: "control_character"},
		{name: "newline refused", in: "/v1/items%0a", form: "control_character"},
		{name: "raw control refused", in: "/v1/\x01", form: "control_character"},
		{name: "overlong dot refused", in: "/v1/%c0%ae/items", form: "invalid_utf8"},
		{name: "overlong dot kept as data", in: "/v1/%c0%ae/items", pol: loose, escaped: "/v1/%C0%AE/items", path: "/v1/\xc0\xae/items"},
		{name: "lone byte refused", in: "/v1/%ff", form: "invalid_utf8"},
		{name: "double encoding refused", in: "/v1/%252e/items", form: "double_encoding"},
		{name: "double encoding in pieces refused", in: "/v1/%25%32%65/items", form: "double_encoding"},
		{name: "double encoding kept", in: "/v1/%252e/items", pol: loose, escaped: "/v1/%252e/items", path: "/v1/%2e/items"},
		{name: "percent sign", in: "/100%25off", escaped: "/100%25off", path: "/100%off"},
		{name: "bad escape", in: "/a%zz", form: "bad_escape"},
		{name: "short escape", in: "/a%2", form: "bad_escape"},
		{name: "not absolute", in: "v1/items", form: "not_absolute"},
		{name: "no merge keeps empty segment", in: "/v1//items", pol: noMerge, escaped: "/v1//items", path: "/v1//items"},
		{name: "no merge dot dot pops empty", in: "/a//..", pol: noMerge, escaped: "/a/", path: "/a/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.pol
			if pol == (PathPolicy{}) {
				pol = DefaultPathPolicy
			}
			escaped, path, err := CanonicalPath(tc.in, pol)
			if tc.form != "" {
				var pe *PathError
				if !errors.As(err, &pe) || pe.Form != tc.form {
					t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want refusal %s", tc.in, escaped, path, err, tc.form)
				}
				return
			}
			if err != nil || escaped != tc.escaped || path != tc.path {
				t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want %q, %q", tc.in, escaped, path, err, tc.escaped, tc.path)
			}
			again, path2, err := CanonicalPath(escaped, pol)
			if err != nil || again != escaped || path2 != path {
				t.Fatalf("not idempotent: CanonicalPath(%q) = %q, %q, %v", escaped, again, path2, err)
			}
		})
	}
}

func TestCanonicalPathDoesNotAllocateWhenCanonical(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _ = CanonicalPath("/v1/users/42/orders", DefaultPathPolicy)
	})
	if allocs != 0 {
		t.Fatalf("allocs = %v, want 0", allocs)
	}
}

// BenchmarkCanonicalPath compares CanonicalPath with the obvious
// alternative, url.PathUnescape then path.Clean (which does less: no
// policy, no escaped form), on a canonical path and on a messy one.
func BenchmarkCanonicalPath(b *testing.B) {
	for _, p := range []string{"/v1/users/42/orders", "/v1//users/./%34%32/x/../orders"} {
		b.Run("canonical/"+p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = CanonicalPath(p, DefaultPathPolicy)
			}
		})
		b.Run("unescape+clean/"+p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, _ := url.PathUnescape(p)
				_ = path.Clean(d)
			}
		})
	}
}
