package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testConfig is a small config exercising every kind decode supports.
type testConfig struct {
	Server   testServer        `yaml:"server"`
	Identity testIdentity      `yaml:"identity"`
	Limits   []testLimit       `yaml:"limits"`
	Headers  map[string]string `yaml:"headers"`
	Debug    bool              `yaml:"debug"`
	Tags     []string          `yaml:"tags"`

	Untagged string // no yaml tag: not decodable
	Skipped  string `yaml:"-"`
	//lint:ignore U1000 the decoder must not see an unexported field, so nothing reads it
	hidden string `yaml:"hidden"`
}

type testServer struct {
	Listen      string        `yaml:"listen"`
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	MaxConns    int           `yaml:"max_conns,omitempty"`
}

type testIdentity struct {
	APIKey *testAPIKey `yaml:"api_key"`
}

type testAPIKey struct {
	Header string    `yaml:"header"`
	Keys   []testKey `yaml:"keys"`
}

type testKey struct {
	ID     string `yaml:"id"`
	Secret string `yaml:"secret"`
}

type testLimit struct {
	Name    string              `yaml:"name"`
	Rate    testRate            `yaml:"rate"`
	Burst   uint8               `yaml:"burst"`
	Weight  float64             `yaml:"weight"`
	PerPlan map[string]testPlan `yaml:"per_plan"`
}

type testPlan struct {
	Rate  testRate `yaml:"rate"`
	Burst uint8    `yaml:"burst"`
}

// testRate is a TextUnmarshaler written as "count/period", e.g. "100/1m".
type testRate struct {
	Count  int
	Period time.Duration
}

var errBadRate = errors.New(`want "count/period", e.g. "100/1m"`)

func (r *testRate) UnmarshalText(text []byte) error {
	count, period, ok := strings.Cut(string(text), "/")
	if !ok {
		return errBadRate
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return errBadRate
	}
	d, err := time.ParseDuration(period)
	if err != nil {
		return errBadRate
	}
	*r = testRate{Count: n, Period: d}
	return nil
}

const fullConfig = `# a complete config
server:
  listen: ":8080"
  idle_timeout: 1m30s
  max_conns: 512
identity:
  api_key:
    header: X-API-Key
    keys:
      - id: alice
        secret: s1
      - {id: bob, secret: s2}
limits:
  - name: default
    rate: 100/1m
    burst: 20
    weight: 0.5
  - name: login
    rate: 5/1s
    burst: 255
    weight: .inf
    per_plan:
      gold:
        rate: 50/1s
        burst: 100
headers: {x-env: prod}
debug: true
tags: [a, b]
`

