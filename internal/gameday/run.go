package gameday

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// Step is one request an actor sends.
type Step struct {
	Method string
	Path   string      // path and query, e.g. "/api/products?page=2"
	Header http.Header // may be nil
	Body   []byte
	Source netip.Addr    // the client address it is sent from; loopback
	Wait   time.Duration // pause after the previous answer (or the actor's start)

	bare bool // send to Options.Direct, not the guard (latency probe only)
}

// Answer is what came back for a Step.
type Answer struct {
	At      time.Duration // when the step was sent, since the run's start
	Status  int           // 0 when there was no answer
	Outcome Outcome
	Reason  string         // the guard's reason code for a refusal
	Rule    string         // what refused it, as the guard names it
	Body    []byte         // the first maxKeptBody bytes of the body
	Cookies []*http.Cookie // the cookies the answer set
}

// Actor is one simulated client. The runner calls Next from one goroutine,
// never concurrently, and never while the actor's previous request is in
// flight.
type Actor interface {
	// Next returns the actor's next request given the answer to its
	// previous one (nil for the first), or false when it is done.
	Next(last *Answer) (Step, bool)
}

// signer is an actor that works signed in: before the scored window opens
// the runner sends its sign-in request (from the actor's home address, as
// it would have been sent earlier that day) and hands it the answer.
type signer interface {
	signIn() Step
	signedIn(a *Answer) error
}

// Options configures Simulate.
type Options struct {
	// Target is the guard's base URL; it must be a loopback address.
	Target string
	// Direct, when set, is the upstream's base URL: a latency probe then
	// sends one request alternately to Target and Direct, for the guard's
	// overhead. Loopback only.
	Direct string
	// Scenarios to run (names from Scenarios, or "mixed" for all).
	Scenarios []string
	// Params tunes the scenarios; nil means DefaultParams().
	Params *Params
	// Duration bounds the run; at most MaxDuration.
	Duration time.Duration
	// Seed makes the actors' choices (and so, on a virtual clock, the
	// whole run) reproducible.
	Seed uint64
	// Concurrency bounds requests in flight (default 128). On a virtual
	// clock requests are sent one at a time.
	Concurrency int
	// MaxRequests bounds the requests sent (default 2,000,000).
	MaxRequests int
	// ForwardedFor sends each actor's address in X-Forwarded-For from
	// 127.0.0.1 instead of binding it as the source address: for a guard
	// that trusts 127.0.0.1 as a proxy.
	ForwardedFor bool
	// Clock, when set, runs the game day on this virtual clock: the runner
	// sets it before each request, so a guard reading it sees the run's
	// timeline without waiting for the wall clock.
	Clock *VirtualClock
	// Progress, when set, is called about once a second of run time, from
	// the runner's goroutine.
	Progress func(Progress)
}

// MaxDuration bounds one game day.
const MaxDuration = time.Hour

// Progress is a running count, for a live progress line.
type Progress struct {
	Elapsed, Duration time.Duration
	Requests          int
	AttackRequests    int
	AttackMitigated   int
	BenignRequests    int
	BenignMitigated   int
}

// VirtualClock is a clock the runner moves; pass its Now to the guard.
type VirtualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewVirtualClock returns a clock reading start.
func NewVirtualClock(start time.Time) *VirtualClock { return &VirtualClock{now: start} }

// Now returns the clock's time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *VirtualClock) set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
}

const (
	maxKeptBody    = 8 << 10
	maxReadBody    = 4 << 20
	requestTimeout = 10 * time.Second
)

// Simulate runs a game day and returns what happened. It returns an error
// before sending anything when an option is invalid or a URL is not on
// loopback; a canceled ctx ends the run early with what was recorded.
func Simulate(ctx context.Context, opts Options) (*Run, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	params := opts.Params
	if params == nil {
		params = DefaultParams()
	}
	cast, err := CastScenarios(opts.Scenarios, params, opts.Seed, opts.Duration)
	if err != nil {
		return nil, err
	}
	if opts.Direct != "" {
		cast = append(cast, newProbe(params, opts.Seed, len(cast)))
	}
	r := newRunner(opts, cast)
	defer r.close()
	if err := r.signIn(ctx); err != nil {
		return nil, err
	}
	if opts.Clock != nil {
		r.virtual(ctx)
	} else {
		r.wall(ctx)
	}
	r.run.Challenges = r.challengeCosts()
	return r.run, nil
}

