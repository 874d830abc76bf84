// Command crs-eval measures abuseguard's WAF guard (internal/guard/waf:
// Coraza v3 with the embedded OWASP Core Rule Set) against the CRS
// regression suite (go-ftw YAML tests): each stage's request goes through
// waf.Inspect exactly as the proxy hands it over (a request.Input and the
// body), and the stage passes when every rule id it expects matched
// (positive) or none of the ids it forbids did (negative), after CRS's own
// expected-result overrides for Coraza (coraza-overrides.yaml).
//
//	go run ./tools/crs-eval -dir DIR [-paranoia 4] [-out FILE]
//
// DIR is a copy of the suite (see
// /work/shared/eval-data/coreruleset-regression/SOURCES.md): tests/ with
// one folder per rule family, and coraza-overrides.yaml; the data is never
// copied into this repository. When DIR does not exist the tool prints
// "crs-eval: skipped: DIR not found" and exits 0.
//
// The suite runs at paranoia level 4 with the settings CRS's and Coraza's
// own runs use (UTF-8 validation on, argument limits), so every rule is
// exercised; -paranoia picks another level (rules above it are then
// expected to miss). Response families (RESPONSE-95x to 980) are listed
// as not applicable: the guard inspects requests only. Stages that expect
// only a status code (Apache behaviour) are not scored.
//
// It prints a Markdown table of pass rates per rule family and the failed
// stages, and writes it to -out. A failed stage is a result, not an error:
// the exit status is non-zero only when the data cannot be read.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "crs-eval:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("crs-eval", flag.ContinueOnError)
	dir := fs.String("dir", "", "the CRS regression suite: tests/ and coraza-overrides.yaml")
	pl := fs.Int("paranoia", 4, "CRS paranoia level, 1 to 4")
	out := fs.String("out", "", "also write the report to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	if _, err := os.Stat(*dir); os.IsNotExist(err) {
		fmt.Fprintf(stdout, "crs-eval: skipped: %s not found\n", *dir)
		return nil
	}
	ov, err := loadOverrides(filepath.Join(*dir, "coraza-overrides.yaml"))
	if err != nil {
		return err
	}
	stages, err := loadStages(*dir, ov)
	if err != nil {
		return err
	}
	rep, err := evaluate(stages, *pl)
	if err != nil {
		return err
	}
	text := rep.markdown()
	fmt.Fprint(stdout, text)
	if *out != "" {
		return os.WriteFile(*out, []byte(text), 0o644)
	}
	return nil
}
