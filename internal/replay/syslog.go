package replay

import "strings"

// stripSyslog returns the message of a line a syslog daemon wrote, without
// its header: RFC 5424 ("<134>1 2026-11-28T12:00:00Z host app - - - msg"),
// or RFC 3164 ("Nov 28 12:00:00 host app[42]: msg", with or without
// "<134>", or with an RFC 3339 time as rsyslog writes). A line without a
// header is returned as it is.
func stripSyslog(line string) string {
	s := line
	if len(s) > 2 && s[0] == '<' {
		i := 1
		for i < len(s) && i <= 4 && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 1 || i >= len(s) || s[i] != '>' {
			return line
		}
		s = s[i+1:]
		if len(s) > 2 && s[0] >= '1' && s[0] <= '9' && s[1] == ' ' {
			return strip5424(s[2:])
		}
	}
	if len(s) < 16 {
		return s
	}
	if rest, ok := cutStamp3164(s); ok {
		return cutSyslogTag(rest)
	}
	if s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[0] >= '0' && s[0] <= '9' {
		if _, rest, ok := strings.Cut(s, " "); ok {
			return cutSyslogTag(rest)
		}
	}
	return s
}

// cutStamp3164 cuts an RFC 3164 timestamp, "Nov 28 12:00:00 " or
// "Nov  8 12:00:00 ", off s.
func cutStamp3164(s string) (string, bool) {
	if monthOf(s[:3]) == 0 || s[3] != ' ' {
		return "", false
	}
	s = strings.TrimLeft(s[4:], " ")
	i := 0
	for i < len(s) && i < 2 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || len(s) < i+10 || s[i] != ' ' {
		return "", false
	}
	c := s[i+1 : i+10]
	if c[2] != ':' || c[5] != ':' || c[8] != ' ' {
		return "", false
	}
	return s[i+10:], true
}

// cutSyslogTag cuts "HOST TAG: " or "TAG: " off s, or "HOST " when no tag
// follows.
func cutSyslogTag(s string) string {
	t1, r1, ok := strings.Cut(s, " ")
	if !ok {
		return s
	}
	if isSyslogTag(t1) {
		return r1
	}
	if t2, r2, ok := strings.Cut(r1, " "); ok && isSyslogTag(t2) {
		return r2
	}
	return r1
}

// isSyslogTag reports whether t is "app:" or "app[pid]:".
func isSyslogTag(t string) bool {
	if len(t) < 2 || t[len(t)-1] != ':' {
		return false
	}
	t = t[:len(t)-1]
	if n := len(t); n > 0 && t[n-1] == ']' {
		i := strings.IndexByte(t, '[')
		if i <= 0 {
			return false
		}
		t = t[:i]
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return false
		}
	}
	return t != ""
}

// strip5424 returns the message of an RFC 5424 line after "<PRI>VERSION ":
// TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG].
func strip5424(s string) string {
	for range 5 {
		_, rest, ok := strings.Cut(s, " ")
		if !ok {
			return s
		}
		s = rest
	}
	switch {
	case strings.HasPrefix(s, "-"):
		s = s[1:]
	case strings.HasPrefix(s, "["):
		for len(s) > 0 && s[0] == '[' {
			i := 1
			for i < len(s) && s[i] != ']' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(s) {
				return ""
			}
			s = s[i+1:]
		}
	}
	s = strings.TrimPrefix(s, " ")
	return strings.TrimPrefix(s, "\uFEFF")
}
