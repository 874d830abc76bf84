package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRotatedFile writes past max_size_mb to a file+rotate:// destination:
// the file is rotated into a backup beside it, no line is torn or lost,
// and the access log and events naming the same file share one writer.
func TestRotatedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	dest := "file+rotate://" + path + "?max_size_mb=1&max_backups=3"
	d := newDestinations(time.Hour)
	events, err := d.Open(dest, "events")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := d.Open(dest, "access_log"); again != events {
		t.Error("two streams naming one rotated file got two writers")
	}
	line := []byte(strings.Repeat("x", 1023) + "\n")
	// 1.5 MB: one rotation at 1 MB. (Backups are named to the
	// millisecond, so the test does not rotate twice within one.)
	const lines = 1500
	for range lines {
		if _, err := events.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "events*.jsonl"))
	if len(files) != 2 {
		t.Fatalf("files %v, want the file and a backup", files)
	}
	total := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1<<20 {
			t.Errorf("%s holds %d bytes, over max_size_mb=1", f, len(b))
		}
		if n := bytes.Count(b, []byte("\n")); n*len(line) != len(b) {
			t.Errorf("%s: %d bytes for %d lines: a line was torn", f, len(b), n)
		}
		total += bytes.Count(b, []byte("\n"))
	}
	if total != lines {
		t.Errorf("%d lines in the files, want %d", total, lines)
	}
}

func TestRotatedFileSettings(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ dest, want string }{
		{"file+rotate://relative.jsonl", "want file+rotate:///ABSOLUTE/PATH"},
		{"file+rotate://" + dir + "/e.jsonl?max_size_mb=0", `events: max_size_mb="0": want a whole number`},
		{"file+rotate://" + dir + "/e.jsonl?max_backups=-1", `max_backups="-1"`},
		{"file+rotate://" + dir + "/e.jsonl?compress=maybe", `compress="maybe": want true or false`},
		{"file+rotate://" + dir + "/e.jsonl?size=1", `unknown setting "size"`},
		{"file+rotate://" + dir + "/missing/dir/e.jsonl?max_size_mb=1", ""},
	} {
		d := newDestinations(time.Hour)
		_, err := d.Open(tc.dest, "events")
		d.Close()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want the directory made", tc.dest, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.dest, err, tc.want)
		}
	}
}
