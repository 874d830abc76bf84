package request

import (
	"net/http"
	"time"

	"github.com/abuseguard/abuseguard/internal/problem"
)

// Parser turns HTTP requests into Views under one configuration. It is
// immutable and safe for concurrent use.
type Parser struct {
	Proxies     Proxies
	Router      *Router
	Identifier  *Identifier
	HeaderNames []string // headers limits are keyed on; values land in View.Headers by index
}

// Parse fills v from r, which arrived at now. It returns a problem when the
// request must be refused before any decision: a malformed forwarding
// header from a trusted proxy (400), or an identity that does not verify (401).
func (p *Parser) Parse(r *http.Request, now time.Time, v *View) *problem.Problem {
	ip, err := ClientIP(r.RemoteAddr, r.Header, p.Proxies)
	if err != nil {
		return &problem.Problem{Status: http.StatusBadRequest, Reason: "bad_forwarding_header",
			Detail: "the X-Forwarded-For or Forwarded header from a trusted proxy does not parse"}
	}
	v.Time, v.ClientIP = now, ip
	v.Method, v.Host, v.Path = r.Method, r.Host, r.URL.Path
	if p.Router != nil {
		v.Route = p.Router.Match(r.Method, r.URL.Path)
	}
	for _, name := range p.HeaderNames {
		v.Headers = append(v.Headers, r.Header.Get(name))
	}
	if p.Identifier != nil {
		return p.Identifier.Identify(r.Header, r.URL.RawQuery, &v.Identity)
	}
	return nil
}
