package request

// Check is a content guard that Parse runs on a request once it is routed
// (the OpenAPI validator, the WAF): it reads the Input, may peek at its
// body, and appends what it found wrong to the View's Findings. It must
// be safe for concurrent use and never fail: what it cannot read is a
// finding, not an error.
type Check interface {
	Check(in *Input, v *View)
}

// Finding is what a content guard found wrong with a request. The engine
// refuses the request with Status and Reason when both Refuse and Enforce
// are set (with Refuse alone it records what the guard would have done),
// and the detectors see every finding either way (probing counts the OpenAPI
// ones as misses; the waf detector turns Score into risk).
type Finding struct {
	Guard  string // "openapi" or "waf"
	Reason string // the refusal's reason code: openapi_unknown_path, waf_blocked, ...
	Status int    // the refusal's HTTP status: 400, 403, 413
	Detail string // one line for the client and the evidence
	// Score is the WAF's inbound anomaly score (0 for other guards) and
	// Rules the ids of the WAF rules that matched.
	Score int
	Rules []int
	// Refuse says the guard would refuse the request (every OpenAPI
	// finding; a WAF finding whose score reached the threshold), and
	// Enforce that its mode is enforce rather than detection only.
	Refuse, Enforce bool
}

// Finding returns the first finding of guard, or nil.
func (v *View) Finding(guard string) *Finding {
	for i := range v.Findings {
		if v.Findings[i].Guard == guard {
			return &v.Findings[i]
		}
	}
	return nil
}
