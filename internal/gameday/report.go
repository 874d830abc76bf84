package gameday

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// WriteReports writes summary.json (indented), report.md and report.html
// for s into dir, creating dir if it is missing. run is the run s was
// evaluated from; it adds the chart of time to mitigate per attacker to
// report.html and may be nil to leave that chart out. report.html is one
// self-contained file: inline CSS and SVG, no script, nothing fetched.
func WriteReports(dir string, run *Run, s *Summary) error {
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
	writeMarkdown(&md, d)
	d.Charts = chartsOf(run, s)
	if err := htmlReport.Execute(&page, d); err != nil {
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

// WriteTable writes s to w as an aligned plain-text table, one row per
// scenario and one for the whole run, followed by one PASS or MISS line
// per target and the shortfalls. Errors writing to w are ignored.
func (s *Summary) WriteTable(w io.Writer) {
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

// reportData is what every report shows, formatted once.
type reportData struct {
	Header     []headerField
	Passed     bool
	Verdict    string
	Targets    []targetRow
	Rows       []scenarioRow // scenarios in ScenarioNames order, then the run
	Shortfalls []string
	Overhead   []overheadRow // empty without overhead samples
	Direct     string
	Charts     []*chart // report.html only
	HowToRead  string
}

type headerField struct{ Name, Value string }

type targetRow struct {
	Name, Want, Got, Verdict string
	Pass                     bool
}

type scenarioRow struct {
	Name, Label, Requests, Mitigated, Recall, AfterFirst string
	MedianTTM, P95TTM, Attackers, FalseBlocks, Longest   string
	RefusedBy                                            string // the top refusers, "-" for none
	Short                                                bool   // the scenario falls short of a target
	Total                                                bool   // the row of the whole run
}

type overheadRow struct{ Quantile, Guarded, Bare, Overhead string }

func reportDataOf(s *Summary) *reportData {
	d := &reportData{Passed: s.Passed(), Shortfalls: s.Shortfalls, Direct: s.OverheadDirect, HowToRead: howToRead}
	clock := "wall clock"
	if s.VirtualClock {
		clock = "virtual clock"
	}
	d.Header = []headerField{{"Target", s.Target}, {"Seed", strconv.FormatUint(s.Seed, 10)}}
	if !s.Start.IsZero() {
		d.Header = append(d.Header, headerField{"Start", s.Start.Format(time.RFC3339)})
	}
	d.Header = append(d.Header,
		headerField{"Duration", formatNumber(s.DurationS) + " s"},
		headerField{"Clock", clock},
		headerField{"Requests", fmt.Sprintf("%d (attack %d, benign %d; failed %d)",
			s.Requests, s.AttackRequests, s.BenignRequests, s.FailedRequests)},
		headerField{"Actors", fmt.Sprintf("%d attackers, %d benign", s.Attackers, s.BenignActors)},
	)

	missed := 0
	for _, t := range s.Targets {
		row := targetRow{Name: t.Name, Want: t.Op + " " + formatNumber(t.Want), Got: "never", Verdict: "MISS", Pass: t.Pass}
		if t.Got != nil {
			row.Got = formatNear(*t.Got, t.Want)
		}
		if strings.HasSuffix(t.Name, "_s") {
			row.Want += " s"
			if t.Got != nil {
				row.Got += " s"
			}
		}
		if t.Pass {
			row.Verdict = "PASS"
		} else {
			missed++
		}
		d.Targets = append(d.Targets, row)
	}
	if d.Passed {
		d.Verdict = "PASS: every target is met and no scenario falls short."
	} else {
		d.Verdict = fmt.Sprintf("MISS: %d of %d targets missed; %d scenario shortfalls.",
			missed, len(s.Targets), len(s.Shortfalls))
	}

	for _, name := range s.ScenarioNames() {
		sc := s.Scenarios[name]
		r := rowOf(name, sc.Label, &sc.Counts, len(shortfallsOf(name, sc)) > 0)
		r.RefusedBy = topRefusers(sc.RefusedBy, 3)
		d.Rows = append(d.Rows, r)
	}
	total := rowOf("all scenarios", "-", &s.Counts, false)
	total.RefusedBy = "-"
	total.Total = true
	d.Rows = append(d.Rows, total)

	if s.GuardedP50Ms != nil {
		msText := func(v *float64) string { return strconv.FormatFloat(*v, 'f', 3, 64) + " ms" }
		d.Overhead = []overheadRow{
			{"p50", msText(s.GuardedP50Ms), msText(s.BareP50Ms), msText(s.LatencyOverheadP50Ms)},
			{"p99", msText(s.GuardedP99Ms), msText(s.BareP99Ms), msText(s.LatencyOverheadP99Ms)},
		}
	}
	return d
}

// rowOf formats one scenario's counts (or the run's); "-" marks a measure
// the row has nothing for.
func rowOf(name, label string, c *Counts, short bool) scenarioRow {
	r := scenarioRow{
		Name: name, Label: label, Short: short,
		Requests:  strconv.Itoa(c.Requests),
		Mitigated: strconv.Itoa(c.AttackMitigated + c.BenignWronglyBlocked),
		Recall:    "-", AfterFirst: "-", MedianTTM: "-", P95TTM: "-", Attackers: "-",
		FalseBlocks: "-", Longest: "-",
	}
	if c.Attackers > 0 {
		r.Recall = formatNumber(c.AttackRecall)
		r.AfterFirst = formatNear(c.AttackRecallAfterFirstMitigation, TargetRecallAfterFirstMitigation)
		r.MedianTTM = formatSeconds(c.MedianTimeToMitigateS, TargetTimeToMitigate.Seconds())
		r.P95TTM = formatSeconds(c.P95TimeToMitigateS, TargetTimeToMitigate.Seconds())
		r.Attackers = fmt.Sprintf("%d of %d", c.AttackersMitigated, c.Attackers)
	}
	if c.BenignActors > 0 {
		r.FalseBlocks = fmt.Sprintf("%d (%s)", c.BenignWronglyBlocked, formatNear(c.BenignFalseBlockRate, TargetBenignFalseBlockRate))
		r.Longest = formatSeconds(&c.LongestBenignRefusalS, TargetLongestBenignRefusal.Seconds())
	}
	return r
}

// topRefusers lists the n rules that refused the most requests, with
// their counts, most first (ties by name); "-" when none did.
func topRefusers(by map[string]int, n int) string {
	if len(by) == 0 {
		return "-"
	}
	names := slices.Collect(maps.Keys(by))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(by[b], by[a]), cmp.Compare(a, b)) })
	parts := make([]string, 0, n+1)
	for i, name := range names {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d more", len(names)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, by[name]))
	}
	return strings.Join(parts, ", ")
}