func TestDecodeFullConfig(t *testing.T) {
	var got testConfig
	if errs := decode("f.yaml", []byte(fullConfig), &got, nil); errs != nil {
		t.Fatalf("decode: unexpected errors:\n%v", errs)
	}
	want := testConfig{
		Server: testServer{Listen: ":8080", IdleTimeout: 90 * time.Second, MaxConns: 512},
		Identity: testIdentity{APIKey: &testAPIKey{
			Header: "X-API-Key",
			Keys:   []testKey{{ID: "alice", Secret: "s1"}, {ID: "bob", Secret: "s2"}},
		}},
		Limits: []testLimit{
			{Name: "default", Rate: testRate{100, time.Minute}, Burst: 20, Weight: 0.5},
			{Name: "login", Rate: testRate{5, time.Second}, Burst: 255, Weight: math.Inf(1),
				PerPlan: map[string]testPlan{"gold": {Rate: testRate{50, time.Second}, Burst: 100}}},
		},
		Headers: map[string]string{"x-env": "prod"},
		Debug:   true,
		Tags:    []string{"a", "b"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decode:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown field with suggestion",
			yaml: "limits:\n  - name: x\n    burts: 3\n",
			want: []string{`f.yaml:3:5: limits[0]: unknown field "burts" (did you mean "burst"?)`},
		},
		{
			name: "unknown field differing in case",
			yaml: "Server: {}\n",
			want: []string{`f.yaml:1:1: unknown field "Server" (did you mean "server"?)`},
		},
		{
			name: "unknown field without close match lists valid fields",
			yaml: "server:\n  colour: red\n",
			want: []string{`f.yaml:2:3: server: unknown field "colour" (valid fields: idle_timeout, listen, max_conns)`},
		},
		{
			name: "untagged, dash-tagged and unexported fields are unknown",
			yaml: "Untagged: a\nskipped: b\nhidden: c\n",
			want: []string{
				`f.yaml:1:1: unknown field "Untagged" (valid fields: debug, headers, identity, limits, server, tags)`,
				`f.yaml:2:1: unknown field "skipped" (valid fields: debug, headers, identity, limits, server, tags)`,
				`f.yaml:3:1: unknown field "hidden" (valid fields: debug, headers, identity, limits, server, tags)`,
			},
		},
		{
			name: "several errors reported together in file order",
			yaml: "debug: maybe\n" +
				"server:\n" +
				"  idle_timeout: soon\n" +
				"  max_conns: many\n" +
				"limits:\n" +
				"  - rate: fast\n" +
				"    burst: 300\n" +
				"    burts: 1\n" +
				"tags: {a: 1}\n",
			want: []string{
				`f.yaml:1:8: debug: cannot parse "maybe" as bool (want true or false)`,
				`f.yaml:3:17: server.idle_timeout: cannot parse "soon" as duration (want e.g. "30s" or "1m30s")`,
				`f.yaml:4:14: server.max_conns: cannot parse "many" as int`,
				`f.yaml:6:11: limits[0].rate: cannot parse "fast" as config.testRate: want "count/period", e.g. "100/1m"`,
				`f.yaml:7:12: limits[0].burst: value 300 overflows uint8`,
				`f.yaml:8:5: limits[0]: unknown field "burts" (did you mean "burst"?)`,
				`f.yaml:9:7: tags: cannot use mapping as sequence`,
			},
		},
		{
			name: "sequence as string",
			yaml: "server:\n  listen: [a, b]\n",
			want: []string{`f.yaml:2:11: server.listen: cannot use sequence as string`},
		},
		{
			name: "scalar as struct",
			yaml: "server: fast\n",
			want: []string{`f.yaml:1:9: server: cannot use scalar "fast" as mapping`},
		},
		{
			name: "sequence as pointer to struct",
			yaml: "identity:\n  api_key: [1]\n",
			want: []string{`f.yaml:2:12: identity.api_key: cannot use sequence as mapping`},
		},
		{
			name: "mapping as duration",
			yaml: "server:\n  idle_timeout: {s: 1}\n",
			want: []string{`f.yaml:2:17: server.idle_timeout: cannot use mapping as duration`},
		},
		{
			name: "sequence as TextUnmarshaler",
			yaml: "limits:\n- rate: [1]\n",
			want: []string{`f.yaml:2:9: limits[0].rate: cannot use sequence as config.testRate`},
		},
		{
			name: "scalar as map",
			yaml: "headers: x\n",
			want: []string{`f.yaml:1:10: headers: cannot use scalar "x" as mapping`},
		},
		{
			name: "duration without unit",
			yaml: "server:\n  idle_timeout: 30\n",
			want: []string{`f.yaml:2:17: server.idle_timeout: cannot parse "30" as duration (want e.g. "30s" or "1m30s")`},
		},
		{
			name: "duplicate key",
			yaml: "limits:\n  - rate: 1/1s\n    burst: 1\n    rate: 2/1s\n",
			want: []string{`f.yaml:4:5: limits[0]: duplicate key "rate" (first at line 2)`},
		},
		{
			name: "duplicate map key",
			yaml: "headers:\n  a: 1\n  a: 2\n",
			want: []string{`f.yaml:3:3: headers: duplicate key "a" (first at line 2)`},
		},
		{
			name: "int overflow",
			yaml: "server:\n  max_conns: 99999999999999999999\n",
			want: []string{`f.yaml:2:14: server.max_conns: value 99999999999999999999 overflows int`},
		},
		{
			name: "negative unsigned",
			yaml: "limits:\n- burst: -1\n",
			want: []string{`f.yaml:2:10: limits[0].burst: value -1 overflows uint8`},
		},
		{
			name: "overflow inside map entry",
			yaml: "limits:\n- per_plan:\n    gold: {burst: 256}\n",
			want: []string{`f.yaml:3:19: limits[0].per_plan.gold.burst: value 256 overflows uint8`},
		},
		{
			name: "float syntax",
			yaml: "limits:\n- weight: heavy\n",
			want: []string{`f.yaml:2:11: limits[0].weight: cannot parse "heavy" as float64`},
		},
		{
			name: "mapping key not a scalar",
			yaml: "? [a]\n: 1\n",
			want: []string{`f.yaml:1:3: mapping keys must be scalars, not sequence`},
		},
		{
			name: "anchored unknown field",
			yaml: "base: &b {listen: x}\n",
			want: []string{`f.yaml:1:1: unknown field "base" (valid fields: debug, headers, identity, limits, server, tags)`},
		},
		{
			name: "merge keys are not supported",
			yaml: "server:\n  <<: {listen: x}\n",
			want: []string{`f.yaml:2:3: server: merge keys (<<) are not supported`},
		},
		{
			name: "second document",
			yaml: "debug: true\n---\ndebug: false\n",
			want: []string{`f.yaml:2:1: only one YAML document is allowed in a config file`},
		},
		{
			name: "second document after errors in the first",
			yaml: "debug: 1\n---\ndebug: false\n",
			want: []string{
				`f.yaml:1:8: debug: cannot parse "1" as bool (want true or false)`,
				`f.yaml:2:1: only one YAML document is allowed in a config file`,
			},
		},
		{
			name: "top level sequence",
			yaml: "- debug: true\n",
			want: []string{`f.yaml:1:1: top level must be a mapping, not sequence`},
		},
		{
			name: "top level scalar",
			yaml: "# just a word\nhello\n",
			want: []string{`f.yaml:2:1: top level must be a mapping, not scalar "hello"`},
		},
		{
			name: "syntax error",
			yaml: "server:\n  listen: x\n  idle_timeout 5s\nlimits: []\n",
			want: []string{`f.yaml:3:1: invalid YAML: could not find expected ':'`},
		},
		{
			name: "syntax error without a line",
			yaml: "debug: *nope\n",
			want: []string{`f.yaml: invalid YAML: unknown anchor 'nope' referenced`},
		},
		{
			name: "bad value through an alias is reported where the alias is used",
			yaml: "limits:\n- name: &big 300\n  burst: *big\n",
			want: []string{`f.yaml:3:10: limits[0].burst: value 300 overflows uint8`},
		},
		{
			name: "alias that refers to itself",
			yaml: "limits: &l\n- per_plan: {gold: *l}\n",
			want: []string{`f.yaml:2:20: limits[0].per_plan.gold: cannot use sequence as mapping`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg testConfig
			errs := decode("f.yaml", []byte(tt.yaml), &cfg, nil)
			if got, want := errs.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("decode(%q) errors:\n%s\nwant:\n%s", tt.yaml, got, want)
			}
		})
	}
}

