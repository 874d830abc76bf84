package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// line is what Reader.Next returns for one line.
type line struct {
	text, file string
	n          int
}

func readAll(t *testing.T, r *Reader) []line {
	t.Helper()
	var out []line
	for {
		text, file, n, ok := r.Next()
		if !ok {
			return out
		}
		out = append(out, line{text, file, n})
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipped(t *testing.T, content string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReader(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", MaxLineLen+1)
	huge := strings.Repeat("y", 3*readBufSize)
	for _, c := range []struct {
		name  string
		files map[string]string // name -> content, in paths order by name
		paths []string
		stdin string
		want  []line
		empty int
		long  []int // line numbers of the skipped over-long lines
	}{
		{name: "plain", files: map[string]string{"a.log": "one\ntwo\n"}, paths: []string{"a.log"},
			want: []line{{"one", "a.log", 1}, {"two", "a.log", 2}}},
		{name: "no final newline", files: map[string]string{"a.log": "one\ntwo"}, paths: []string{"a.log"},
			want: []line{{"one", "a.log", 1}, {"two", "a.log", 2}}},
		{name: "crlf", files: map[string]string{"a.log": "one\r\ntwo\r\n"}, paths: []string{"a.log"},
			want: []line{{"one", "a.log", 1}, {"two", "a.log", 2}}},
		{name: "empty and blank lines", files: map[string]string{"a.log": "\none\n \t\r\n\r\ntwo\n\n"}, paths: []string{"a.log"},
			want: []line{{"one", "a.log", 2}, {"two", "a.log", 5}}, empty: 4},
		{name: "byte order mark", files: map[string]string{"a.log": "\uFEFFone\n\uFEFFtwo\n"}, paths: []string{"a.log"},
			want: []line{{"one", "a.log", 1}, {"\uFEFFtwo", "a.log", 2}}},
		{name: "gzip", files: map[string]string{"a.log.gz": gzipped(t, "one\ntwo\n")}, paths: []string{"a.log.gz"},
			want: []line{{"one", "a.log.gz", 1}, {"two", "a.log.gz", 2}}},
		{name: "gzip without the suffix", files: map[string]string{"a.log.1": gzipped(t, "one\n")}, paths: []string{"a.log.1"},
			want: []line{{"one", "a.log.1", 1}}},
		{name: "empty gzip file", files: map[string]string{"e.gz": ""}, paths: []string{"e.gz"}},
		{name: "stdin", paths: []string{"-"}, stdin: "one\ntwo\n",
			want: []line{{"one", "stdin", 1}, {"two", "stdin", 2}}},
		{name: "gzipped stdin", paths: []string{"-"}, stdin: gzipped(t, "one\n"), want: []line{{"one", "stdin", 1}}},
		{name: "files and stdin, numbers restart", files: map[string]string{"a.log": "a1\na2\na3\n", "b.log.gz": gzipped(t, "b1\nb2\n")},
			paths: []string{"a.log", "-", "b.log.gz"}, stdin: "s1\n",
			want: []line{{"a1", "a.log", 1}, {"a2", "a.log", 2}, {"a3", "a.log", 3}, {"s1", "stdin", 1}, {"b1", "b.log.gz", 1}, {"b2", "b.log.gz", 2}}},
		{name: "over-long line", files: map[string]string{"a.log": "one\n" + long + "\ntwo\n"}, paths: []string{"a.log"},
			want: []line{{"one", "a.log", 1}, {"two", "a.log", 3}}, long: []int{2}},
		{name: "line longer than the buffer", files: map[string]string{"a.log": huge + "\none\n" + huge}, paths: []string{"a.log"},
			want: []line{{"one", "a.log", 2}}, long: []int{1, 3}},
		{name: "longest line kept", files: map[string]string{"a.log": long[1:] + "\r\n"}, paths: []string{"a.log"},
			want: []line{{long[1:], "a.log", 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.Mkdir(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			paths := make([]string, len(c.paths))
			for i, p := range c.paths {
				if p != "-" {
					write(t, sub, p, c.files[p])
					p = filepath.Join(sub, p)
				}
				paths[i] = p
			}
			r, err := Open(paths, strings.NewReader(c.stdin))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := readAll(t, r)
			for i := range got {
				got[i].file = filepath.Base(got[i].file)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d lines, want %d: %.200v", len(got), len(c.want), got)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("line %d: got %.80v, want %.80v", i, got[i], c.want[i])
				}
			}
			if err := r.Err(); err != nil {
				t.Errorf("Err() = %v", err)
			}
			empty, long, errs := r.Skipped()
			if empty != c.empty || long != len(c.long) || len(errs) != len(c.long) {
				t.Errorf("Skipped() = %d, %d, %v; want %d empty, %d long", empty, long, errs, c.empty, len(c.long))
			}
			for i, e := range errs {
				if i < len(c.long) && (e.Line != c.long[i] || !errors.Is(e, errTooLong) || !strings.Contains(e.Error(), "line longer than 64 KiB")) {
					t.Errorf("skipped %d: %v, want line %d", i, e, c.long[i])
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.log", "x\n")
	missing := filepath.Join(dir, "missing.log")
	for _, c := range []struct {
		name  string
		paths []string
		stdin bool
		err   string
	}{
		{"missing file", []string{good, missing}, false, "missing.log"},
		{"directory", []string{dir}, false, "is a directory"},
		{"stdin twice", []string{"-", "-"}, true, "more than once"},
		{"no stdin", []string{"-"}, false, "no stdin"},
		{"nothing", nil, false, "no input"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdin io.Reader
			if c.stdin {
				stdin = strings.NewReader("")
			}
			if _, err := Open(c.paths, stdin); err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Open: %v, want an error containing %q", err, c.err)
			}
		})
	}
}

func TestReaderIOErrors(t *testing.T) {
	dir := t.TempDir()
	t.Run("corrupt gzip", func(t *testing.T) {
		gz := gzipped(t, strings.Repeat("a line of the log\n", 1000))
		p := write(t, dir, "corrupt.log.gz", gz[:len(gz)/2])
		r, err := Open([]string{p, write(t, dir, "after.log", "x\n")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		readAll(t, r)
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), "corrupt.log.gz") {
			t.Errorf("Err() = %v, want one naming the file", err)
		}
	})
	t.Run("not gzip", func(t *testing.T) {
		r, err := Open([]string{write(t, dir, "plain.gz", "plain text\n")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if lines := readAll(t, r); len(lines) != 0 {
			t.Errorf("read %v", lines)
		}
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), "plain.gz") {
			t.Errorf("Err() = %v, want one naming the file", err)
		}
	})
	t.Run("removed after open", func(t *testing.T) {
		p := write(t, dir, "gone.log", "x\n")
		r, err := Open([]string{p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		readAll(t, r)
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), "gone.log") {
			t.Errorf("Err() = %v, want one naming the file", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		r, err := Open([]string{write(t, dir, "two.log", "1\n2\n")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, ok := r.Next(); !ok {
			t.Fatal("no first line")
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if l, _, _, ok := r.Next(); ok {
			t.Errorf("Next after Close: %q", l)
		}
	})
}

// BenchmarkReaderParseCombined reads and parses a combined log from a
// file: the lines a second replay can take in, single-threaded. It
// compares the Reader with a bufio.Scanner doing the same.
func BenchmarkReaderParseCombined(b *testing.B) {
	var buf bytes.Buffer
	const lines = 100_000
	for i := range lines {
		buf.WriteString(strings.Replace(benchCombined, "1234", strconv.Itoa(i), 2))
		buf.WriteByte('\n')
	}
	p := filepath.Join(b.TempDir(), "access.log")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Run("reader", func(b *testing.B) {
		parser, _ := NewParser("combined", JSONMapping{})
		var e Entry
		b.ReportAllocs()
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			r, err := Open([]string{p}, nil)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				l, _, _, ok := r.Next()
				if !ok {
					break
				}
				if err := parser.Parse(l, &e); err != nil {
					b.Fatal(err)
				}
				n++
			}
			r.Close()
			if n != lines {
				b.Fatalf("%d lines", n)
			}
		}
		b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	b.Run("scanner", func(b *testing.B) {
		parser, _ := NewParser("combined", JSONMapping{})
		var e Entry
		b.ReportAllocs()
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 256<<10), MaxLineLen)
			for sc.Scan() {
				if err := parser.Parse(sc.Text(), &e); err != nil {
					b.Fatal(err)
				}
			}
			f.Close()
		}
		b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
	})
}
