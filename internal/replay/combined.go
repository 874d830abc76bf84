package replay

import (
	"errors"
	"fmt"
	"strings"
)

// combinedParser parses the NCSA combined and common log formats, and with
// vhost Apache's vhost_combined. It allocates nothing for a well-formed
// line without escapes or percent-encoding.
type combinedParser struct {
	vhost bool
	clock clfClock
}

func (p *combinedParser) Parse(line string, e *Entry) error {
	*e = Entry{}
	s := stripSyslog(line)
	first, s, ok := strings.Cut(s, " ")
	if !ok || first == "" {
		return errors.New(`truncated line: want HOST IDENT USER [TIME] "REQUEST" STATUS BYTES`)
	}
	i := strings.Index(s, " [")
	if i < 0 {
		return errors.New("no [timestamp] after the client address, ident and user")
	}
	idUser, s := s[:i], s[i+2:]
	addr, ok := ParseAddr(first)
	if !ok && p.vhost {
		// vhost_combined: "%v:%p %h %l %u [%t] ..."
		if client, rest, found := strings.Cut(idUser, " "); found {
			if addr, ok = ParseAddr(client); ok {
				e.Host, idUser = stripPort(first), rest
			}
		}
	}
	if !ok {
		return fmt.Errorf("bad client address %s", quote(first))
	}
	e.ClientIP = addr
	_, user, ok := strings.Cut(idUser, " ")
	if !ok {
		return fmt.Errorf("want IDENT and USER between the client address and the timestamp, got %s", quote(idUser))
	}
	if user != "-" {
		e.User = user
	}
	if len(s) < clfTimeLen+1 || s[clfTimeLen] != ']' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			end = len(s)
		}
		return fmt.Errorf("bad timestamp %s: want [02/Jan/2006:15:04:05 -0700]", quote(s[:end]))
	}
	if e.Time, ok = p.clock.parse(s[:clfTimeLen]); !ok {
		return fmt.Errorf("bad timestamp %s: want [02/Jan/2006:15:04:05 -0700]", quote(s[:clfTimeLen]))
	}
	s = s[clfTimeLen+1:]
	s, err := cutRequestLine(s, e)
	if err != nil {
		return err
	}
	status, s := cutToken(s)
	if status == "" {
		return errors.New("missing status")
	}
	if e.Status, ok = parseStatus(status); !ok {
		return fmt.Errorf("bad status %s", quote(status))
	}
	size, s := cutToken(s)
	if size == "" {
		return errors.New("missing bytes")
	}
	if e.Bytes, ok = parseBytes(size); !ok {
		return fmt.Errorf("bad bytes %s", quote(size))
	}
	// The referer and the user agent are absent in the common log format;
	// fields after them are ignored.
	if len(s) >= 2 && s[0] == ' ' && s[1] == '"' {
		var ref string
		if ref, s, ok = CutQuoted(s[2:]); !ok {
			return errors.New("unterminated referer")
		}
		e.Referer = optional(ref)
		if len(s) >= 2 && s[0] == ' ' && s[1] == '"' {
			var ua string
			if ua, _, ok = CutQuoted(s[2:]); !ok {
				return errors.New("unterminated user agent")
			}
			e.UserAgent = optional(ua)
		}
	}
	return nil
}

var _ Parser = (*combinedParser)(nil)
