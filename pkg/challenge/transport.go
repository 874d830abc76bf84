package challenge

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// Transport is an http.RoundTripper that answers abuseguard challenges:
// it sends the pass it holds for the request's host, and when the answer
// is a challenge it solves it (within Solver's bounds) and retries the
// request with the solution, keeping the pass that comes back for later
// requests. It is safe for concurrent use; the zero Transport uses
// http.DefaultTransport and a zero Solver.
//
// A request whose body cannot be replayed (Body set, GetBody nil) is not
// retried: its challenge answer is returned as is. So is the answer to a
// challenge above Solver.MaxDifficulty. When the request's context ends
// during a solve, RoundTrip returns the context's error.
type Transport struct {
	Base   http.RoundTripper // default http.DefaultTransport
	Solver Solver
	// MaxSolves bounds the solves for one request (a solution can be
	// refused when it arrives too late); 0 means 2.
	MaxSolves int
	// OnSolve, when set, is called after each solve attempt with its cost
	// and error (nil when solved).
	OnSolve func(c Challenge, st Stats, err error)

	mu     sync.Mutex
	passes map[string]string // host -> pass
}

var _ http.RoundTripper = (*Transport)(nil)

// Pass returns the pass held for host ("" when none).
func (t *Transport) Pass(host string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.passes[host]
}

func (t *Transport) setPass(host, pass string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pass == "" {
		delete(t.passes, host)
		return
	}
	if t.passes == nil {
		t.passes = make(map[string]string)
	}
	t.passes[host] = pass
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip sends req, solving the challenges its answers carry.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	maxSolves := t.MaxSolves
	if maxSolves <= 0 {
		maxSolves = 2
	}
	out := req
	if pass := t.Pass(host); pass != "" && req.Header.Get(PassHeader) == "" {
		out = req.Clone(req.Context())
		out.Header.Set(PassHeader, pass)
	}
	for solves := 0; ; solves++ {
		resp, err := t.base().RoundTrip(out)
		if err != nil {
			return nil, err
		}
		if pass := resp.Header.Get(PassHeader); ValidToken(pass) {
			t.setPass(host, pass)
		}
		c, ok := challengeOf(resp)
		if !ok {
			return resp, nil
		}
		// A challenge: the pass sent, if any, no longer works.
		if sent := out.Header.Get(PassHeader); sent != "" && t.Pass(host) == sent {
			t.setPass(host, "")
		}
		if solves == maxSolves || req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return resp, nil
		}
		sol, st, err := t.Solver.Solve(req.Context(), c)
		if t.OnSolve != nil {
			t.OnSolve(c, st, err)
		}
		var tooHard *TooHardError
		if errors.As(err, &tooHard) {
			return resp, nil
		}
		drain(resp)
		if err != nil {
			return nil, err
		}
		out = req.Clone(req.Context())
		out.Header.Del(PassHeader)
		out.Header.Set(SolutionHeader, sol.String())
		if req.GetBody != nil {
			if out.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// challengeOf returns the challenge a response carries: a 429 (or 403)
// with an AbuseguardPoW WWW-Authenticate header.
func challengeOf(resp *http.Response) (Challenge, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusForbidden {
		return Challenge{}, false
	}
	for _, v := range resp.Header.Values("Www-Authenticate") {
		if c, err := ParseWWWAuthenticate(v); err == nil {
			return c, true
		}
	}
	return Challenge{}, false
}

// drain reads a little of resp's body so its connection can be reused,
// and closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}
