package request

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
)

// GraphQLShape is what the guard measures of the GraphQL documents a
// request carries before the upstream runs them: how deep their selections
// nest, how many fields they ask for under another name, at the top, and
// in all (fragments expanded where they are spread), how many operations
// one request batches, how long the documents are in tokens, and what
// they cost. Counts add up over a batch; Depth is the deepest of any.
type GraphQLShape struct {
	Parsed     bool // a query was found and parsed; the counts are 0 otherwise (but Batch, Tokens, Persisted)
	Depth      int  // the deepest field's nesting; a top-level field is 1
	Aliases    int  // fields selected under an alias different from their name
	Selections int  // fields selected, counting every expansion of a fragment
	RootFields int  // fields selected at the top of the operations
	// Truncated is set when the walk stopped at maxGraphQLSelections: the
	// document (a fragment bomb) asks for at least that many.
	Truncated bool
	// Batch is how many GraphQL requests the HTTP request carries: 1, or
	// the length of a JSON array of requests; 0 when it carries none.
	Batch int
	// Tokens is the documents' length in lexical tokens when the parser
	// counts them (GraphQLOptions.MaxTokens), stopping one past the cap: a
	// document over the cap is not parsed.
	Tokens int
	// Cost is the documents' price under GraphQLOptions.Cost; 0 without.
	Cost int64
	// Persisted is set when a request names a persisted query by its hash
	// (the persistedQuery extension) instead of, or besides, sending it.
	Persisted bool
	// Hash is the SHA-256 of the single document a request sends, or the
	// persisted query hash it names, when HasHash (GraphQLOptions.Hash).
	Hash    [32]byte
	HasHash bool
}

// GraphQLOptions says how a Parser measures GraphQL documents. The zero
// value measures their shape only.
type GraphQLOptions struct {
	// Cost prices an operation; nil leaves GraphQLShape.Cost 0.
	Cost GraphQLCoster
	// MaxTokens, when above 0, counts each document's tokens first and
	// leaves a document longer than that unparsed.
	MaxTokens int
	// Hash computes GraphQLShape.Hash (for persisted-query allowlists).
	Hash bool
	// MaxBatch bounds the requests of a batch that are measured (default
	// 100); Batch still counts them all.
	MaxBatch int
}

// GraphQLCoster prices one operation of a parsed document with the
// request's variables (nil when none were sent), walking at most budget
// selections; it reports false when the walk stopped at the budget.
type GraphQLCoster interface {
	Cost(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any, budget int) (int64, bool)
}

// maxGraphQLSelections bounds the walk of one document: fragments spread
// inside fragments can ask for exponentially many fields from a small body.
const maxGraphQLSelections = 100_000

// GraphQLShapeOf parses query (without a schema) and measures its shape.
// A query that does not parse has Parsed false: the upstream will refuse it.
func GraphQLShapeOf(query string) GraphQLShape {
	var s GraphQLShape
	measureDocument(&s, graphQLRequest{Query: query}, &GraphQLOptions{})
	return s
}

// graphQLRequest is one GraphQL request over HTTP: a document, the
// operation to run, its variables and extensions.
type graphQLRequest struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    struct {
		PersistedQuery *struct {
			Sha256Hash string `json:"sha256Hash"`
		} `json:"persistedQuery"`
	} `json:"extensions"`
}

// measureGraphQL measures the GraphQL requests in: the query parameters
// of a GET, else the body: a JSON request or a JSON array of them (a
// batch), a form, or a document sent as application/graphql.
func measureGraphQL(in *Input, h Header, o *GraphQLOptions) GraphQLShape {
	var s GraphQLShape
	var reqs []graphQLRequest
	if in.Method == http.MethodGet {
		q, err := url.ParseQuery(in.RawQuery)
		if err != nil {
			return s
		}
		reqs = []graphQLRequest{formRequest(q)}
	} else {
		buf, ct := peekBody(in, h)
		switch {
		case buf == nil:
		case ct == "application/graphql":
			reqs = []graphQLRequest{{Query: string(buf)}}
		case ct == "application/x-www-form-urlencoded":
			if q, err := url.ParseQuery(string(buf)); err == nil {
				reqs = []graphQLRequest{formRequest(q)}
			}
		case ct == "application/json" || len(ct) > 5 && ct[len(ct)-5:] == "+json":
			reqs = jsonRequests(buf)
		}
	}
	maxBatch := o.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 100
	}
	for i, r := range reqs {
		if r.Query == "" && r.Extensions.PersistedQuery == nil {
			continue
		}
		s.Batch++
		if i >= maxBatch {
			s.Truncated = true
			continue
		}
		measureDocument(&s, r, o)
	}
	if s.Batch != 1 {
		s.Hash, s.HasHash = [32]byte{}, false
	}
	return s
}

