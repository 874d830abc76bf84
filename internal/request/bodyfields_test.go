package request

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReadBodyFields(t *testing.T) {
	many := make([]string, 20)
	for i := range many {
		many[i] = fmt.Sprintf(`"f%d":1`, i)
	}
	for _, tc := range []struct {
		name, body, ct string
		want           []string
		dropped        int
	}{
		{"json login", `{"email":"a@b.c","password":"x","remember":true}`, "application/json", []string{"email", "password", "remember"}, 0},
		{"nested values are skipped", `{"query":"{ a { b } }","variables":{"id":1,"x":[1,2]}}`, "application/json", []string{"query", "variables"}, 0},
		{"problem json suffix", `{"code":"A1"}`, "application/vnd.api+json", []string{"code"}, 0},
		{"form", "username=bob&password=x&password=y&remember", "application/x-www-form-urlencoded", []string{"username", "password", "remember"}, 0},
		{"form escapes", "promo%5Fcode=1&a+b=2", "application/x-www-form-urlencoded", []string{"promo_code", "a b"}, 0},
		{"bad form escape", "%zz=1&code=2", "application/x-www-form-urlencoded", []string{"code"}, 1},
		{"json array", `[{"a":1}]`, "application/json", nil, 0},
		{"broken json", `{"a":1,"b":`, "application/json", nil, 0},
		{"other media type", `{"a":1}`, "text/plain", nil, 0},
		{"too many", "{" + strings.Join(many, ",") + "}", "application/json", nil, 4},
		{"long name", `{"` + strings.Repeat("x", 65) + `":1,"ok":2}`, "application/json", []string{"ok"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f BodyFields
			f.SetNames([]string{"stale"})
			ReadBodyFields([]byte(tc.body), tc.ct, &f)
			got := f.Names()
			if tc.name == "too many" {
				if f.Len() != maxBodyFields || int(f.Dropped) != tc.dropped || got[0] != "f0" {
					t.Fatalf("kept %d names (first %q), dropped %d; want %d, f0 first, %d dropped", f.Len(), got[0], f.Dropped, maxBodyFields, tc.dropped)
				}
				return
			}
			if !slices.Equal(got, tc.want) || int(f.Dropped) != tc.dropped {
				t.Fatalf("names %q dropped %d, want %q dropped %d", got, f.Dropped, tc.want, tc.dropped)
			}
		})
	}
}

// TestParseBodyFields checks the Parser reads body field names only when
// asked, only on posts, and not on routes with a kind; and that a reused
// View does not keep a previous request's names.
func TestParseBodyFields(t *testing.T) {
	router, err := NewRouter([]Route{{Name: "login", Template: "POST /login", Kind: "login", Field: "username"}, {Name: "cart", Template: "POST /cart"}})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"username":"bob","password":"x"}`
	for _, tc := range []struct {
		name, method, path string
		on                 bool
		want               []string
	}{
		{"unrouted post", "POST", "/v1/auth", true, []string{"username", "password"}},
		{"route without kind", "POST", "/cart", true, []string{"username", "password"}},
		{"route with a kind", "POST", "/login", true, nil},
		{"get", "GET", "/v1/auth", true, nil},
		{"off", "POST", "/v1/auth", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Parser{Router: router, BodyFields: tc.on}
			v := View{}
			v.BodyFields.SetNames([]string{"stale"})
			in := Input{Method: tc.method, Path: tc.path, Header: HTTPHeader{"Content-Type": {"application/json"}}, Body: staticBody(body)}
			if prob := p.Parse(&in, time.Unix(1, 0), &v); prob != nil {
				t.Fatal(prob)
			}
			if got := v.BodyFields.Names(); !slices.Equal(got, tc.want) {
				t.Fatalf("names %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzReadBodyFields(f *testing.F) {
	for _, s := range []string{`{"email":"a","password":"b"}`, `{"a":{"b":1},"c":[1,{"d":2}]}`, "a=1&b=2&%41=3", `{"":1}`, `{"a":1}{`, ""} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, form bool) {
		if len(body) > 4<<10 {
			t.Skip()
		}
		ct := "application/json"
		if form {
			ct = "application/x-www-form-urlencoded"
		}
		var bf BodyFields
		ReadBodyFields(body, ct, &bf)
		seen := map[string]bool{}
		total := 0
		bf.Each(func(n string) {
			if n == "" || len(n) > maxBodyFieldName || seen[n] {
				t.Fatalf("name %q (seen %v) breaks the bounds", n, seen[n])
			}
			seen[n] = true
			total += len(n)
		})
		if bf.Len() > maxBodyFields || total > bodyFieldsBytes {
			t.Fatalf("%d names, %d bytes: over the bounds", bf.Len(), total)
		}
		// Within the bounds, the names are the keys encoding/json decodes.
		var m map[string]json.RawMessage
		if form || json.Unmarshal(body, &m) != nil || m == nil || len(m) > maxBodyFields {
			return
		}
		size := 0
		for k := range m {
			if k == "" || len(k) > maxBodyFieldName {
				return
			}
			size += len(k)
		}
		if size > bodyFieldsBytes {
			return
		}
		if len(seen) != len(m) {
			t.Fatalf("names %v, want the keys of %s", seen, body)
		}
		for k := range m {
			if !seen[k] {
				t.Fatalf("key %q of %s not read (names %v)", k, body, seen)
			}
		}
	})
}

// BenchmarkReadBodyFields is the cost of reading a login body's field
// names (on posts no kinded route matched, when route learning is on),
// against decoding the same JSON into a map, the obvious alternative.
func BenchmarkReadBodyFields(b *testing.B) {
	body := []byte(`{"email":"someone@example.com","password":"correct horse battery staple","remember":true}`)
	b.Run("ReadBodyFields/json", func(b *testing.B) {
		var f BodyFields
		b.ReportAllocs()
		for b.Loop() {
			ReadBodyFields(body, "application/json", &f)
		}
	})
	b.Run("json.Unmarshal/map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(body, &m)
		}
	})
	form := []byte("email=someone%40example.com&password=x&remember=1")
	b.Run("ReadBodyFields/form", func(b *testing.B) {
		var f BodyFields
		b.ReportAllocs()
		for b.Loop() {
			ReadBodyFields(form, "application/x-www-form-urlencoded", &f)
		}
	})
}

// TestReadBodyFieldsMatchesDecoding checks the key scan against
// encoding/json's own decoding of the same objects.
func TestReadBodyFieldsMatchesDecoding(t *testing.T) {
	for _, body := range []string{
		`{"a":1,"b":{"c":2,"d":[{"e":3}]},"f":"x,\"g\":1","h":[1,"}",{"i":{}}],"j":null}`,
		` {"k\u00e9y":1, "w\"q":true}`,
		`{}`,
		`{"dup":1,"dup":2}`,
	} {
		var f BodyFields
		ReadBodyFields([]byte(body), "application/json", &f)
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		got := f.Names()
		if len(got) != len(m) {
			t.Fatalf("%s: names %q, want the keys of %v", body, got, m)
		}
		for _, k := range got {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: %q is no key", body, k)
			}
		}
	}
}
