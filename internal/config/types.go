package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a count of requests per period, written "5/m", "100/s", "10/30s"
// or "1000/h". Units: s, m, h, d (and their long forms), or a Go duration.
type Rate struct {
	Count  int64
	Period time.Duration
}

// UnmarshalText parses a rate.
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Errorf("rate %q: want COUNT/PERIOD, e.g. 5/m or 100/s", s)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 1 {
		return fmt.Errorf("rate %q: count must be a whole number of at least 1", s)
	}
	p, err := parsePeriod(strings.TrimSpace(unit))
	if err != nil {
		return fmt.Errorf("rate %q: %w", s, err)
	}
	if p/time.Duration(n) < time.Microsecond {
		return fmt.Errorf("rate %q: more than one request per microsecond", s)
	}
	*r = Rate{Count: n, Period: p}
	return nil
}

func parsePeriod(s string) (time.Duration, error) {
	switch s {
	case "s", "sec", "second":
		return time.Second, nil
	case "m", "min", "minute":
		return time.Minute, nil
	case "h", "hour":
		return time.Hour, nil
	case "d", "day":
		return 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("period %q: want s, m, h, d or a duration such as 30s", s)
	}
	return d, nil
}

func (r Rate) String() string {
	return strconv.FormatInt(r.Count, 10) + "/" + r.Period.String()
}

// ByteSize is a size in bytes, written as a number with an optional unit:
// B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// UnmarshalText parses a byte size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("size %q: want a number with an optional unit such as 64KiB or 10MB", string(text))
	}
	*b = ByteSize(n * mult)
	return nil
}