// inferGraphQL measures the GraphQL documents of a request no route
// matched, when it looks like GraphQL over HTTP: a GET with a query
// parameter, a POST of application/graphql, or a POST of JSON naming a
// "query". The shape has Parsed set only when a document parsed as
// GraphQL; anything else (a search for ?query=shoes) is not GraphQL and
// the caller drops it.
func inferGraphQL(in *Input, h Header, o *GraphQLOptions) GraphQLShape {
	switch in.Method {
	case http.MethodGet:
		if !strings.Contains(in.RawQuery, "query=") {
			return GraphQLShape{}
		}
	case http.MethodPost:
		buf, ct := peekBody(in, h)
		switch {
		case buf == nil:
			return GraphQLShape{}
		case ct == "application/graphql":
		case (ct == "application/json" || strings.HasSuffix(ct, "+json")) && bytes.Contains(buf, []byte(`"query"`)):
		default:
			return GraphQLShape{}
		}
	default:
		return GraphQLShape{}
	}
	return measureGraphQL(in, h, o)
}

func formRequest(q url.Values) graphQLRequest {
	r := graphQLRequest{Query: q.Get("query"), OperationName: q.Get("operationName")}
	if v := q.Get("variables"); v != "" {
		r.Variables = json.RawMessage(v)
	}
	if e := q.Get("extensions"); e != "" {
		var x graphQLRequest
		if json.Unmarshal([]byte(`{"extensions":`+e+`}`), &x) == nil {
			r.Extensions = x.Extensions
		}
	}
	return r
}

// jsonRequests decodes a JSON GraphQL request, or a batch of them.
func jsonRequests(buf []byte) []graphQLRequest {
	for _, c := range buf {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '[':
			var batch []graphQLRequest
			if json.Unmarshal(buf, &batch) != nil {
				return nil
			}
			return batch
		}
		break
	}
	var r graphQLRequest
	if json.Unmarshal(buf, &r) != nil {
		return nil
	}
	return []graphQLRequest{r}
}

// measureDocument adds request r to s.
func measureDocument(s *GraphQLShape, r graphQLRequest, o *GraphQLOptions) {
	if pq := r.Extensions.PersistedQuery; pq != nil {
		s.Persisted = true
		if o.Hash && r.Query == "" {
			if b, err := hex.DecodeString(pq.Sha256Hash); err == nil && len(b) == 32 {
				s.Hash, s.HasHash = [32]byte(b), true
			}
		}
	}
	if r.Query == "" {
		return
	}
	if o.Hash {
		s.Hash, s.HasHash = sha256.Sum256([]byte(r.Query)), true
	}
	src := &ast.Source{Input: r.Query}
	if o.MaxTokens > 0 {
		n := countTokens(src, o.MaxTokens+1)
		s.Tokens += n
		if n > o.MaxTokens {
			return
		}
	}
	doc, err := parser.ParseQuery(src)
	if err != nil {
		return
	}
	w := graphQLWalk{doc: doc, shape: s, active: map[string]bool{}}
	s.Parsed = true
	ops := doc.Operations
	if op := doc.Operations.ForName(r.OperationName); r.OperationName != "" && op != nil {
		ops = ast.OperationList{op}
	}
	var vars map[string]any
	if o.Cost != nil && len(r.Variables) > 0 {
		_ = json.Unmarshal(r.Variables, &vars) // unusable variables price as unknown
	}
	for _, op := range ops {
		w.selections(op.SelectionSet, 1)
		if o.Cost != nil {
			c, whole := o.Cost.Cost(doc, op, vars, maxGraphQLSelections)
			s.Cost = min(s.Cost+c, 1<<62)
			s.Truncated = s.Truncated || !whole
		}
	}
}

// countTokens counts the tokens of src, stopping at limit; a lexing error
// ends the count (the parser will refuse the document).
func countTokens(src *ast.Source, limit int) int {
	lx := lexer.New(src)
	n := 0
	for n < limit {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			break
		}
		n++
	}
	return n
}

type graphQLWalk struct {
	doc    *ast.QueryDocument
	shape  *GraphQLShape
	active map[string]bool // fragments being expanded: a cycle is not followed
	budget int             // selections walked in this document
}

func (w *graphQLWalk) selections(set ast.SelectionSet, depth int) {
	for _, sel := range set {
		if w.budget >= maxGraphQLSelections {
			w.shape.Truncated = true
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			w.budget++
			w.shape.Selections++
			if depth == 1 {
				w.shape.RootFields++
			}
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
