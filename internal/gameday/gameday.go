// Package gameday runs labelled abuse at a target and measures what the
// guard in front of it did: which attack requests reached the upstream,
// how fast each attacker was stopped, and what it cost legitimate users.
//
// A game day has three parts, one file each:
//
//   - scenarios (scenarios.go, actors.go): populations of benign users and
//     attackers, each an Actor that decides its next request from the last
//     answer; parameters come from a YAML file (defaults embedded).
//   - the runner (run.go): sends every actor's requests from its own
//     loopback source address, bounded in time, count and concurrency, on
//     the wall clock or on a virtual clock shared with an in-process guard.
//   - evaluation (evaluate.go): Results in, a Summary out. The reports
//     (summary.json, report.md, report.html and the CLI's table) are
//     rendered from it by the report subpackage.
//
// Labels never leave the simulator: nothing it sends tells the guard what
// is an attack.
package gameday

import (
	"net/netip"
	"time"
)

// Label says whether an actor is a legitimate user or an attacker.
type Label uint8

const (
	Benign Label = iota
	Attack
)

func (l Label) String() string {
	if l == Attack {
		return "attack"
	}
	return "benign"
}

// Outcome is what happened to one request, read from the answer.
type Outcome uint8

const (
	// Reached: the guard let the request through; the upstream answered.
	Reached Outcome = iota
	// Throttled, Challenged and Blocked are the guard's refusals: an
	// application/problem+json answer whose type is an abuseguard problem
	// (429 throttled or rate limited, or 503 concurrency_shed: the
	// adaptive limit shed it; 429 challenge_required; 403 or 404).
	Throttled
	Challenged
	Blocked
	// Failed: no answer (transport error, timeout) or a guard error that
	// is not a mitigation (502, 503, 504 problems).
	Failed
)

var outcomeNames = [...]string{"reached", "throttled", "challenged", "blocked", "failed"}

func (o Outcome) String() string { return outcomeNames[o] }

// Mitigated reports whether the guard stopped the request.
func (o Outcome) Mitigated() bool { return o == Throttled || o == Challenged || o == Blocked }

// ActorInfo describes one actor of a run.
type ActorInfo struct {
	Name     string       // unique in the run, e.g. "scraping-fast/1"
	Scenario string       // the scenario that made it, e.g. "scraping-fast"
	Label    Label        // benign or attack
	Group    string       // population within the scenario, e.g. "office"; may be ""
	Sources  []netip.Addr // the client addresses it sends from
}

// Result is one request and its answer.
type Result struct {
	Actor   int           // index into Run.Actors
	At      time.Duration // when it was sent, since the run's start
	Latency time.Duration // until the answer's headers (0 when Failed without answer)
	Status  int           // HTTP status; 0 when there was no answer
	Outcome Outcome
	Reason  string // the guard's reason code for a refusal, else ""
	Rule    string // what refused it: a limit, "detector:NAME" or "rule:NAME"; may be ""
}

// Run is a finished game day: what was sent, and what came back.
type Run struct {
	Target   string        // the guard's URL
	Seed     uint64        // the seed every actor's randomness derives from
	Start    time.Time     // wall or virtual time of the first request
	Duration time.Duration // the planned length
	Virtual  bool          // true when run on a virtual clock
	Actors   []ActorInfo
	Results  []Result // in the order answers arrived
	// Overhead holds paired latency samples of one benign request sent
	// to the guard and straight to the upstream, when a direct URL was
	// given; nil otherwise.
	Overhead *Overhead
	// Challenges is what each actor (by index into Actors) met and paid
	// in proof-of-work challenges; nil when no actor met one.
	Challenges []ChallengeCost
}

// Overhead is the latency of identical requests through the guard and
// straight to the upstream, sent alternately.
type Overhead struct {
	Direct  string // the upstream URL
	Guarded []time.Duration
	Bare    []time.Duration
}
