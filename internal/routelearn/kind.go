package routelearn

import (
	"github.com/abuseguard/abuseguard/internal/detect"
)

// Kinds a learned route can be given (detect's route kinds: one
// classifier serves the detectors and route learning).
const (
	KindLogin   = detect.KindLogin
	KindReset   = detect.KindReset
	KindSignup  = detect.KindSignup
	KindVerify  = detect.KindVerify
	KindGraphQL = detect.KindGraphQL
	KindDecoy   = detect.KindDecoy
	KindSearch  = detect.KindSearch
)

// minConfidence is the confidence from which a kind is suggested.
const minConfidence = detect.MinKindConfidence

// Inference is what the evidence says one template is for.
type Inference = detect.KindInference

// evidence gathers what t's traffic says for detect.SuggestKind: path
// words, the most telling body field name of each class and how often
// it came, query parameters, statuses.
func (t *template) evidence() detect.KindEvidence {
	e := detect.KindEvidence{Method: t.method, Words: detect.PathWordsOf(t.path), HasID: t.hasID, N: t.n, Status: t.status,
		Fields: detect.KindFields{Distinct: len(t.fields.counts)}, GraphQL: t.graphql}
	var rank [8]int
	for name, n := range t.fields.counts {
		c, r := detect.ClassifyField(name)
		if c == detect.FieldOther {
			continue
		}
		if e.Fields.Names[c] == "" || r < rank[c] || r == rank[c] && name < e.Fields.Names[c] {
			e.Fields.Names[c], e.Fields.Counts[c], rank[c] = name, n, r
		}
	}
	for name, n := range t.query.counts {
		if detect.IsSearchParam(name) && (e.SearchParam == "" || name < e.SearchParam) {
			e.SearchParam, e.Search = name, n
		}
	}
	return e
}

// infer weighs the evidence about t (see detect.SuggestKind).
func infer(t *template) Inference {
	e := t.evidence()
	return detect.SuggestKind(&e)
}
