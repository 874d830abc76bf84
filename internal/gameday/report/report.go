// Package report renders a game day's Summary (internal/gameday) as
// summary.json, report.md and report.html, and as the plain-text table the
// CLI prints. The Markdown and HTML reports are templates embedded from
// templates/; what they show is formatted once, in reportData.
package report

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/abuseguard/abuseguard/internal/gameday"
)

// templates holds the report templates.
//
//go:embed templates/report.md.tmpl templates/report.html.tmpl
var templates embed.FS

// howToReadText is the "How to read this report" paragraph every report
// ends with.
//
//go:embed templates/how-to-read.txt
var howToReadText string

// howToRead returns howToReadText without its final newline.
func howToRead() string { return strings.TrimSpace(howToReadText) }

// Write writes summary.json (indented), report.md and report.html for s
// into dir, creating dir if it is missing. run is the run s was evaluated
// from; it adds the chart of time to mitigate per attacker to report.html
// and may be nil to leave that chart out. report.html is one
// self-contained file: inline CSS and SVG, no script, nothing fetched.
func Write(dir string, run *gameday.Run, s *gameday.Summary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("summary.json: %w", err)
	}
	d := reportDataOf(s)
	var md, page bytes.Buffer
	if err := writeMarkdown(&md, d); err != nil {
		return fmt.Errorf("report.md: %w", err)
	}
	d.Charts = chartsOf(run, s)
	if err := writeHTML(&page, d); err != nil {
		return fmt.Errorf("report.html: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"summary.json", collapseNumberArrays(js.Bytes())},
		{"report.md", md.Bytes()},
		{"report.html", page.Bytes()},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// collapseNumberArrays writes each array of numbers in indented JSON on
// one line, so the timeline takes a line per series, not per second.
func collapseNumberArrays(js []byte) []byte {
	isNumber := func(line []byte) bool {
		_, err := strconv.ParseFloat(string(bytes.TrimSuffix(bytes.TrimSpace(line), []byte(","))), 64)
		return err == nil
	}
	lines := bytes.Split(bytes.TrimSuffix(js, []byte("\n")), []byte("\n"))
	var out bytes.Buffer
	for i := 0; i < len(lines); i++ {
		out.Write(lines[i])
		if bytes.HasSuffix(lines[i], []byte("[")) {
			j := i + 1
			for j < len(lines) && isNumber(lines[j]) {
				j++
			}
			if j > i+1 && j < len(lines) && bytes.HasPrefix(bytes.TrimSpace(lines[j]), []byte("]")) {
				for k := i + 1; k < j; k++ {
					out.Write(bytes.TrimSpace(lines[k]))
					if k < j-1 {
						out.WriteByte(' ')
					}
				}
				out.Write(bytes.TrimSpace(lines[j]))
				i = j
			}
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}
