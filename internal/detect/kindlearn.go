package detect

import (
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
)

// kindLearner is what a detector that judges routes by their kind (the
// credentials and enumeration detectors) has seen of the POST, PUT and
// PATCH routes with no declared kind: by route, path words, answers and
// body field names, for InferKind. Each detector keeps its own, bounded
// by its table.
type kindLearner struct {
	h     Hasher
	kinds *Table[learnedKind]
}

// learnedKind is what was seen of one route.
type learnedKind struct {
	words  PathWords
	n      uint64
	status KindStatus
	fields [fieldClasses]uint64
}

// newKindLearner returns a learner that remembers up to max routes, each
// for an hour after its last request.
func newKindLearner(h Hasher, max int) kindLearner {
	return kindLearner{h: h, kinds: NewTable[learnedKind](max, time.Hour)}
}

// observe counts v (a request on a route with no declared kind) and the
// status it was answered with, and returns InferKind's verdict on its
// route: the strongest kind and the confidence in each; ok is false for a request that is no form post
// (not a POST, PUT or PATCH, or a GraphQL document, whose 400s are query
// errors, not codes refused) and for a route that has given no clue yet.
// A route is remembered from its first clue (a refusal, a rejected code,
// an unknown identifier, a conflict, a telling body field); until then
// successes keep no state. A path no route matched is known by its
// inferred template, so /v2/orders/123/confirm and /v2/orders/456/confirm
// are one route.
func (l *kindLearner) observe(v *request.View, status int) (best string, conf KindConfidence, ok bool) {
	if !isPost(v.Method) || v.GraphQL.Parsed {
		return "", conf, false
	}
	var t uint64
	var hasID bool
	path := v.Path
	if v.Route != nil {
		t, path, hasID = l.h.String(nsCredRoute, v.Route.Name), v.Route.Template, strings.Contains(v.Route.Template, "{")
	} else {
		_, t, hasID = inferredResource(l.h, v.Path)
	}
	var clue bool
	switch status {
	case 401, 403, 400, 404, 409, 422:
		clue = true
	default:
		v.BodyFields.Each(func(name string) {
			if c, _ := ClassifyField(name); c != FieldOther {
				clue = true
			}
		})
	}
	if !clue {
		if _, seen := l.kinds.Get(t); !seen {
			return "", conf, false
		}
	}
	var e KindEvidence
	l.kinds.Update(t, v.Time.UnixNano(), func(k *learnedKind) {
		if k.n == 0 {
			k.words = PathWordsOf(path)
			k.words.First = [len(routeKinds)]string{} // substrings of a View's path: not kept
		}
		k.n++
		k.status.Add(status)
		var seen [fieldClasses]bool
		v.BodyFields.Each(func(name string) {
			if c, _ := ClassifyField(name); !seen[c] {
				seen[c] = true
				k.fields[c]++
			}
		})
		e = KindEvidence{Method: v.Method, Words: k.words, HasID: hasID, N: k.n, Status: k.status,
			Fields: KindFields{Counts: k.fields}}
	})
	best, conf = InferKind(&e)
	return best, conf, true
}

// Sweep drops routes idle for an hour.
func (l *kindLearner) Sweep(now int64) { l.kinds.Sweep(now) }

// Stats returns the size and churn of the learner's table.
func (l *kindLearner) Stats() TableStats { return l.kinds.Stats() }
