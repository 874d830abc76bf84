package routelearn

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/request"
)

// maxShownFields is how many body field names a suggestion lists.
const maxShownFields = 8

// MinRequests is how many requests a template needs before it is
// suggested: fewer say too little about it.
const MinRequests = 3

// Suggestion is a routes section learned from traffic.
type Suggestion struct {
	Stats Stats `json:"stats"`
	// Kept are the declared routes, in their order, with the requests
	// they matched: declared routes always win.
	Kept []Kept `json:"kept"`
	// Routes are the learned templates no declared route matched, the
	// most requested first.
	Routes []Suggested `json:"routes"`
	// Left are the templates left out: fewer than MinRequests requests,
	// or answered 404 only and not a decoy candidate (what probers try).
	Left int `json:"left_out"`
}

// Kept is a declared route and the traffic it matched.
type Kept struct {
	Route    config.Route `json:"route"`
	Requests uint64       `json:"requests"`
}

// Suggested is a learned route and why.
type Suggested struct {
	Route    config.Route `json:"route"`
	Requests uint64       `json:"requests"`
	NotFound uint64       `json:"not_found"` // 404 answers: identifiers that do not exist
	// Fields are the body field names seen, the most frequent first (at
	// most 8): what the route's requests carry, kind or none.
	Fields []string `json:"fields,omitempty"`
	Inference
}

// Suggest returns the routes learned so far beside the declared ones.
// A learned template is kept out when a declared route matches its
// sample request.
func (l *Learner) Suggest(declared []config.Route) Suggestion {
	table := make([]request.Route, 0, len(declared))
	for _, r := range declared {
		table = append(table, request.Route{Name: r.Name, Template: r.Match})
	}
	router, err := request.NewRouter(table)
	if err != nil {
		router = nil // a config that loaded has a valid table; be safe anyway
	}
	s := Suggestion{Stats: l.Stats()}
	kept := make([]uint64, len(declared))
	names := map[string]bool{}
	for _, r := range declared {
		names[r.Name] = true
	}
	l.mu.Lock()
	ts := make([]*template, 0, len(l.templates))
	for _, t := range l.templates {
		ts = append(ts, t)
	}
	type learned struct {
		t      *template
		inf    Inference
		fields []string
	}
	var out []learned
	for _, t := range ts {
		if router != nil {
			if rt, _ := router.Match(t.method, t.sample); rt != nil {
				kept[rt.Index] += t.n
				continue
			}
		}
		if t.n < MinRequests {
			s.Left++
			continue
		}
		inf := infer(t)
		if inf.Kind != KindDecoy && t.status.NotFound == t.n && !t.hasID {
			s.Left++ // probes of paths the API does not have
			continue
		}
		out = append(out, learned{t, inf, t.fields.top(maxShownFields)})
	}
	l.mu.Unlock()
	for i, r := range declared {
		s.Kept = append(s.Kept, Kept{Route: r, Requests: kept[i]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].t.n != out[j].t.n {
			return out[i].t.n > out[j].t.n
		}
		return out[i].t.method+out[i].t.path < out[j].t.method+out[j].t.path
	})
	for _, o := range out {
		r := config.Route{Name: routeName(o.t, o.inf, names), Match: o.t.method + " " + o.t.path}
		if o.inf.Kind != KindSearch {
			r.Kind = o.inf.Kind
		}
		r.Field = o.inf.Field
		s.Routes = append(s.Routes, Suggested{Route: r, Requests: o.t.n, NotFound: o.t.status.NotFound, Fields: o.fields, Inference: o.inf})
	}
	return s
}

// routeName names a learned route after its kind or its path's words,
// unique among names (which it extends).
func routeName(t *template, inf Inference, names map[string]bool) string {
	base := inf.Kind
	if base == "" || base == KindDecoy {
		var parts []string
		for _, seg := range strings.Split(strings.Trim(t.path, "/"), "/") {
			if strings.HasPrefix(seg, "{") {
				if len(parts) > 0 {
					parts[len(parts)-1] = singular(parts[len(parts)-1])
				}
				continue
			}
			if w := nameWord(seg); w != "" {
				parts = append(parts, w)
			}
		}
		base = strings.Join(parts, "-")
		if base == "" {
			base = "root"
		}
		if inf.Kind == KindDecoy {
			base = "decoy-" + base
		}
		if t.method != "GET" && t.method != "" {
			base = strings.ToLower(t.method) + "-" + base
		}
	}
	if len(base) > 60 {
		base = strings.TrimRight(base[:60], "-.")
	}
	name := base
	for i := 2; names[name]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	names[name] = true
	return name
}

// nameWord keeps the letters, digits, '.', '_' and '-' of seg, lower-cased.
func nameWord(seg string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(seg) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteRune(c)
		}
	}
	return strings.Trim(b.String(), "-_")
}

func singular(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		return w[:len(w)-1]
	}
	return w
}

// WriteYAML writes s as a `routes:` section config.Load accepts: the
// declared routes first, as they are (marked kept), then the learned ones,
// each with a comment giving its evidence.
func (s Suggestion) WriteYAML(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Suggested by abuseguard routes suggest from %d requests: %d templates learned", s.Stats.Observed, s.Stats.Templates)
	if s.Stats.Dropped > 0 {
		fmt.Fprintf(&b, ", %d requests to templates beyond the learner's cap not counted", s.Stats.Dropped)
	}
	if s.Left > 0 {
		fmt.Fprintf(&b, ", %d left out (fewer than %d requests, or only 404s)", s.Left, MinRequests)
	}
	b.WriteString(".\n# Declared routes are kept as they are and win; review the learned ones before you accept them.\nroutes:\n")
	if len(s.Kept) == 0 && len(s.Routes) == 0 {
		b.WriteString("  []\n")
	}
	for _, k := range s.Kept {
		fmt.Fprintf(&b, "  # kept (declared): %d requests\n", k.Requests)
		writeRoute(&b, k.Route)
	}
	for _, r := range s.Routes {
		b.WriteString("  # learned: ")
		fmt.Fprintf(&b, "%d requests", r.Requests)
		if r.NotFound > 0 {
			fmt.Fprintf(&b, ", %d answered 404", r.NotFound)
		}
		if r.Kind != "" {
			fmt.Fprintf(&b, "; %s, confidence %.2f: %s", r.Kind, r.Confidence, strings.Join(r.Evidence, "; "))
		}
		if len(r.Fields) > 0 {
			fmt.Fprintf(&b, "; body fields: %s", strings.Join(r.Fields, ", "))
		}
		b.WriteString("\n")
		writeRoute(&b, r.Route)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRoute(b *strings.Builder, r config.Route) {
	fmt.Fprintf(b, "  - {name: %s, match: %s", strconv.Quote(r.Name), strconv.Quote(r.Match))
	if r.Kind != "" {
		fmt.Fprintf(b, ", kind: %s", r.Kind)
	}
	if r.Field != "" {
		fmt.Fprintf(b, ", field: %s", strconv.Quote(r.Field))
	}
	b.WriteString("}\n")
}
