package replay

import (
	"reflect"
	"testing"
)

// maxFuzzLine caps fuzzed lines: the parsers see lines of 64 KiB at most,
// and the interesting structure is in the first few hundred bytes.
const maxFuzzLine = 8 << 10

// fuzzParse checks what every parser promises for any line: no panic, and
// a nil error only with a real time and a valid client address (the empty
// mapping names no session, key or user to stand in for one). The same
// line must parse the same on a fresh parser and on one that has parsed
// warm first (the combined parser remembers the last timestamp).
func fuzzParse(t *testing.T, format, warm, line string) {
	if len(line) > maxFuzzLine || len(warm) > maxFuzzLine {
		t.Skip()
	}
	fresh, err := NewParser(format, JSONMapping{})
	if err != nil {
		t.Fatal(err)
	}
	used, _ := NewParser(format, JSONMapping{})
	var e, e2 Entry
	_ = used.Parse(warm, &e2)
	err = fresh.Parse(line, &e)
	err2 := used.Parse(line, &e2)
	if (err == nil) != (err2 == nil) || !reflect.DeepEqual(e, e2) {
		t.Fatalf("a parser that read %q first parses %q differently:\n%v %+v\n%v %+v", warm, line, err, e, err2, e2)
	}
	if err != nil {
		return
	}
	if e.Time.IsZero() || !inRange(e.Time) {
		t.Errorf("nil error with time %v", e.Time)
	}
	if !e.ClientIP.IsValid() || e.ClientIP.Zone() != "" || e.ClientIP.Is4In6() {
		t.Errorf("nil error with client address %v", e.ClientIP)
	}
	if e.Status < 0 || e.Status > 999 || e.Bytes < 0 || e.Latency < 0 {
		t.Errorf("nil error with status %d, bytes %d, latency %v", e.Status, e.Bytes, e.Latency)
	}
}

func FuzzParseCombined(f *testing.F) {
	const ts = "[28/Nov/2026:12:00:00 +0000]"
	for _, l := range []string{
		benchCombined,
		`198.51.100.4 - alice [28/Nov/2026:12:00:00 -0500] "POST /login HTTP/1.0" 401 -`,
		`2001:db8::42 - - ` + ts + ` "GET / HTTP/2.0" 304 0 "-" "-" "192.0.2.1, 10.0.0.2" 0.012`,
		`203.0.113.7 - - ` + ts + ` "GET /q?s=\"x\" HTTP/1.1" 200 10 "-" "bot \x22v2\x22 \\"`,
		`203.0.113.7 - - ` + ts + ` "\x16\x03\x01\x00\xA5" 400 157 "-" "-"`,
		`203.0.113.7 - - ` + ts + ` "GET http://u@proxy.example:8080/ip?x HTTP/1.1" 404 0 "-" "-"`,
		`203.0.113.7 - - ` + ts + ` "GET /na%C3%AFve%zz HTTP/1.1" 200 1`,
		`shop.example:443 203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1`,
		`<190>Nov  8 12:00:00 web-1 nginx[812]: 203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1`,
		`<134>1 2026-11-28T12:00:00Z web-1 nginx 812 access [m a="\]"] 203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1`,
		`2026-11-28T12:00:00.1+00:00 web-1 nginx: 203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1`,
	} {
		f.Add(benchCombined, l)
	}
	f.Fuzz(func(t *testing.T, warm, line string) {
		fuzzParse(t, "combined", warm, line)
		fuzzParse(t, "apache", warm, line)
	})
}

func FuzzParseEnvoy(f *testing.F) {
	const head = `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - 154 512 37 35 `
	const tail = ` "okhttp/4.12.0" "7f3c2a9e-1b2d-4c5e-8f90-123456789abc" "api.shop.example" "10.1.2.3:8080"`
	for _, l := range []string{
		benchEnvoy,
		head + `"203.0.113.7:51234, 10.0.0.1"` + tail,
		head + `"-"` + tail + ` "-" 198.51.100.9:40000`,
		`[2026-11-28T12:00:00.123Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 2 1 1 "-"` + tail + ` c 10.1.0.4:1 10.1.0.4:8080 [2001:db8::9]:52110 - default`,
		`[2026-11-28T12:00:00.123Z] "- - -" 0 UF 0 0 1 - "203.0.113.7" "-" "-" "-" "10.1.2.3:5432"`,
		`<134>Nov 28 12:00:00 edge-1 envoy[1]: ` + head + `"203.0.113.7"` + tail,
	} {
		f.Add("", l)
	}
	f.Fuzz(func(t *testing.T, warm, line string) {
		fuzzParse(t, "envoy", warm, line)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, l := range []string{
		benchJSON,
		`{"level":"info","ts":1795867200.5,"request":{"client_ip":"203.0.113.7","method":"GET","uri":"/v1?page=2","headers":{"User-Agent":["curl/8.5.0"]}},"duration":0.0031,"size":2048,"status":200}`,
		`{"ClientAddr":"[2001:db8::7]:41000","DownstreamStatus":404,"Duration":1500000,"RequestPath":"/wp-login.php","time":"2026-11-28T13:00:00+01:00"}`,
		`{"@timestamp":"2026-11-28T12:00:00Z","source":{"ip":"198.51.100.2"},"http":{"response":{"status_code":204}},"url":{"path":"/v1/keys/7"}}`,
		`{"ts":1795867200123,"ip":"203.0.113.7","status":"200","bytes":"-","latency_ms":"1.5"}`,
		`{"time_local":"28/Nov/2026:12:00:00 +0000","remote_addr":"203.0.113.7, 10.0.0.1","status":200,"url":"https://h/a?b"}`,
	} {
		f.Add("", l)
	}
	f.Fuzz(func(t *testing.T, warm, line string) {
		fuzzParse(t, "json", warm, line)
	})
}
