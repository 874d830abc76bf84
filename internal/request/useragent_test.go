package request

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

const (
	uaChromeWin   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	uaChromeMac   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	uaChromeAndr  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
	uaEdge        = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"
	uaFirefox     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
	uaSafariMac   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
	uaSafariPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	uaChromeIOS   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1"
	uaHeadless    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"
)

func TestParseAgent(t *testing.T) {
	for _, tc := range []struct {
		name, ua string
		want     Agent
	}{
		{"Chrome on Windows", uaChromeWin, Agent{AgentChromium, 124, PlatformWindows, false}},
		{"Chrome on a Mac", uaChromeMac, Agent{AgentChromium, 124, PlatformMac, false}},
		{"Chrome on an Android phone", uaChromeAndr, Agent{AgentChromium, 124, PlatformLinux, true}},
		{"Edge", uaEdge, Agent{AgentChromium, 124, PlatformWindows, false}},
		{"Firefox", uaFirefox, Agent{AgentFirefox, 125, PlatformWindows, false}},
		{"Safari on a Mac", uaSafariMac, Agent{AgentSafari, 17, PlatformMac, false}},
		{"Safari on an iPhone", uaSafariPhone, Agent{AgentSafari, 17, PlatformIOS, true}},
		{"Chrome on an iPhone is WebKit", uaChromeIOS, Agent{AgentSafari, 0, PlatformIOS, true}},
		{"headless Chrome says so", uaHeadless, Agent{}},
		{"a tool", "curl/8.5.0", Agent{}},
		{"a crawler in Chrome's clothes", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/124.0.6367.155 Safari/537.36", Agent{}},
		{"an app", "ShopApp/4.2.1 (iPhone; iOS 17.4; Scale/3.00)", Agent{}},
		{"Mozilla with nothing after it", "Mozilla/5.0 ", Agent{}},
		{"a huge version", "Mozilla/5.0 (Windows NT 10.0) Chrome/99999999999 Safari/537.36", Agent{AgentChromium, 99999, PlatformWindows, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseAgent(tc.ua); got != tc.want {
				t.Errorf("ParseAgent(%q) = %+v, want %+v", tc.ua, got, tc.want)
			}
		})
	}
}

func TestClientHintsContradict(t *testing.T) {
	for _, tc := range []struct {
		name, ua string
		header   []string
		want     bool
	}{
		{"Chrome's own hints", uaChromeWin, []string{"Sec-Ch-Ua", `"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"`, "Sec-Ch-Ua-Mobile", "?0", "Sec-Ch-Ua-Platform", `"Windows"`}, false},
		{"Edge's own hints", uaEdge, []string{"Sec-Ch-Ua", `"Chromium";v="124", "Microsoft Edge";v="124", "Not-A.Brand";v="99"`, "Sec-Ch-Ua-Platform", `"Windows"`}, false},
		{"an Android phone", uaChromeAndr, []string{"Sec-Ch-Ua", `"Chromium";v="124"`, "Sec-Ch-Ua-Mobile", "?1", "Sec-Ch-Ua-Platform", `"Android"`}, false},
		{"Android's desktop mode claims Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			[]string{"Sec-Ch-Ua", `"Chromium";v="124"`, "Sec-Ch-Ua-Mobile", "?1", "Sec-Ch-Ua-Platform", `"Android"`}, false},
		{"an unknown platform name", uaChromeWin, []string{"Sec-Ch-Ua", `"Chromium";v="124"`, "Sec-Ch-Ua-Platform", `"Fuchsia"`}, false},
		{"Firefox never sends them", uaFirefox, []string{"Sec-Ch-Ua", `"Chromium";v="124"`}, true},
		{"Safari never sends them", uaSafariMac, []string{"Sec-Ch-Ua", `"Chromium";v="124"`}, true},
		{"another Chromium version", uaChromeWin, []string{"Sec-Ch-Ua", `"Chromium";v="110", "Google Chrome";v="110"`}, true},
		{"a phone flag on a desktop", uaChromeWin, []string{"Sec-Ch-Ua", `"Chromium";v="124"`, "Sec-Ch-Ua-Mobile", "?1"}, true},
		{"a desktop flag on a phone", uaChromeAndr, []string{"Sec-Ch-Ua", `"Chromium";v="124"`, "Sec-Ch-Ua-Mobile", "?0"}, true},
		{"another platform", uaChromeMac, []string{"Sec-Ch-Ua", `"Chromium";v="124"`, "Sec-Ch-Ua-Platform", `"Windows"`}, true},
		{"a tool's hints are its own business", "python-requests/2.31.0", []string{"Sec-Ch-Ua", `"Chromium";v="124"`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for i := 0; i+1 < len(tc.header); i += 2 {
				h.Set(tc.header[i], tc.header[i+1])
			}
			if got := clientHintsContradict(HTTPHeader(h), ParseAgent(tc.ua)); got != tc.want {
				t.Errorf("contradict = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestParseHintsHTTP10: HTTP/1.0 is a hint only when no proxy says it
// forwarded the request (nginx speaks HTTP/1.0 to its upstreams by
// default).
func TestParseHintsHTTP10(t *testing.T) {
	for _, tc := range []struct {
		name   string
		minor  int
		header []string
		want   bool
	}{
		{"HTTP/1.0 from the client", 0, nil, true},
		{"HTTP/1.1", 1, nil, false},
		{"HTTP/1.0 through a proxy", 0, []string{"X-Forwarded-For", "192.0.2.7"}, false},
		{"HTTP/1.0 with Via", 0, []string{"Via", "1.0 cache"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.ProtoMinor = tc.minor
			r.Header.Set("User-Agent", uaChromeWin)
			for i := 0; i+1 < len(tc.header); i += 2 {
				r.Header.Set(tc.header[i], tc.header[i+1])
			}
			var v View
			if prob := (&Parser{}).ParseHTTP(r, time.Unix(0, 0), &v); prob != nil {
				t.Fatal(prob)
			}
			if got := v.Hints.Has(HTTP10); got != tc.want {
				t.Errorf("HTTP10 = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseHintsClientHintsContradict(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", uaFirefox)
	r.Header.Set("Sec-Ch-Ua", `"Chromium";v="124"`)
	var v View
	if prob := (&Parser{}).ParseHTTP(r, time.Unix(0, 0), &v); prob != nil {
		t.Fatal(prob)
	}
	if !v.Hints.Has(ClientHintsContradict) {
		t.Errorf("hints %016b: a Firefox User-Agent with Chromium's client hints was not flagged as a contradiction", v.Hints)
	}
}

// FuzzParseAgent feeds arbitrary User-Agents and client hints to
// ParseAgent and clientHintsContradict: they must not panic, a parsed
// agent's fields must be in range, and anything not claiming Mozilla/5.0
// is AgentOther.
func FuzzParseAgent(f *testing.F) {
	for _, ua := range []string{uaChromeWin, uaChromeAndr, uaEdge, uaFirefox, uaSafariMac, uaSafariPhone, uaChromeIOS, uaHeadless, "curl/8.5.0", "", "Mozilla/5.0 Chrome/", "Mozilla/5.0 (iPad) AppleWebKit/ Version/"} {
		f.Add(ua, `"Chromium";v="124", "Not-A.Brand";v="99"`, "?0", `"Windows"`)
	}
	f.Add(uaChromeWin, `"Chromium";v=`, "?1", `"`)
	f.Add(uaChromeWin, `;;,,"Chromium"`, "", `""`)
	f.Fuzz(func(t *testing.T, ua, brands, mobile, platform string) {
		if len(ua)+len(brands)+len(mobile)+len(platform) > 4<<10 {
			t.Skip()
		}
		a := ParseAgent(ua)
		if a.Family > AgentSafari || a.Platform > PlatformIOS || a.Major < 0 || a.Major > 99999 {
			t.Fatalf("ParseAgent(%q) = %+v: out of range", ua, a)
		}
		if a.Family == AgentOther && a != (Agent{}) {
			t.Fatalf("ParseAgent(%q) = %+v: fields set without a family", ua, a)
		}
		if len(ua) < 12 || ua[:12] != "Mozilla/5.0 " {
			if a != (Agent{}) {
				t.Fatalf("ParseAgent(%q) = %+v for no Mozilla/5.0", ua, a)
			}
		}
		h := http.Header{}
		h.Set("Sec-Ch-Ua", brands)
		h.Set("Sec-Ch-Ua-Mobile", mobile)
		h.Set("Sec-Ch-Ua-Platform", platform)
		if clientHintsContradict(HTTPHeader(h), Agent{}) {
			t.Fatal("hints contradict a User-Agent that claims no browser")
		}
		_ = clientHintsContradict(HTTPHeader(h), a)
		_ = brandVersion(brands, "Chromium")
	})
}
