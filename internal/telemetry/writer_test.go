package telemetry

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return l.b.Write(p)
}

func TestBufferedWriterBatchesAndFlushesOnClose(t *testing.T) {
	var out lockedBuffer
	w := NewBufferedWriter(&out, time.Hour) // no periodic flush within the test
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				w.Write([]byte(strings.Repeat("x", i) + "\n"))
			}
		}()
	}
	wg.Wait()
	if out.n != 0 {
		t.Fatalf("%d writes before a flush", out.n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out.b.String(), "\n"); lines != 800 || out.n > 2 {
		t.Fatalf("%d lines in %d writes, want 800 lines in at most 2", lines, out.n)
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestBufferedWriterReportsFlushErrors(t *testing.T) {
	w := NewBufferedWriter(failing{}, time.Hour)
	w.Write([]byte("line\n"))
	if err := w.Close(); err == nil {
		t.Fatal("flush error lost")
	}
	if _, err := w.Write([]byte("more\n")); err == nil {
		t.Fatal("a later write does not report the earlier flush error")
	}
}
