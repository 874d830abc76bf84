// Package waf inspects requests with Coraza v3 and the OWASP Core Rule Set
// (embedded from coraza-coreruleset): one shared, immutable WAF instance
// per configuration, a transaction per request, the request side of the
// CRS only (the guard never sees response bodies). It reports the
// inbound anomaly score and the ids of the rules that matched; what to do
// with them (a risk signal, or a 403 waf_blocked) is the caller's.
package waf

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/abuseguard/abuseguard/internal/request"
)

// Options configures a WAF. Zero fields get the defaults named on each.
type Options struct {
	// ParanoiaLevel is the CRS blocking paranoia level, 1 to 4 (default 1:
	// the fewest false positives).
	ParanoiaLevel int
	// AnomalyThreshold is the inbound anomaly score at which the CRS
	// calls a request an attack (default 5: one critical rule).
	AnomalyThreshold int
	// MaxBodyBytes is how much of a request body is inspected (default
	// 64 KiB); a longer body is inspected by its headers and URI only,
	// and the Result says so.
	MaxBodyBytes int
	// RecordAll makes Inspect list every rule that matched in
	// Result.Matched, bookkeeping included (for evaluation tools).
	RecordAll bool
	// Directives are extra SecLang directives applied after the CRS
	// setup and before its rules: exclusions (SecRuleRemoveById 920350),
	// tuning (SecAction setvar), rules of the operator's own.
	Directives string
}

// DefaultMaxBodyBytes is how much of a body is inspected by default.
const DefaultMaxBodyBytes = 64 << 10

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.ParanoiaLevel == 0 {
		o.ParanoiaLevel = 1
	}
	if o.AnomalyThreshold == 0 {
		o.AnomalyThreshold = 5
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return o
}

// WAF is a compiled Coraza instance with the CRS. It is safe for
// concurrent use; build it once and share it.
type WAF struct {
	opts Options
	waf  coraza.WAF
}

// New compiles the CRS with o. An error names the directive that failed.
func New(o Options) (*WAF, error) {
	o = o.withDefaults()
	switch {
	case o.ParanoiaLevel < 1 || o.ParanoiaLevel > 4:
		return nil, fmt.Errorf("paranoia_level %d: must be 1 to 4", o.ParanoiaLevel)
	case o.AnomalyThreshold < 1:
		return nil, fmt.Errorf("anomaly_threshold %d: must be at least 1", o.AnomalyThreshold)
	case o.MaxBodyBytes < 0:
		return nil, fmt.Errorf("max_body_bytes %d: must not be negative", o.MaxBodyBytes)
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives(o)))
	if err != nil {
		return nil, fmt.Errorf("waf: %w", err)
	}
	return &WAF{opts: o, waf: w}, nil
}

// directives is the SecLang the WAF is built from: the engine in
// detection-only mode (every rule runs and nothing is interrupted; the
// guard decides what to do with the outcome), request
// bodies read up to the cap (partially past it), JSON and XML bodies
// parsed, no audit log, the CRS setup at the chosen paranoia level and
// threshold, the operator's directives, then the CRS request rules.
func directives(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, `SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecRequestBodyLimit %[1]d
SecRequestBodyInMemoryLimit %[1]d
SecRequestBodyLimitAction ProcessPartial
SecRequestBodyJsonDepthLimit 1024
SecResponseBodyAccess Off
SecAuditEngine Off
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "^application/[a-z0-9.-]+[+]json" "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',severity:2"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation.'"
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%[2]d"
SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%[3]d"
`, max(o.MaxBodyBytes, 1), o.ParanoiaLevel, o.AnomalyThreshold)
	if o.Directives != "" {
		b.WriteString(o.Directives)
		b.WriteByte('\n')
	}
	b.WriteString("Include @owasp_crs/REQUEST-*.conf\n")
	return b.String()
}

// Result is what one inspection found.
type Result struct {
	// Score is the CRS inbound anomaly score at the blocking paranoia
	// level (critical 5, error 4, warning 3, notice 2 per matched rule).
	Score int
	// Blocked says the CRS would refuse the request: the score reached
	// the threshold, or a rule denied it outright (a body that does not
	// parse). Rule is the rule that decided it.
	Blocked bool
	Rule    int
	// Rules are the ids of the rules that matched and logged a finding,
	// in ascending order, without the CRS's bookkeeping (setup,
	// initialisation, paranoia-level skips, the blocking evaluation).
	Rules []int
	// Matched are the ids of every rule that matched, with RecordAll.
	Matched []int
	// BodyOverCap says the body was longer than MaxBodyBytes and was not
	// inspected.
	BodyOverCap bool
}

