package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// recordingWriter keeps each Write it is given as one chunk.
type recordingWriter struct {
	mu     sync.Mutex
	chunks [][]byte
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chunks = append(r.chunks, append([]byte(nil), p...))
	return len(p), nil
}

// TestBufferedWriterNeverSplitsARecord writes records of every size up to
// twice the batch and checks that each write to the destination holds
// whole records only.
func TestBufferedWriterNeverSplitsARecord(t *testing.T) {
	var out recordingWriter
	w := NewBufferedWriter(&out, time.Hour)
	var want []string
	for i := range 400 {
		size := (i * 7919) % (2 * batchSize) // up to twice the batch, in no order
		rec := fmt.Sprintf("%d %s\n", i, strings.Repeat("x", size))
		want = append(want, rec)
		if _, err := w.Write([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range out.chunks {
		if len(c) == 0 || c[len(c)-1] != '\n' {
			t.Fatalf("a write to the destination ends mid-record: ...%q", c[max(0, len(c)-20):])
		}
		for line := range strings.SplitAfterSeq(string(c), "\n") {
			if line != "" {
				got = append(got, line)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%d records out of %d written, or out of order", len(got), len(want))
	}
	if len(out.chunks) >= len(want) {
		t.Errorf("%d writes for %d records: not batched", len(out.chunks), len(want))
	}
}

func TestBufferedWriterWritesThroughAfterClose(t *testing.T) {
	var out recordingWriter
	w := NewBufferedWriter(&out, time.Hour)
	w.Close()
	w.Write([]byte("late\n"))
	if len(out.chunks) != 1 || string(out.chunks[0]) != "late\n" {
		t.Fatalf("a write after Close was not written through: %q", out.chunks)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestSinksShareADestination checks that every name of one destination
// gets the same writer, and different destinations different ones.
func TestSinksShareADestination(t *testing.T) {
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	if err := os.Symlink(filepath.Join(dir, "a.log"), filepath.Join(dir, "link.log")); err != nil {
		t.Fatal(err)
	}
	s := NewSinks(time.Hour)
	s.Stdout, s.Stderr = stdout, stderr
	defer s.Close()
	open := func(dest string) io.Writer {
		t.Helper()
		w, err := s.Open(dest)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := open("off"); w != nil {
		t.Errorf("off = %v, want nil", w)
	}
	a := open(filepath.Join(dir, "a.log"))
	for _, alias := range []string{filepath.Join(dir, "a.log"), filepath.Join(dir, ".", "a.log"), filepath.Join(dir, "link.log")} {
		if open(alias) != a {
			t.Errorf("%s has a writer of its own, not a.log's", alias)
		}
	}
	if b := open(filepath.Join(dir, "b.log")); b == a {
		t.Error("b.log shares a.log's writer")
	}
	out := open("stdout")
	if out == a || open(stdout.Name()) != out {
		t.Error("the path stdout is redirected to does not share stdout's writer")
	}
	if open("stderr") == out {
		t.Error("stderr shares stdout's writer")
	}
	if _, err := s.Open(filepath.Join(dir, "missing", "c.log")); err == nil {
		t.Error("a file in a missing directory opened")
	}
}

// TestSinksBothStreamsToOneFile runs the access log and the events to one
// file from many goroutines, with lines long enough that batches fill up
// mid-stream, and checks that every line parses and none is lost.
func TestSinksBothStreamsToOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "all.jsonl")
	s := NewSinks(time.Millisecond) // flush often, to race with the writers
	logOut, err := s.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	eventsOut, err := s.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	access, events := NewAccessLog(logOut), NewEvents(eventsOut)
	const writers, perWriter = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				access.Log(&Access{Time: eventsAt, RequestID: fmt.Sprintf("a-%d-%d", g, i), Path: "/" + strings.Repeat("p", (g*131+i*977)%5000)})
			}
		}()
		go func() {
			defer wg.Done()
			for i := range perWriter {
				events.Emit(&Event{Time: eventsAt, Kind: EventSignal, RequestID: fmt.Sprintf("e-%d-%d", g, i), Summary: strings.Repeat("s", (g*71+i*613)%5000)})
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := events.Errors(); n != 0 {
		t.Errorf("%d events not written", n)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var line struct {
			RequestID string `json:"request_id"` // access log
			HTTP      struct {
				Request struct {
					ID string `json:"id"`
				} `json:"request"`
			} `json:"http"` // events
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d is torn: %v: %.80s", n, err, sc.Text())
		}
		id := line.RequestID + line.HTTP.Request.ID
		if seen[id] {
			t.Fatalf("line %d: %s twice", n, id)
		}
		seen[id] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if want := 2 * writers * perWriter; len(seen) != want {
		t.Fatalf("%d lines, want %d", len(seen), want)
	}
}
