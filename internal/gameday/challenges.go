package gameday

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// solving is how an actor answers the guard's proof-of-work challenges.
type solving uint8

const (
	ignores solving = iota // like curl: a challenge is a refusal
	// apiClient solves with the public Go client (pkg/challenge's
	// Transport): solution and pass in headers.
	apiClient
	// browserLike solves as the interstitial page does (the same
	// puzzle, solved here in Go) and keeps the pass as the browser
	// would: in a cookie jar.
	browserLike
)

// solvers says which scenarios' actors solve challenges: the benign
// clients all do (the app, the partner and the office with the Go
// client, people as their browsers would); of the attackers only the
// slow distributed scraper pays, within a budget.
var solvers = map[string]struct {
	how           solving
	maxDifficulty int
}{
	"mobile":        {apiClient, challenge.DefaultMaxDifficulty},
	"partner-batch": {apiClient, challenge.DefaultMaxDifficulty},
	"office":        {apiClient, challenge.DefaultMaxDifficulty},
	"browsing":      {browserLike, challenge.DefaultMaxDifficulty},
	"launch-spike":  {browserLike, challenge.DefaultMaxDifficulty},
	"scraping-slow": {apiClient, 18},
}

// ChallengeCost is what one actor met and paid in challenges.
type ChallengeCost struct {
	Issued     int           // challenges answered to it (solved or not)
	Solved     int           // solutions the guard accepted
	PassesUsed int           // requests a pass let through
	Hashes     uint64        // SHA-256 computed while solving
	Solving    time.Duration // wall time spent solving
}

// solver is one actor's challenge-answering client and its costs. The
// runner sends at most one request of an actor at a time, so a solver is
// used by one goroutine at a time.
type solver struct {
	how    solving
	solve  challenge.Solver
	client *http.Client
	tr     *challenge.Transport // apiClient only
	jar    http.CookieJar       // browserLike only
	cost   ChallengeCost
}

// newSolver returns the solver of an actor of scenario, nil for one that
// ignores challenges, sending with base.
func newSolver(scenario string, base *http.Client) *solver {
	kind, ok := solvers[scenario]
	if !ok || kind.how == ignores {
		return nil
	}
	s := &solver{how: kind.how, solve: challenge.Solver{MaxDifficulty: kind.maxDifficulty, Workers: 1}}
	c := *base
	switch kind.how {
	case apiClient:
		s.tr = &challenge.Transport{Base: base.Transport, Solver: s.solve, OnSolve: s.paid}
		c.Transport = s.tr
	case browserLike:
		s.jar, _ = cookiejar.New(nil) // never fails without options
		c.Jar = s.jar
	}
	s.client = &c
	return s
}

// sendFrom makes the solver's next request go out through base (the
// client of the step's source address: an actor may rotate addresses),
// keeping its pass. No request of the actor is in flight when it is
// called.
func (s *solver) sendFrom(base *http.Client) {
	if s.tr != nil {
		s.tr.Base = base.Transport
		return
	}
	s.client.Transport = base.Transport
}

// paid counts one solve attempt.
func (s *solver) paid(_ challenge.Challenge, st challenge.Stats, err error) {
	s.cost.Issued++
	s.cost.Hashes += st.Hashes
	s.cost.Solving += st.Elapsed
	if err == nil {
		s.cost.Solved++ // the guard may still refuse it; the next answer says
	}
}

// holdsPass reports whether the actor has a pass for target.
func (s *solver) holdsPass(target *url.URL) bool {
	switch s.how {
	case apiClient:
		return s.tr.Pass(target.Host) != ""
	case browserLike:
		for _, c := range s.jar.Cookies(target) {
			if c.Name == challenge.PassCookie {
				return true
			}
		}
	}
	return false
}

// do sends req (rebuilt by again for a retry) and, for a browser-like
// actor, answers a challenge the way the interstitial page does: solve,
// leave the solution in a cookie, load the page again.
func (s *solver) do(ctx context.Context, req *http.Request, again func() (*http.Request, error)) (*http.Response, error) {
	resp, err := s.client.Do(req)
	if err != nil || s.how != browserLike {
		return resp, err
	}
	c, ok := challengeIn(resp)
	if !ok {
		return resp, nil
	}
	sol, st, err := s.solve.Solve(ctx, c)
	s.paid(c, st, err)
	var tooHard *challenge.TooHardError
	if errors.As(err, &tooHard) || err != nil {
		return resp, nil // given up: the challenge is the answer
	}
	resp.Body.Close()
	s.jar.SetCookies(req.URL, []*http.Cookie{{Name: challenge.SolutionCookie, Value: sol.Token + "." + strconv.FormatUint(sol.Nonce, 10), Path: "/"}})
	retry, err := again()
	if err != nil {
		return nil, err
	}
	return s.client.Do(retry)
}

// challengeIn returns the challenge an answer carries.
func challengeIn(resp *http.Response) (challenge.Challenge, bool) {
	if resp.StatusCode != http.StatusTooManyRequests {
		return challenge.Challenge{}, false
	}
	for _, v := range resp.Header.Values("Www-Authenticate") {
		if c, err := challenge.ParseWWWAuthenticate(v); err == nil {
			return c, true
		}
	}
	return challenge.Challenge{}, false
}

// clientOf returns the client member i sends src's requests with, and its
// solver (nil for an actor that ignores challenges). Called from the
// runner's loop only.
func (r *runner) clientOf(i int, src netip.Addr) (*http.Client, *solver) {
	base := r.client(src)
	s, ok := r.solvers[i]
	if !ok {
		s = newSolver(r.members[i].info.Scenario, base)
		if r.solvers == nil {
			r.solvers = map[int]*solver{}
		}
		r.solvers[i] = s // nil too: asked once
	}
	if s == nil {
		return base, nil
	}
	s.sendFrom(base)
	return s.client, s
}

// countChallenge records, for an actor without a solver, a challenge in
// its answer.
func (r *runner) countChallenge(i int, a *Answer) {
	if r.solvers[i] != nil || a.Outcome != Challenged {
		return
	}
	if r.costs == nil {
		r.costs = make([]ChallengeCost, len(r.members))
	}
	r.costs[i].Issued++
}

// challengeCosts returns every actor's challenge costs, nil when no actor
// met a challenge.
func (r *runner) challengeCosts() []ChallengeCost {
	out := make([]ChallengeCost, len(r.members))
	met := false
	for i := range out {
		if i < len(r.costs) {
			out[i] = r.costs[i]
		}
		if s := r.solvers[i]; s != nil {
			out[i] = s.cost
		}
		met = met || out[i] != ChallengeCost{}
	}
	if !met {
		return nil
	}
	return out
}
