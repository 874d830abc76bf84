package limit

import (
	"fmt"
	"time"
)

// Period is the length of a calendar quota window.
type Period int

// Calendar periods.
const (
	Day Period = iota + 1
	Month
)

// ParsePeriod parses "day" or "month".
func ParsePeriod(s string) (Period, error) {
	switch s {
	case "day", "daily":
		return Day, nil
	case "month", "monthly":
		return Month, nil
	}
	return 0, fmt.Errorf("unknown quota period %q (want day or month)", s)
}

// UnmarshalText parses a period name, as ParsePeriod.
func (p *Period) UnmarshalText(b []byte) error {
	x, err := ParsePeriod(string(b))
	if err == nil {
		*p = x
	}
	return err
}

func (p Period) String() string {
	switch p {
	case Day:
		return "day"
	case Month:
		return "month"
	}
	return "invalid"
}

// Calendar is a quota window aligned to local midnight, or to the first of
// the month, in a time zone. Days are calendar days, so a day with a DST
// change is 23 or 25 hours long.
type Calendar struct {
	Period   Period
	Location *time.Location
}

// Bounds returns the start and end of the window that contains t.
func (c Calendar) Bounds(t time.Time) (start, end time.Time) {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	if c.Period == Month {
		start = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		return start, time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	}
	start = time.Date(y, m, d, 0, 0, 0, 0, loc)
	return start, time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// Seconds returns the nominal length of the period in seconds, for the
// RateLimit-Policy header.
func (p Period) Seconds() int64 {
	if p == Month {
		return 30 * 86400
	}
	return 86400
}
