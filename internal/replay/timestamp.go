package replay

import "time"

// clfTimeLen is the length of a CLF timestamp, "02/Jan/2006:15:04:05 -0700".
const clfTimeLen = 26

// clfClock parses CLF timestamps, remembering the last one: busy logs hold
// many lines a second, and comparing 26 bytes is cheaper than parsing them.
type clfClock struct {
	key [clfTimeLen]byte
	t   time.Time
}

// parse returns the UTC time of s, a CLF timestamp without brackets.
func (c *clfClock) parse(s string) (time.Time, bool) {
	if !c.t.IsZero() && string(c.key[:]) == s {
		return c.t, true
	}
	t, ok := ParseCLFTime(s)
	if ok {
		copy(c.key[:], s)
		c.t = t
	}
	return t, ok
}

// ParseCLFTime parses "02/Jan/2006:15:04:05 -0700" by hand, rejecting
// out-of-range fields rather than normalising them, and returns it in UTC.
func ParseCLFTime(s string) (time.Time, bool) {
	if len(s) != clfTimeLen || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ' {
		return time.Time{}, false
	}
	day, ok1 := digits2(s[0:2])
	hi, ok2 := digits2(s[7:9])
	lo, ok3 := digits2(s[9:11])
	hour, ok4 := digits2(s[12:14])
	minute, ok5 := digits2(s[15:17])
	sec, ok6 := digits2(s[18:20])
	zh, ok7 := digits2(s[22:24])
	zm, ok8 := digits2(s[24:26])
	month := monthOf(s[3:6])
	year := hi*100 + lo
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) || month == 0 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 || zm > 59 || (s[21] != '+' && s[21] != '-') {
		return time.Time{}, false
	}
	off := time.Duration(zh*60+zm) * time.Minute
	if s[21] == '-' {
		off = -off
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC).Add(-off)
	return t, inRange(t)
}

func digits2(s string) (int, bool) {
	a, b := s[0]-'0', s[1]-'0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

func monthOf(s string) time.Month {
	switch s {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// inRange reports whether t is a plausible access log time: from 1970 to
// 9999. It keeps the zero time (and times near it) out of entries.
func inRange(t time.Time) bool {
	y := t.Year()
	return y >= 1970 && y <= 9999
}

// parseRFC3339 parses an RFC 3339 time and returns it in UTC.
func parseRFC3339(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	return t, inRange(t)
}
