package openapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/abuseguard/abuseguard/internal/request"
)

// Reason codes of the findings.
const (
	UnknownPath   = "openapi_unknown_path"
	UnknownMethod = "openapi_unknown_method"
	BadParameter  = "openapi_bad_parameter"
	BadBody       = "openapi_bad_body"
	BodyTooLarge  = "openapi_body_too_large"
)

// DefaultMaxBodyBytes is how much of a body is validated by default.
const DefaultMaxBodyBytes = 64 << 10

// Options configures a Validator.
type Options struct {
	// Enforce makes findings refuse requests (400, or 413 for a body over
	// MaxBodyBytes); without it they are detection only.
	Enforce bool
	// MaxBodyBytes is the largest body validated against its schema
	// (default 64 KiB); a longer one is a BodyTooLarge finding.
	MaxBodyBytes int
}

// Validator checks routed requests against a Spec. It implements
// request.Check and is safe for concurrent use.
type Validator struct {
	spec *Spec
	opts Options
	// byTemplate finds a route's operation by its template.
	byTemplate map[string]*Operation
	// anyMethod routes paths without their methods, to tell an unknown
	// method from an unknown path.
	anyMethod *request.Router
	filter    *openapi3filter.Options
}

// NewValidator returns a Validator of s.
func NewValidator(s *Spec, o Options) (*Validator, error) {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("max_body_bytes %d: must not be negative", o.MaxBodyBytes)
	}
	v := &Validator{spec: s, opts: o, byTemplate: map[string]*Operation{}, filter: &openapi3filter.Options{
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		SkipSettingDefaults: true,
	}}
	var paths []request.Route
	seen := map[string]bool{}
	for i := range s.Operations {
		op := &s.Operations[i]
		v.byTemplate[op.Template] = op
		if p := s.Base + op.Path; !seen[p] {
			seen[p] = true
			paths = append(paths, request.Route{Name: p, Template: p})
		}
	}
	r, err := request.NewRouter(paths)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.File, err)
	}
	v.anyMethod = r
	return v, nil
}

// Check validates the request: a path no operation has, a method its
// path lacks, then the operation's parameters and body. A route the spec
// does not describe (declared in the config only) is not checked. It adds
// at most one finding.
func (v *Validator) Check(in *request.Input, view *request.View) {
	var op *Operation
	if rt := view.Route; rt != nil {
		if op = v.byTemplate[rt.Template]; op == nil {
			return // a declared route of the config's own
		}
	}
	if op == nil {
		if rt, _ := v.anyMethod.Match("", view.Path); rt != nil {
			v.add(view, UnknownMethod, http.StatusBadRequest, fmt.Sprintf("%s is not an operation of %s", clip(in.Method, 16), rt.Template))
		} else {
			v.add(view, UnknownPath, http.StatusBadRequest, "no path of the API's OpenAPI spec matches")
		}
		return
	}
	reason, status, detail := v.validate(op, in, view.Path)
	if reason != "" {
		v.add(view, reason, status, detail)
	}
}

func (v *Validator) add(view *request.View, reason string, status int, detail string) {
	view.Findings = append(view.Findings, request.Finding{Guard: "openapi", Reason: reason, Status: status, Detail: detail, Refuse: true, Enforce: v.opts.Enforce})
}

// validate runs kin-openapi's request validation for op and returns the
// finding's reason, status and detail, or "" when the request is valid.
func (v *Validator) validate(op *Operation, in *request.Input, path string) (string, int, string) {
	hdr := http.Header{}
	if in.Header != nil {
		in.Header.Names(func(name string) { hdr[name] = in.Header.Values(name) })
	}
	req := &http.Request{Method: in.Method, URL: &url.URL{Path: path, RawQuery: in.RawQuery}, Host: in.Host, Header: hdr, Body: http.NoBody}
	opts := *v.filter
	if op.op.RequestBody == nil {
		opts.ExcludeRequestBody = true
	} else {
		body, over := v.body(in, hdr)
		if over {
			return BodyTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over the %d bytes the guard validates", v.opts.MaxBodyBytes)
		}
		if len(body) > 0 {
			req.Body = readCloser{strings.NewReader(string(body))}
			req.ContentLength = int64(len(body))
		}
	}
	err := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: pathParams(v.spec.Base+op.Path, path), Options: &opts,
		Route: &routers.Route{Spec: v.spec.doc, Path: op.Path, PathItem: op.item, Method: op.Method, Operation: op.op},
	})
	if err == nil {
		return "", 0, ""
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		switch {
		case re.Parameter != nil:
			return BadParameter, http.StatusBadRequest, clip(fmt.Sprintf("parameter %q in %s: %s", re.Parameter.Name, re.Parameter.In, cause(re)), 300)
		case re.RequestBody != nil:
			return BadBody, http.StatusBadRequest, clip("body: "+cause(re), 300)
		}
	}
	var se *openapi3filter.SecurityRequirementsError
	if errors.As(err, &se) {
		return "", 0, "" // identity is the identity settings' concern
	}
	return BadParameter, http.StatusBadRequest, clip(err.Error(), 300)
}

// body returns the request's body up to the cap, and whether it is over
// the cap (by its Content-Length, or a peek that came back empty for a
// body that has one).
func (v *Validator) body(in *request.Input, h http.Header) ([]byte, bool) {
	n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err == nil && n > int64(v.opts.MaxBodyBytes) {
		return nil, true
	}
	if in.Body == nil {
		return nil, false
	}
	b := in.Body.Peek(v.opts.MaxBodyBytes)
	return b, b == nil && err == nil && n > 0
}

// cause is the reason of a request error with the schema error under it,
// without the value quoted back.
func cause(re *openapi3filter.RequestError) string {
	s := re.Reason
	if re.Err != nil {
		if s != "" {
			s += ": "
		}
		s += re.Err.Error()
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// pathParams matches path against template (both with the base), segment
// by segment, and returns the parameters' values (path is decoded).
func pathParams(template, path string) map[string]string {
	params := map[string]string{}
	ts := strings.Split(strings.Trim(template, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	for i, t := range ts {
		if i >= len(ps) || len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
			continue
		}
		params[t[1:len(t)-1]] = ps[i]
	}
	return params
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

var _ request.Check = (*Validator)(nil)
