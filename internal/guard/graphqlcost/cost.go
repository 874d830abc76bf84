// Package graphqlcost prices a GraphQL query before it runs, the way
// GitHub's GraphQL API rate limit does: every field costs its weight once
// per object it is selected on, and a list field (a field with a first,
// last or limit argument, or a list type in the schema) multiplies what
// is selected under it by the size it asks for.
//
// Weights come from defaults (an object-typed field costs 1, a scalar 0),
// optionally from an SDL schema with @cost(weight: N) and
// @listSize(assumedSize: N, slicingArguments: [...]) directives (the IBM
// GraphQL cost directives), and optionally from a weights file that names
// "Type.field: N" (or "field: N" for every type). The model is pure: it
// reads a parsed document and returns a number.
package graphqlcost

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"go.yaml.in/yaml/v3"
)

// Options configures a Model. Zero fields get the defaults named on each.
type Options struct {
	// ObjectField is the weight of a field that selects sub-fields
	// (default 1); ScalarField of a leaf field (default 0; negative: 0).
	ObjectField int64
	ScalarField int64
	// DefaultListSize is the size assumed for a list field whose size the
	// query does not say: a list type in the schema without a slicing
	// argument, or a slicing argument given by an unknown variable
	// (default 10). MaxListSize caps every multiplier (default 100, as
	// GitHub caps first/last).
	DefaultListSize int64
	MaxListSize     int64
	// SlicingArguments name the arguments whose integer value is a list's
	// size (default first, last, limit).
	SlicingArguments []string
	// Schema is SDL text, optional: it gives every field its type (so
	// nested weights and list types are known) and may carry @cost and
	// @listSize directives.
	Schema string
	// Weights maps "Type.field" or "field" to a weight, overriding the
	// schema's directives and the defaults.
	Weights map[string]int64
}

// Model prices queries under one set of weights. It is immutable and
// safe for concurrent use.
type Model struct {
	opts    Options
	types   map[string]map[string]fieldInfo // from the schema
	roots   map[ast.Operation]string        // root type of each operation
	weights map[string]int64
}

// fieldInfo is what the schema says about one field.
type fieldInfo struct {
	typ      string // the named type, lists and non-null unwrapped
	list     bool
	weight   int64 // -1 when the schema sets none
	assumed  int64 // @listSize(assumedSize:), 0 when unset
	slicing  []string
	hasCost  bool
	hasSlice bool
}

// maxCost is where a price saturates: a query costing more is as bad as one
// costing this much, and the arithmetic never overflows.
const maxCost = math.MaxInt64 / 4