// Inspect runs the request in through the CRS. body is the request body
// (nil when it has none or the caller could not read it); bodyOverCap
// says it was longer than the cap and left out. Inspect never fails: a
// request the WAF cannot take apart is reported by the rules that say so
// (a body that does not parse is denied by rule 200002).
func (w *WAF) Inspect(in *request.Input, body []byte, bodyOverCap bool) Result {
	tx := w.waf.NewTransaction()
	defer func() {
		tx.ProcessLogging()
		_ = tx.Close()
	}()
	client, cport := splitPeer(in.Peer)
	if in.PeerAddr.IsValid() {
		client = in.PeerAddr.String()
	}
	tx.ProcessConnection(client, cport, "", 0)
	target := in.Target
	if target == "" {
		target = in.Path
		if in.RawQuery != "" {
			target += "?" + in.RawQuery
		}
	}
	tx.ProcessURI(target, in.Method, "HTTP/1.1")
	if in.Header != nil {
		in.Header.Names(func(name string) {
			for _, v := range in.Header.Values(name) {
				tx.AddRequestHeader(name, v)
			}
		})
	}
	if in.Host != "" {
		tx.AddRequestHeader("Host", in.Host)
		tx.SetServerName(in.Host)
	}
	it := tx.ProcessRequestHeaders()
	if it == nil && len(body) > 0 && tx.IsRequestBodyAccessible() {
		if it, _, _ = tx.WriteRequestBody(body); it == nil {
			it, _ = tx.ProcessRequestBody()
		}
	} else if it == nil {
		it, _ = tx.ProcessRequestBody()
	}
	return w.result(tx, it, bodyOverCap)
}

func (w *WAF) result(tx types.Transaction, it *types.Interruption, overCap bool) Result {
	r := Result{BodyOverCap: overCap}
	if st, ok := tx.(plugintypes.TransactionState); ok {
		if vs := st.Variables().TX().Get("blocking_inbound_anomaly_score"); len(vs) > 0 {
			r.Score, _ = strconv.Atoi(vs[0])
		}
	}
	if it == nil {
		if d, ok := tx.(interface{ DetectionOnlyInterruption() *types.Interruption }); ok {
			it = d.DetectionOnlyInterruption()
		}
	}
	if it != nil {
		r.Blocked, r.Rule = true, it.RuleID
	}
	for _, m := range tx.MatchedRules() {
		if w.opts.RecordAll && !slices.Contains(r.Matched, m.Rule().ID()) {
			r.Matched = append(r.Matched, m.Rule().ID())
		}
		// Rules that find something log a message; the rest (paranoia
		// skips, body-processor switches, exclusions) have none.
		if id := m.Rule().ID(); m.Message() != "" && !bookkeeping(Family(id)) && !slices.Contains(r.Rules, id) {
			r.Rules = append(r.Rules, id)
		}
	}
	slices.Sort(r.Rules)
	return r
}

// bookkeeping reports whether a rule of family (its id / 1000) is CRS
// bookkeeping rather than a finding: setup (900), initialisation (901),
// common exceptions (905, 999) and the blocking evaluation (949).
func bookkeeping(family int) bool {
	switch family {
	case 900, 901, 905, 949, 999:
		return true
	}
	return false
}

// Family returns the CRS rule family of id: 942 for 942100 (SQL
// injection), 200 for the body-parsing rules.
func Family(id int) int { return id / 1000 }

func splitPeer(peer string) (string, int) {
	host, port, err := net.SplitHostPort(peer)
	if err != nil {
		return peer, 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// Guard is the WAF as a content guard of the request parser
// (request.Check): it peeks at the body up to the cap, inspects the
// request, and adds a finding when the CRS scored it: reason waf_blocked,
// status 403, the score and the matched rule ids; it refuses when the CRS
// would block, and enforces that when Enforce is set.
type Guard struct {
	WAF     *WAF
	Enforce bool
}

// Check inspects in and records what the CRS found on v.
func (g Guard) Check(in *request.Input, v *request.View) {
	body, over := g.body(in)
	r := g.WAF.Inspect(in, body, over)
	if r.Score <= 0 && !r.Blocked {
		return
	}
	v.Findings = append(v.Findings, request.Finding{Guard: "waf", Reason: "waf_blocked", Status: 403,
		Detail: detail(r, g.WAF.opts.AnomalyThreshold), Score: r.Score, Rules: r.Rules, Refuse: r.Blocked, Enforce: g.Enforce})
}

// body peeks at in's body up to the cap. A Content-Length over the cap
// is over it without reading; a body without one (chunked) that the peek
// cannot take whole is inspected without its body.
func (g Guard) body(in *request.Input) (body []byte, over bool) {
	if in.Body == nil {
		return nil, false
	}
	if in.Header != nil {
		if cl := in.Header.Get("Content-Length"); cl != "" {
			n, err := strconv.ParseInt(cl, 10, 64)
			switch {
			case err == nil && n == 0:
				return nil, false
			case err == nil && n > int64(g.WAF.opts.MaxBodyBytes):
				return nil, true
			}
		}
	}
	return in.Body.Peek(g.WAF.opts.MaxBodyBytes), false
}

// detail is the finding's one line: the rules, the score and the
// threshold.
func detail(r Result, threshold int) string {
	var b strings.Builder
	b.WriteString("OWASP CRS rules ")
	for i, id := range r.Rules {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(r.Rules)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(id))
	}
	if len(r.Rules) == 0 {
		fmt.Fprintf(&b, "%d", r.Rule)
	}
	fmt.Fprintf(&b, " matched: anomaly score %d (blocking at %d)", r.Score, threshold)
	if r.BodyOverCap {
		b.WriteString("; the body was over the inspection cap and not inspected")
	}
	return b.String()
}

var _ request.Check = Guard{}
