package rls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary files to the loader: it must return a config or
// positioned errors, never panic, and a loaded config must answer lookups.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data, "path", "/v1/orders")
		}
	}
	f.Add([]byte("domain: d\ndescriptors:\n  - key: a\n    value: 'x*y*'\n    rate_limit: {unit: second, requests_per_unit: 1}\n"), "a", "xyy")
	f.Add([]byte("domain: d\ndescriptors: &a\n  - key: a\n    descriptors: *a\n"), "a", "")
	f.Add([]byte("'''"), "", "")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		if len(data) > 64<<10 {
			return
		}
		cfg, err := Load([]File{{Name: "fuzz.yaml", Data: data}}, LoadOptions{})
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, d := range cfg.Domains() {
			cfg.Lookup(d, []Entry{{key, value}, {key, value}})
		}
	})
}
