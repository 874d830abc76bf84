package deploy

// These tests check the Prometheus rules (promtool check rules and
// promtool test rules), the Grafana dashboards and docs/metrics.md
// against the metrics the binary exports.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/abuseguard/abuseguard/internal/front/proxy"
	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/testenv"
)

var ruleFiles = []string{"prometheus/rules.yaml", "prometheus/alerts.yaml"}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool")
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, ruleFiles...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool")
	out, err := exec.Command(promtool, "test", "rules", "prometheus/rules_test.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules did not report SUCCESS:\n%s", out)
	}
}

// ruleGroups is what the checks read of a Prometheus rule file.
type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T, file string) ruleGroups {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var g ruleGroups
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return g
}

// known returns the names PromQL may refer to: the exported metrics (a
// histogram's with its _bucket, _sum and _count series) and the recorded
// rules.
func known(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	// The inline proxy registers its upstream guards' metrics (breakers,
	// adaptive limit) on the Metrics serve exports.
	m := telemetry.NewMetrics()
	proxy.New(proxy.Options{Metrics: m})
	for _, n := range append(telemetry.Exported(), m.Names()...) {
		names[n] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[n+suffix] = true
		}
	}
	for _, f := range ruleFiles {
		for _, g := range readRules(t, f).Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					names[r.Record] = true
				}
			}
		}
	}
	return names
}

// metricRef matches what in PromQL may be a metric or recording rule of
// ours: every name abuseguard exports starts with abuseguard_, every rule
// it records with abuseguard:.
var metricRef = regexp.MustCompile(`\babuseguard[_:][a-zA-Z0-9_:]*`)

// unknownRefs returns the names expr refers to that are not in names.
func unknownRefs(expr string, names map[string]bool) []string {
	var bad []string
	for _, m := range metricRef.FindAllString(expr, -1) {
		if !names[m] {
			bad = append(bad, m)
		}
	}
	return bad
}

func TestRulesReferToExportedMetrics(t *testing.T) {
	names := known(t)
	for _, f := range ruleFiles {
		for _, g := range readRules(t, f).Groups {
			for _, r := range g.Rules {
				if bad := unknownRefs(r.Expr, names); len(bad) > 0 {
					t.Errorf("%s: %s%s refers to %v, which the binary does not export", f, r.Record, r.Alert, bad)
				}
			}
		}
	}
}

