package main

import (
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/abuseguard/abuseguard/internal/replay"
)

// segment is a run of consecutive lines replayed with one format.
type segment struct {
	Format  string
	Mapping replay.JSONMapping
	Lines   []string
}

// readerNote says how the lines of one test were read: "combined
// (native)", "bunkerweb adapter -> combined", "unsupported: ...".
type readerNote struct {
	How   string
	Lines int
}

// plan is how one test's log is replayed.
type plan struct {
	Segments []segment
	Native   bool         // every line is replayed as it is, from the original file
	How      []readerNote // by how lines were read, in first-seen order
	// NoUA holds client IPs with a line whose log format records no
	// User-Agent: replay sees those as empty User-Agents, so an "empty
	// User-Agent" signal on them is an artefact of the log, not evidence.
	NoUA map[string]bool
}

func (p *plan) note(how string) {
	for i := range p.How {
		if p.How[i].How == how {
			p.How[i].Lines++
			return
		}
	}
	p.How = append(p.How, readerNote{How: how, Lines: 1})
}

func (p *plan) add(format string, m replay.JSONMapping, line string) {
	if n := len(p.Segments); n > 0 && p.Segments[n-1].Format == format && p.Segments[n-1].Mapping == m {
		p.Segments[n-1].Lines = append(p.Segments[n-1].Lines, line)
		return
	}
	p.Segments = append(p.Segments, segment{Format: format, Mapping: m, Lines: []string{line}})
}

// native is a replay format (with a JSON mapping for json) a line is
// tried with as it is; jsonKind, when set, limits it to one JSON log.
type native struct {
	format   string
	mapping  replay.JSONMapping
	jsonKind string
}

// Mappings for the JSON logs replayed natively. Caddy's fields are among
// the json format's defaults; Traefik's "time" (whole seconds) comes before
// StartUTC among them, so Time is named; Envoy's path, User-Agent and
// authority are not defaults, and its duration is in milliseconds.
var (
	traefikJSON = native{"json", replay.JSONMapping{Time: "StartUTC", ClientIP: "ClientHost"}, "traefik"}
	caddyJSON   = native{"json", replay.JSONMapping{}, "caddy"}
	envoyJSON   = native{"json", replay.JSONMapping{Path: "x-envoy-origin-path", UserAgent: "user-agent", Host: ":authority", Latency: "duration:ms"}, "envoy"}
)

// nativeFormats are what is tried on a line as it is, by log type, before
// any adapter. Bunkerweb writes a request id where combined has the user,
// which the combined parser would take for an authenticated user, and
// zoraxy, HAProxy, AWS ALB, IIS and Upsun write layouts no replay format
// reads: those go to adapters.
var nativeFormats = map[string][]native{
	"nginx":               {{format: "combined"}},
	"apache2":             {{format: "combined"}, {format: "apache"}},
	"litespeed":           {{format: "combined"}},
	"nginx-proxy-manager": {{format: "combined"}},
	"npmplus":             {{format: "combined"}},
	"traefik":             {{format: "combined"}, traefikJSON},
	"caddy":               {caddyJSON},
	"containerd":          {{format: "envoy"}, envoyJSON},
}

// planLines decides, line by line, how each line of a test is replayed:
// as it is with a replay format the product parses it with, else through
// an adapter into a combined line, else not at all (counted, with why).
func planLines(logType string, lines []string) (*plan, error) {
	p := &plan{NoUA: map[string]bool{}}
	var natives []nativeParser
	for _, n := range nativeFormats[logType] {
		np, err := newNativeParser(n.format, n.mapping)
		if err != nil {
			return nil, fmt.Errorf("log type %s: %w", logType, err)
		}
		np.jsonKind = n.jsonKind
		natives = append(natives, np)
	}
	combined, err := newNativeParser("combined", replay.JSONMapping{})
	if err != nil {
		return nil, err
	}
	native := true
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		// Container runtimes wrap each line in a CRI header: the tool
		// strips it, as a log shipper would, and reads what it wrapped.
		if m := criPrefix.FindString(line); m != "" {
			line, native = line[len(m):], false
		}
		if np, e, ok := firstNative(natives, line); ok {
			p.add(np.format, np.mapping, line)
			p.note(np.describe() + " (native)")
			if !recordsUA(line) {
				p.NoUA[e.ClientIP.String()] = true
			}
			continue
		}
		native = false
		rec, how, err := adapt(line)
		if err != nil {
			p.note("not replayed: " + err.Error())
			continue
		}
		if !rec.HasUA {
			p.NoUA[rec.IP.String()] = true
		}
		out := rec.combined()
		if err := combined.parse(out); err != nil {
			// An adapter line the product does not read (a malformed
			// request line, say) is reported, not replayed.
			p.note(fmt.Sprintf("not replayed: %s adapter -> combined, which the replay parser refuses (%v)", how, err))
			continue
		}
		p.add("combined", replay.JSONMapping{}, out)
		p.note(how + " adapter -> combined")
	}
	p.Native = native && len(p.Segments) == 1
	return p, nil
}

// nativeParser is one replay format (and JSON mapping) a line may be read
// with as it is.
type nativeParser struct {
	format   string
	mapping  replay.JSONMapping
	jsonKind string // the log a JSON mapping is for
	p        replay.Parser
}

func newNativeParser(format string, m replay.JSONMapping) (nativeParser, error) {
	p, err := replay.NewParser(format, m)
	return nativeParser{format: format, mapping: m, p: p}, err
}

func (n nativeParser) describe() string {
	if n.jsonKind != "" {
		return "json (" + n.jsonKind + " mapping)"
	}
	return n.format
}

func (n nativeParser) parse(line string) error {
	_, err := n.entry(line)
	return err
}

func (n nativeParser) entry(line string) (replay.Entry, error) {
	var e replay.Entry
	if err := n.p.Parse(line, &e); err != nil {
		return e, err
	}
	if !e.ClientIP.IsValid() || e.Time.IsZero() {
		return e, errors.New("no client IP or time")
	}
	return e, nil
}

func firstNative(ps []nativeParser, line string) (nativeParser, replay.Entry, bool) {
	for _, np := range ps {
		if np.jsonKind != "" && !jsonKindIs(line, np.jsonKind) {
			continue
		}
		if e, err := np.entry(line); err == nil {
			return np, e, true
		}
	}
	return nativeParser{}, replay.Entry{}, false
}

// recordsUA reports whether a line's layout has a User-Agent field at all
// (the common log format, say, has none), reading it with the adapters.
func recordsUA(line string) bool {
	if strings.HasPrefix(line, "{") {
		r, _, err := adaptJSON(line)
		return err != nil || r.HasUA
	}
	if r, ok := adaptCLF(line); ok {
		return r.HasUA
	}
	return true
}

// entries yields every line of p that the replay parsers read, as they
// read it, in order.
func (p *plan) entries() iter.Seq[replay.Entry] {
	return func(yield func(replay.Entry) bool) {
		for _, seg := range p.Segments {
			parser, err := replay.NewParser(seg.Format, seg.Mapping)
			if err != nil {
				continue
			}
			for _, l := range seg.Lines {
				var e replay.Entry
				if parser.Parse(l, &e) == nil && !yield(e) {
					return
				}
			}
		}
	}
}