// testTree is a recursive type, so that aliases can refer to themselves and
// nest arbitrarily deep.
type testTree struct {
	Name string              `yaml:"name"`
	Kids []testTree          `yaml:"kids"`
	Sub  map[string]testTree `yaml:"sub"`
}

func TestDecodeAliases(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{
			name: "self-referencing alias",
			yaml: "kids: &k\n  - kids: *k\n",
			want: `f.yaml:2:11: kids[0].kids[0].kids: alias *k refers to itself`,
		},
		{
			name: "self-referencing alias in a map",
			yaml: "sub: &s {a: {sub: *s}}\n",
			want: `f.yaml:1:19: sub.a.sub.a.sub: alias *s refers to itself`,
		},
		{
			name: "error inside an anchor is reported once",
			yaml: "sub:\n  a: &a {nmae: x}\nkids: [*a, *a, *a]\n",
			want: `f.yaml:2:10: sub.a: unknown field "nmae" (did you mean "name"?)`,
		},
		{
			name: "mismatch through an alias is reported at each use",
			yaml: "name: &n [x]\nkids: [{name: *n}]\n",
			want: "f.yaml:1:7: name: cannot use sequence as string\n" +
				"f.yaml:2:15: kids[0].name: cannot use sequence as string",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tree testTree
			if got := decode("f.yaml", []byte(tt.yaml), &tree, nil).Error(); got != tt.want {
				t.Errorf("decode(%q) errors:\n%s\nwant:\n%s", tt.yaml, got, tt.want)
			}
		})
	}
}

// billionLaughs returns the classic alias bomb: levels of anchors, each a
// sequence of fanout aliases to the previous one.
func billionLaughs(levels, fanout int) string {
	var b strings.Builder
	b.WriteString("sub:\n  l0: &l0 {name: lol}\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d {kids: [", i, i)
		for j := range fanout {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]}\n")
	}
	return b.String()
}

