package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// label is one row of labels.csv.
type label struct {
	Test, Kind, LogType, LogFile string
	LogLines                     int
	Scenarios                    []string // scenarios under test, as written
	Expected                     []alert
}

// alert is one alert CrowdSec expects.
type alert struct {
	Scenario, Source string
	Events           int
}

// readLabels reads labels.csv.
func readLabels(path string) ([]label, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseLabels(f)
}

func parseLabels(r io.Reader) ([]label, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("labels.csv: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("labels.csv: empty")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.SplitN(h, "(", 2)[0]] = i
	}
	for _, h := range []string{"test", "kind", "log_type", "log_file", "log_lines", "scenarios_under_test", "expected_alerts"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("labels.csv: no column %q", h)
		}
	}
	var ls []label
	for n, row := range rows[1:] {
		if len(row) != len(rows[0]) {
			return nil, fmt.Errorf("labels.csv:%d: %d fields, want %d", n+2, len(row), len(rows[0]))
		}
		l := label{Test: row[col["test"]], Kind: row[col["kind"]], LogType: row[col["log_type"]], LogFile: row[col["log_file"]]}
		l.LogLines, _ = strconv.Atoi(row[col["log_lines"]])
		for s := range strings.SplitSeq(row[col["scenarios_under_test"]], ";") {
			if s = strings.TrimSpace(s); s != "" {
				l.Scenarios = append(l.Scenarios, s)
			}
		}
		for a := range strings.SplitSeq(row[col["expected_alerts"]], ";") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			p := strings.Split(a, "|")
			if len(p) != 3 {
				return nil, fmt.Errorf("labels.csv:%d: alert %q is not scenario|source|events", n+2, a)
			}
			ev, _ := strconv.Atoi(p[2])
			l.Expected = append(l.Expected, alert{Scenario: p[0], Source: p[1], Events: ev})
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// scenarioClass maps a scenario name substring to a class. The first
// entry whose substring the lower-cased scenario name contains wins, so
// the exceptions come before the general rules.
type scenarioClass struct {
	Sub, Class string
	InScope    bool
	Reason     string // why an out-of-scope class is skipped
}

// scenarioClasses is the whole classification. Behavioural classes are
// measured; signatures of one CVE or one product's exploit are not what a
// behavioural detector is for, and are skipped with the reason.
var scenarioClasses = []scenarioClass{
	// Behavioural patterns whose names would otherwise match a rule below.
	{Sub: "http-cve-probing", Class: "probing", InScope: true},      // probing for many CVEs' paths
	{Sub: "sap-interface-probing", Class: "probing", InScope: true}, // technology probing
	{Sub: "http-cve-2021-41773", Class: "cve", Reason: "single-CVE signature (Apache path traversal CVE-2021-41773)"},
	{Sub: "http-cve-2021-42013", Class: "cve", Reason: "single-CVE signature (Apache path traversal CVE-2021-42013)"},
	// Signatures: one CVE or one product's exploit.
	{Sub: "cve-", Class: "cve", Reason: "single-CVE signature"},
	{Sub: "vmware-", Class: "cve", Reason: "product exploit signature (VMware)"},
	{Sub: "f5-big-ip", Class: "cve", Reason: "product exploit signature (F5 BIG-IP)"},
	{Sub: "fortinet", Class: "cve", Reason: "product exploit signature (Fortinet)"},
	{Sub: "pulse-secure", Class: "cve", Reason: "product exploit signature (Pulse Secure)"},
	{Sub: "thinkphp", Class: "cve", Reason: "product exploit signature (ThinkPHP)"},
	{Sub: "netgear_rce", Class: "cve", Reason: "product exploit signature (Netgear RCE)"},
	{Sub: "zoneminder", Class: "cve", Reason: "product exploit signature (ZoneMinder)"},
	{Sub: "grafana", Class: "cve", Reason: "product exploit signature (Grafana)"},
	// Not behaviour at all.
	{Sub: "http-generic-test", Class: "self-test", Reason: "CrowdSec's own self-test canary (one request to /crowdsec-test-<random>), not an attack behaviour"},
	{Sub: "openappsec/", Class: "waf-verdict", Reason: "relays open-appsec WAF verdicts (the log is the WAF's decision, not traffic); nothing behavioural to detect"},
	// Behavioural classes.
	{Sub: "http-technology-probing", Class: "probing", InScope: true},
	{Sub: "http-probing", Class: "probing", InScope: true},
	{Sub: "w00tw00t", Class: "probing", InScope: true},
	{Sub: "http-crawl-non_statics", Class: "crawling", InScope: true},
	{Sub: "-bf", Class: "brute force", InScope: true},
	{Sub: "http-sensitive-files", Class: "sensitive files", InScope: true},
	{Sub: "wordpress_wpconfig", Class: "sensitive files", InScope: true},
	{Sub: "backdoors-attempts", Class: "sensitive files", InScope: true},
	{Sub: "http-bad-user-agent", Class: "bad user agent", InScope: true},
	{Sub: "path-traversal", Class: "path traversal", InScope: true},
	{Sub: "http-dos-", Class: "dos", InScope: true},
	{Sub: "sqli-prob", Class: "injection probing", InScope: true},
	{Sub: "xss-prob", Class: "injection probing", InScope: true},
	{Sub: "open-proxy", Class: "open proxy", InScope: true},
	{Sub: "wordpress_user-enum", Class: "enumeration", InScope: true},
}

// classOf returns the class of one scenario name, or ok false when the
// table does not know it.
func classOf(scenario string) (scenarioClass, bool) {
	s := strings.ToLower(scenario)
	for _, c := range scenarioClasses {
		if strings.Contains(s, c.Sub) {
			return c, true
		}
	}
	return scenarioClass{}, false
}

// classify returns a detection test's class and whether it is measured.
// A test whose scenarios fall in several behavioural classes is "mixed";
// one with any out-of-scope scenario is skipped for that scenario's reason.
func classify(l label) (class string, inScope bool, reason string) {
	names := l.Scenarios
	for _, a := range l.Expected {
		names = append(names, a.Scenario)
	}
	var classes []string
	for _, n := range names {
		c, ok := classOf(n)
		if !ok {
			return "unknown", false, "scenario " + n + " is not in the class table"
		}
		if !c.InScope {
			return c.Class, false, c.Reason
		}
		if !slices.Contains(classes, c.Class) {
			classes = append(classes, c.Class)
		}
	}
	switch len(classes) {
	case 0:
		return "unknown", false, "no scenario"
	case 1:
		return classes[0], true, ""
	}
	return "mixed (" + strings.Join(classes, ", ") + ")", true, ""
}

// testConfig is what the tool reads of a test's config.yaml.
type testConfig struct {
	LogFile string `yaml:"log_file"`
	LogType string `yaml:"log_type"`
}

func readTestConfig(dir string) (testConfig, error) {
	var c testConfig
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return c, err
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, "config.yaml"), err)
	}
	if c.LogFile == "" {
		return c, fmt.Errorf("%s: no log_file", filepath.Join(dir, "config.yaml"))
	}
	return c, nil
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n"), nil
}