func (o *Options) check() error {
	if err := loopbackURL(o.Target); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if o.Direct != "" {
		if err := loopbackURL(o.Direct); err != nil {
			return fmt.Errorf("direct: %w", err)
		}
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		return fmt.Errorf("duration %s: want more than 0 and at most %s", o.Duration, MaxDuration)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 128
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 2_000_000
	}
	return nil
}

// loopbackURL checks that raw is an http URL whose host is a loopback
// address (or "localhost"): game days never send traffic anywhere else.
func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: game days only send to loopback addresses (127.0.0.0/8, ::1, localhost)", raw)
	}
	return nil
}

// member is one actor of the run with its scheduling state.
type member struct {
	info  ActorInfo
	actor Actor
	start time.Duration // when its first request may go
	step  Step          // the next request, sent when due
	done  bool
}

type runner struct {
	opts     Options
	members  []*member
	run      *Run
	clients  map[netip.Addr]*http.Client
	target   string
	direct   string
	start    time.Time
	queue    dueQueue
	seq      uint64
	sent     int
	prog     Progress
	nextTick time.Duration
	solvers  map[int]*solver // by member; nil entries for actors that ignore challenges
	costs    []ChallengeCost // challenges met by actors without a solver
}

func newRunner(opts Options, cast []Cast) *runner {
	r := &runner{
		opts:    opts,
		clients: map[netip.Addr]*http.Client{},
		target:  strings.TrimRight(opts.Target, "/"),
		direct:  strings.TrimRight(opts.Direct, "/"),
		run:     &Run{Target: opts.Target, Seed: opts.Seed, Duration: opts.Duration, Virtual: opts.Clock != nil},
	}
	for _, c := range cast {
		r.members = append(r.members, &member{info: c.Info, actor: c.Actor, start: c.Start})
		r.run.Actors = append(r.run.Actors, c.Info)
	}
	if opts.Direct != "" {
		r.run.Overhead = &Overhead{Direct: opts.Direct}
	}
	r.prog.Duration = opts.Duration
	return r
}

func (r *runner) close() {
	for _, c := range r.clients {
		c.CloseIdleConnections()
	}
}

