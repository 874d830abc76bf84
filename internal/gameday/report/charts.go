package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/abuseguard/abuseguard/internal/gameday"
)

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
func chartsOf(run *gameday.Run, s *gameday.Summary) []*chart {
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
func timelineChart(tl gameday.Timeline) *chart {
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
		c.text(left-6, y(v)+4, "end", gameday.FormatNumber(v))
	}
	xstep := math.Max(1, niceStep(float64(n-1)/10))
	for i := 0.0; i < float64(n); i += xstep {
		c.line(x(i), up+ph, x(i), up+ph+4, colorAxis)
		c.text(x(i), up+ph+16, "middle", gameday.FormatNumber(i))
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
func recallChart(s *gameday.Summary) *chart {
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
		c.text(x(v), bottom+16, "middle", gameday.FormatNumber(v))
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
				Tip: fmt.Sprintf("%s: %s %s", name, b.label, gameday.FormatNumber(b.v))})
			c.text(x(b.v)+4, by+9, "start", gameday.FormatNumber(b.v))
		}
	}
	c.targetLine(x(gameday.TargetRecallAfterFirstMitigation), up-6, x(gameday.TargetRecallAfterFirstMitigation), bottom)
	c.legend(left, 14, [2]string{colorLight, "recall"}, [2]string{colorAttackReached, "recall after first mitigation"},
		[2]string{colorTarget, "target " + gameday.FormatNumber(gameday.TargetRecallAfterFirstMitigation)})
	return c
}

// timeToMitigateChart draws one dot per attacker at its time to mitigate,
// one row per attack scenario; attackers never mitigated sit in a "never"
// column on the right. It needs run; nil without it.
func timeToMitigateChart(run *gameday.Run, s *gameday.Summary) *chart {
	if run == nil {
		return nil
	}
	type dot struct {
		name string
		t    float64
	}
	byScenario := map[string][]dot{}
	longest := gameday.TargetTimeToMitigate.Seconds()
	for _, m := range gameday.AttackerMitigations(run) {
		a := run.Actors[m.Actor]
		byScenario[a.Scenario] = append(byScenario[a.Scenario], dot{a.Name, m.TimeToMitigateS})
		if !math.IsInf(m.TimeToMitigateS, 1) {
			longest = max(longest, m.TimeToMitigateS)
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
		c.text(x(v), bottom+16, "middle", gameday.FormatNumber(v))
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
			c.Dots = append(c.Dots, svgDot{X: x(d.t), Y: y, R: 4, Color: colorDot, Tip: d.name + ": " + gameday.FormatNumber(d.t) + " s"})
		}
	}
	c.targetLine(x(gameday.TargetTimeToMitigate.Seconds()), up-6, x(gameday.TargetTimeToMitigate.Seconds()), bottom)
	c.legend(left, 14, [2]string{colorDot, "mitigated"}, [2]string{colorAttackReached, "never mitigated"},
		[2]string{colorTarget, "target " + gameday.FormatNumber(gameday.TargetTimeToMitigate.Seconds()) + " s"})
	return c
}

// overheadChart draws p50 and p99 latency through the guard and straight
// to the upstream.
func overheadChart(s *gameday.Summary) *chart {
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
		c.text(left-6, y(v)+4, "end", gameday.FormatNumber(v))
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
