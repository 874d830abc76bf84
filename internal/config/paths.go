package config

import (
	"github.com/abuseguard/abuseguard/internal/request"
)

// Paths is the path canonicalisation policy: how the spellings of a path
// that upstreams disagree on are treated (request.PathPolicy). Dot
// segments are always removed, unreserved escapes decoded, and NUL and
// control bytes refused.
type Paths struct {
	MergeSlashes   bool   `yaml:"merge_slashes"`
	TrailingSlash  string `yaml:"trailing_slash"`  // keep, strip
	Case           string `yaml:"case"`            // sensitive, insensitive
	Semicolon      string `yaml:"semicolon"`       // keep, strip, reject
	EncodedSlash   string `yaml:"encoded_slash"`   // reject, decode, keep
	Backslash      string `yaml:"backslash"`       // reject, decode, keep
	InvalidUTF8    string `yaml:"invalid_utf8"`    // reject, keep
	DoubleEncoding string `yaml:"double_encoding"` // reject, keep
	HeadAsGet      bool   `yaml:"head_as_get"`
}

var pathActions = map[string]request.PathAction{
	"reject": request.Reject, "keep": request.Keep, "decode": request.Decode, "strip": request.Strip,
}

// pathSetting is one paths setting that takes an action: its value, the
// actions it allows, and where the action goes in a request.PathPolicy.
type pathSetting struct {
	name    string
	value   string
	allowed []string
	into    func(*request.PathPolicy, request.PathAction)
}

func (p *Paths) pathSettings() []pathSetting {
	return []pathSetting{
		{"semicolon", p.Semicolon, []string{"keep", "strip", "reject"}, func(pp *request.PathPolicy, a request.PathAction) { pp.Semicolon = a }},
		{"encoded_slash", p.EncodedSlash, []string{"reject", "decode", "keep"}, func(pp *request.PathPolicy, a request.PathAction) { pp.EncodedSlash = a }},
		{"backslash", p.Backslash, []string{"reject", "decode", "keep"}, func(pp *request.PathPolicy, a request.PathAction) { pp.Backslash = a }},
		{"invalid_utf8", p.InvalidUTF8, []string{"reject", "keep"}, func(pp *request.PathPolicy, a request.PathAction) { pp.InvalidUTF8 = a }},
		{"double_encoding", p.DoubleEncoding, []string{"reject", "keep"}, func(pp *request.PathPolicy, a request.PathAction) { pp.DoubleEncoding = a }},
	}
}

// Policy returns the request.PathPolicy p describes; p must have
// validated.
func (p Paths) Policy() *request.PathPolicy {
	pol := &request.PathPolicy{
		MergeSlashes:       p.MergeSlashes,
		StripTrailingSlash: p.TrailingSlash == "strip",
		FoldCase:           p.Case == "insensitive",
		HeadAsGet:          p.HeadAsGet,
	}
	for _, s := range p.pathSettings() {
		s.into(pol, pathActions[s.value])
	}
	return pol
}

func (v *validator) paths() {
	p := &v.c.Paths
	if p.TrailingSlash != "keep" && p.TrailingSlash != "strip" {
		v.fail("paths.trailing_slash", "%q: want keep or strip", p.TrailingSlash)
	}
	if p.Case != "sensitive" && p.Case != "insensitive" {
		v.fail("paths.case", "%q: want sensitive or insensitive", p.Case)
	}
	for _, s := range p.pathSettings() {
		ok := false
		for _, a := range s.allowed {
			ok = ok || s.value == a
		}
		if !ok {
			v.fail("paths."+s.name, "%q: want %s", s.value, orList(s.allowed))
		}
	}
}

func orList(ss []string) string {
	switch len(ss) {
	case 0:
		return ""
	case 1:
		return ss[0]
	}
	out := ss[0]
	for _, s := range ss[1 : len(ss)-1] {
		out += ", " + s
	}
	return out + " or " + ss[len(ss)-1]
}
