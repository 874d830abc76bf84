package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/guard/waf"
	"github.com/abuseguard/abuseguard/internal/request"
)

// evalDirectives are the CRS settings the suite is written for (CRS's and
// Coraza's own runs use them).
const evalDirectives = `SecAction "id:900005,phase:1,nolog,pass,t:none,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"`

// outcome is one stage's result.
type outcome struct {
	stage
	Scored  bool
	Passed  bool
	Problem string // why it failed, or why it was not scored
}

// familyStats are the pass counts of one rule family.
type familyStats struct {
	Family                 string
	Applicable             bool
	Stages, Scored         int
	Positive, PositivePass int
	Negative, NegativePass int
}

type report struct {
	Paranoia int
	Families []*familyStats
	Failed   []outcome
	Took     time.Duration
	Requests int
}

// evaluate runs every stage through one WAF at paranoia level pl.
func evaluate(stages []stage, pl int) (*report, error) {
	w, err := waf.New(waf.Options{ParanoiaLevel: pl, Directives: evalDirectives, RecordAll: true, MaxBodyBytes: 1 << 20})
	if err != nil {
		return nil, err
	}
	rep := &report{Paranoia: pl}
	byFamily := map[string]*familyStats{}
	start := time.Now()
	for _, st := range stages {
		fam := byFamily[st.Family]
		if fam == nil {
			fam = &familyStats{Family: st.Family, Applicable: strings.HasPrefix(st.Family, "REQUEST-")}
			byFamily[st.Family] = fam
			rep.Families = append(rep.Families, fam)
		}
		fam.Stages++
		o := score(w, st)
		rep.Requests++
		if !o.Scored || !fam.Applicable {
			continue
		}
		fam.Scored++
		if len(st.Expect.ExpectIDs) > 0 {
			fam.Positive++
			if o.Passed {
				fam.PositivePass++
			}
		} else {
			fam.Negative++
			if o.Passed {
				fam.NegativePass++
			}
		}
		if !o.Passed {
			rep.Failed = append(rep.Failed, o)
		}
	}
	rep.Took = time.Since(start)
	sort.Slice(rep.Families, func(i, j int) bool { return rep.Families[i].Family < rep.Families[j].Family })
	return rep, nil
}

// score sends one stage through w and checks its expectations.
func score(w *waf.WAF, st stage) outcome {
	o := outcome{stage: st}
	if len(st.Expect.ExpectIDs) == 0 && len(st.Expect.NoExpectIDs) == 0 {
		o.Problem = "expects a status only"
		return o
	}
	o.Scored = true
	r, body, err := st.Input.request()
	if err != nil {
		o.Problem = err.Error()
		return o
	}
	in := request.Input{Peer: "127.0.0.1:40000", Method: r.Method, Host: r.Host, Target: r.RequestURI, Header: request.HTTPHeader(r.Header)}
	res := w.Inspect(&in, body, false)
	var missing, unwanted []int
	for _, id := range st.Expect.ExpectIDs {
		if !slices.Contains(res.Matched, id) {
			missing = append(missing, id)
		}
	}
	for _, id := range st.Expect.NoExpectIDs {
		if slices.Contains(res.Matched, id) {
			unwanted = append(unwanted, id)
		}
	}
	o.Passed = len(missing) == 0 && len(unwanted) == 0
	switch {
	case len(missing) > 0:
		o.Problem = fmt.Sprintf("expected %v did not match", missing)
	case len(unwanted) > 0:
		o.Problem = fmt.Sprintf("%v matched, expected not to", unwanted)
	}
	return o
}

func pct(n, d int) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(d))
}

// markdown renders the report.
func (rep *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# CRS regression suite through the WAF guard (paranoia level %d)\n\n", rep.Paranoia)
	fmt.Fprintf(&b, "| family | stages | scored | positive passed | negative passed | pass rate |\n|---|---:|---:|---:|---:|---:|\n")
	var tot familyStats
	for _, f := range rep.Families {
		if !f.Applicable {
			fmt.Fprintf(&b, "| %s | %d | n/a (responses are not inspected) | | | |\n", f.Family, f.Stages)
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d/%d | %d/%d | %s |\n", f.Family, f.Stages, f.Scored,
			f.PositivePass, f.Positive, f.NegativePass, f.Negative, pct(f.PositivePass+f.NegativePass, f.Scored))
		tot.Stages += f.Stages
		tot.Scored += f.Scored
		tot.Positive += f.Positive
		tot.PositivePass += f.PositivePass
		tot.Negative += f.Negative
		tot.NegativePass += f.NegativePass
	}
	fmt.Fprintf(&b, "| **request families** | %d | %d | %d/%d | %d/%d | **%s** |\n\n", tot.Stages, tot.Scored,
		tot.PositivePass, tot.Positive, tot.NegativePass, tot.Negative, pct(tot.PositivePass+tot.NegativePass, tot.Scored))
	fmt.Fprintf(&b, "%d requests inspected in %s (%.0f µs each, rule compilation excluded).\n\n", rep.Requests, rep.Took.Round(time.Millisecond),
		float64(rep.Took.Microseconds())/float64(max(rep.Requests, 1)))
	if len(rep.Failed) > 0 {
		fmt.Fprintf(&b, "## Failed stages (%d)\n\n", len(rep.Failed))
		for _, o := range rep.Failed {
			fmt.Fprintf(&b, "- %s (%s): %s\n", o.Name(), o.Family, o.Problem)
		}
	}
	return b.String()
}
