// Package replay runs access logs through the engine that `serve` runs,
// in event time: the log's timestamps are the clock. It answers "who was
// abusing us, how, and what would this config have done?".
package replay

import (
	"net/netip"
	"strconv"
	"time"
)

// Entry is one parsed access log line: what the engine needs to decide
// on it and to learn from its outcome.
type Entry struct {
	Time     time.Time
	ClientIP netip.Addr
	// Method is the request line's first word: an HTTP method, or, when
	// the line is not an HTTP request (bytes of another protocol), its
	// first word as sent, with Path empty. "" when there was no request
	// line at all.
	Method string
	// Absolute is true when the request line named a host (absolute-form,
	// "GET http://host/path HTTP/1.1"): the form of a forward proxy.
	Absolute  bool
	Host      string
	Path      string // the decoded path, without the query
	Query     string // the raw query, without '?'
	Status    int
	Bytes     int64
	Latency   time.Duration // 0 when the format has none
	UserAgent string        // "" when absent or "-"
	Referer   string        // "" when absent or "-"
	APIKey    string        // a raw API key, when a JSON mapping names one; hashed before use
	KeyID     string        // an API key's id, when the log already has one
	User      string
	Session   string
	// BodyFields are the names of the request body's top-level fields,
	// when a JSON mapping names the body (JSONMapping.Body); nil
	// otherwise.
	BodyFields []string
	// GuardRefused is true when the line records the guard's own answer,
	// not the upstream's: abuseguard's JSON access log with an action
	// other than allow, or a refusal on the way to the upstream
	// (request_too_large, body_timeout, client_closed). Replay decides on
	// such a line but shows its status to no detector: a client the guard
	// refused is not flagged again for the 403s and 429s it was given.
	GuardRefused bool
}

// LineError is a line that does not parse: where and why.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error() }
func (e *LineError) Unwrap() error { return e.Err }
