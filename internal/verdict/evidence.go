package verdict

import "time"

// Evidence is one signal as remembered for a decision or an explanation:
// what a detector (or rule) found, in terms a person can check.
type Evidence struct {
	Time      time.Time `json:"time"`
	Detector  string    `json:"detector"`
	Summary   string    `json:"summary"`
	Count     float64   `json:"count"`
	Threshold float64   `json:"threshold"`
	Window    string    `json:"window"` // Go duration string, "" when the signal has no window
	Weight    float64   `json:"weight"`
	RequestID string    `json:"request_id"`
}

// Outcome is what happened to a request a front let through, as the front
// learned it after the response: the detectors count failures, 404s and
// slow calls from it.
type Outcome struct {
	Status        int
	Latency       time.Duration
	Bytes         int64
	UpstreamError bool // the upstream could not be reached or timed out
	// Cost is what the upstream reported the request cost (the route's
	// cost header), 0 when it reported nothing.
	Cost int64
	// Guard is true when the guard answered the request itself (a refusal
	// on the way to the upstream, or a replayed log line recording a
	// guard's refusal): detectors never learn from the guard's own
	// answers, or a refused client would be flagged again for the 403s and
	// 429s it was given.
	Guard bool
}
