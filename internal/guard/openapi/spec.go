// Package openapi imports an API's routes from its OpenAPI 3 document and
// validates requests against it with github.com/getkin/kin-openapi: an
// unknown path or method, a parameter or a body the spec does not allow.
// It reports findings; whether they refuse a request (enforce) or only
// feed the detectors (detection-only, shadow) is the caller's.
package openapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/abuseguard/abuseguard/internal/request"
)

// MaxSpecBytes is the largest spec Load reads.
const MaxSpecBytes = 16 << 20

// Spec is a loaded and validated OpenAPI 3 document.
type Spec struct {
	// File is the file it was read from.
	File string
	// Base is the path prefix every operation's path is served under:
	// the path of the document's first server URL ("/v1" for
	// https://api.example/v1), "" when it has none.
	Base string
	// Operations are the document's operations, in path order, then
	// method order.
	Operations []Operation
	doc        *openapi3.T
}

// Operation is one method on one path of the spec.
type Operation struct {
	// Name is the route name: the operationId, else the method and path
	// ("delete-v1-orders-id"), with characters a route name cannot have
	// replaced by '-', at most 64 bytes.
	Name   string
	Method string
	// Template is the route template: "GET " + Base + the spec's path,
	// in the route table's syntax (parameters are whole segments).
	Template string
	// Path is the spec's path as written ("/users/{id}").
	Path string
	item *openapi3.PathItem
	op   *openapi3.Operation
}

// Load reads and validates the spec at file. External $refs are followed
// to files beside it only, never over the network. Every error starts with
// the file's name.
func Load(file string) (*Spec, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxSpecBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a spec may have", file, fi.Size(), MaxSpecBytes)
	}
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = true
	l.ReadFromURIFunc = localFiles
	doc, err := l.LoadFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return newSpec(file, doc)
}

// Parse is Load for a document in memory: external $refs are refused.
func Parse(file string, data []byte) (*Spec, error) {
	if len(data) > MaxSpecBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a spec may have", file, len(data), MaxSpecBytes)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return newSpec(file, doc)
}

// localFiles reads a $ref'd file from the local file system; a URL with a
// scheme (http, https) is refused.
func localFiles(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
	if u.Scheme != "" && u.Scheme != "file" || u.Host != "" {
		return nil, fmt.Errorf("reference %s: only files beside the spec are read", u)
	}
	fi, err := os.Stat(filepath.FromSlash(u.Path))
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxSpecBytes {
		return nil, fmt.Errorf("reference %s: more than %d bytes", u.Path, MaxSpecBytes)
	}
	return os.ReadFile(filepath.FromSlash(u.Path))
}

func newSpec(file string, doc *openapi3.T) (*Spec, error) {
	if doc.OpenAPI == "" || !strings.HasPrefix(doc.OpenAPI, "3.") {
		return nil, fmt.Errorf("%s: openapi %q: want a 3.x document", file, doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s := &Spec{File: file, doc: doc}
	if len(doc.Servers) > 0 {
		if u, err := url.Parse(doc.Servers[0].URL); err == nil && !strings.Contains(u.Path, "{") {
			s.Base = strings.TrimRight(u.Path, "/")
		}
	}
	if doc.Paths == nil {
		return s, nil
	}
	var errs []error
	names := map[string]bool{}
	pm := doc.Paths.Map()
	paths := make([]string, 0, len(pm))
	for p := range pm {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		item := pm[p]
		ops := item.Operations()
		methods := make([]string, 0, len(ops))
		for m := range ops {
			methods = append(methods, m)
		}
		slices.Sort(methods)
		for _, m := range methods {
			o := Operation{Method: m, Path: p, Template: m + " " + s.Base + p, item: item, op: ops[m]}
			o.Name = routeName(ops[m].OperationID)
			if o.Name == "" {
				o.Name = routeName(strings.ToLower(m) + s.Base + p)
			}
			if names[o.Name] {
				errs = append(errs, fmt.Errorf("%s: paths.%s.%s: operationId %q is used twice", file, p, strings.ToLower(m), o.Name))
				continue
			}
			names[o.Name] = true
			if _, _, err := request.ParseTemplate(o.Template); err != nil {
				errs = append(errs, fmt.Errorf("%s: paths.%s: %v (a parameter must be a whole path segment)", file, p, err))
				continue
			}
			s.Operations = append(s.Operations, o)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// routeName turns s into a route name: letters, digits, '.', '_' and '-',
// runs of anything else as one '-', trimmed of '-', at most 64 bytes.
func routeName(s string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(s) && b.Len() < 63; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteByte(c)
			continue
		}
		dash = true
	}
	return strings.TrimRight(b.String(), "-")
}
