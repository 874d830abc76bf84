package config

import (
	"path/filepath"
	"strings"

	"github.com/abuseguard/abuseguard/internal/guard/openapi"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// OpenAPI configures validation of requests against the OpenAPI 3 spec
// that routes_from names.
type OpenAPI struct {
	// Mode: off (the default), shadow (detection only: findings feed the
	// probing detector and are logged, nothing is refused) or enforce
	// (400 problem+json openapi_*, 413 for a body over the cap).
	Mode verdict.Mode `yaml:"mode"`
	// MaxBodyBytes is the largest body validated against its schema
	// (default 64 KiB).
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
}

// WAF configures the Coraza WAF with the OWASP Core Rule Set.
type WAF struct {
	// Mode: off (the default, and no cost), shadow (detection only: the
	// anomaly score is a signal of the waf detector) or enforce (also
	// 403 problem+json waf_blocked when the CRS would block).
	Mode verdict.Mode `yaml:"mode"`
	// ParanoiaLevel is the CRS paranoia level, 1 to 4 (default 1).
	ParanoiaLevel int `yaml:"paranoia_level"`
	// AnomalyThreshold is the inbound anomaly score that blocks (default 5).
	AnomalyThreshold int `yaml:"anomaly_threshold"`
	// MaxBodyBytes is how much of a body is inspected (default 64 KiB).
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// Directives are extra SecLang directives (rule exclusions, tuning),
	// applied after the CRS setup and before its rules.
	Directives string `yaml:"directives"`
}

// OpenAPISpec returns the spec routes_from named, loaded when the config
// was parsed; nil without routes_from.
func (c *Config) OpenAPISpec() *openapi.Spec { return c.openAPISpec }

// importRoutes loads the spec routes_from names (relative to the config
// file's directory) and appends its operations to Routes. Declared routes
// win: an operation whose name or template a declared route has, or that
// the route table cannot hold beside them, is left out.
func (c *Config) importRoutes() Errors {
	if c.RoutesFrom == "" {
		return nil
	}
	file := c.RoutesFrom
	if !filepath.IsAbs(file) && c.File != "" {
		file = filepath.Join(filepath.Dir(c.File), file)
	}
	spec, err := openapi.Load(file)
	if err != nil {
		return Errors{c.ErrorAt("routes_from", err)}
	}
	c.openAPISpec = spec
	names, templates := map[string]bool{}, map[string]bool{}
	var table []request.Route
	for _, r := range c.Routes {
		names[r.Name] = true
		templates[normalTemplate(r.Match)] = true
		table = append(table, request.Route{Name: r.Name, Template: r.Match})
	}
	for _, op := range spec.Operations {
		if names[op.Name] || templates[op.Template] {
			continue
		}
		table = append(table, request.Route{Name: op.Name, Template: op.Template})
		if _, err := request.NewRouter(table); err != nil {
			table = table[:len(table)-1]
			continue
		}
		c.Routes = append(c.Routes, Route{Name: op.Name, Match: op.Template})
	}
	return nil
}

// normalTemplate is a route template with one space after its method.
func normalTemplate(t string) string {
	m, p, ok := strings.Cut(strings.TrimSpace(t), " ")
	if !ok {
		return t
	}
	return strings.ToUpper(m) + " " + strings.TrimSpace(p)
}

// contentGuards validates the openapi and waf sections.
func (v *validator) contentGuards() {
	modes := verdict.ModesOf(verdict.Enforce, verdict.Shadow, verdict.Off)
	o := v.c.OpenAPI
	if !modes.Has(o.Mode) {
		v.fail("openapi.mode", "%q: want %s", o.Mode, modes)
	}
	if o.Mode != verdict.Off && v.c.RoutesFrom == "" {
		v.fail("openapi.mode", "%s needs routes_from: the spec requests are validated against", o.Mode)
	}
	if o.MaxBodyBytes > 64<<20 {
		v.fail("openapi.max_body_bytes", "at most 64MiB")
	}
	w := v.c.WAF
	if !modes.Has(w.Mode) {
		v.fail("waf.mode", "%q: want %s", w.Mode, modes)
	}
	if w.ParanoiaLevel < 0 || w.ParanoiaLevel > 4 {
		v.fail("waf.paranoia_level", "%d: want 1 to 4", w.ParanoiaLevel)
	}
	if w.AnomalyThreshold < 0 {
		v.fail("waf.anomaly_threshold", "must not be negative")
	}
	if w.MaxBodyBytes > 64<<20 {
		v.fail("waf.max_body_bytes", "at most 64MiB")
	}
}
