package sample

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/abuseguard/abuseguard/internal/sample/jsonapi"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// GraphQL: queries are parsed and validated against schema.graphql by
// gqlparser, then resolved depth first by the resolvers below. Fragments,
// variables, directives, introspection and mutations are refused.

const (
	maxQueryBytes = 16 << 10 // query text cap
	maxTokens     = 10000    // lexer tokens per query
	maxDepth      = 15       // field nesting
	maxWork       = 50000    // fields resolved per query
	maxFirst      = 100      // list argument cap
)

//go:embed schema.graphql
var schemaSDL string

// gqlSchema is schema.graphql, loaded once; a schema that does not load
// is a bug caught by every test.
var gqlSchema = gqlparser.MustLoadSchema(&ast.Source{Name: "schema.graphql", Input: schemaSDL})

// gqlRules are GraphQL's validation rules, made once.
var gqlRules = rules.NewDefaultRules()

// resolver returns one field of obj (a *product, *review, *user, *order,
// or nil for Query): a scalar, an object, nil, or for a list a []any of
// objects. args holds the field's arguments with the schema's defaults.
type resolver func(a *API, obj any, args map[string]any) any

func scalar[T any](get func(T) any) resolver {
	return func(_ *API, o any, _ map[string]any) any { return get(o.(T)) }
}

// intArg returns the integer argument name, or def when it is absent or null.
func intArg(args map[string]any, name string, def int) int {
	if v, ok := args[name].(int64); ok {
		return int(v)
	}
	return def
}

// window returns the items of xs that the first and offset arguments
// select (first defaults to 10, at most maxFirst), as objects.
func window[T any](args map[string]any, xs []T, obj func(T) any) []any {
	first, off := intArg(args, "first", 10), intArg(args, "offset", 0)
	lo := min(max(off, 0), len(xs))
	out := []any{}
	for _, x := range xs[lo:min(lo+min(max(first, 0), maxFirst), len(xs))] {
		out = append(out, obj(x))
	}
	return out
}

func (a *API) gqlUser(id int) any {
	if id < 1 || id > a.opts.Users {
		return nil
	}
	return &user{ID: id, Username: fmt.Sprintf("user%d", id)}
}

func (a *API) gqlProduct(id int) any { return &a.products[id-1] }

// resolvers has one resolver per field of schema.graphql, by type and
// field name.
var resolvers = map[string]map[string]resolver{
	"Query": {
		"product": func(a *API, _ any, args map[string]any) any {
			if id := intArg(args, "id", 0); id >= 1 && id <= len(a.products) {
				return a.gqlProduct(id)
			}
			return nil
		},
		"user": func(a *API, _ any, args map[string]any) any { return a.gqlUser(intArg(args, "id", 0)) },
		"products": func(a *API, _ any, args map[string]any) any {
			return window(args, a.products, func(p product) any { return a.gqlProduct(p.ID) })
		},
		"search": func(a *API, _ any, args map[string]any) any {
			q, _ := args["q"].(string)
			return window(args, a.searchProducts(q, maxFirst), func(p *product) any { return p })
		},
	},
	"Product": {
		"id": scalar(func(p *product) any { return p.ID }), "name": scalar(func(p *product) any { return p.Name }),
		"category": scalar(func(p *product) any { return p.Category }), "price": scalar(func(p *product) any { return p.Price }),
		"stock": scalar(func(p *product) any { return p.Stock }),
		"reviews": func(_ *API, o any, args map[string]any) any {
			return window(args, o.(*product).reviews, func(r *review) any { return r })
		},
	},
	"Review": {
		"id": scalar(func(r *review) any { return r.ID }), "rating": scalar(func(r *review) any { return r.Rating }),
		"body":    scalar(func(r *review) any { return r.Body }),
		"author":  func(a *API, o any, _ map[string]any) any { return a.gqlUser(o.(*review).Author) },
		"product": func(a *API, o any, _ map[string]any) any { return a.gqlProduct(o.(*review).Product) },
	},
	"User": {
		"id": scalar(func(u *user) any { return u.ID }), "username": scalar(func(u *user) any { return u.Username }),
		"orders": func(a *API, o any, args map[string]any) any {
			return window(args, a.orders[o.(*user).ID], func(x *order) any { return x })
		},
	},
	"Order": {
		"id": scalar(func(x *order) any { return x.ID }), "total": scalar(func(x *order) any { return x.Total }),
		"status": scalar(func(x *order) any { return x.Status }),
		"user":   func(a *API, o any, _ map[string]any) any { return a.gqlUser(o.(*order).User) },
		"products": func(a *API, o any, args map[string]any) any {
			return window(args, o.(*order).Items, func(it orderItem) any { return a.gqlProduct(it.ProductID) })
		},
	},
}

