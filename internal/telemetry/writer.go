package telemetry

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// BufferedWriter batches log lines into few writes: it flushes every
// interval and on Close. A crash loses at most the last interval's lines;
// in exchange a busy proxy makes one write syscall per batch, not per
// request. It is safe for concurrent use.
type BufferedWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	err  error
	stop chan struct{}
	done chan struct{}
}

// NewBufferedWriter returns a BufferedWriter over w flushing every interval.
func NewBufferedWriter(w io.Writer, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

// Write buffers p; it returns the last flush error, if any.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err == nil {
		err = b.err
	}
	return n, err
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

// Flush writes out what is buffered.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.w.Flush(); err != nil {
		b.err = err
	}
	return b.err
}

// Close stops the periodic flush and flushes what is left.
func (b *BufferedWriter) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}
