package request

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseHints(t *testing.T) {
	tests := []struct {
		name, method, target string
		header               []string
		want                 Hints
	}{
		{"a browser", "GET", "/products", []string{"User-Agent", "Mozilla/5.0", "Accept-Language", "en", "Accept-Encoding", "gzip", "Referer", "https://shop.example/", "Sec-Fetch-Mode", "cors"},
			ClaimsBrowser | AcceptLanguage | AcceptEncoding | Referer | FetchMetadata},
		{"a script", "GET", "/products", []string{"User-Agent", "curl/8.5.0"}, 0},
		{"an absolute-form target", "GET", "http://other-site.example/index.html", nil, AbsoluteTarget},
		{"OPTIONS *", "OPTIONS", "*", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			for i := 0; i+1 < len(tc.header); i += 2 {
				r.Header.Set(tc.header[i], tc.header[i+1])
			}
			var v View
			if prob := (&Parser{}).ParseHTTP(r, time.Unix(0, 0), &v); prob != nil {
				t.Fatal(prob)
			}
			if v.Hints != tc.want {
				t.Errorf("hints %08b, want %08b", v.Hints, tc.want)
			}
		})
	}
}
