package challenge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// toyGuard challenges every request without a pass at difficulty, checks
// solutions with challenge.Check, and hands out the pass "p1". It stands
// in for abuseguard in these tests of the client alone (the guard's own
// tests run this client against the real proxy).
type toyGuard struct {
	difficulty int
	alwaysFail bool        // refuse every solution
	revoked    atomic.Bool // refuse the pass
	requests   atomic.Int32
	onRequest  func()
}

const toyToken = "toy-token_0123456789"

func (g *toyGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	if g.onRequest != nil {
		g.onRequest()
	}
	if r.Header.Get(challenge.PassHeader) == "p1" && !g.revoked.Load() {
		fmt.Fprint(w, "hello")
		return
	}
	if s, err := challenge.ParseSolution(r.Header.Get(challenge.SolutionHeader)); err == nil && !g.alwaysFail &&
		s.Token == toyToken && challenge.Check(s.Token, s.Nonce, g.difficulty) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set(challenge.PassHeader, "p1")
		fmt.Fprintf(w, "hello %s", body)
		return
	}
	c := challenge.Challenge{Algorithm: challenge.Algorithm, Token: toyToken, Difficulty: g.difficulty}
	w.Header().Set("Www-Authenticate", c.WWWAuthenticate())
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprint(w, `{"reason":"challenge_required"}`)
}

// Example shows a client that gets through a challenge: the Transport
// solves it, retries with the solution and keeps the pass for later
// requests.
func Example() {
	guard := httptest.NewServer(&toyGuard{difficulty: 12})
	defer guard.Close()

	solves := 0
	client := &http.Client{Transport: &challenge.Transport{
		Solver:  challenge.Solver{MaxDifficulty: 20}, // refuse anything costlier than ~1M hashes
		OnSolve: func(challenge.Challenge, challenge.Stats, error) { solves++ },
	}}
	for range 3 {
		resp, err := client.Get(guard.URL + "/v1/items")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Println("solved", solves, "time(s)")
	// Output:
	// 200 hello
	// 200 hello
	// 200 hello
	// solved 1 time(s)
}

func TestTransportReplaysBody(t *testing.T) {
	g := &toyGuard{difficulty: 4}
	srv := httptest.NewServer(g)
	defer srv.Close()
	client := &http.Client{Transport: &challenge.Transport{}}
	resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("the body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello the body" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
}

func TestTransportBounds(t *testing.T) {
	t.Run("too hard: the challenge comes back untouched", func(t *testing.T) {
		srv := httptest.NewServer(&toyGuard{difficulty: 30})
		defer srv.Close()
		var hashes uint64
		tr := &challenge.Transport{Solver: challenge.Solver{MaxDifficulty: 16},
			OnSolve: func(_ challenge.Challenge, st challenge.Stats, _ error) { hashes += st.Hashes }}
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || hashes != 0 {
			t.Fatalf("%d after %d hashes", resp.StatusCode, hashes)
		}
	})
	t.Run("cancelled while solving", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv := httptest.NewServer(&toyGuard{difficulty: 40, onRequest: cancel})
		defer srv.Close()
		tr := &challenge.Transport{Solver: challenge.Solver{MaxDifficulty: 48}}
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		_, err := tr.RoundTrip(req)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("a body that cannot be replayed is not retried", func(t *testing.T) {
		g := &toyGuard{difficulty: 4}
		srv := httptest.NewServer(g)
		defer srv.Close()
		req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader("once")))
		req.GetBody = nil
		resp, err := (&challenge.Transport{}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || g.requests.Load() != 1 {
			t.Fatalf("%d after %d requests", resp.StatusCode, g.requests.Load())
		}
	})
	t.Run("solves at most MaxSolves times", func(t *testing.T) {
		g := &toyGuard{difficulty: 2, alwaysFail: true}
		srv := httptest.NewServer(g)
		defer srv.Close()
		resp, err := (&http.Client{Transport: &challenge.Transport{MaxSolves: 3}}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || g.requests.Load() != 4 {
			t.Fatalf("%d after %d requests, want 429 after 1 + 3", resp.StatusCode, g.requests.Load())
		}
	})
}

func TestTransportDropsRefusedPass(t *testing.T) {
	g := &toyGuard{difficulty: 2}
	srv := httptest.NewServer(g)
	defer srv.Close()
	tr := &challenge.Transport{}
	client := &http.Client{Transport: tr}
	get := func() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get()
	host := strings.TrimPrefix(srv.URL, "http://")
	if tr.Pass(host) != "p1" {
		t.Fatalf("pass %q", tr.Pass(host))
	}
	if tr.Pass("other.example:80") != "" {
		t.Fatal("a pass for another host")
	}
	g.revoked.Store(true)
	g.alwaysFail = true
	get()
	if tr.Pass(host) != "" {
		t.Fatalf("kept the refused pass %q", tr.Pass(host))
	}
}
