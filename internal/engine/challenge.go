package engine

import (
	"fmt"
	"time"

	"github.com/abuseguard/abuseguard/internal/challenge"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// answer decides a request under a challenge on entity e (a decision of
// offense number offense, or a rule): a valid pass lets it through, and
// so does a valid solution, which also earns a pass and takes
// challenge.relief points off e's score. Otherwise it sets vd's challenge,
// at the difficulty the ladder asks for now, and its reason:
// challenge_required, or why the solution or pass was refused. It reports
// whether the request goes through. It never touches a block: a pass only
// answers a challenge.
func (p *Policy) answer(vd *Verdict, v *request.View, e verdict.Entity, offense int) bool {
	a := p.challenges
	b := p.bindingOf(v)
	required, least := p.difficulty(p.entityScore(e, v), offense)
	reason := "challenge_required"
	if v.Pass != "" {
		o := a.CheckPass(v.Pass, b, v.Time)
		if o == challenge.OK {
			vd.PassUsed = true
			return true
		}
		reason = o.PassReason()
	}
	if v.Solution != "" {
		r := a.Redeem(v.Solution, b, least, v.Time)
		if r.Outcome == challenge.OK {
			vd.Pass, _ = a.IssuePass(b, r.Difficulty, v.Time)
			vd.PassTTL, vd.PassCookie = a.PassTTL(), v.Hints.Has(request.SolutionCookie)
			p.relieve(v, e)
			return true
		}
		reason = r.Outcome.Reason()
	}
	vd.Challenge = a.Issue(b, required, v.Time)
	vd.Page = v.Hints.Has(request.AcceptsHTML)
	vd.Reason = reason
	return false
}

// bindingOf returns who a token for v is bound to: its network prefix,
// user agent, API key and user.
func (p *Policy) bindingOf(v *request.View) challenge.Binding {
	return challenge.Binding{Prefix: request.Prefix(v.ClientIP, p.v4, p.v6), UserAgent: v.UserAgent,
		Key: v.Identity.KeyID, User: v.Identity.User}
}

// difficulty returns the ladder's difficulty for an entity at score on
// its offense'th decision, and the least difficulty a solution may have
// been issued at: one step lower, since the challenged request itself
// adds persistence points and may tip the score over a step.
func (p *Policy) difficulty(score float64, offense int) (required, least int) {
	c := &p.Config.Challenge
	step := max(offense-1, 0)
	if over := score - p.Config.Risk.ChallengeAt; over > 0 {
		step += int(over / c.StepScore)
	}
	step = min(step, len(c.Difficulty)-1)
	return c.Difficulty[step], c.Difficulty[max(step-1, 0)]
}

// entityScore returns e's risk score now.
func (p *Policy) entityScore(e verdict.Entity, v *request.View) float64 {
	r, ok := p.shared.risk.Get(p.shared.hasher.String(byte(e.Scope), e.Value))
	if !ok {
		return 0
	}
	return r.score.Value(v.Time.UnixNano(), p.Config.Risk.HalfLife)
}

// relieve takes challenge.relief points off e's score: a solved challenge
// is evidence of a real client (or of one that paid).
func (p *Policy) relieve(v *request.View, e verdict.Entity) {
	x := p.Config.Challenge.Relief
	if x <= 0 {
		return
	}
	now := v.Time.UnixNano()
	p.shared.risk.Update(p.shared.hasher.String(byte(e.Scope), e.Value), now, func(r *risk) {
		r.score.Add(now, p.Config.Risk.HalfLife, -x)
	})
}

// sharedChallenges is the challenge authority and the settings it was
// made with: a reload with the same settings keeps it (and its replay
// cache of spent solutions).
type sharedChallenges struct {
	opts challengeKey
	a    *challenge.Authority
}

type challengeKey struct {
	secret, previous       string
	ttl, passTTL, rotation time.Duration
	replayEntries          int
}

// challengeAuthority returns the authority for c, the current one when
// its settings did not change. The secret is read from the environment
// variable c.SecretEnv; without one, a random secret (or, repeatable, a
// fixed one) lives as long as the process.
func (s *Shared) challengeAuthority(c config.Challenge) (*challenge.Authority, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := challengeKey{ttl: c.TTL, passTTL: c.PassTTL, rotation: c.Rotation, replayEntries: c.ReplayEntries}
	if c.SecretEnv != "" {
		key.secret = s.getenv(c.SecretEnv)
		if key.secret == "" && !s.dryRun {
			return nil, fmt.Errorf("challenge.secret_env: the environment variable %s is empty", c.SecretEnv)
		}
	}
	if c.PreviousSecretEnv != "" {
		key.previous = s.getenv(c.PreviousSecretEnv)
	}
	if s.challenges != nil && s.challenges.opts == key {
		return s.challenges.a, nil
	}
	opts := challenge.Options{TTL: c.TTL, PassTTL: c.PassTTL, Rotation: c.Rotation, ReplayEntries: c.ReplayEntries}
	switch {
	case key.secret != "":
		opts.Secret = []byte(key.secret)
	case s.repeatable:
		opts.Secret = []byte("abuseguard-replay")
	}
	if key.previous != "" {
		opts.PreviousSecret = []byte(key.previous)
	}
	a, err := challenge.NewAuthority(opts)
	if err != nil {
		return nil, err
	}
	s.challenges = &sharedChallenges{opts: key, a: a}
	return a, nil
}
