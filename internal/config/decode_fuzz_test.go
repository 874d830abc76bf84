package config

import (
	"testing"
)

// FuzzDecode checks that decode never panics and that every error it
// returns has a position and a message.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		fullConfig,
		"",
		"# only a comment\n",
		"server: {idle_timeout: 30s, max_conns: 10}\n",
		"limits:\n  - rate: 1/1s\n    burts: 300\n    burst: 300\n",
		"limits: &l\n- per_plan: {gold: *l}\n",
		"identity:\n  api_key: ~\n",
		"headers: {a: 1, a: 2}\n",
		"? [a]\n: 1\n",
		"debug: true\n---\ndebug: false\n",
		"- a\n- b\n",
		"server:\n  listen: x\n  idle_timeout 5s\n",
		"tags: &t [a, b]\nlimits: [{name: *t}]\n",
		"server: {<<: {listen: x}}\n",
		billionLaughs(3, 3),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			t.Skip("input over 64 KiB")
		}
		var cfg testConfig
		pos := Positions{}
		for _, e := range decode("fuzz.yaml", data, &cfg, pos) {
			if e == nil {
				t.Fatalf("decode(%q) returned a nil *Error", data)
			}
			if e.Pos.Line < 0 || e.Pos.Col < 0 || e.Msg == "" {
				t.Errorf("decode(%q) returned a malformed error %#v", data, e)
			}
		}
		for path, p := range pos {
			if path == "" || p.Line < 1 || p.Col < 1 {
				t.Errorf("decode(%q) recorded a malformed position %q: %#v", data, path, p)
			}
		}
	})
}
