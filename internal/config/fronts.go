package config

import "net"

// Fronts are the gateway fronts serve starts besides the inline proxy:
// each runs when its listen address is set.
type Fronts struct {
	ForwardAuth ForwardAuth `yaml:"forward_auth"`
	ExtAuthz    ExtAuthz    `yaml:"ext_authz"`
	RLS         RLS         `yaml:"rls"`
	Outcomes    Outcomes    `yaml:"outcomes"`
}

// Outcomes are the receivers that feed the gateway's view of each
// response (status, latency, bytes) back to the detectors.
type Outcomes struct {
	// ALSListen serves Envoy's access log service (gRPC).
	ALSListen string `yaml:"als_listen"`
	// SyslogListen receives nginx access log lines over syslog (UDP).
	SyslogListen string `yaml:"syslog_listen"`
}

// ForwardAuth is the HTTP authorization endpoint for nginx auth_request,
// Caddy forward_auth, Traefik ForwardAuth (path /auth) and Envoy's HTTP
// ext_authz (every other path).
type ForwardAuth struct {
	Listen string `yaml:"listen"`
	// IdentityHeaders are sent back on an allowed request for the gateway
	// to copy to the upstream.
	IdentityHeaders IdentityHeaders `yaml:"identity_headers"`
}

// IdentityHeaders names the response headers that carry the guard's view
// of an allowed request to the upstream; "" leaves a header out.
type IdentityHeaders struct {
	KeyID  string `yaml:"key_id"`
	User   string `yaml:"user"`
	Tenant string `yaml:"tenant"`
	Plan   string `yaml:"plan"`
	Risk   string `yaml:"risk"`
}

// ExtAuthz is Envoy's gRPC external authorization service.
type ExtAuthz struct {
	Listen string `yaml:"listen"`
}

// RLS is Envoy's gRPC rate limit service over envoyproxy/ratelimit YAML.
type RLS struct {
	Listen string `yaml:"listen"`
	// Config is an envoyproxy/ratelimit YAML file, or a directory of them.
	Config          string `yaml:"config"`
	MergeDomains    bool   `yaml:"merge_domains"`
	ShadowMode      bool   `yaml:"shadow_mode"`
	ResponseHeaders bool   `yaml:"response_headers"`
}

// Any reports whether a gateway front is configured.
func (f *Fronts) Any() bool {
	return f.ForwardAuth.Listen != "" || f.ExtAuthz.Listen != "" || f.RLS.Listen != ""
}

func (v *validator) fronts() {
	f := &v.c.Fronts
	for path, addr := range map[string]string{
		"fronts.forward_auth.listen":    f.ForwardAuth.Listen,
		"fronts.ext_authz.listen":       f.ExtAuthz.Listen,
		"fronts.rls.listen":             f.RLS.Listen,
		"fronts.outcomes.als_listen":    f.Outcomes.ALSListen,
		"fronts.outcomes.syslog_listen": f.Outcomes.SyslogListen,
	} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			v.fail(path, "%q is not host:port", addr)
		}
	}
}
