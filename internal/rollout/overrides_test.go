package rollout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{
		"shadow": {Mode: "shadow"}, "enforce": {Mode: "enforce"}, "canary:10": {Mode: "canary", Percent: 10},
		"canary:2.5": {Mode: "canary", Percent: 2.5}, "canary:50%": {Mode: "canary", Percent: 50},
	} {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if in != "canary:50%" && got.String() != in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, bad := range []string{"", "on", "canary", "canary:", "canary:0", "canary:100", "canary:-5", "canary:x", "Enforce"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func TestOverridesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rollout.json")
	o, err := OpenOverrides(path)
	if err != nil || len(o.List()) != 0 {
		t.Fatalf("a missing file: %v %v", o.List(), err)
	}
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// A limit and a rule may share a name.
	if err := o.Set(Override{Name: "login", Kind: "limit", Mode: "enforce", FileMode: "shadow", Previous: "shadow", By: "127.0.0.1", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := o.Set(Override{Name: "login", Kind: "rule", Mode: "canary:10", FileMode: "shadow", At: at}); err != nil {
		t.Fatal(err)
	}
	o2, err := OpenOverrides(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := o2.List(); len(got) != 2 || got[0].Kind != "limit" || got[1].Mode != "canary:10" || !got[0].At.Equal(at) {
		t.Fatalf("reopened: %+v", got)
	}
	if removed, err := o2.Remove("rule", "login"); !removed || err != nil {
		t.Fatalf("Remove: %v %v", removed, err)
	}
	if removed, _ := o2.Remove("rule", "login"); removed {
		t.Error("a second Remove removed something")
	}
	o3, _ := OpenOverrides(path)
	if _, ok := o3.Get("rule", "login"); ok {
		t.Error("the removed override came back")
	}
	if ov, ok := o3.Get("limit", "login"); !ok || ov.By != "127.0.0.1" {
		t.Errorf("the limit's override: %+v %v", ov, ok)
	}
	// No temporary files are left behind.
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*")); len(files) != 1 {
		t.Errorf("files: %v", files)
	}
}

func TestOverridesBadFile(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not json": "{", "bad mode": `[{"name":"x","kind":"limit","mode":"loud"}]`, "bad kind": `[{"name":"x","kind":"route","mode":"enforce"}]`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := OpenOverrides(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want one naming the file", name, err)
		}
	}
}

func TestOverridesSaveFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "rollout.json") // the directory does not exist
	o, err := OpenOverrides(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Set(Override{Name: "x", Kind: "limit", Mode: "enforce"}); err == nil {
		t.Fatal("Set saved into a missing directory")
	}
	if _, ok := o.Get("limit", "x"); ok {
		t.Error("a failed Set left the override in place")
	}
}

func TestTally(t *testing.T) {
	tl := NewTally(func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) })
	a, b := EntityHash("ip", "203.0.113.7"), EntityHash("key", "k_1")
	tl.Record("per-ip", true, a)
	tl.Record("per-ip", true, a)
	tl.Record("per-ip", false, b)
	tl.Confirm(b)
	tl.Confirm(EntityHash("ip", "198.51.100.1"))
	rep := tl.Report("per-ip")
	if rep.WouldAct != 2 || rep.Acted != 1 || rep.Entities != 2 || rep.Confirmed != 1 || rep.Capped || rep.Since.IsZero() {
		t.Errorf("report: %+v", rep)
	}
	if rep := tl.Report("never"); rep.WouldAct != 0 || rep.Entities != 0 || rep.Name != "never" {
		t.Errorf("a rule that never acted: %+v", rep)
	}
	if EntityHash("ip", "1.2.3.4") == EntityHash("ip1", ".2.3.4") {
		t.Error("EntityHash does not separate scope and value")
	}
	for i := range MaxTallyEntities + 10 {
		tl.Record("flood", true, uint64(i))
	}
	if rep := tl.Report("flood"); rep.Entities != MaxTallyEntities || !rep.Capped || rep.WouldAct != MaxTallyEntities+10 {
		t.Errorf("flood: %+v", rep)
	}
}
