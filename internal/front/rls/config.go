// Package rls is the Envoy rate limit service front
// (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit). It loads
// envoyproxy/ratelimit YAML files as they are (domains, nested descriptors,
// values and wildcards, unlimited, shadow_mode, replaces, detailed_metric)
// and counts hits in a limit.Store, so the limits of an existing
// envoyproxy/ratelimit deployment run unchanged on abuseguard's store.
package rls

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	rlpb "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/abuseguard/abuseguard/internal/config"
)

// Unit is the window of a limit, as envoyproxy/ratelimit names it.
type Unit = rlpb.RateLimitResponse_RateLimit_Unit

// unitSeconds is the length of each unit's window; windows are aligned to
// the unix epoch, as envoyproxy/ratelimit aligns them (a month is 30 days,
// a year 365).
var unitSeconds = map[Unit]int64{
	rlpb.RateLimitResponse_RateLimit_SECOND: 1,
	rlpb.RateLimitResponse_RateLimit_MINUTE: 60,
	rlpb.RateLimitResponse_RateLimit_HOUR:   3600,
	rlpb.RateLimitResponse_RateLimit_DAY:    86400,
	rlpb.RateLimitResponse_RateLimit_WEEK:   7 * 86400,
	rlpb.RateLimitResponse_RateLimit_MONTH:  30 * 86400,
	rlpb.RateLimitResponse_RateLimit_YEAR:   365 * 86400,
}

// fileYAML is one envoyproxy/ratelimit config file.
type fileYAML struct {
	Domain      string           `yaml:"domain"`
	Descriptors []descriptorYAML `yaml:"descriptors"`
}

// descriptorYAML is one descriptor of a file, with its children.
type descriptorYAML struct {
	Key            string           `yaml:"key"`
	Value          string           `yaml:"value"`
	RateLimit      *rateLimitYAML   `yaml:"rate_limit"`
	Descriptors    []descriptorYAML `yaml:"descriptors"`
	ShadowMode     bool             `yaml:"shadow_mode"`
	DetailedMetric bool             `yaml:"detailed_metric"`
	ValueToMetric  bool             `yaml:"value_to_metric"`
	ShareThreshold bool             `yaml:"share_threshold"`
	QuotaMode      bool             `yaml:"quota_mode"`
	Metadata       map[string]any   `yaml:"metadata"`
}

// rateLimitYAML is a descriptor's rate_limit block.
type rateLimitYAML struct {
	RequestsPerUnit uint32         `yaml:"requests_per_unit"`
	Unit            string         `yaml:"unit"`
	Unlimited       bool           `yaml:"unlimited"`
	Name            string         `yaml:"name"`
	Replaces        []replacesYAML `yaml:"replaces"`
}

// replacesYAML names a limit that a rate_limit replaces.
type replacesYAML struct {
	Name string `yaml:"name"`
}

// File is one config file to load: its name (used in errors) and contents.
type File struct {
	Name string
	Data []byte
}

// LoadOptions are the choices envoyproxy/ratelimit makes with settings.
// The zero value is its default.
type LoadOptions struct {
	// MergeDomains merges files that name the same domain, as
	// MERGE_DOMAIN_CONFIG does; otherwise a second file for a domain is an
	// error.
	MergeDomains bool
}

// Limit is one configured limit: what a descriptor is allowed.
type Limit struct {
	// FullKey is the dotted path of the descriptor that holds the limit,
	// "domain.key_value.key": envoyproxy/ratelimit's stats key.
	FullKey         string
	Name            string
	RequestsPerUnit uint32
	Unit            Unit
	Unlimited       bool
	ShadowMode      bool
	// DetailedMetric reports hits under the request's own values
	// (detailed_metric), not under FullKey.
	DetailedMetric bool
	Replaces       []string
	// seconds is the length of Unit's window.
	seconds int64
}

// Config is a loaded set of envoyproxy/ratelimit files. It is immutable and
// safe for concurrent use; a reload builds a new one.
type Config struct {
	domains map[string]*level
	limits  int
}

// level is the descriptors configured below one point of the tree, by key.
type level struct {
	keys map[string]*keyNodes
}

// keyNodes is every descriptor configured for one key at one level: by
// exact value, by wildcard pattern (in file order), and the key alone.
type keyNodes struct {
	byValue   map[string]*node
	wildcards []*node
	keyOnly   *node
}

// node is one configured descriptor.
type node struct {
	value          string
	pattern        []string // value split at '*', for wildcard values
	limit          *Limit
	children       *level
	valueToMetric  bool
	shareThreshold bool
}

// Domains returns the configured domains, sorted.
func (c *Config) Domains() []string {
	out := make([]string, 0, len(c.domains))
	for d := range c.domains {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Limits returns how many limits (including unlimited ones) c holds.
func (c *Config) Limits() int { return c.limits }

// HasDomain reports whether domain is configured.
func (c *Config) HasDomain(domain string) bool { return c.domains[domain] != nil }

// Load builds a Config from files, in order. It returns every problem in
// every file at once, each at file:line:col, as config.Errors.
func Load(files []File, opts LoadOptions) (*Config, error) {
	c := &Config{domains: map[string]*level{}}
	var errs config.Errors
	for _, f := range files {
		errs = append(errs, c.loadFile(f, opts)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// LoadPath loads path: one YAML file, or every *.yaml and *.yml file in a
// directory (sorted by name), as envoyproxy/ratelimit loads its runtime
// directory.
func LoadPath(path string, opts LoadOptions) (*Config, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	names := []string{path}
	if info.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		names = names[:0]
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				names = append(names, filepath.Join(path, e.Name()))
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no .yaml files in the directory", path)
		}
	}
	files := make([]File, 0, len(names))
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: name, Data: data})
	}
	return Load(files, opts)
}