// client returns the HTTP client that sends from src.
func (r *runner) client(src netip.Addr) *http.Client {
	if r.opts.ForwardedFor {
		src = netip.Addr{}
	}
	if c, ok := r.clients[src]; ok {
		return c
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	c := &http.Client{
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     5 * time.Second,
			DisableCompression:  true,
		},
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	r.clients[src] = c
	return c
}

// signIn sends the sign-in request of every actor that works signed in,
// one at a time, before the clock starts. On a virtual clock they go out a
// second apart, and the run starts after the last.
func (r *runner) signIn(ctx context.Context) error {
	var signers []signer
	for _, m := range r.members {
		if s, ok := m.actor.(signer); ok {
			signers = append(signers, s)
		}
	}
	origin := time.Now()
	if r.opts.Clock != nil {
		origin = r.opts.Clock.Now()
	}
	for i, s := range signers {
		step := s.signIn()
		if r.opts.Clock != nil {
			r.opts.Clock.set(origin.Add(time.Duration(i) * time.Second))
		}
		a := r.send(ctx, r.client(step.Source), nil, &step, 0)
		if a.Outcome != Reached || !signedInStatus(&a) {
			return fmt.Errorf("sign-in %d of %d (%s %s) answered %d %s: the target must let ordinary sign-ins through before the game day starts", i+1, len(signers), step.Method, step.Path, a.Status, a.Reason)
		}
		if err := s.signedIn(&a); err != nil {
			return fmt.Errorf("sign-in %d of %d: %w", i+1, len(signers), err)
		}
	}
	return ctx.Err()
}

// schedule asks m for its next step, due wait after from.
func (r *runner) schedule(i int, from time.Duration, last *Answer) {
	m := r.members[i]
	step, ok := m.actor.Next(last)
	if !ok {
		m.done = true
		return
	}
	due := from + step.Wait
	if due >= r.opts.Duration {
		m.done = true
		return
	}
	m.step = step
	r.seq++
	heap.Push(&r.queue, dueItem{at: due, seq: r.seq, member: i})
}

func (r *runner) begin() {
	for i, m := range r.members {
		r.schedule(i, m.start, nil)
	}
}

// record stores the answer to member i's step and schedules its next.
func (r *runner) record(i int, step *Step, a *Answer, latency time.Duration, now time.Duration) {
	if step.bare {
		r.run.Overhead.Bare = append(r.run.Overhead.Bare, latency)
	} else {
		if r.members[i].info.Group == probeGroup && r.run.Overhead != nil && a.Outcome == Reached {
			r.run.Overhead.Guarded = append(r.run.Overhead.Guarded, latency)
		}
		r.run.Results = append(r.run.Results, Result{Actor: i, At: a.At, Latency: latency, Status: a.Status, Outcome: a.Outcome, Reason: a.Reason, Rule: a.Rule})
		r.count(i, a)
		r.countChallenge(i, a)
	}
	r.schedule(i, now, a)
}

func (r *runner) count(i int, a *Answer) {
	p := &r.prog
	p.Requests++
	if r.members[i].info.Label == Attack {
		p.AttackRequests++
		if a.Outcome.Mitigated() {
			p.AttackMitigated++
		}
	} else {
		p.BenignRequests++
		if a.Outcome.Mitigated() {
			p.BenignMitigated++
		}
	}
}

func (r *runner) tick(now time.Duration) {
	if r.opts.Progress == nil || now < r.nextTick {
		return
	}
	r.prog.Elapsed = min(now, r.opts.Duration)
	r.opts.Progress(r.prog)
	r.nextTick = now.Truncate(time.Second) + time.Second
}

// virtual runs the game day on the virtual clock, one request at a time:
// the clock jumps to each request's due time, so the run takes as long as
// its requests take to answer, and is reproducible for a seed.
func (r *runner) virtual(ctx context.Context) {
	r.start = r.opts.Clock.Now()
	r.run.Start = r.start
	r.begin()
	for r.queue.Len() > 0 && r.sent < r.opts.MaxRequests && ctx.Err() == nil {
		d := heap.Pop(&r.queue).(dueItem)
		r.opts.Clock.set(r.start.Add(d.at))
		step := r.members[d.member].step
		c, sv := r.clientOf(d.member, step.Source)
		began := time.Now()
		a := r.send(ctx, c, sv, &step, d.at)
		latency := time.Since(began)
		r.sent++
		// The answer takes no virtual time: the next step is due its wait
		// after this one, whatever the machine's speed.
		r.record(d.member, &step, &a, latency, d.at)
		r.tick(d.at)
	}
	r.tick(r.opts.Duration)
}

type finished struct {
	member  int
	step    Step
	answer  Answer
	latency time.Duration
	at      time.Duration
}

// wall runs the game day on the wall clock with up to Concurrency
// requests in flight; each actor has at most one.
func (r *runner) wall(ctx context.Context) {
	r.start = time.Now()
	r.run.Start = r.start
	r.begin()
	done := make(chan finished, r.opts.Concurrency)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	inflight := 0
	stopping := false
	for {
		now := time.Since(r.start)
		if now >= r.opts.Duration || ctx.Err() != nil || r.sent >= r.opts.MaxRequests {
			stopping = true
		}
		for !stopping && r.queue.Len() > 0 && r.queue.peek().at <= now && inflight < r.opts.Concurrency {
			d := heap.Pop(&r.queue).(dueItem)
			step := r.members[d.member].step
			inflight++
			r.sent++
			c, sv := r.clientOf(d.member, step.Source) // here: the clients map is the loop's alone
			go func(i int, step Step) {
				began := time.Now()
				at := began.Sub(r.start)
				a := r.send(ctx, c, sv, &step, at)
				done <- finished{member: i, step: step, answer: a, latency: time.Since(began), at: time.Since(r.start)}
			}(d.member, step)
		}
		if inflight == 0 && (stopping || r.queue.Len() == 0) {
			break
		}
		wait := time.Hour
		if !stopping && r.queue.Len() > 0 && inflight < r.opts.Concurrency {
			wait = max(r.queue.peek().at-now, 0)
		}
		if !stopping {
			wait = min(wait, r.opts.Duration-now)
		}
		timer.Reset(wait)
		select {
		case f := <-done:
			inflight--
			r.record(f.member, &f.step, &f.answer, f.latency, f.at)
		case <-timer.C:
		case <-ctx.Done():
		}
		r.tick(time.Since(r.start))
	}
	r.tick(r.opts.Duration)
}

// send sends step with c (through s, when the actor solves challenges)
// and reads the answer. It never fails: a transport error is a Failed
// answer. It may run on any goroutine.
func (r *runner) send(ctx context.Context, c *http.Client, s *solver, step *Step, at time.Duration) Answer {
	a := Answer{At: at, Outcome: Failed}
	base := r.target
	if step.bare {
		base = r.direct
	}
	newRequest := func() (*http.Request, error) {
		var body io.Reader
		if step.Body != nil {
			body = bytes.NewReader(step.Body)
		}
		req, err := http.NewRequestWithContext(ctx, step.Method, base+step.Path, body)
		if err != nil {
			return nil, err
		}
		for k, vs := range step.Header {
			req.Header[k] = vs
		}
		if r.opts.ForwardedFor && step.Source.IsValid() {
			req.Header.Set("X-Forwarded-For", step.Source.String())
		}
		return req, nil
	}
	req, err := newRequest()
	if err != nil {
		a.Reason = err.Error()
		return a
	}
	var resp *http.Response
	held, solved := false, 0
	if s != nil {
		held, solved = s.holdsPass(req.URL), s.cost.Solved
		resp, err = s.do(ctx, req, newRequest)
	} else {
		resp, err = c.Do(req)
	}
	if err != nil {
		a.Reason = "transport: " + err.Error()
		return a
	}
	defer resp.Body.Close()
	a.Status = resp.StatusCode
	a.Cookies = resp.Cookies()
	a.Body, _ = io.ReadAll(io.LimitReader(resp.Body, maxKeptBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReadBody))
	a.Outcome, a.Reason, a.Rule = classify(resp.StatusCode, resp.Header.Get("Content-Type"), a.Body)
	if _, ok := challengeIn(resp); ok {
		a.Outcome = Challenged // the browser page is text/html
		if a.Reason == "" {
			a.Reason = challenge.Reason
		}
	}
	if s != nil {
		switch {
		case a.Outcome != Reached:
			s.cost.Solved = solved // a solution that did not get through was not accepted
		case s.cost.Solved == solved && held:
			s.cost.PassesUsed++
		}
	}
	return a
}

// guardProblem is the prefix of the type of every problem the guard writes.
const guardProblem = "urn:abuseguard:problem:"

// classify reads what the guard did from an answer: the outcome, the
// reason code and the rule that refused it. The guard's refusals are
// application/problem+json bodies whose type starts with guardProblem;
// anything else came from the upstream.
func classify(status int, contentType string, body []byte) (Outcome, string, string) {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/problem+json" {
		return Reached, "", ""
	}
	var p struct {
		Type string `json:"type"`
		Rule string `json:"rule"`
	}
	if json.Unmarshal(body, &p) != nil || !strings.HasPrefix(p.Type, guardProblem) {
		return Reached, "", ""
	}
	reason := strings.TrimPrefix(p.Type, guardProblem)
	switch {
	case reason == "concurrency_shed":
		return Throttled, reason, p.Rule // the adaptive limit held it back
	case status >= 500:
		return Failed, reason, p.Rule // the guard could not reach the upstream
	case strings.HasPrefix(reason, "challenge_") || strings.HasPrefix(reason, "pass_"):
		return Challenged, reason, p.Rule // challenge_required, or a refused solution or pass with a new challenge
	case status == http.StatusTooManyRequests:
		return Throttled, reason, p.Rule
	default:
		return Blocked, reason, p.Rule // 403, 404 unknown_route, 401 refused credentials, 4xx refusals
	}
}

// dueItem is a member's next request in the queue.
type dueItem struct {
	at     time.Duration
	seq    uint64
	member int
}

// dueQueue is a min-heap by due time, then by scheduling order.
type dueQueue []dueItem

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(dueItem)) }
func (q *dueQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
func (q dueQueue) peek() dueItem { return q[0] }