// dashboard is what the checks read of a Grafana dashboard.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
		URL   string `json:"url"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a row's
}

// grafanaVariables replaces Grafana's interval variables with durations,
// so that a panel's query is plain PromQL.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// adminRoutes are the admin API paths a dashboard may read.
var adminRoutes = []string{"/v1/decisions", "/v1/explain/"}

func TestGrafanaDashboards(t *testing.T) {
	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("want the executive, on-call and debug dashboards in grafana/dashboards: %v %v", files, err)
	}
	names := known(t)
	uids := map[string]string{}
	var exprs []string // every panel's PromQL, checked by promtool below
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("%s: not valid JSON: %v", f, err)
			continue
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: want a uid, a title and panels", f)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %q", f, other, d.UID)
		}
		uids[d.UID] = f
		ids := map[int]bool{}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				where := fmt.Sprintf("%s: panel %d %q", f, p.ID, p.Title)
				if ids[p.ID] {
					t.Errorf("%s: duplicate panel id", where)
				}
				ids[p.ID] = true
				walk(p.Panels)
				if p.Type == "alertlist" || p.Type == "row" || p.Type == "text" {
					continue
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: no queries", where)
				}
				for _, q := range p.Targets {
					switch {
					case p.Datasource != nil && p.Datasource.Type == "prometheus":
						if q.Expr == "" {
							t.Errorf("%s: query %s has no expr", where, q.RefID)
							continue
						}
						if len(metricRef.FindAllString(q.Expr, -1)) == 0 {
							t.Errorf("%s: query %q reads no abuseguard metric", where, q.Expr)
						}
						if bad := unknownRefs(q.Expr, names); len(bad) > 0 {
							t.Errorf("%s: query %q refers to %v, which the binary does not export", where, q.Expr, bad)
						}
						exprs = append(exprs, grafanaVariables.Replace(q.Expr))
					case p.Datasource != nil && p.Datasource.Type == "yesoreyeram-infinity-datasource":
						if !slices.ContainsFunc(adminRoutes, func(r string) bool { return strings.HasPrefix(q.URL, r) }) {
							t.Errorf("%s: reads %q, not an admin API route (%v)", where, q.URL, adminRoutes)
						}
					default:
						t.Errorf("%s: unknown data source %+v", where, p.Datasource)
					}
				}
			}
		}
		walk(d.Panels)
	}
	checkPromQL(t, exprs)
}

// checkPromQL has promtool parse every expression, as recording rules in
// a temporary rule file.
func checkPromQL(t *testing.T, exprs []string) {
	t.Helper()
	promtool := testenv.LookPath(t, "promtool")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: e})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboards.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboards' queries: %v\n%s", err, out)
	}
}

// TestMetricsDoc checks docs/metrics.md: a section for each of M1 to M12,
// and its PromQL refers only to what the binary exports and the rules
// record.
func TestMetricsDoc(t *testing.T) {
	b, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for i := 1; i <= 12; i++ {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^## M%d\b`, i)).MatchString(doc) {
			t.Errorf("docs/metrics.md has no section ## M%d", i)
		}
	}
	names := known(t)
	var exprs []string
	for _, block := range regexp.MustCompile("(?s)```promql\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		if bad := unknownRefs(block[1], names); len(bad) > 0 {
			t.Errorf("docs/metrics.md: %q refers to %v, which the binary does not export", block[1], bad)
		}
		exprs = append(exprs, block[1])
	}
	if len(exprs) < 12 {
		t.Errorf("docs/metrics.md has %d promql blocks, want one per metric at least", len(exprs))
	}
	checkPromQL(t, exprs)
}

// TestAlertsHaveRunbooks checks that every alert names a runbook that
// exists, and that every alert a runbook names exists.
func TestAlertsHaveRunbooks(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, gr := range g.Groups {
		for _, r := range gr.Rules {
			alerts[r.Alert] = true
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("alert %s: severity %q, want page or ticket", r.Alert, s)
			}
			rb := r.Annotations["runbook"]
			if _, err := os.Stat(filepath.Join("..", rb)); rb == "" || err != nil {
				t.Errorf("alert %s: runbook %q does not exist", r.Alert, rb)
			}
		}
	}
	books, _ := filepath.Glob("../docs/runbooks/*.md")
	if len(books) < 12 {
		t.Fatalf("docs/runbooks has %d pages, want one per attack", len(books))
	}
	// An alert name in a runbook is a backquoted CamelCase word.
	named := regexp.MustCompile("`([A-Z][a-z]+(?:[A-Z][a-z]+)+)`")
	for _, f := range books {
		b, _ := os.ReadFile(f)
		for _, m := range named.FindAllStringSubmatch(string(b), -1) {
			if !alerts[m[1]] {
				t.Errorf("%s names alert %s, which alerts.yaml does not define", f, m[1])
			}
		}
	}
}

// TestBuiltInDashboardMetrics checks that every metric the built-in
// dashboard (/ui/) reads from the registry is one the binary exports, so
// that a renamed metric cannot leave a panel silently at zero.
func TestBuiltInDashboardMetrics(t *testing.T) {
	names := known(t)
	src, err := os.ReadFile("../internal/admin/ui.go")
	if err != nil {
		t.Fatal(err)
	}
	read := regexp.MustCompile(`case "(abuseguard_[a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(read) < 5 {
		t.Fatalf("found %d metric names in internal/admin/ui.go's summary; has it moved?", len(read))
	}
	for _, m := range read {
		if !names[m[1]] {
			t.Errorf("the built-in dashboard reads %s, which the binary does not export", m[1])
		}
	}
}