// formatSeconds formats a time in seconds, "never" when it is nil.
func formatSeconds(v *float64, limit float64) string {
	if v == nil {
		return "never"
	}
	return formatNear(*v, limit) + " s"
}

// writeMarkdown writes report.md.
func writeMarkdown(w *bytes.Buffer, d *reportData) {
	row := func(cells ...string) {
		for i, c := range cells {
			cells[i] = markdownEscape(c)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	w.WriteString("# Game day report\n\n")
	fmt.Fprintf(w, "**%s**\n\n", markdownEscape(d.Verdict))
	w.WriteString("| | |\n|---|---|\n")
	for _, f := range d.Header {
		row(f.Name, f.Value)
	}

	w.WriteString("\n## Targets\n\n| target | want | got | result |\n|---|---|---|---|\n")
	for _, t := range d.Targets {
		row(t.Name, t.Want, t.Got, t.Verdict)
	}

	w.WriteString("\n## Scenarios\n\n")
	w.WriteString("| scenario | label | requests | mitigated | recall | recall after first | median TTM | p95 TTM | attackers mitigated | benign false blocks (rate) | longest benign refusal | refused by |\n")
	w.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range d.Rows {
		name := r.Name
		if r.Short {
			name += " (short)"
		}
		row(name, r.Label, r.Requests, r.Mitigated, r.Recall, r.AfterFirst, r.MedianTTM, r.P95TTM, r.Attackers, r.FalseBlocks, r.Longest, r.RefusedBy)
	}

	w.WriteString("\n## Shortfalls\n\n")
	if len(d.Shortfalls) == 0 {
		w.WriteString("None: every scenario meets its targets.\n")
	}
	for _, s := range d.Shortfalls {
		fmt.Fprintf(w, "- %s\n", markdownEscape(s))
	}

	w.WriteString("\n## Latency overhead\n\n")
	if len(d.Overhead) == 0 {
		w.WriteString("Not measured (no direct upstream URL was given).\n")
	} else {
		fmt.Fprintf(w, "The same benign request, sent alternately through the guard and straight to %s.\n\n", markdownEscape(d.Direct))
		w.WriteString("| quantile | guarded | bare | overhead |\n|---|--:|--:|--:|\n")
		for _, o := range d.Overhead {
			row(o.Quantile, o.Guarded, o.Bare, o.Overhead)
		}
	}

	w.WriteString("\n## How to read this report\n\n")
	w.WriteString(d.HowToRead + "\n")
}

const howToRead = `Recall is the share of attack requests the guard throttled, challenged or blocked; recall after first mitigation counts, per attacker, only the requests sent once it was first stopped. TTM (time to mitigate) runs from an attacker's first request to its first mitigated one; "never" means the median or p95 attacker was never stopped. Benign false blocks are benign requests refused. Failed requests count as requests, never as mitigated. The exact definitions and targets are in docs/gamedays.md; summary.json has every number.`

// markdownEscape makes s safe in a Markdown table cell or paragraph: it
// escapes the punctuation that would start emphasis, code, links or a new
// cell, and writes < and & as entities, so a name like <script> shows as
// text. Underscores are left alone: inside a word they never emphasise.
func markdownEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch r {
		case '\\', '`', '*', '[', ']', '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '<':
			// Only "<" before a letter, "/", "!" or "?" can open HTML:
			// "<= 5 s" stays as it is.
			if next, _ := utf8.DecodeRuneInString(s[i+1:]); unicode.IsLetter(next) || strings.ContainsRune("/!?", next) {
				b.WriteString("&lt;")
			} else {
				b.WriteRune(r)
			}
		case '&':
			b.WriteString("&amp;")
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// chart is one inline SVG drawing, as shapes in user units.
type chart struct {
	Title         string
	Width, Height int
	Lines         []svgLine
	Polylines     []svgPolyline
	Rects         []svgRect
	Dots          []svgDot
	Texts         []svgText
}

type svgLine struct {
	X1, Y1, X2, Y2 float64
	Color          string
	Dash           bool
}

type svgPolyline struct{ Points, Color string }

type svgRect struct {
	X, Y, W, H float64
	Color, Tip string
}

type svgDot struct {
	X, Y, R    float64
	Color, Tip string
}

type svgText struct {
	X, Y         float64
	Anchor, Text string // Anchor is start, middle or end
}

// Chart colours.
const (
	colorAttackReached   = "#c0392b"
	colorAttackMitigated = "#1e8449"
	colorBenignMitigated = "#e67e22"
	colorLight           = "#e6b0aa"
	colorDot             = "#2471a3"
	colorAxis            = "#888888"
	colorGrid            = "#e5e5e5"
	colorTarget          = "#444444"
)

func (c *chart) line(x1, y1, x2, y2 float64, color string) {
	c.Lines = append(c.Lines, svgLine{X1: x1, Y1: y1, X2: x2, Y2: y2, Color: color})
}

func (c *chart) targetLine(x1, y1, x2, y2 float64) {
	c.Lines = append(c.Lines, svgLine{X1: x1, Y1: y1, X2: x2, Y2: y2, Color: colorTarget, Dash: true})
}

func (c *chart) text(x, y float64, anchor, s string) {
	c.Texts = append(c.Texts, svgText{X: x, Y: y, Anchor: anchor, Text: s})
}

// legend draws a row of colour swatches and labels from (x, y).
func (c *chart) legend(x, y float64, items ...[2]string) {
	for _, it := range items {
		c.Rects = append(c.Rects, svgRect{X: x, Y: y - 9, W: 10, H: 10, Color: it[0], Tip: it[1]})
		c.text(x+14, y, "start", it[1])
		x += 24 + 7*float64(len(it[1]))
	}
}

// chartsOf draws the charts of report.html; a chart with nothing to show
// is left out.
func chartsOf(run *Run, s *Summary) []*chart {
	var out []*chart
	for _, c := range []*chart{timelineChart(s.Timeline), recallChart(s), timeToMitigateChart(run, s), overheadChart(s)} {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// timelineChart draws requests per second: attack reached and mitigated,
// and benign mitigated.
func timelineChart(tl Timeline) *chart {
	n := len(tl.AttackReached)
	if n == 0 {
		return nil
	}
	series := []struct {
		color, label string
		v            []int
	}{
		{colorAttackReached, "attack reached", tl.AttackReached},
		{colorAttackMitigated, "attack mitigated", tl.AttackMitigated},
		{colorBenignMitigated, "benign mitigated", tl.BenignMitigated},
	}
	top := 0
	for _, s := range series {
		for _, v := range s.v {
			top = max(top, v)
		}
	}
	const width, height, left, right, up, down = 960, 300, 56.0, 16.0, 40.0, 40.0
	c := &chart{Title: "Requests per second, by when they were sent", Width: width, Height: height}
	pw, ph := width-left-right, height-up-down
	ystep := niceStep(float64(top) / 4)
	ymax := ystep * math.Max(1, math.Ceil(float64(top)/ystep))
	x := func(i float64) float64 { return left + i*pw/math.Max(1, float64(n-1)) }
	y := func(v float64) float64 { return up + ph - v/ymax*ph }
	for v := 0.0; v <= ymax+ystep/2; v += ystep {
		c.line(left, y(v), left+pw, y(v), colorGrid)
		c.text(left-6, y(v)+4, "end", formatNumber(v))
	}
	xstep := math.Max(1, niceStep(float64(n-1)/10))
	for i := 0.0; i < float64(n); i += xstep {
		c.line(x(i), up+ph, x(i), up+ph+4, colorAxis)
		c.text(x(i), up+ph+16, "middle", formatNumber(i))
	}
	c.line(left, up+ph, left+pw, up+ph, colorAxis)
	c.line(left, up, left, up+ph, colorAxis)
	c.text(left+pw/2, height-6, "middle", "seconds since start")
	c.text(left, 14, "start", "requests per second")
	var items [][2]string
	for _, s := range series {
		var b strings.Builder
		for i, v := range s.v {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(float64(i)), y(float64(v)))
		}
		c.Polylines = append(c.Polylines, svgPolyline{Points: strings.TrimSpace(b.String()), Color: s.color})
		items = append(items, [2]string{s.color, s.label})
	}
	c.legend(left+200, 14, items...)
	return c
}

// recallChart draws, per attack scenario, its recall and its recall after
// first mitigation, against the target.
func recallChart(s *Summary) *chart {
	var names []string
	for _, name := range s.ScenarioNames() {
		if s.Scenarios[name].Attackers > 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	const width, left, right, up, rowH = 960, 200.0, 70.0, 40.0, 34.0
	height := int(up + rowH*float64(len(names)) + 30)
	c := &chart{Title: "Attack recall per scenario", Width: width, Height: height}
	pw := width - left - right
	bottom := up + rowH*float64(len(names))
	x := func(v float64) float64 { return left + v*pw }
	for v := 0.0; v <= 1.0001; v += 0.25 {
		c.line(x(v), up, x(v), bottom, colorGrid)
		c.text(x(v), bottom+16, "middle", formatNumber(v))
	}
	for i, name := range names {
		sc := s.Scenarios[name]
		top := up + rowH*float64(i)
		c.text(left-8, top+rowH/2+4, "end", shorten(name, 28))
		bars := []struct {
			v            float64
			color, label string
		}{
			{sc.AttackRecall, colorLight, "recall"},
			{sc.AttackRecallAfterFirstMitigation, colorAttackReached, "recall after first mitigation"},
		}
		for j, b := range bars {
			by := top + 5 + float64(j)*12
			c.Rects = append(c.Rects, svgRect{X: left, Y: by, W: b.v * pw, H: 11, Color: b.color,
				Tip: fmt.Sprintf("%s: %s %s", name, b.label, formatNumber(b.v))})
			c.text(x(b.v)+4, by+9, "start", formatNumber(b.v))
		}
	}
	c.targetLine(x(TargetRecallAfterFirstMitigation), up-6, x(TargetRecallAfterFirstMitigation), bottom)
	c.legend(left, 14, [2]string{colorLight, "recall"}, [2]string{colorAttackReached, "recall after first mitigation"},
		[2]string{colorTarget, "target " + formatNumber(TargetRecallAfterFirstMitigation)})
	return c
}

// timeToMitigateChart draws one dot per attacker at its time to mitigate,
// one row per attack scenario; attackers never mitigated sit in a "never"
// column on the right. It needs run; nil without it.
func timeToMitigateChart(run *Run, s *Summary) *chart {
	if run == nil {
		return nil
	}
	type dot struct {
		name string
		t    float64
	}
	byScenario := map[string][]dot{}
	longest := TargetTimeToMitigate.Seconds()
	for i, st := range statsByActor(run) {
		a := run.Actors[i]
		if a.Label != Attack || st.requests == 0 {
			continue
		}
		byScenario[a.Scenario] = append(byScenario[a.Scenario], dot{a.Name, st.timeToMitigate})
		if !math.IsInf(st.timeToMitigate, 1) {
			longest = max(longest, st.timeToMitigate)
		}
	}
	var names []string
	for _, name := range s.ScenarioNames() {
		if len(byScenario[name]) > 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	const width, left, right, up, rowH, neverW = 960, 200.0, 20.0, 40.0, 30.0, 70.0
	height := int(up + rowH*float64(len(names)) + 40)
	c := &chart{Title: "Time to mitigate per attacker", Width: width, Height: height}
	pw := width - left - right - neverW
	bottom := up + rowH*float64(len(names))
	step := niceStep(longest / 6)
	xmax := step * math.Ceil(longest*1.05/step)
	x := func(v float64) float64 { return left + v/xmax*pw }
	for v := 0.0; v <= xmax+step/2; v += step {
		c.line(x(v), up, x(v), bottom, colorGrid)
		c.text(x(v), bottom+16, "middle", formatNumber(v))
	}
	neverX := left + pw + neverW/2
	c.text(neverX, bottom+16, "middle", "never")
	c.text(left+pw/2, bottom+34, "middle", "seconds from the attacker's first request to its first mitigated one")
	for i, name := range names {
		top := up + rowH*float64(i)
		c.line(left, top+rowH/2, left+pw, top+rowH/2, colorGrid)
		c.text(left-8, top+rowH/2+4, "end", shorten(name, 28))
		for k, d := range byScenario[name] {
			y := top + rowH/2 + float64(k%5-2)*3 // a little spread so equal times stay visible
			if math.IsInf(d.t, 1) {
				c.Dots = append(c.Dots, svgDot{X: neverX, Y: y, R: 4, Color: colorAttackReached, Tip: d.name + ": never mitigated"})
				continue
			}
			c.Dots = append(c.Dots, svgDot{X: x(d.t), Y: y, R: 4, Color: colorDot, Tip: d.name + ": " + formatNumber(d.t) + " s"})
		}
	}
	c.targetLine(x(TargetTimeToMitigate.Seconds()), up-6, x(TargetTimeToMitigate.Seconds()), bottom)
	c.legend(left, 14, [2]string{colorDot, "mitigated"}, [2]string{colorAttackReached, "never mitigated"},
		[2]string{colorTarget, "target " + formatNumber(TargetTimeToMitigate.Seconds()) + " s"})
	return c
}

// overheadChart draws p50 and p99 latency through the guard and straight
// to the upstream.
func overheadChart(s *Summary) *chart {
	if s.GuardedP50Ms == nil {
		return nil
	}
	groups := []struct {
		label         string
		guarded, bare float64
	}{
		{"p50", *s.GuardedP50Ms, *s.BareP50Ms},
		{"p99", *s.GuardedP99Ms, *s.BareP99Ms},
	}
	top := 0.0
	for _, g := range groups {
		top = max(top, g.guarded, g.bare)
	}
	const width, height, left, up, down, groupW, barW = 480, 260, 56.0, 40.0, 30.0, 180.0, 60.0
	c := &chart{
		Title: fmt.Sprintf("Latency through the guard and straight to the upstream (overhead p50 %+.3f ms, p99 %+.3f ms)",
			*s.LatencyOverheadP50Ms, *s.LatencyOverheadP99Ms),
		Width: width, Height: height,
	}
	ph := height - up - down
	step := niceStep(top / 4)
	ymax := step * math.Max(1, math.Ceil(top/step))
	y := func(v float64) float64 { return up + ph - v/ymax*ph }
	for v := 0.0; v <= ymax+step/2; v += step {
		c.line(left, y(v), width-10, y(v), colorGrid)
		c.text(left-6, y(v)+4, "end", formatNumber(v))
	}
	c.text(left, 14, "start", "ms")
	for i, g := range groups {
		gx := left + 20 + float64(i)*groupW
		for j, b := range []struct {
			v            float64
			color, label string
		}{{g.guarded, colorAttackReached, "guarded"}, {g.bare, colorLight, "bare"}} {
			bx := gx + float64(j)*(barW+8)
			c.Rects = append(c.Rects, svgRect{X: bx, Y: y(b.v), W: barW, H: y(0) - y(b.v), Color: b.color,
				Tip: fmt.Sprintf("%s %s: %.3f ms", g.label, b.label, b.v)})
			c.text(bx+barW/2, y(b.v)-4, "middle", strconv.FormatFloat(b.v, 'f', 3, 64))
		}
		c.text(gx+barW+4, height-10, "middle", g.label)
	}
	c.line(left, y(0), width-10, y(0), colorAxis)
	c.legend(left+60, 14, [2]string{colorAttackReached, "guarded"}, [2]string{colorLight, "bare"})
	return c
}

// niceStep returns the smallest of 1, 2 or 5 times a power of ten that is
// at least x (1 when x <= 0).
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// shorten cuts s to at most n runes, marking the cut with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

var htmlReport = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"f": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
}).Parse(htmlSource))

const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Game day report</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .6em; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; }
th:first-child, td:first-child, .left { text-align: left; }
.pass { color: #1e8449; font-weight: 600; }
.miss { color: #b03a2e; font-weight: 600; }
.verdict { font-size: 1.1em; padding: .5em .8em; border-radius: 4px; display: inline-block; }
.verdict.pass { background: #e9f7ef; } .verdict.miss { background: #fdedec; }
tr.short td { background: #fdedec; }
tr.total td { font-weight: 600; }
figure { margin: 1em 0 2em; }
figcaption { font-weight: 600; margin-bottom: .3em; }
svg { max-width: 100%; height: auto; }
svg text { font-size: 11px; fill: #333; }
</style>
</head>
<body>
<h1>Game day report</h1>
<p class="verdict {{if .Passed}}pass{{else}}miss{{end}}">{{.Verdict}}</p>
<table>
{{- range .Header}}
<tr><th>{{.Name}}</th><td class="left">{{.Value}}</td></tr>
{{- end}}
</table>

<h2>Targets</h2>
<table>
<tr><th>target</th><th>want</th><th>got</th><th>result</th></tr>
{{- range .Targets}}
<tr><td>{{.Name}}</td><td>{{.Want}}</td><td>{{.Got}}</td><td class="{{if .Pass}}pass{{else}}miss{{end}}">{{.Verdict}}</td></tr>
{{- end}}
</table>

<h2>Scenarios</h2>
<table>
<tr><th>scenario</th><th>label</th><th>requests</th><th>mitigated</th><th>recall</th><th>recall after first</th><th>median TTM</th><th>p95 TTM</th><th>attackers mitigated</th><th>benign false blocks (rate)</th><th>longest benign refusal</th><th>refused by</th></tr>
{{- range $i, $r := .Rows}}
<tr{{if $r.Short}} class="short"{{else if $r.Total}} class="total"{{end}}><td>{{$r.Name}}{{if $r.Short}} <span class="miss">(short)</span>{{end}}</td><td>{{$r.Label}}</td><td>{{$r.Requests}}</td><td>{{$r.Mitigated}}</td><td>{{$r.Recall}}</td><td>{{$r.AfterFirst}}</td><td>{{$r.MedianTTM}}</td><td>{{$r.P95TTM}}</td><td>{{$r.Attackers}}</td><td>{{$r.FalseBlocks}}</td><td>{{$r.Longest}}</td><td class="left">{{$r.RefusedBy}}</td></tr>
{{- end}}
</table>

<h2>Shortfalls</h2>
{{- if .Shortfalls}}
<ul>
{{- range .Shortfalls}}
<li class="miss">{{.}}</li>
{{- end}}
</ul>
{{- else}}
<p class="pass">None: every scenario meets its targets.</p>
{{- end}}

<h2>Latency overhead</h2>
{{- if .Overhead}}
<p>The same benign request, sent alternately through the guard and straight to {{.Direct}}.</p>
<table>
<tr><th>quantile</th><th>guarded</th><th>bare</th><th>overhead</th></tr>
{{- range .Overhead}}
<tr><td>{{.Quantile}}</td><td>{{.Guarded}}</td><td>{{.Bare}}</td><td>{{.Overhead}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>Not measured (no direct upstream URL was given).</p>
{{- end}}

<h2>Charts</h2>
{{- range .Charts}}
<figure>
<figcaption>{{.Title}}</figcaption>
<svg width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Title}}">
{{- range .Lines}}
<line x1="{{f .X1}}" y1="{{f .Y1}}" x2="{{f .X2}}" y2="{{f .Y2}}" stroke="{{.Color}}"{{if .Dash}} stroke-dasharray="4 3"{{end}}/>
{{- end}}
{{- range .Rects}}
<rect x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="{{.Color}}"><title>{{.Tip}}</title></rect>
{{- end}}
{{- range .Polylines}}
<polyline points="{{.Points}}" fill="none" stroke="{{.Color}}" stroke-width="1.5"/>
{{- end}}
{{- range .Dots}}
<circle cx="{{f .X}}" cy="{{f .Y}}" r="{{f .R}}" fill="{{.Color}}" fill-opacity="0.75"><title>{{.Tip}}</title></circle>
{{- end}}
{{- range .Texts}}
<text x="{{f .X}}" y="{{f .Y}}" text-anchor="{{.Anchor}}">{{.Text}}</text>
{{- end}}
</svg>
</figure>
{{- end}}

<h2>How to read this report</h2>
<p>{{.HowToRead}}</p>
</body>
</html>
`
