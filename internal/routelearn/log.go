package routelearn

import (
	"fmt"
	"io"

	"github.com/abuseguard/abuseguard/internal/replay"
)

// LogStats counts what ReadLog read.
type LogStats struct {
	Lines   int                 // lines parsed into requests
	Refused int                 // lines recording the guard's own refusal: not the API's answer, not learned
	Empty   int                 // blank lines skipped
	TooLong int                 // lines over replay.MaxLineLen skipped
	Bad     int                 // lines that did not parse, skipped
	First   []*replay.LineError // the first bad lines (at most 5)
}

// ReadLog feeds every request of the access logs at paths ("-" is stdin),
// in format (one of replay.Formats; m maps the json format's fields), to
// l. Lines that do not parse are counted and skipped; an input that
// cannot be read is an error.
func (l *Learner) ReadLog(paths []string, stdin io.Reader, format string, m replay.JSONMapping) (LogStats, error) {
	var st LogStats
	p, err := replay.NewParser(format, m)
	if err != nil {
		return st, err
	}
	r, err := replay.Open(paths, stdin)
	if err != nil {
		return st, err
	}
	defer r.Close()
	var e replay.Entry
	for {
		line, file, n, ok := r.Next()
		if !ok {
			break
		}
		e = replay.Entry{}
		if err := p.Parse(line, &e); err != nil {
			st.Bad++
			if len(st.First) < 5 {
				st.First = append(st.First, &replay.LineError{File: file, Line: n, Err: err})
			}
			continue
		}
		if e.GuardRefused {
			st.Refused++
			continue
		}
		st.Lines++
		l.Observe(Observation{Method: e.Method, Path: e.Path, Query: e.Query, Status: e.Status, Fields: e.BodyFields})
	}
	empty, long, _ := r.Skipped()
	st.Empty, st.TooLong = empty, long
	if err := r.Err(); err != nil {
		return st, fmt.Errorf("reading the log: %w", err)
	}
	return st, nil
}
