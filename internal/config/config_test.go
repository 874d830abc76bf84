package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestFixtures loads each testdata/*.good.yaml and *.bad.yaml and compares
// the errors with the file's own "# error: " lines, in order: a good file
// has none and loads without error, a bad file lists every error it gets.
// Every bad file has a good one beside it, setting right what it gets wrong.
func TestFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/*.yaml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			stem, bad := strings.CutSuffix(file, ".bad.yaml")
			if !bad && !strings.HasSuffix(file, ".good.yaml") {
				t.Fatal("fixture name does not end in .good.yaml or .bad.yaml")
			}
			if _, err := os.Stat(stem + ".good.yaml"); bad && err != nil {
				t.Errorf("no good fixture beside it: %v", err)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(data), "\n") {
				if msg, ok := strings.CutPrefix(line, "# error: "); ok {
					want = append(want, msg)
				}
			}
			if bad == (len(want) == 0) {
				t.Fatalf("%d \"# error: \" lines: a bad fixture lists its errors, a good one has none", len(want))
			}
			_, err = Parse(file, data)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.AdminListen != "127.0.0.1:9090" {
		t.Errorf("listen = %s, admin = %s", c.Listen, c.AdminListen)
	}
	var names []string
	for _, l := range c.Limits {
		names = append(names, l.Name)
	}
	if got := strings.Join(names, ","); got != "per-ip,per-api-key,api-key-concurrency" {
		t.Errorf("default limits = %s", got)
	}
}

// TestQuickstart pins what examples/quickstart.yaml means: per client IP,
// 5 requests per minute with a burst of 5, no trusted proxies, the rest default.
func TestQuickstart(t *testing.T) {
	c, err := Load("../../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Limits) != 1 {
		t.Fatalf("limits = %+v", c.Limits)
	}
	l := c.Limits[0]
	if strings.Join(l.Key, ",") != "ip" || *l.Rate != (Rate{Count: 5, Period: time.Minute}) || l.BurstOrDefault() != 5 ||
		l.Mode != verdict.Enforce || len(l.Routes) != 0 {
		t.Errorf("quickstart limit = %+v", l)
	}
	if len(c.Network.TrustedProxies) != 0 {
		t.Errorf("trusted proxies = %v", c.Network.TrustedProxies)
	}
	d, _ := Default()
	if c.Server != d.Server || c.Identity.APIKey.Header != d.Identity.APIKey.Header || !reflect.DeepEqual(c.State, d.State) || c.Listen != d.Listen {
		t.Errorf("quickstart changed a default")
	}
}

// TestExamples checks every example config, as `abuseguard check` would.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d examples", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRateAndSize(t *testing.T) {
	for in, want := range map[string]Rate{
		"5/m": {5, time.Minute}, "100/s": {100, time.Second}, "10/30s": {10, 30 * time.Second},
		"1000/hour": {1000, time.Hour}, " 7 / d ": {7, 24 * time.Hour},
	} {
		var r Rate
		if err := r.UnmarshalText([]byte(in)); err != nil || r != want {
			t.Errorf("Rate(%q) = %v, %v", in, r, err)
		}
	}
	for _, bad := range []string{"5", "0/m", "-1/s", "x/s", "5/-1s", "5/", "2000000/ms"} {
		var r Rate
		if err := r.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("Rate(%q) = %v, want error", bad, r)
		}
	}
	for in, want := range map[string]ByteSize{"10MiB": 10 << 20, "64KiB": 64 << 10, "1GB": 1e9, "512": 512, "3 B": 3} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("ByteSize(%q) = %v, %v", in, b, err)
		}
	}
	for _, bad := range []string{"", "MiB", "-1KiB", "1.5MiB", "9999999999GiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("ByteSize(%q) = %v, want error", bad, b)
		}
	}
}

func FuzzLoad(f *testing.F) {
	fixtures, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range append([]string{"../../examples/quickstart.yaml", "../../examples/partner-api.yaml"}, fixtures...) {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("limits: [{name: x, key: [ip], per_plan: {a: {rate: 1/s}, b: {quota: {limit: 1, period: day}}}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			t.Skip()
		}
		c, err := Parse("fuzz.yaml", data)
		if err == nil && c == nil {
			t.Fatal("no config and no error")
		}
		if err != nil && !strings.Contains(err.Error(), "fuzz.yaml") && !strings.Contains(err.Error(), "defaults") {
			t.Fatalf("error without a position: %v", err)
		}
	})
}
