package telemetry

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// batchSize is how many bytes a BufferedWriter holds before it writes
// them out early.
const batchSize = 64 << 10

// BufferedWriter batches records into few writes: it flushes every
// interval, when a record would not fit the batch, and on Close. A crash
// loses at most the last interval's records; in exchange a busy proxy
// makes one write syscall per batch, not per request.
//
// Each Write is one record: whole lines, as the access log's slog handler
// and Events write them. A record is never split between two writes to
// the destination (one larger than the batch is written alone, in one
// Write), so records of every stream sharing the destination reach it
// whole. It is safe for concurrent use.
type BufferedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	err    error // of the last flush; nil once one succeeds
	closed bool
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// NewBufferedWriter returns a BufferedWriter over w flushing every interval.
func NewBufferedWriter(w io.Writer, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{w: w, buf: make([]byte, 0, batchSize), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

// Write adds the record p to the batch. It returns the error of the last
// flush when that failed (the failed batch is dropped, so the error is
// reported for the records written while it stands). After Close, Write
// writes p through at once.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) > cap(b.buf) {
		b.flushLocked()
	}
	if len(p) > cap(b.buf) {
		n, err := b.w.Write(p)
		if err != nil {
			b.err = err
		}
		return n, err
	}
	b.buf = append(b.buf, p...)
	return len(p), b.err
}

func (b *BufferedWriter) flushEvery(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.Flush()
		}
	}
}

// Flush writes out the batch in one Write and returns its error.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	return b.err
}

func (b *BufferedWriter) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	n, err := b.w.Write(b.buf)
	if err == nil && n < len(b.buf) {
		err = io.ErrShortWrite
	}
	b.err = err
	b.buf = b.buf[:0]
}

// Close stops the periodic flush and flushes what is left; later writes
// go straight through. Close is idempotent.
func (b *BufferedWriter) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.closed = true
	return b.err
}

// Sinks opens the destinations of log streams (the access log, the
// events): "stdout", "stderr", "off", or a file path appended to. Each
// destination is opened once and gets one BufferedWriter; streams that
// name the same destination (by name, or a path that is the same file
// as another path, stdout or stderr) share it, so their lines never
// interleave. It is safe for concurrent use.
type Sinks struct {
	// Interval is how often each destination is flushed.
	Interval time.Duration
	// Stdout and Stderr are the standard streams (default os.Stdout and
	// os.Stderr).
	Stdout, Stderr *os.File

	mu    sync.Mutex
	dests []*destination
}

// destination is one open sink.
type destination struct {
	name string      // "stdout", "stderr" or the path as first named
	info os.FileInfo // nil when it cannot be stat'ed
	file *os.File    // closed by Sinks.Close when opened by Sinks
	w    *BufferedWriter
}

// NewSinks returns Sinks flushing every interval.
func NewSinks(interval time.Duration) *Sinks {
	return &Sinks{Interval: interval}
}

// Open returns the writer of dest: nil (not a typed nil) for "off", the
// shared writer when dest is already open, else a new one. A file that
// cannot be opened is an error.
func (s *Sinks) Open(dest string) (io.Writer, error) {
	if dest == "off" {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		if d.name == dest {
			return d.w, nil
		}
	}
	var f *os.File
	owned := false
	switch dest {
	case "stdout":
		f = cmp.Or(s.Stdout, os.Stdout)
	case "stderr":
		f = cmp.Or(s.Stderr, os.Stderr)
	default:
		var err error
		if f, err = os.OpenFile(dest, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640); err != nil {
			return nil, err
		}
		owned = true
	}
	info, _ := f.Stat()
	if info != nil {
		if d := s.sameFile(info); d != nil {
			if owned {
				f.Close()
			}
			return d.w, nil
		}
	}
	d := &destination{name: dest, info: info, w: NewBufferedWriter(f, s.Interval)}
	if owned {
		d.file = f
	}
	s.dests = append(s.dests, d)
	return d.w, nil
}

// sameFile returns the open destination that is the file info
// describes, or nil.
func (s *Sinks) sameFile(info os.FileInfo) *destination {
	for _, d := range s.dests {
		if d.info != nil && os.SameFile(d.info, info) {
			return d
		}
	}
	return nil
}

// Close flushes and closes every destination; files it opened are closed
// and later writes to them fail. It returns every error.
func (s *Sinks) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, d := range s.dests {
		if err := d.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
		}
		if d.file != nil {
			if err := d.file.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
			}
		}
	}
	s.dests = nil
	return errors.Join(errs...)
}
