package openapi

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds documents to the spec parser: it returns a Spec or an
// error naming the file, never panics, and every operation it imports is
// a template the route table takes.
func FuzzParse(f *testing.F) {
	shop, err := os.ReadFile("testdata/shop.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shop)
	f.Add([]byte("openapi: 3.1.0\ninfo: {title: t, version: \"1\"}\npaths: {}\n"))
	f.Add([]byte(`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/a/{b}":{"get":{"parameters":[{"name":"b","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"ok"}}}}}}`))
	f.Add([]byte("openapi: 3.0.3\npaths: {/x: {$ref: '#/paths/~1x'}}\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 64<<10 {
			return
		}
		s, err := Parse("fuzz.yaml", doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if _, err := NewValidator(s, Options{}); err != nil {
			t.Fatalf("a parsed spec's validator: %v", err)
		}
	})
}

// FuzzCheck sends arbitrary requests through the shop spec's validator:
// it never panics, and a finding always has a reason, a status and a
// detail.
func FuzzCheck(f *testing.F) {
	v, r := shop(f, Options{Enforce: true, MaxBodyBytes: 1024})
	f.Add("GET", "/v1/products?page=2", "", "")
	f.Add("POST", "/v1/orders", "application/json", `{"sku":"A","quantity":1}`)
	f.Add("POST", "/v1/orders", "application/x-www-form-urlencoded", "sku=a&quantity=x")
	f.Add("POST", "/v1/orders", "multipart/form-data; boundary=x", "--x\r\n\r\n--x--")
	f.Add("GET", "/v1/orders/99999999999999999999999", "", "")
	f.Add("DELETE", "/v1/products?page=1&page=2&sort[]=x", "", "")
	f.Fuzz(func(t *testing.T, method, target, ctype, payload string) {
		if len(target) > 4096 || len(payload) > 4096 || method == "" {
			return
		}
		if f := check(v, r, method, target, ctype, payload); f != nil && (f.Reason == "" || f.Status == 0 || f.Detail == "") {
			t.Fatalf("incomplete finding %+v", *f)
		}
	})
}
