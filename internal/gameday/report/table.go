package report

import (
	"fmt"
	"io"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/abuseguard/abuseguard/internal/gameday"
)

// WriteTable writes s to w as an aligned plain-text table, one row per
// scenario and one for the whole run, followed by one PASS or MISS line
// per target and the shortfalls. Errors writing to w are ignored.
func WriteTable(w io.Writer, s *gameday.Summary) {
	d := reportDataOf(s)
	nameWidth := 0
	for _, r := range d.Rows {
		nameWidth = max(nameWidth, utf8.RuneCountInString(r.Name))
	}
	// Numbers align right; the scenario names, padded here, align left.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tlabel\trequests\tmitigated\trecall\tafter first\tmedian TTM\tbenign false blocks\t\n", nameWidth, "scenario")
	for _, r := range d.Rows {
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			nameWidth, r.Name, r.Label, r.Requests, r.Mitigated, r.Recall, r.AfterFirst, r.MedianTTM, r.FalseBlocks)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range d.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\twant %s\n", t.Verdict, t.Name, t.Got, t.Want)
	}
	tw.Flush()
	for _, line := range d.Shortfalls {
		fmt.Fprintf(w, "SHORT %s\n", line)
	}
}
