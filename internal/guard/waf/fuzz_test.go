package waf

import (
	"net/http"
	"strconv"
	"testing"
)

// FuzzInspect sends arbitrary targets, headers and bodies through the
// CRS: Inspect never panics, the score is never negative, and a blocked
// request names the rule that blocked it.
func FuzzInspect(f *testing.F) {
	w := sharedWAF(f)
	f.Add("GET", "/products?id=1%27%20or%201=1--", "", "", "")
	f.Add("POST", "/orders", "application/json", "User-Agent", `{"a":[{"b":"<script>"}]}`)
	f.Add("POST", "/upload", "multipart/form-data; boundary=x", "Cookie", "--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.php\"\r\n\r\n<?php\r\n--x--")
	f.Add("POST", "/soap", "text/xml", "X-Forwarded-For", "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>")
	f.Add("GET", "%zz/../\x00", "", "Range", "bytes=0-1,2-3,4-5,6-7,8-9,10-11")
	f.Fuzz(func(t *testing.T, method, target, ctype, header, body string) {
		if len(target) > 4096 || len(body) > 8192 || len(header) > 256 {
			return
		}
		h := http.Header{}
		if ctype != "" {
			h["Content-Type"] = []string{ctype}
		}
		if header != "" {
			h[header] = []string{target}
		}
		if body != "" {
			h["Content-Length"] = []string{strconv.Itoa(len(body))}
		}
		in := input(method, target, h)
		r := w.Inspect(in, []byte(body), false)
		if r.Score < 0 || r.Blocked && r.Rule == 0 {
			t.Fatalf("result %+v", r)
		}
	})
}
