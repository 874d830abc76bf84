package openapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/request"
)

func TestLoadImportsOperations(t *testing.T) {
	s, err := Load("testdata/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Base != "/v1" {
		t.Errorf("base %q, want /v1", s.Base)
	}
	var got []string
	for _, o := range s.Operations {
		got = append(got, o.Name+"="+o.Template)
	}
	want := "create-order=POST /v1/orders delete-v1-orders-id=DELETE /v1/orders/{id} get-order=GET /v1/orders/{id} " +
		"list-products=GET /v1/products get-product=GET /v1/products/{slug}"
	if strings.Join(got, " ") != want {
		t.Errorf("operations\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	cases := map[string]string{
		"not yaml":         "openapi: [",
		"swagger 2":        "swagger: \"2.0\"\ninfo: {title: t, version: \"1\"}\npaths: {}\n",
		"invalid document": "openapi: 3.0.3\ninfo: {title: t}\npaths: {}\n",
		"partial segment":  "openapi: 3.0.3\ninfo: {title: t, version: \"1\"}\npaths:\n  /files/{name}.json:\n    get:\n      parameters: [{name: name, in: path, required: true, schema: {type: string}}]\n      responses: {\"200\": {description: ok}}\n",
		"remote reference": "openapi: 3.0.3\ninfo: {title: t, version: \"1\"}\npaths:\n  /a:\n    $ref: 'http://198.51.100.1/a.yaml'\n",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("api.yaml", []byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "api.yaml: ") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
	if _, err := Load("testdata/missing.yaml"); err == nil || !strings.Contains(err.Error(), "testdata/missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// shop returns a validator of the shop spec and a router over its
// operations, as the engine builds them.
func shop(t testing.TB, o Options) (*Validator, *request.Router) {
	s, err := Load("testdata/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator(s, o)
	if err != nil {
		t.Fatal(err)
	}
	var routes []request.Route
	for _, op := range s.Operations {
		routes = append(routes, request.Route{Name: op.Name, Template: op.Template})
	}
	r, err := request.NewRouter(routes)
	if err != nil {
		t.Fatal(err)
	}
	return v, r
}

type body []byte

func (b body) Peek(max int) []byte {
	if len(b) == 0 || len(b) > max {
		return nil
	}
	return b
}

func check(v *Validator, r *request.Router, method, target, contentType, payload string) *request.Finding {
	path, query, _ := strings.Cut(target, "?")
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if payload != "" {
		h.Set("Content-Length", strconv.Itoa(len(payload)))
	}
	in := &request.Input{Method: method, Path: path, RawQuery: query, Header: request.HTTPHeader(h), Body: body(payload)}
	view := &request.View{Method: method, Path: path, Query: query}
	view.Route, _ = r.Match(method, path)
	v.Check(in, view)
	return view.Finding("openapi")
}

func TestCheck(t *testing.T) {
	v, r := shop(t, Options{Enforce: true, MaxBodyBytes: 256})
	cases := []struct {
		name, method, target, ctype, body string
		reason                            string // "" for a valid request
		status                            int
	}{
		{name: "valid list", method: "GET", target: "/v1/products?page=2&sort=price"},
		{name: "valid product", method: "GET", target: "/v1/products/blue-shirt"},
		{name: "valid order", method: "POST", target: "/v1/orders", ctype: "application/json", body: `{"sku":"A-1","quantity":2}`},
		{name: "valid order by id", method: "GET", target: "/v1/orders/42"},
		{name: "unknown path", method: "GET", target: "/v1/admin/users", reason: UnknownPath, status: 400},
		{name: "unknown path outside the base", method: "GET", target: "/products", reason: UnknownPath, status: 400},
		{name: "unknown method", method: "PUT", target: "/v1/products/blue-shirt", reason: UnknownMethod, status: 400},
		{name: "query of the wrong type", method: "GET", target: "/v1/products?page=abc", reason: BadParameter, status: 400},
		{name: "query outside its enum", method: "GET", target: "/v1/products?sort=1%20OR%201=1", reason: BadParameter, status: 400},
		{name: "path parameter against its pattern", method: "GET", target: "/v1/products/..%2f..%2fetc", reason: BadParameter, status: 400},
		{name: "path parameter of the wrong type", method: "GET", target: "/v1/orders/abc", reason: BadParameter, status: 400},
		{name: "body missing a property", method: "POST", target: "/v1/orders", ctype: "application/json", body: `{"sku":"A-1"}`, reason: BadBody, status: 400},
		{name: "body with an extra property", method: "POST", target: "/v1/orders", ctype: "application/json", body: `{"sku":"A-1","quantity":1,"price":0}`, reason: BadBody, status: 400},
		{name: "body that does not parse", method: "POST", target: "/v1/orders", ctype: "application/json", body: `{"sku":`, reason: BadBody, status: 400},
		{name: "body of another media type", method: "POST", target: "/v1/orders", ctype: "text/xml", body: `<order/>`, reason: BadBody, status: 400},
		{name: "required body missing", method: "POST", target: "/v1/orders", ctype: "application/json", reason: BadBody, status: 400},
		{name: "body over the cap", method: "POST", target: "/v1/orders", ctype: "application/json", body: `{"sku":"` + strings.Repeat("a", 300) + `","quantity":1}`, reason: BodyTooLarge, status: 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := check(v, r, c.method, c.target, c.ctype, c.body)
			switch {
			case c.reason == "" && f != nil:
				t.Fatalf("valid request refused: %+v", *f)
			case c.reason != "" && f == nil:
				t.Fatalf("no finding, want %s", c.reason)
			case f != nil && (f.Reason != c.reason || f.Status != c.status || !f.Enforce || f.Detail == ""):
				t.Fatalf("finding %+v, want %s %d enforced with a detail", *f, c.reason, c.status)
			}
		})
	}
}

func TestCheckSkipsDeclaredRoutes(t *testing.T) {
	v, _ := shop(t, Options{})
	r, err := request.NewRouter([]request.Route{{Name: "health", Template: "GET /healthz"}})
	if err != nil {
		t.Fatal(err)
	}
	if f := check(v, r, "GET", "/healthz", "", ""); f != nil {
		t.Fatalf("a route the config declares was checked: %+v", *f)
	}
	if f := check(v, r, "GET", "/nowhere", "", ""); f == nil || f.Reason != UnknownPath || f.Enforce {
		t.Fatalf("detection-only unknown path: %+v", f)
	}
}
