package replay

import (
	"fmt"
	"slices"
	"strings"
)

// Parser parses one log line into an Entry. It must not keep line after
// returning except through the strings it stores in e; a Parser is not
// safe for concurrent use. Each log format is one implementation, in a
// file of its own (combined.go, envoy.go, json.go); NewParser builds one
// by name.
type Parser interface {
	Parse(line string, e *Entry) error
}

// logFormat is one accepted --format name and how to build its Parser.
type logFormat struct {
	name string
	// mapped is true for the format a JSONMapping applies to.
	mapped    bool
	newParser func(JSONMapping) (Parser, error)
}

// logFormats are the accepted formats, in the order Formats lists them.
var logFormats = []logFormat{
	{name: "combined", newParser: func(JSONMapping) (Parser, error) { return &combinedParser{}, nil }},
	{name: "nginx", newParser: func(JSONMapping) (Parser, error) { return &combinedParser{}, nil }},
	{name: "apache", newParser: func(JSONMapping) (Parser, error) { return &combinedParser{vhost: true}, nil }},
	{name: "envoy", newParser: func(JSONMapping) (Parser, error) { return &envoyParser{}, nil }},
	{name: "json", mapped: true, newParser: func(m JSONMapping) (Parser, error) { return newJSONParser(m) }},
}

// Formats lists the accepted --format names.
var Formats = formatNames()

func formatNames() []string {
	names := make([]string, len(logFormats))
	for i, f := range logFormats {
		names[i] = f.name
	}
	return names
}

// NewParser returns a Parser for format, one of Formats:
//
//   - combined (and its alias nginx): the NCSA combined log format nginx and
//     Apache write by default, `%h %l %u [%t] "%r" %>s %b "%{Referer}i"
//     "%{User-agent}i"`. The common log format (no referer and user agent)
//     and extra trailing fields (nginx's "$http_x_forwarded_for", a request
//     time) are accepted; the trailing fields are ignored, so the client is
//     always %h. Quoted fields may hold escapes (\" \\ \xHH). A request line
//     that is not an HTTP request ("-", a TLS handshake sent to a plain-HTTP
//     port) is kept with an empty Method and Path: it is still a request the
//     server answered, and probing detection wants to see it. An absolute-URI
//     target sets Host. Latency is 0.
//   - apache: combined, plus vhost_combined (`%v:%p %h %l %u ...`), whose
//     first field, without its port, sets Host.
//   - envoy: Envoy's default format (see envoyParser), with or without the
//     fields later versions and Istio add.
//   - json: one JSON object per line, its fields named by m (see JSONMapping).
//
// Text formats may be wrapped in a syslog header (RFC 3164 or RFC 5424),
// which is stripped. Every Time is in UTC. m must be empty unless format is
// json.
func NewParser(format string, m JSONMapping) (Parser, error) {
	format = strings.ToLower(format)
	i := slices.IndexFunc(logFormats, func(f logFormat) bool { return f.name == format })
	if m != (JSONMapping{}) && (i < 0 || !logFormats[i].mapped) {
		return nil, fmt.Errorf("a JSON field mapping applies to --format json only, not %q", format)
	}
	if i < 0 {
		return nil, fmt.Errorf("unknown log format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
	return logFormats[i].newParser(m)
}