func (a *API) graphqlHandler(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Query string `json:"query"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2*maxQueryBytes)).Decode(&body); err != nil {
		jsonapi.Write(w, 400, gqlErrors(errors.New("invalid JSON body")))
		return
	}
	status, resp := a.graphql(body.Query)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

// gqlErrors is the body of a refused query: one {"message"} per error.
func gqlErrors(errs ...error) map[string]any {
	list := make([]map[string]string, len(errs))
	for i, err := range errs {
		list[i] = map[string]string{"message": err.Error()}
	}
	return map[string]any{"errors": list}
}

// graphql answers query with a status and a JSON body: 200 and {"data"},
// or 400 and {"errors"} for a query over maxQueryBytes or maxTokens,
// syntax errors (with line:column), what the shop does not support
// (fragments, variables, directives, introspection, mutations, more than
// one operation), depth over maxDepth, the schema's validation errors, a
// response key selected twice, and queries resolving over maxWork fields.
func (a *API) graphql(query string) (int, []byte) {
	if len(query) > maxQueryBytes {
		b, _ := json.Marshal(gqlErrors(fmt.Errorf("query is %d bytes, over the limit of %d", len(query), maxQueryBytes)))
		return 400, b
	}
	set, errs := parseQuery(query)
	e := &gqlExec{a: a, buf: []byte(`{"data":`)}
	if errs == nil {
		a.mu.RLock()
		err := e.object(set, "Query", nil)
		a.mu.RUnlock()
		if err != nil {
			errs = []error{err}
		}
	}
	if errs != nil {
		b, _ := json.Marshal(gqlErrors(errs...))
		return 400, b
	}
	return 200, append(e.buf, "}\n"...)
}

// parseQuery parses and validates query and returns its operation's
// selection set, or the errors that refuse it.
func parseQuery(query string) (ast.SelectionSet, []error) {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, maxTokens)
	if err != nil {
		return nil, []error{syntaxError(err)}
	}
	if len(doc.Operations) == 0 {
		return nil, []error{errors.New("syntax error: the document holds no operation")}
	}
	if len(doc.Fragments) > 0 {
		return nil, []error{errors.New("fragments are not supported")}
	}
	if len(doc.Operations) > 1 {
		return nil, []error{errors.New("one operation per document: there is no operationName to choose one")}
	}
	op := doc.Operations[0]
	switch {
	case op.Operation != ast.Query:
		return nil, []error{fmt.Errorf("%s: mutations and subscriptions are not supported", op.Operation)}
	case len(op.VariableDefinitions) > 0:
		return nil, []error{errors.New("variables are not supported")}
	case len(op.Directives) > 0:
		return nil, []error{errors.New("directives are not supported")}
	}
	depth, err := supported(op.SelectionSet, 1)
	if err != nil {
		return nil, []error{err}
	}
	if depth > maxDepth {
		return nil, []error{fmt.Errorf("query depth %d exceeds the limit of %d", depth, maxDepth)}
	}
	if list := validator.ValidateWithRules(gqlSchema, doc, gqlRules); len(list) > 0 {
		errs := make([]error, len(list))
		for i, e := range list {
			errs[i] = errors.New(e.Message)
		}
		return nil, errs
	}
	return op.SelectionSet, nil
}

// syntaxError words a parse error with its line and column.
func syntaxError(err error) error {
	var ge *gqlerror.Error
	if errors.As(err, &ge) && len(ge.Locations) > 0 {
		return fmt.Errorf("syntax error at %d:%d: %s", ge.Locations[0].Line, ge.Locations[0].Column, ge.Message)
	}
	return fmt.Errorf("syntax error: %v", err)
}

// supported walks set, at depth (a top-level field is 1), and returns the
// deepest field's depth, or an error for what the shop does not resolve:
// fragments, directives, variables, introspection, and a response key
// selected twice (GraphQL would merge them; the shop asks for an alias).
func supported(set ast.SelectionSet, depth int) (int, error) {
	deepest := depth
	keys := make(map[string]bool, len(set))
	for _, sel := range set {
		f, ok := sel.(*ast.Field)
		if !ok {
			return 0, errors.New("fragments are not supported")
		}
		switch {
		case len(f.Directives) > 0:
			return 0, errors.New("directives are not supported")
		case len(f.Name) > 1 && f.Name[:2] == "__" && f.Name != "__typename":
			return 0, fmt.Errorf("introspection (%s) is not supported", f.Name)
		case keys[f.Alias]:
			return 0, fmt.Errorf("field %q appears twice in one selection set; use an alias", f.Alias)
		}
		keys[f.Alias] = true
		for _, arg := range f.Arguments {
			if hasVariable(arg.Value) {
				return 0, errors.New("variables are not supported")
			}
		}
		if len(f.SelectionSet) > 0 {
			d, err := supported(f.SelectionSet, depth+1)
			if err != nil {
				return 0, err
			}
			deepest = max(deepest, d)
		}
	}
	return deepest, nil
}

func hasVariable(v *ast.Value) bool {
	if v == nil {
		return false
	}
	if v.Kind == ast.Variable {
		return true
	}
	for _, c := range v.Children {
		if hasVariable(c.Value) {
			return true
		}
	}
	return false
}

// argumentsOf returns f's arguments, with the schema's defaults for those
// left out. f is validated, so its values are of the declared types.
func argumentsOf(f *ast.Field) (map[string]any, error) {
	args := make(map[string]any, len(f.Definition.Arguments))
	for _, d := range f.Definition.Arguments {
		v := d.DefaultValue
		if a := f.Arguments.ForName(d.Name); a != nil {
			v = a.Value
		}
		if v == nil {
			continue
		}
		x, err := v.Value(nil)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %v", d.Name, err)
		}
		args[d.Name] = x
	}
	return args, nil
}

type gqlExec struct {
	a    *API
	buf  []byte
	work int
	args map[*ast.Field]map[string]any // argumentsOf, once per field of the query
}

// object appends obj, of type typ, with selections set, depth first.
func (e *gqlExec) object(set ast.SelectionSet, typ string, obj any) error {
	e.buf = append(e.buf, '{')
	for i, sel := range set {
		if e.work++; e.work > maxWork {
			return fmt.Errorf("query too expensive: over %d fields resolved", maxWork)
		}
		f := sel.(*ast.Field) // supported: no fragments
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = append(strconv.AppendQuote(e.buf, f.Alias), ':')
		if f.Name == "__typename" {
			e.buf = strconv.AppendQuote(e.buf, typ)
			continue
		}
		get := resolvers[typ][f.Name]
		if get == nil {
			return fmt.Errorf("no resolver for %s.%s", typ, f.Name)
		}
		args, ok := e.args[f]
		if !ok {
			var err error
			if args, err = argumentsOf(f); err != nil {
				return err
			}
			if e.args == nil {
				e.args = map[*ast.Field]map[string]any{}
			}
			e.args[f] = args
		}
		v := get(e.a, obj, args)
		t := f.Definition.Type
		var err error
		switch {
		case len(f.SelectionSet) == 0: // a scalar, as validated
			b, _ := json.Marshal(v)
			e.buf = append(e.buf, b...)
		case t.Elem != nil:
			e.buf = append(e.buf, '[')
			for j, item := range v.([]any) {
				if j > 0 {
					e.buf = append(e.buf, ',')
				}
				if err = e.object(f.SelectionSet, t.Name(), item); err != nil {
					break
				}
			}
			e.buf = append(e.buf, ']')
		case v == nil:
			e.buf = append(e.buf, "null"...)
		default:
			err = e.object(f.SelectionSet, t.Name(), v)
		}
		if err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}