// New returns a Model for opts, or an error naming what in the schema does
// not parse.
func New(opts Options) (*Model, error) {
	if opts.ObjectField == 0 {
		opts.ObjectField = 1
	}
	opts.ScalarField = max(0, opts.ScalarField)
	if opts.DefaultListSize <= 0 {
		opts.DefaultListSize = 10
	}
	if opts.MaxListSize <= 0 {
		opts.MaxListSize = 100
	}
	if len(opts.SlicingArguments) == 0 {
		opts.SlicingArguments = []string{"first", "last", "limit"}
	}
	m := &Model{opts: opts, weights: opts.Weights,
		roots: map[ast.Operation]string{ast.Query: "Query", ast.Mutation: "Mutation", ast.Subscription: "Subscription"}}
	if opts.Schema != "" {
		if err := m.loadSchema(opts.Schema); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Model) loadSchema(sdl string) error {
	doc, err := parser.ParseSchema(&ast.Source{Name: "schema", Input: sdl})
	if err != nil {
		return fmt.Errorf("schema: %v", err)
	}
	m.types = map[string]map[string]fieldInfo{}
	add := func(defs ast.DefinitionList) {
		for _, d := range defs {
			fields := m.types[d.Name]
			if fields == nil {
				fields = map[string]fieldInfo{}
				m.types[d.Name] = fields
			}
			for _, f := range d.Fields {
				fields[f.Name] = infoOf(f)
			}
		}
	}
	add(doc.Definitions)
	add(doc.Extensions)
	for _, s := range append(doc.Schema, doc.SchemaExtension...) {
		for _, op := range s.OperationTypes {
			m.roots[op.Operation] = op.Type
		}
	}
	return nil
}

func infoOf(f *ast.FieldDefinition) fieldInfo {
	fi := fieldInfo{weight: -1}
	t := f.Type
	for t != nil && t.NamedType == "" {
		fi.list = true
		t = t.Elem
	}
	if t != nil {
		fi.typ = t.NamedType
	}
	if d := f.Directives.ForName("cost"); d != nil {
		if n, ok := intArg(d.Arguments.ForName("weight")); ok {
			fi.weight, fi.hasCost = n, true
		}
	}
	if d := f.Directives.ForName("listSize"); d != nil {
		if n, ok := intArg(d.Arguments.ForName("assumedSize")); ok {
			fi.assumed = n
		}
		if a := d.Arguments.ForName("slicingArguments"); a != nil && a.Value != nil {
			for _, c := range a.Value.Children {
				if c.Value != nil {
					fi.slicing = append(fi.slicing, c.Value.Raw)
				}
			}
			fi.hasSlice = len(fi.slicing) > 0
		}
	}
	return fi
}

func intArg(a *ast.Argument) (int64, bool) {
	if a == nil || a.Value == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(a.Value.Raw, 10, 64)
	if err != nil {
		// weight may be a string in the IBM spec: "2.5" rounds up
		f, ferr := strconv.ParseFloat(a.Value.Raw, 64)
		if ferr != nil || f < 0 {
			return 0, false
		}
		return int64(math.Ceil(f)), true
	}
	return max(0, n), true
}

// weightsFile is the shape of a weights file.
type weightsFile struct {
	Weights map[string]int64 `yaml:"weights"`
}

// LoadWeights reads a weights file: YAML (or JSON) with one mapping,
// weights, from "Type.field" or "field" to a whole number of at least 0.
func LoadWeights(path string) (map[string]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseWeights(path, data)
}

// ParseWeights parses the text of a weights file read from name.
func ParseWeights(name string, data []byte) (map[string]int64, error) {
	var f weightsFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	for k, w := range f.Weights {
		if w < 0 {
			return nil, fmt.Errorf("%s: weight of %q: must be at least 0", name, k)
		}
		if k == "" || strings.Count(k, ".") > 1 {
			return nil, fmt.Errorf("%s: %q: want Type.field or field", name, k)
		}
	}
	return f.Weights, nil
}

// Cost prices operation op of doc with the request's variables (nil when
// it sent none). It never fails: a field it knows nothing of gets the
// default weight, and fragments are followed once per spread, never in a
// cycle, for at most budget selections in all (the walk then stops, and
// the price so far is returned with the second result false).
func (m *Model) Cost(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any, budget int) (int64, bool) {
	w := walk{m: m, doc: doc, op: op, vars: vars, budget: budget, active: map[string]bool{}}
	root := m.roots[op.Operation]
	if root == "" {
		root = "Query"
	}
	c := w.set(op.SelectionSet, root, 1)
	return c, !w.truncated
}

type walk struct {
	m         *Model
	doc       *ast.QueryDocument
	op        *ast.OperationDefinition
	vars      map[string]any
	budget    int
	truncated bool
	active    map[string]bool
}

func (w *walk) set(set ast.SelectionSet, parent string, mult int64) int64 {
	var total int64
	for _, sel := range set {
		if w.budget <= 0 {
			w.truncated = true
			return total
		}
		switch s := sel.(type) {
		case *ast.Field:
			w.budget--
			total = add(total, w.field(s, parent, mult))
		case *ast.InlineFragment:
			on := parent
			if s.TypeCondition != "" {
				on = s.TypeCondition
			}
			total = add(total, w.set(s.SelectionSet, on, mult))
		case *ast.FragmentSpread:
			f := w.doc.Fragments.ForName(s.Name)
			if f == nil || w.active[s.Name] {
				continue
			}
			w.active[s.Name] = true
			total = add(total, w.set(f.SelectionSet, f.TypeCondition, mult))
			delete(w.active, s.Name)
		}
	}
	return total
}

func (w *walk) field(f *ast.Field, parent string, mult int64) int64 {
	if strings.HasPrefix(f.Name, "__") {
		return 0 // __typename, introspection: answered without resolvers
	}
	var fi fieldInfo
	known := false
	if fields := w.m.types[parent]; fields != nil {
		fi, known = fields[f.Name]
	}
	weight := w.weight(f, parent, fi, known)
	cost := mul(mult, weight)
	if len(f.SelectionSet) == 0 {
		return cost
	}
	size := w.listSize(f, fi, known)
	return add(cost, w.set(f.SelectionSet, fi.typ, mul(mult, size)))
}

func (w *walk) weight(f *ast.Field, parent string, fi fieldInfo, known bool) int64 {
	if n, ok := w.m.weights[parent+"."+f.Name]; ok {
		return n
	}
	if n, ok := w.m.weights[f.Name]; ok {
		return n
	}
	if known && fi.hasCost {
		return fi.weight
	}
	if len(f.SelectionSet) == 0 {
		return w.m.opts.ScalarField
	}
	return w.m.opts.ObjectField
}

// listSize is the multiplier a field applies to what it selects: the
// value of its slicing argument, capped; the assumed size of a list the
// query does not size; 1 for a single object.
func (w *walk) listSize(f *ast.Field, fi fieldInfo, known bool) int64 {
	args := w.m.opts.SlicingArguments
	if known && fi.hasSlice {
		args = fi.slicing
	}
	var size int64 = -1
	for _, name := range args {
		a := f.Arguments.ForName(name)
		if a == nil {
			continue
		}
		size = max(size, w.intValue(a.Value))
	}
	switch {
	case size >= 0:
	case known && fi.list && fi.assumed > 0:
		size = fi.assumed
	case known && fi.list:
		size = w.m.opts.DefaultListSize
	default:
		size = 1
	}
	return min(max(size, 0), w.m.opts.MaxListSize)
}

// intValue is the integer an argument asks for: a literal, or a variable
// from the request (or its default); the default list size when unknown.
func (w *walk) intValue(v *ast.Value) int64 {
	if v == nil {
		return w.m.opts.DefaultListSize
	}
	switch v.Kind {
	case ast.IntValue:
		n, err := strconv.ParseInt(v.Raw, 10, 64)
		if err != nil {
			return w.m.opts.MaxListSize // out of range: as large as allowed
		}
		return n
	case ast.Variable:
		if x, ok := w.vars[v.Raw]; ok {
			if f, ok := x.(float64); ok && f >= 0 {
				return int64(min(f, float64(maxCost)))
			}
			return w.m.opts.DefaultListSize
		}
		if w.op != nil {
			if d := w.op.VariableDefinitions.ForName(v.Raw); d != nil && d.DefaultValue != nil && d.DefaultValue.Kind == ast.IntValue {
				return w.intValue(d.DefaultValue)
			}
		}
	}
	return w.m.opts.DefaultListSize
}

func add(a, b int64) int64 { return min(a+b, maxCost) }

func mul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > maxCost/b {
		return maxCost
	}
	return a * b
}