func TestDecodeAliasBomb(t *testing.T) {
	data := billionLaughs(9, 9)
	start := time.Now()
	var tree testTree
	errs := decode("f.yaml", []byte(data), &tree, nil)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("decode took %v on an alias bomb", elapsed)
	}
	want := `f.yaml:7:34: sub.l5.kids[3]: aliases expand to more than 100000 values`
	if errs.Error() != want {
		t.Errorf("decode errors:\n%v\nwant:\n%s", errs, want)
	}
}

func TestDecodeAliasesWithinLimit(t *testing.T) {
	data := "limits:\n" +
		"  - name: a\n" +
		"    per_plan: &plans\n" +
		"      gold: {rate: 9/1s, burst: 9}\n" +
		"  - name: b\n" +
		"    per_plan: *plans\n"
	var cfg testConfig
	pos := Positions{}
	if errs := decode("f.yaml", []byte(data), &cfg, pos); errs != nil {
		t.Fatalf("decode: unexpected errors:\n%v", errs)
	}
	want := map[string]testPlan{"gold": {Rate: testRate{9, time.Second}, Burst: 9}}
	if !reflect.DeepEqual(cfg.Limits[1].PerPlan, want) {
		t.Errorf("limits[1].per_plan = %+v, want %+v", cfg.Limits[1].PerPlan, want)
	}
	// The alias itself is recorded where it is used; what it expands to is
	// recorded where the anchored value is written.
	wantPos := map[string]Position{
		"limits[1].per_plan":            {File: "f.yaml", Line: 6, Col: 15},
		"limits[1].per_plan.gold.burst": {File: "f.yaml", Line: 4, Col: 33},
	}
	for path, want := range wantPos {
		if got := pos[path]; got != want {
			t.Errorf("pos[%q] = %v, want %v", path, got, want)
		}
	}
}

