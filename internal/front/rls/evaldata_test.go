package rls

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvoyRatelimitExpectations checks the loader and Lookup against the
// expectations derived from envoyproxy/ratelimit's own tests, read from the
// directory named by ABUSEGUARD_ENVOY_RATELIMIT_DATA (a copy of
// envoyproxy/ratelimit's test/config with expectations.json; see
// /work/shared/eval-data/envoy-ratelimit/SOURCES.md). The data is never
// copied into this repository; without it the test is skipped.
func TestEnvoyRatelimitExpectations(t *testing.T) {
	dir := os.Getenv("ABUSEGUARD_ENVOY_RATELIMIT_DATA")
	if dir == "" {
		t.Skip("ABUSEGUARD_ENVOY_RATELIMIT_DATA not set")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "expectations.json"))
	if err != nil {
		t.Skipf("no expectations: %v", err)
	}
	var exp struct {
		Lookups []struct {
			Test        string   `json:"test"`
			ConfigFiles []string `json:"config_files"`
			Domain      string   `json:"domain"`
			Entries     []Entry  `json:"entries"`
			Expect      struct {
				Match           *bool  `json:"match"`
				RequestsPerUnit uint32 `json:"requests_per_unit"`
				Unit            string `json:"unit"`
				StatsKey        string `json:"stats_key"`
				Unlimited       bool   `json:"unlimited"`
				ShadowMode      *bool  `json:"shadow_mode"`
			} `json:"expect"`
		} `json:"lookups"`
		Invalid []struct {
			Test          string   `json:"test"`
			ConfigFiles   []string `json:"config_files"`
			ExpectedError string   `json:"expected_error"`
		} `json:"invalid_configs"`
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	load := func(names []string, merge bool) (*Config, error) {
		files := make([]File, len(names))
		for i, n := range names {
			data, err := os.ReadFile(filepath.Join(dir, "test-config", n))
			if err != nil {
				t.Fatal(err)
			}
			files[i] = File{Name: n, Data: data}
		}
		return Load(files, LoadOptions{MergeDomains: merge})
	}
	for _, l := range exp.Lookups {
		t.Run(l.Test, func(t *testing.T) {
			cfg, err := load(l.ConfigFiles, len(l.ConfigFiles) > 1)
			if err != nil {
				t.Fatal(err)
			}
			m := cfg.Lookup(l.Domain, l.Entries)
			e := l.Expect
			if e.Match != nil && *e.Match != (m.Limit != nil && !m.Limit.Unlimited) {
				t.Fatalf("%v: matched %v, want %v", l.Entries, m.Limit != nil, *e.Match)
			}
			if e.Unlimited && (m.Limit == nil || !m.Limit.Unlimited) {
				t.Fatalf("%v: want unlimited, got %+v", l.Entries, m.Limit)
			}
			if m.Limit == nil {
				return
			}
			if e.RequestsPerUnit != 0 && m.Limit.RequestsPerUnit != e.RequestsPerUnit {
				t.Errorf("%v: requests_per_unit %d, want %d", l.Entries, m.Limit.RequestsPerUnit, e.RequestsPerUnit)
			}
			if e.Unit != "" && m.Limit.Unit.String() != e.Unit {
				t.Errorf("%v: unit %v, want %s", l.Entries, m.Limit.Unit, e.Unit)
			}
			if e.StatsKey != "" && m.StatsKey != e.StatsKey {
				t.Errorf("%v: stats key %q, want %q", l.Entries, m.StatsKey, e.StatsKey)
			}
			if e.ShadowMode != nil && m.Limit.ShadowMode != *e.ShadowMode {
				t.Errorf("%v: shadow mode %v, want %v", l.Entries, m.Limit.ShadowMode, *e.ShadowMode)
			}
		})
	}
	for _, c := range exp.Invalid {
		t.Run(c.Test, func(t *testing.T) {
			_, err := load(c.ConfigFiles, c.Test == "TestDuplicateKeyDomainMerge")
			if err == nil {
				t.Fatalf("%v loaded, want %q", c.ConfigFiles, c.ExpectedError)
			}
			file, msg, _ := strings.Cut(c.ExpectedError, ": ")
			if !strings.Contains(err.Error(), file+":") {
				t.Errorf("error %q does not name %s", err, file)
			}
			// The YAML-level problems are reported in the config
			// decoder's words (unknown field, cannot use a string as a
			// descriptor); the rest in envoyproxy/ratelimit's.
			if !strings.HasPrefix(msg, "config error") && !strings.HasPrefix(msg, "error loading") && !strings.Contains(err.Error(), msg) {
				t.Errorf("error %q does not say %q", err, msg)
			}
		})
	}
}
