package request

import (
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// GraphQLShape is what the guard measures of a GraphQL document before
// the upstream runs it: how deep its selections nest, how many fields it
// asks for under another name, and how many it selects in all, with
// fragments expanded where they are spread.
type GraphQLShape struct {
	Parsed     bool // a query was found and parsed; the counts are 0 otherwise
	Depth      int  // the deepest field's nesting; a top-level field is 1
	Aliases    int  // fields selected under an alias different from their name
	Selections int  // fields selected, counting every expansion of a fragment
	// Truncated is set when the walk stopped at maxGraphQLSelections: the
	// document (a fragment bomb) asks for at least that many.
	Truncated bool
}

// maxGraphQLSelections bounds the walk of one document: fragments spread
// inside fragments can ask for exponentially many fields from a small body.
const maxGraphQLSelections = 100_000

// GraphQLShapeOf parses query (without a schema) and measures it. A query
// that does not parse has Parsed false: the upstream will refuse it.
func GraphQLShapeOf(query string) GraphQLShape {
	if query == "" {
		return GraphQLShape{}
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return GraphQLShape{}
	}
	w := graphQLWalk{doc: doc, active: map[string]bool{}}
	w.shape.Parsed = true
	for _, op := range doc.Operations {
		w.selections(op.SelectionSet, 1)
	}
	return w.shape
}

type graphQLWalk struct {
	doc    *ast.QueryDocument
	shape  GraphQLShape
	active map[string]bool // fragments being expanded: a cycle is not followed
}

func (w *graphQLWalk) selections(set ast.SelectionSet, depth int) {
	for _, sel := range set {
		if w.shape.Selections >= maxGraphQLSelections {
			w.shape.Truncated = true
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			w.shape.Selections++
			w.shape.Depth = max(w.shape.Depth, depth)
			if s.Alias != "" && s.Alias != s.Name {
				w.shape.Aliases++
			}
			w.selections(s.SelectionSet, depth+1)
		case *ast.InlineFragment:
			w.selections(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			f := w.doc.Fragments.ForName(s.Name)
			if f == nil || w.active[s.Name] {
				continue
			}
			w.active[s.Name] = true
			w.selections(f.SelectionSet, depth)
			delete(w.active, s.Name)
		}
	}
}
