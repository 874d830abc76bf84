package main

import (
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	in := "test,kind,log_type,log_file,log_lines,scenarios_under_test,expected_alert_count,expected_alerts(scenario|source|events)\n" +
		"probe-a,detection,nginx,a.log,12,crowdsecurity/http-probing,1,crowdsecurity/http-probing|203.0.113.4|11\n" +
		"two,detection,nginx,b.log,3,x/http-bad-user-agent;x/http-open-proxy,2,x/http-bad-user-agent|198.51.100.1|2;x/http-open-proxy|2001:0db8::0001|1\n" +
		"quiet,negative/whitelist,caddy,c.log,5,,0,\n"
	ls, err := parseLabels(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 3 || ls[0].Test != "probe-a" || ls[0].LogLines != 12 || len(ls[0].Expected) != 1 || ls[0].Expected[0].Events != 11 {
		t.Fatalf("labels %+v", ls)
	}
	if len(ls[1].Scenarios) != 2 || len(ls[1].Expected) != 2 || ls[1].Expected[1].Source != "2001:0db8::0001" {
		t.Fatalf("second row %+v", ls[1])
	}
	if ls[2].Kind != "negative/whitelist" || len(ls[2].Expected) != 0 || len(ls[2].Scenarios) != 0 {
		t.Fatalf("third row %+v", ls[2])
	}
	if _, err := parseLabels(strings.NewReader("test,kind\nx,y\n")); err == nil {
		t.Fatal("a header without the needed columns parsed")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name      string
		scenarios []string
		class     string
		inScope   bool
	}{
		{"probing", []string{"crowdsecurity/http-probing"}, "probing", true},
		{"cve probing is behaviour", []string{"./scenarios/crowdsecurity/http-cve-probing.yaml"}, "probing", true},
		{"one CVE is not", []string{"./scenarios/crowdsecurity/CVE-2030-0001.yaml"}, "cve", false},
		{"a product exploit is not", []string{"crowdsecurity/vmware-something-rce"}, "cve", false},
		{"a cve path traversal is a CVE", []string{"scenarios/crowdsecurity/http-cve-2021-41773.yaml"}, "cve", false},
		{"brute force", []string{"crowdsecurity/http-generic-bf", "someone/http-generic-401-bf"}, "brute force", true},
		{"dos", []string{"crowdsecurity/http-dos-swithcing-ua"}, "dos", true},
		{"mixed", []string{"crowdsecurity/http-bad-user-agent", "crowdsecurity/http-open-proxy"}, "mixed (bad user agent, open proxy)", true},
		{"a CVE among behaviours skips the test", []string{"crowdsecurity/http-probing", "crowdsecurity/CVE-2030-0002"}, "cve", false},
		{"any -bf is brute force", []string{"someone/app-login-bf"}, "brute force", true},
		{"not in the table", []string{"someone/mystery"}, "unknown", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class, in, reason := classify(label{Scenarios: tc.scenarios})
			if class != tc.class || in != tc.inScope || (!in && reason == "") {
				t.Fatalf("classify(%v) = %q %v %q, want %q %v", tc.scenarios, class, in, reason, tc.class, tc.inScope)
			}
		})
	}
}
