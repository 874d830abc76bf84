package proxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// BodyLimits bound how long a client may take to send a request body.
// Zero fields turn their bound off.
type BodyLimits struct {
	// Timeout is the longest a whole body may take.
	Timeout time.Duration
	// MinRate is the average rate, in bytes a second, a body must keep
	// after Grace: a client trickling a byte every few seconds is cut off
	// once it falls behind.
	MinRate int64
	Grace   time.Duration
}

// errBodyTimeout is what a body read returns once a bound is broken.
var errBodyTimeout = errors.New("request body too slow")

// bodyDeadline enforces BodyLimits on a request body through the
// connection's read deadline: before each read the deadline is moved to
// when the bytes read so far would be too few. At the end of the body the
// deadline is cleared, so a long upstream answer is not cut.
type bodyDeadline struct {
	io.ReadCloser
	rc       *http.ResponseController
	limits   BodyLimits
	start    time.Time
	now      func() time.Time
	read     int64
	set      time.Time // the deadline last set
	done     bool
	timedOut bool
	failed   bool // a read failed otherwise: the client went away
}

func newBodyDeadline(w http.ResponseWriter, body io.ReadCloser, limits BodyLimits, now func() time.Time) *bodyDeadline {
	return &bodyDeadline{ReadCloser: body, rc: http.NewResponseController(w), limits: limits, start: now(), now: now}
}

// deadline returns when the next read must have finished.
func (b *bodyDeadline) deadline() time.Time {
	var d time.Time
	if b.limits.Timeout > 0 {
		d = b.start.Add(b.limits.Timeout)
	}
	if b.limits.MinRate > 0 {
		// having read n bytes, the client may take until the time at
		// which n+1 bytes would be the minimum
		due := b.start.Add(b.limits.Grace + time.Duration((b.read+1)*int64(time.Second)/b.limits.MinRate))
		if d.IsZero() || due.Before(d) {
			d = due
		}
	}
	return d
}

func (b *bodyDeadline) Read(p []byte) (int, error) {
	if b.timedOut {
		return 0, errBodyTimeout
	}
	if b.done {
		return b.ReadCloser.Read(p)
	}
	if d := b.deadline(); !d.IsZero() && !d.Equal(b.set) {
		if err := b.rc.SetReadDeadline(d); err == nil {
			b.set = d
		}
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case err == io.EOF:
		b.finish()
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		b.timedOut = true
		return n, errBodyTimeout
	case err != nil:
		b.failed = true
	}
	return n, err
}

// finish clears the deadline once the body is read.
func (b *bodyDeadline) finish() {
	if !b.done && !b.set.IsZero() {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	b.done = true
}
