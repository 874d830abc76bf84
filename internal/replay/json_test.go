package replay

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseJSON(t *testing.T) {
	unix := strconv.FormatInt(t0.Unix(), 10)
	cases := []parseCase{
		{name: "nginx escape=json", line: `{"time_local":"28/Nov/2026:12:00:00 +0000","remote_addr":"203.0.113.7","request_method":"GET","request_uri":"/search?q=shoes","status":"200","body_bytes_sent":"512","request_time":"0.042","http_referer":"-","http_user_agent":"Mozilla/5.0","http_host":"shop.example"}`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Host: "shop.example", Path: "/search", Query: "q=shoes", Status: 200, Bytes: 512, Latency: 42 * time.Millisecond, UserAgent: "Mozilla/5.0"}},
		{name: "caddy", line: `{"level":"info","ts":` + unix + `.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"10.0.0.1","remote_port":"50412","client_ip":"203.0.113.7","proto":"HTTP/2.0","method":"GET","host":"api.example","uri":"/v1/items%2Fx?page=2","headers":{"User-Agent":["curl/8.5.0"],"Referer":["https://api.example/"]}},"bytes_read":0,"duration":0.0031,"size":2048,"status":200}`,
			want: Entry{Time: t0.Add(500 * time.Millisecond), ClientIP: ip, Method: "GET", Host: "api.example", Path: "/v1/items/x", Query: "page=2", Status: 200, Bytes: 2048, Latency: 3100 * time.Microsecond, UserAgent: "curl/8.5.0", Referer: "https://api.example/"}},
		{name: "traefik", line: `{"ClientAddr":"[2001:db8::7]:41000","ClientHost":"2001:db8::7","DownstreamContentSize":77,"DownstreamStatus":404,"Duration":1500000,"RequestHost":"shop.example","RequestMethod":"GET","RequestPath":"/wp-login.php","StartUTC":"2026-11-28T11:59:59.9Z","request_User-Agent":"Mozilla/5.0","time":"2026-11-28T13:00:00+01:00"}`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("2001:db8::7"), Method: "GET", Host: "shop.example", Path: "/wp-login.php", Status: 404, Bytes: 77, Latency: 1500 * time.Microsecond, UserAgent: "Mozilla/5.0"}},
		{name: "ecs nested", line: `{"@timestamp":"2026-11-28T12:00:00Z","source":{"ip":"198.51.100.2"},"http":{"request":{"method":"DELETE"},"response":{"status_code":204}},"url":{"path":"/v1/keys/7","query":"force=1"},"user_agent":{"original":"Go-http-client/1.1"},"event":{"duration":2000000}}`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("198.51.100.2"), Method: "DELETE", Path: "/v1/keys/7", Query: "force=1", Status: 204, Latency: 2 * time.Millisecond, UserAgent: "Go-http-client/1.1"}},
		{name: "dotted keys", line: `{"@timestamp":"2026-11-28T12:00:00Z","source.ip":"198.51.100.2","http.request.method":"GET","http.response.status_code":200}`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("198.51.100.2"), Method: "GET", Status: 200}},
		{name: "unix milliseconds", line: `{"ts":` + unix + `123,"ip":"203.0.113.7","status":200}`,
			want: Entry{Time: t0.Add(123 * time.Millisecond), ClientIP: ip, Status: 200}},
		{name: "unix seconds string", line: `{"timestamp":"` + unix + `","ip":"203.0.113.7","status":200}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200}},
		{name: "unix nanoseconds", line: `{"ts":` + unix + `000000007,"ip":"203.0.113.7","status":200}`,
			want: Entry{Time: t0.Add(7), ClientIP: ip, Status: 200}},
		{name: "absolute url", line: `{"time":"2026-11-28T12:00:00Z","client_ip":"203.0.113.7","url":"https://shop.example/a?b=1","status":301}`,
			want: Entry{Time: t0, ClientIP: ip, Host: "shop.example", Path: "/a", Query: "b=1", Status: 301}},
		{name: "forwarded-for list", line: `{"time":"2026-11-28T12:00:00Z","client_ip":"203.0.113.7, 10.0.0.1","path":"/","status":200}`,
			want: Entry{Time: t0, ClientIP: ip, Path: "/", Status: 200}},
		{name: "syslog wrapped", line: `Nov 28 12:00:00 web-1 nginx: {"time":"2026-11-28T12:00:00Z","remote_addr":"203.0.113.7","status":200}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200}},
		{name: "mapped", mapping: JSONMapping{Time: "when", TimeFormat: "2006/01/02 15:04:05", ClientIP: "peer", Method: "verb", Path: "route",
			Query: "qs", Status: "code", Latency: "took", APIKey: "api.key", KeyID: "api.id", User: "uid", Session: "sid", Host: "vhost", UserAgent: "agent", Referer: "from", Bytes: "out"},
			line: `{"when":"2026/11/28 12:00:00","peer":"203.0.113.7:5555","verb":"PUT","route":"/x","qs":"a=1","code":"200","api":{"key":"sk_live_abc","id":"k1"},"uid":"u-1","sid":"s-1","took":"12ms","vhost":"h","agent":"ua","from":"r","out":9}`,
			want: Entry{Time: t0, ClientIP: ip, Method: "PUT", Host: "h", Path: "/x", Query: "a=1", Status: 200, Bytes: 9, Latency: 12 * time.Millisecond,
				UserAgent: "ua", Referer: "r", APIKey: "sk_live_abc", KeyID: "k1", User: "u-1", Session: "s-1"}},
		{name: "mapped latency unit", mapping: JSONMapping{Latency: "upstream:us"}, line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"upstream":1500}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200, Latency: 1500 * time.Microsecond}},
		{name: "mapped latency suffix", mapping: JSONMapping{Latency: "upstream_seconds"}, line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"upstream_seconds":0.25}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200, Latency: 250 * time.Millisecond}},
		{name: "mapped unix ms", mapping: JSONMapping{TimeFormat: "unix_ms"}, line: `{"time":` + unix + `000,"ip":"203.0.113.7","status":200}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200}},

		{name: "not json", line: `203.0.113.7 - - [28/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1`, err: "bad JSON"},
		{name: "array", line: `[1,2]`, err: "bad JSON"},
		{name: "null", line: `null`, err: "not a JSON object"},
		{name: "trailing data", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200} {}`, err: "data after the object"},
		{name: "missing time", line: `{"ip":"203.0.113.7","status":200}`, err: "missing time"},
		{name: "bad timestamp", line: `{"time":"yesterday","ip":"203.0.113.7","status":200}`, err: "bad timestamp"},
		{name: "negative unix time", line: `{"time":-5,"ip":"203.0.113.7","status":200}`, err: "bad timestamp"},
		{name: "no client address", line: `{"time":"2026-11-28T12:00:00Z","status":200}`, err: "no client address"},
		{name: "blank client address", line: `{"time":"2026-11-28T12:00:00Z","ip":"-","status":200}`, err: "no client address"},
		{name: "blank client address with a session", mapping: JSONMapping{Session: "sid"}, line: `{"time":"2026-11-28T12:00:00Z","ip":"","status":200,"sid":"abc123"}`,
			want: Entry{Time: t0, Status: 200, Session: "abc123"}},
		{name: "no client address with a session", mapping: JSONMapping{Session: "sid"}, line: `{"time":"2026-11-28T12:00:00Z","status":200,"sid":"abc123"}`,
			want: Entry{Time: t0, Status: 200, Session: "abc123"}},
		{name: "blank client address and session", mapping: JSONMapping{Session: "sid"}, line: `{"time":"2026-11-28T12:00:00Z","ip":"-","status":200,"sid":"-"}`, err: "no client address"},
		{name: "bad client address", line: `{"time":"2026-11-28T12:00:00Z","ip":"localhost","status":200}`, err: "bad client address"},
		{name: "missing status", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7"}`, err: "missing status"},
		{name: "bad status", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":"OK"}`, err: "bad status"},
		{name: "bad bytes", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"bytes":"lots"}`, err: "bad bytes"},
		{name: "bad latency", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"latency_ms":"slow"}`, err: "bad latency"},
		{name: "mapped field of the wrong type", mapping: JSONMapping{User: "user"}, line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"user":{"id":1}}`, err: `field "user" is not a string`},
	}
	for i := range cases {
		cases[i].format = "json"
	}
	runParseCases(t, cases)
}

func BenchmarkParseJSON(b *testing.B) { benchParse(b, "json", benchJSON) }

// TestParseJSONBody checks the mapped body: an object's keys, an array of
// names, a string holding JSON or a form; another type is a bad line.
func TestParseJSONBody(t *testing.T) {
	const head = `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":401,"method":"POST","path":"/v1/auth",`
	for _, tc := range []struct {
		name, body string
		want       []string
		err        bool
	}{
		{"object", `"req":{"password":"x","email":"a"}}`, []string{"email", "password"}, false},
		{"names", `"req":["email","password"]}`, []string{"email", "password"}, false},
		{"json string", `"req":"{\"code\":\"X1\"}"}`, []string{"code"}, false},
		{"form string", `"req":"username=a&password=b"}`, []string{"username", "password"}, false},
		{"absent", `"other":1}`, nil, false},
		{"number", `"req":7}`, nil, true},
		{"array of numbers", `"req":[1]}`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewParser("json", JSONMapping{Body: "req"})
			if err != nil {
				t.Fatal(err)
			}
			var e Entry
			err = p.Parse(head+tc.body, &e)
			if (err != nil) != tc.err || strings.Join(e.BodyFields, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("fields %q err %v, want %q err %v", e.BodyFields, err, tc.want, tc.err)
			}
		})
	}
}
