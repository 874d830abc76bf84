// Command crowdsec-eval measures abuseguard's default detectors against the
// HTTP scenario tests of the CrowdSec hub: it replays each test's access log
// through the replay package with config.Default() (no per-test rules, no
// tuning) and checks that every source IP CrowdSec alerts on is flagged (a
// detector signal or a decision on ip:SOURCE), and that nothing at all is
// flagged on the negative (whitelist) tests. A test whose log holds no HTTP
// request the replay can read (application events, WAF verdicts) is not
// replayable and counted outside the target, detection and negative tests
// alike.
//
//	go run ./tools/crowdsec-eval --data DIR [--out FILE]
//
// DIR is a copy of the hub's tests with labels.csv (see
// /work/shared/eval-data/crowdsec-hub/SOURCES.md); the data is never copied
// into this repository. When DIR does not exist the tool prints
// "crowdsec-eval: skipped: DIR not found" and exits 0.
//
// Each test's scenarios are put in a class by a small table
// (scenarioClasses): behavioural classes are measured, single-CVE and
// product-exploit signatures are listed as skipped with the reason, and
// parser-only tests are skipped. Log lines the replay parsers read natively
// are replayed as they are; other access-log layouts (virtual-host or
// syslog prefixes, bunkerweb, zoraxy, AWS ALB, HAProxy, IIS event XML,
// containerd-wrapped Envoy JSON, Caddy and Traefik JSON, nginx error-log
// auth failures) are rewritten into combined lines by adapters in this tool
// and replayed from a temporary file. Adapters live here, not in the product.
//
// It prints a Markdown report (per class, per test, negatives, skipped
// tests, log types, misses with their diagnosis) and writes it to --out.
// A missed target is a result, not an error: the exit status is non-zero
// only when the data cannot be read or a replay fails.
//
// One file per concern: hubtests.go loads labels.csv and a test's
// config.yaml and classifies its scenarios; plan.go decides how each line
// is read (a replay format, or adapters.go, which rewrites other layouts
// into combined lines); replay.go replays a test and reads its events;
// score.go says who was flagged and what is matched; report.go and
// notes.go write the report.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Targets: the share of behavioural detection tests matched, and the
// negative tests flagged.
const (
	targetMatched   = 0.90
	targetNegatives = 0
)

func main() {
	data := flag.String("data", "", "the crowdsec-hub folder (labels.csv, tests/)")
	out := flag.String("out", "", "also write the Markdown report to this file")
	flag.Parse()
	if *data == "" {
		fmt.Fprintln(os.Stderr, "crowdsec-eval: --data DIR is required")
		os.Exit(2)
	}
	if _, err := os.Stat(*data); errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("crowdsec-eval: skipped: %s not found\n", *data)
		return
	}
	rep, err := evaluate(context.Background(), *data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crowdsec-eval:", err)
		os.Exit(1)
	}
	var b bytes.Buffer
	rep.write(&b, commandLine())
	os.Stdout.Write(b.Bytes())
	if *out != "" {
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "crowdsec-eval:", err)
			os.Exit(1)
		}
	}
}

// commandLine is the command that produced the report, as a reader would
// type it from the module root.
func commandLine() string {
	args := []string{"go run ./tools/crowdsec-eval"}
	flag.Visit(func(f *flag.Flag) { args = append(args, "--"+f.Name+" "+f.Value.String()) })
	return strings.Join(args, " ")
}