// loader holds the state of loading one file.
type loader struct {
	file string
	pos  config.Positions
	errs config.Errors
	c    *Config
}

func (c *Config) loadFile(f File, opts LoadOptions) config.Errors {
	var y fileYAML
	pos, err := config.DecodeYAMLPositions(f.Name, f.Data, &y)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			return errs
		}
		return config.Errors{{Pos: config.Position{File: f.Name}, Msg: err.Error()}}
	}
	l := &loader{file: f.Name, pos: pos, c: c}
	if y.Domain == "" {
		l.add("domain", "config file cannot have empty domain")
		return l.errs
	}
	root := c.domains[y.Domain]
	if root != nil && !opts.MergeDomains {
		l.add("domain", fmt.Sprintf("duplicate domain '%s' in config file", y.Domain))
		return l.errs
	}
	if root == nil {
		root = &level{keys: map[string]*keyNodes{}}
	}
	l.descriptors(root, y.Domain+".", "descriptors", y.Descriptors)
	if len(l.errs) == 0 {
		c.domains[y.Domain] = root
	}
	return l.errs
}

// descriptors loads ds, found at path in the file, into lv, whose full key
// so far is parent.
func (l *loader) descriptors(lv *level, parent, path string, ds []descriptorYAML) {
	for i := range ds {
		d := &ds[i]
		p := path + "[" + strconv.Itoa(i) + "]"
		if d.Key == "" {
			l.add(p, "descriptor has empty key")
			continue
		}
		if d.QuotaMode {
			l.add(p+".quota_mode", "quota_mode is not supported by abuseguard's rate limit service")
			continue
		}
		composite := d.Key
		if d.Value != "" {
			composite += "_" + d.Value
		}
		full := parent + composite
		kn := lv.keys[d.Key]
		if kn == nil {
			kn = &keyNodes{byValue: map[string]*node{}}
			lv.keys[d.Key] = kn
		}
		if kn.has(d.Value) {
			l.add(p+".key", fmt.Sprintf("duplicate descriptor composite key '%s'", full))
			continue
		}
		n := &node{value: d.Value, valueToMetric: d.ValueToMetric, shareThreshold: d.ShareThreshold}
		if d.RateLimit != nil {
			n.limit = l.limit(p+".rate_limit", full, d)
		}
		if len(d.Descriptors) > 0 {
			n.children = &level{keys: map[string]*keyNodes{}}
			l.descriptors(n.children, full+".", p+".descriptors", d.Descriptors)
		}
		switch {
		case d.Value == "":
			kn.keyOnly = n
		case strings.Contains(d.Value, "*"):
			n.pattern = strings.Split(d.Value, "*")
			kn.wildcards = append(kn.wildcards, n)
		default:
			kn.byValue[d.Value] = n
		}
	}
}

// has reports whether a descriptor with value is configured already.
func (kn *keyNodes) has(value string) bool {
	if value == "" {
		return kn.keyOnly != nil
	}
	if kn.byValue[value] != nil {
		return true
	}
	for _, w := range kn.wildcards {
		if w.value == value {
			return true
		}
	}
	return false
}

// limit validates the rate_limit of d, found at path, and returns it.
func (l *loader) limit(path, full string, d *descriptorYAML) *Limit {
	rl := d.RateLimit
	unit, valid := rlpb.RateLimitResponse_RateLimit_Unit_value[strings.ToUpper(rl.Unit)]
	validUnit := valid && Unit(unit) != rlpb.RateLimitResponse_RateLimit_UNKNOWN
	switch {
	case rl.Unlimited && validUnit:
		l.add(path+".unit", "should not specify rate limit unit when unlimited")
		return nil
	case !rl.Unlimited && !validUnit:
		l.add(path+".unit", fmt.Sprintf("invalid rate limit unit '%s' (want second, minute, hour, day, week, month or year)", rl.Unit))
		return nil
	}
	lim := &Limit{
		FullKey:         full,
		Name:            rl.Name,
		RequestsPerUnit: rl.RequestsPerUnit,
		Unit:            Unit(unit),
		Unlimited:       rl.Unlimited,
		ShadowMode:      d.ShadowMode,
		DetailedMetric:  d.DetailedMetric,
		seconds:         unitSeconds[Unit(unit)],
	}
	if rl.Unlimited {
		lim.Unit = rlpb.RateLimitResponse_RateLimit_UNKNOWN
	}
	for i, r := range rl.Replaces {
		rp := path + ".replaces[" + strconv.Itoa(i) + "]"
		switch {
		case r.Name == "":
			l.add(rp, "should not have an empty replaces entry")
			return nil
		case r.Name == rl.Name:
			l.add(rp+".name", "replaces should not contain name of same descriptor")
			return nil
		}
		lim.Replaces = append(lim.Replaces, r.Name)
	}
	l.c.limits++
	return lim
}

// add records an error at the value written at path, or at the nearest
// enclosing value whose position is known.
func (l *loader) add(path, msg string) {
	l.errs = append(l.errs, &config.Error{Pos: l.position(path), Path: path, Msg: msg})
}

func (l *loader) position(path string) config.Position {
	for p := path; p != ""; {
		if pos, ok := l.pos[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return config.Position{File: l.file, Line: 1, Col: 1}
}