func TestDecodeOverlay(t *testing.T) {
	apiKey := &testAPIKey{Header: "X-Key", Keys: []testKey{{ID: "old"}}}
	cfg := testConfig{
		Server:   testServer{Listen: ":80", IdleTimeout: time.Minute, MaxConns: 100},
		Identity: testIdentity{APIKey: apiKey},
		Limits:   []testLimit{{Name: "a", Burst: 1}, {Name: "b"}},
		Headers:  map[string]string{"keep": "no"},
		Debug:    true,
		Tags:     []string{"x", "y", "z"},
	}
	data := "server:\n" +
		"  idle_timeout: 30s\n" +
		"identity:\n" +
		"  api_key:\n" +
		"    keys: [{id: new}]\n" +
		"limits: [{name: c}]\n" +
		"headers: {new: yes}\n" +
		"debug: null\n" +
		"tags:\n"
	if errs := decode("f.yaml", []byte(data), &cfg, nil); errs != nil {
		t.Fatalf("decode: unexpected errors:\n%v", errs)
	}
	want := testConfig{
		Server:   testServer{Listen: ":80", IdleTimeout: 30 * time.Second, MaxConns: 100},
		Identity: testIdentity{APIKey: &testAPIKey{Header: "X-Key", Keys: []testKey{{ID: "new"}}}},
		Limits:   []testLimit{{Name: "c"}},
		Headers:  map[string]string{"new": "yes"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("decode:\n got %+v\nwant %+v", cfg, want)
	}
	if cfg.Identity.APIKey != apiKey {
		t.Errorf("identity.api_key was reallocated; want the existing struct decoded onto")
	}
}

func TestDecodeOverlayNullPointer(t *testing.T) {
	cfg := testConfig{Identity: testIdentity{APIKey: &testAPIKey{Header: "X"}}}
	if errs := decode("f.yaml", []byte("identity:\n  api_key: ~\n"), &cfg, nil); errs != nil {
		t.Fatalf("decode: unexpected errors:\n%v", errs)
	}
	if cfg.Identity.APIKey != nil {
		t.Errorf("identity.api_key = %+v, want nil", cfg.Identity.APIKey)
	}
}

func TestDecodeNothing(t *testing.T) {
	for _, data := range []string{"", "\n\n", "# only\n  # comments\n", "---\n", "---\n...\n", "~\n"} {
		cfg := testConfig{Debug: true, Tags: []string{"x"}}
		if errs := decode("f.yaml", []byte(data), &cfg, nil); errs != nil {
			t.Errorf("decode(%q): unexpected errors:\n%v", data, errs)
		}
		if want := (testConfig{Debug: true, Tags: []string{"x"}}); !reflect.DeepEqual(cfg, want) {
			t.Errorf("decode(%q) changed the config to %+v", data, cfg)
		}
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	var cfg testConfig
	atLimit := "#" + strings.Repeat("x", maxConfigSize-2) + "\n"
	if errs := decode("f.yaml", []byte(atLimit), &cfg, nil); errs != nil {
		t.Errorf("decode of exactly 1 MiB: unexpected errors:\n%v", errs)
	}
	errs := decode("f.yaml", []byte(atLimit+"\n"), &cfg, nil)
	if want := "f.yaml: config is larger than 1 MiB"; errs.Error() != want {
		t.Errorf("decode of 1 MiB + 1 byte: errors %q, want %q", errs.Error(), want)
	}
}

func TestDecodeBadTarget(t *testing.T) {
	var notStruct int
	var nilConfig *testConfig
	for _, out := range []any{testConfig{}, &notStruct, nilConfig, nil} {
		errs := decode("f.yaml", []byte("debug: true\n"), out, nil)
		if len(errs) != 1 || !strings.Contains(errs[0].Msg, "want a non-nil pointer to a struct") {
			t.Errorf("decode into %T: errors %v, want one about the target", out, errs)
		}
	}
}

func TestDecodePositions(t *testing.T) {
	var cfg testConfig
	pos := Positions{}
	if errs := decode("conf/f.yaml", []byte(fullConfig), &cfg, pos); errs != nil {
		t.Fatalf("decode: unexpected errors:\n%v", errs)
	}
	want := map[string]Position{
		"server":                        {"conf/f.yaml", 3, 3},
		"server.idle_timeout":           {"conf/f.yaml", 4, 17},
		"identity.api_key.keys[0].id":   {"conf/f.yaml", 10, 13},
		"identity.api_key.keys[1]":      {"conf/f.yaml", 12, 9},
		"identity.api_key.keys[1].id":   {"conf/f.yaml", 12, 14},
		"limits":                        {"conf/f.yaml", 14, 3},
		"limits[1].rate":                {"conf/f.yaml", 19, 11},
		"limits[1].per_plan.gold":       {"conf/f.yaml", 24, 9},
		"limits[1].per_plan.gold.burst": {"conf/f.yaml", 25, 16},
		"headers.x-env":                 {"conf/f.yaml", 26, 18},
		"tags[1]":                       {"conf/f.yaml", 28, 11},
	}
	for path, w := range want {
		if got, ok := pos[path]; !ok || got != w {
			t.Errorf("pos[%q] = %v (present %v), want %v", path, got, ok, w)
		}
	}
	if _, ok := pos[""]; ok {
		t.Errorf("pos has an entry for the empty path")
	}
}

func TestDecodeErrorsUnwrap(t *testing.T) {
	var cfg testConfig
	errs := decode("f.yaml", []byte("debug: 2\nlimits: [{rate: x}]\n"), &cfg, nil)
	if len(errs) != 2 {
		t.Fatalf("decode: got %d errors, want 2:\n%v", len(errs), errs)
	}
	var err error = errs
	if !errors.Is(err, errBadRate) {
		t.Errorf("errors.Is(errs, errBadRate) = false, want true")
	}
	var first *Error
	if !errors.As(err, &first) || first.Path != "debug" {
		t.Errorf("errors.As(errs, *Error) = %v, want the debug error", first)
	}
	if errs[1].Unwrap() != errBadRate {
		t.Errorf("errs[1].Unwrap() = %v, want errBadRate", errs[1].Unwrap())
	}
}

func TestPositionString(t *testing.T) {
	tests := []struct {
		pos  Position
		want string
	}{
		{Position{File: "a.yaml", Line: 3, Col: 7}, "a.yaml:3:7"},
		{Position{File: "a.yaml"}, "a.yaml"},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.pos, got, tt.want)
		}
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Pos: Position{"a.yaml", 1, 2}, Path: "x.y", Msg: "bad"}, "a.yaml:1:2: x.y: bad"},
		{&Error{Pos: Position{"a.yaml", 1, 2}, Msg: "bad"}, "a.yaml:1:2: bad"},
		{&Error{Pos: Position{File: "a.yaml"}, Msg: "too big"}, "a.yaml: too big"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
