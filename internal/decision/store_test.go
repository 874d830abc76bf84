package decision

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/internal/verdict"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func open(t testing.TB, opts Options) *Local {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func add(t testing.TB, s *Local, d Decision) Decision {
	t.Helper()
	got, added, err := s.Add(d)
	if err != nil {
		t.Fatal(err)
	}
	if !added {
		t.Fatalf("Add(%s %s:%s) kept %s %s", d.Action, d.Scope, d.Value, got.ID, got.Action)
	}
	return got
}

func probing(ip string, at time.Time) Decision {
	return Decision{
		Scope: verdict.ScopeIP, Value: ip, Action: verdict.Block, Reason: "probing", Source: "detector:probing", Score: 80,
		Evidence: []verdict.Evidence{{
			Time: at, Detector: "probing", Summary: "23 distinct 404 paths in 5m0s",
			Count: 23, Threshold: 20, Window: "5m0s", Weight: 40, RequestID: "req-1",
		}},
	}
}

func TestActiveUntilExpires(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Now: c.Now})
	if s.Active(verdict.ScopeIP, []byte("203.0.113.7"), c.Now().UnixNano()) != nil {
		t.Fatal("empty store has an active decision")
	}
	d := add(t, s, probing("203.0.113.7", c.Now()))
	if d.ID == "" || !d.Created.Equal(t0) || d.Offense != 1 || d.Mode != verdict.Enforce {
		t.Fatalf("added %+v", d)
	}
	if want := t0.Add(5 * time.Minute); !d.Expires.Equal(want) {
		t.Fatalf("expires %s, want %s (first ladder step)", d.Expires, want)
	}
	ip := []byte("203.0.113.7")
	exp := d.Expires.UnixNano()
	if got := s.Active(verdict.ScopeIP, ip, exp-1); got == nil || got.ID != d.ID {
		t.Fatalf("Active just before expiry = %v", got)
	}
	if got := s.Active(verdict.ScopeIP, ip, exp); got != nil {
		t.Fatalf("Active at Expires = %v, want nil", got)
	}
	for _, miss := range []struct {
		sc verdict.Scope
		v  string
	}{{verdict.ScopeKey, "203.0.113.7"}, {verdict.ScopeIP, "203.0.113.8"}, {0, "203.0.113.7"}, {200, "203.0.113.7"}} {
		if s.Active(miss.sc, []byte(miss.v), t0.UnixNano()) != nil {
			t.Errorf("Active(%d, %s) found a decision", miss.sc, miss.v)
		}
	}
	if allocs := testing.AllocsPerRun(1000, func() { s.Active(verdict.ScopeIP, ip, t0.UnixNano()) }); allocs != 0 {
		t.Errorf("Active allocates %.1f times per call", allocs)
	}
	if got, ok := s.Get(d.ID); !ok || !reflect.DeepEqual(got, d) {
		t.Errorf("Get = %+v, %v; want %+v", got, ok, d)
	}
	if got := s.ForEntity(verdict.ScopeIP, "203.0.113.7", c.Now()); len(got) != 1 || got[0].ID != d.ID {
		t.Errorf("ForEntity = %+v", got)
	}
	c.Advance(5 * time.Minute)
	if _, ok := s.Get(d.ID); ok {
		t.Error("Get finds an expired decision")
	}
	if got := s.List(c.Now()); len(got) != 0 {
		t.Errorf("List after expiry = %+v", got)
	}
	if s.Len() != 1 {
		t.Errorf("Len before Sweep = %d, want 1 (expired, not yet swept)", s.Len())
	}
	if n := s.Sweep(c.Now()); n != 1 || s.Len() != 0 {
		t.Errorf("Sweep = %d, Len = %d; want 1, 0", n, s.Len())
	}
}

func TestEscalationLadder(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Now: c.Now})
	steps := []struct {
		offense int
		ttl     time.Duration
	}{{1, 5 * time.Minute}, {2, time.Hour}, {3, 24 * time.Hour}, {4, 24 * time.Hour}}
	for _, st := range steps {
		d := add(t, s, probing("203.0.113.7", c.Now()))
		if d.Offense != st.offense || d.Expires.Sub(d.Created) != st.ttl {
			t.Fatalf("offense %d: got offense %d, TTL %s; want TTL %s", st.offense, d.Offense, d.Expires.Sub(d.Created), st.ttl)
		}
		c.Advance(st.ttl) // expired exactly now
	}
	// Another entity starts at the bottom of the ladder.
	if d := add(t, s, probing("203.0.113.8", c.Now())); d.Offense != 1 || d.Expires.Sub(d.Created) != 5*time.Minute {
		t.Fatalf("other entity: offense %d, TTL %s", d.Offense, d.Expires.Sub(d.Created))
	}
	// The last offense (4) was 24h ago; the others are older. Once the
	// offense memory has passed since the last one, the entity starts over.
	c.Advance(DefaultOffenseMemory - 24*time.Hour - time.Nanosecond)
	if d := add(t, s, probing("203.0.113.7", c.Now())); d.Offense != 2 {
		t.Fatalf("within the offense memory of the 4th offense: offense %d, want 2 (older ones forgotten)", d.Offense)
	}
	c.Advance(DefaultOffenseMemory)
	if d := add(t, s, probing("203.0.113.7", c.Now())); d.Offense != 1 || d.Expires.Sub(d.Created) != 5*time.Minute {
		t.Fatalf("after the offense memory: offense %d, TTL %s; want 1, 5m", d.Offense, d.Expires.Sub(d.Created))
	}
}

func TestLadderCappedByMaxTTL(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Now: c.Now, Ladder: []time.Duration{time.Hour, 48 * time.Hour}, MaxTTL: 12 * time.Hour})
	d := add(t, s, probing("203.0.113.7", c.Now()))
	c.Advance(time.Hour)
	d = add(t, s, probing("203.0.113.7", c.Now()))
	if d.Expires.Sub(d.Created) != 12*time.Hour {
		t.Fatalf("TTL %s, want the 12h cap", d.Expires.Sub(d.Created))
	}
	// Explicit expiries: automatic ones capped by MaxTTL, manual ones by MaxManualTTL.
	auto := Decision{Scope: verdict.ScopeKey, Value: "k_1", Action: verdict.Throttle, Source: "rule:x", Expires: c.Now().Add(100 * time.Hour)}
	if d := add(t, s, auto); d.Expires.Sub(d.Created) != 12*time.Hour {
		t.Errorf("automatic explicit TTL %s, want 12h", d.Expires.Sub(d.Created))
	}
	manual := Decision{Scope: verdict.ScopeKey, Value: "k_2", Action: verdict.Block, Source: SourceManual, Expires: c.Now().Add(400 * 24 * time.Hour)}
	if d := add(t, s, manual); d.Expires.Sub(d.Created) != DefaultMaxManualTTL {
		t.Errorf("manual TTL %s, want %s", d.Expires.Sub(d.Created), DefaultMaxManualTTL)
	}
	manual.Value, manual.Expires = "k_3", c.Now().Add(30*24*time.Hour)
	if d := add(t, s, manual); d.Expires.Sub(d.Created) != 30*24*time.Hour {
		t.Errorf("manual TTL %s, want 720h", d.Expires.Sub(d.Created))
	}
}

func TestStrongerReplaces(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Now: c.Now})
	throttle := Decision{Scope: verdict.ScopeIP, Value: "203.0.113.7", Action: verdict.Throttle, Reason: "risk_score", Source: "score",
		Expires:  c.Now().Add(2 * time.Hour),
		Evidence: []verdict.Evidence{{Detector: "scraping", Summary: "first"}}}
	first := add(t, s, throttle)

	block := probing("203.0.113.7", c.Now())                      // the same incident escalating: offense 1 -> 5m, shorter than the throttle's 2h
	block.Evidence = append(block.Evidence, throttle.Evidence[0]) // evidence both hold is kept once
	c.Advance(time.Minute)
	second := add(t, s, block)
	if second.ID == first.ID || second.Action != verdict.Block || second.Offense != 1 {
		t.Fatalf("replacement %+v, want a new block that stays offense 1", second)
	}
	if !second.Expires.Equal(first.Expires) {
		t.Errorf("replacement expires %s, want the later %s", second.Expires, first.Expires)
	}
	if len(second.Evidence) != 2 || second.Evidence[0].Detector != "probing" || second.Evidence[1].Summary != "first" {
		t.Errorf("replacement evidence %+v, want its own then the replaced one's", second.Evidence)
	}
	if _, ok := s.Get(first.ID); ok || s.Len() != 1 {
		t.Errorf("replaced decision still held (Len %d)", s.Len())
	}

	for _, weaker := range []Decision{
		throttle,
		{Scope: verdict.ScopeIP, Value: "203.0.113.7", Action: verdict.Challenge},
		{Scope: verdict.ScopeIP, Value: "203.0.113.7", Action: verdict.Block},                       // equal
		{Scope: verdict.ScopeIP, Value: "203.0.113.7", Action: verdict.Block, Mode: verdict.Shadow}, // shadow never replaces enforce
	} {
		got, added, err := s.Add(weaker)
		if err != nil || added || got.ID != second.ID {
			t.Errorf("Add(%s %s) = %s, %v, %v; want the block kept", weaker.Action, weaker.Mode, got.ID, added, err)
		}
	}

	// Enforcement outranks a shadow decision of any action.
	shadow := add(t, s, Decision{Scope: verdict.ScopeKey, Value: "k_1", Action: verdict.Block, Mode: verdict.Shadow})
	if d := s.Active(verdict.ScopeKey, []byte("k_1"), c.Now().UnixNano()); d == nil || d.Enforced() {
		t.Fatalf("Active shadow = %+v", d)
	}
	enforced := add(t, s, Decision{Scope: verdict.ScopeKey, Value: "k_1", Action: verdict.Throttle})
	if enforced.ID == shadow.ID || !enforced.Enforced() {
		t.Errorf("enforced throttle did not replace a shadow block: %+v", enforced)
	}
}

func TestRestartKeepsDecisionsAndOffenses(t *testing.T) {
	c := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "decisions.db")
	s, err := Open(Options{Path: path, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	long := add(t, s, probing("2001:db8::1", c.Now()))
	c.Advance(5 * time.Minute)
	long = add(t, s, probing("2001:db8::1", c.Now())) // offense 2: 1h
	short := add(t, s, probing("203.0.113.9", c.Now()))
	removed := add(t, s, Decision{Scope: verdict.ScopeUser, Value: "alice", Action: verdict.Block, Source: SourceManual, Expires: c.Now().Add(time.Hour)})
	if ok, err := s.Remove(removed.ID); !ok || err != nil {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	c.Advance(10 * time.Minute) // short (5m) has expired, long (1h) has not
	s = open(t, Options{Path: path, Now: c.Now})
	got, ok := s.Get(long.ID)
	if !ok || !reflect.DeepEqual(got, long) {
		t.Fatalf("after reopen Get(long) = %+v, %v\nwant %+v", got, ok, long)
	}
	if d := s.Active(verdict.ScopeIP, []byte("2001:db8::1"), c.Now().UnixNano()); d == nil || d.ID != long.ID {
		t.Fatalf("after reopen Active = %v", d)
	}
	if _, ok := s.Get(short.ID); ok {
		t.Error("expired decision survived reopen")
	}
	if _, ok := s.Get(removed.ID); ok {
		t.Error("removed decision came back after reopen")
	}
	if s.Len() != 1 {
		t.Errorf("Len after reopen = %d, want 1", s.Len())
	}
	c.Advance(time.Hour)
	if d := add(t, s, probing("2001:db8::1", c.Now())); d.Offense != 3 || d.Expires.Sub(d.Created) != 24*time.Hour {
		t.Errorf("offense after reopen = %d, TTL %s; want 3, 24h", d.Offense, d.Expires.Sub(d.Created))
	}
	if d := add(t, s, probing("203.0.113.9", c.Now())); d.Offense != 2 {
		t.Errorf("offense of the expired one's entity after reopen = %d, want 2", d.Offense)
	}
	if st := s.Stats(); st.Discarded != 0 || st.PersistErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMaxDecisions(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Now: c.Now, MaxDecisions: 3})
	ttls := []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour, 4 * time.Hour}
	var ds []Decision
	for i, ttl := range ttls {
		ds = append(ds, add(t, s, Decision{Scope: verdict.ScopeKey, Value: fmt.Sprint("k_", i), Action: verdict.Block, Source: SourceManual, Expires: c.Now().Add(ttl)}))
	}
	if s.Len() != 3 || s.Stats().Dropped != 1 {
		t.Fatalf("Len %d, Dropped %d; want 3, 1", s.Len(), s.Stats().Dropped)
	}
	if _, ok := s.Get(ds[1].ID); ok {
		t.Error("the soonest-expiring decision was not the one dropped")
	}
	for _, i := range []int{0, 2, 3} {
		if _, ok := s.Get(ds[i].ID); !ok {
			t.Errorf("decision %d dropped", i)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	junk := []byte(strings.Repeat("not a bbolt file ", 1024))
	if err := os.WriteFile(corrupt, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(dir, "held.db")
	first := open(t, Options{Path: held})
	_ = first

	for _, tc := range []struct {
		name, path, want string
		opts             Options
	}{
		{"corrupt", corrupt, "decision store " + corrupt + ": not a bbolt file, or a corrupt one", Options{}},
		{"parent is a file", filepath.Join(notDir, "d.db"), "decision store " + filepath.Join(notDir, "d.db") + ": ", Options{}},
		{"locked", held, "locked by another process", Options{LockTimeout: time.Nanosecond}},
		{"bad ladder", "", "ladder step 2", Options{Ladder: []time.Duration{time.Minute, 0}}},
		{"negative max ttl", "", "max TTL is negative", Options{MaxTTL: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Path = tc.path
			s, err := Open(tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	if got, _ := os.ReadFile(corrupt); string(got) != string(junk) {
		t.Error("Open modified a file that is not a decision store")
	}
}

func TestOpenDiscardsBadRecords(t *testing.T) {
	c := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "d.db")
	s := open(t, Options{Path: path, Now: c.Now})
	good := add(t, s, probing("203.0.113.7", c.Now()))
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDecisions)
		if err := b.Put([]byte("d_garbage"), []byte("{not json")); err != nil {
			return err
		}
		return b.Put([]byte("d_badscope"), []byte(`{"id":"d_badscope","scope":"planet","value":"x","action":"block","expires":"2099-01-01T00:00:00Z"}`))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, Options{Path: path, Now: c.Now})
	if st := s.Stats(); st.Discarded != 2 || st.Active != 1 {
		t.Fatalf("stats %+v; want 2 discarded, 1 active", st)
	}
	if _, ok := s.Get(good.ID); !ok {
		t.Fatal("good decision lost")
	}
}

func TestPersistFailsOpen(t *testing.T) {
	c := clock.NewFake(t0)
	s, err := Open(Options{Path: filepath.Join(t.TempDir(), "d.db"), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.db.Close() // every later write fails
	d, added, err := s.Add(probing("203.0.113.7", c.Now()))
	if !errors.Is(err, ErrPersist) || !added {
		t.Fatalf("Add on a closed file = %v, %v; want ErrPersist, added", added, err)
	}
	if s.Active(verdict.ScopeIP, []byte("203.0.113.7"), c.Now().UnixNano()) == nil {
		t.Fatal("decision not in force after a persistence error")
	}
	if ok, err := s.Remove(d.ID); !ok || !errors.Is(err, ErrPersist) {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if s.Len() != 0 || s.Stats().PersistErrors != 2 {
		t.Errorf("Len %d, stats %+v", s.Len(), s.Stats())
	}
}

func TestAddRejects(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Now: c.Now})
	for _, tc := range []struct {
		name, field string
		d           Decision
	}{
		{"no scope", "scope", Decision{Value: "x", Action: verdict.Block}},
		{"bad scope", "scope", Decision{Scope: verdict.Scope(99), Value: "x", Action: verdict.Block}},
		{"empty value", "value", Decision{Scope: verdict.ScopeKey, Action: verdict.Block}},
		{"bad ip", "value", Decision{Scope: verdict.ScopeIP, Value: "203.0.113", Action: verdict.Block}},
		{"ip with zone", "value", Decision{Scope: verdict.ScopeIP, Value: "fe80::1%eth0", Action: verdict.Block}},
		{"prefix without bits", "value", Decision{Scope: verdict.ScopePrefix, Value: "203.0.113.0", Action: verdict.Block}},
		{"control char", "value", Decision{Scope: verdict.ScopeUser, Value: "a\nb", Action: verdict.Block}},
		{"long value", "value", Decision{Scope: verdict.ScopeUser, Value: strings.Repeat("a", verdict.MaxValueLen+1), Action: verdict.Block}},
		{"bad action", "action", Decision{Scope: verdict.ScopeKey, Value: "k", Action: verdict.Allow}},
		{"bad mode", "mode", Decision{Scope: verdict.ScopeKey, Value: "k", Action: verdict.Block, Mode: verdict.Canary}},
		{"past expiry", "expires", Decision{Scope: verdict.ScopeKey, Value: "k", Action: verdict.Block, Expires: t0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.Add(tc.d)
			var fe *verdict.FieldError
			if !errors.Is(err, verdict.ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v; want an invalid %s", err, tc.field)
			}
		})
	}
	if s.Len() != 0 {
		t.Errorf("Len %d after rejected adds", s.Len())
	}
}

func TestNormalizeValue(t *testing.T) {
	for _, tc := range []struct {
		entity, want string
	}{
		{"ip:203.0.113.7", "ip:203.0.113.7"},
		{"ip:::ffff:203.0.113.7", "ip:203.0.113.7"},
		{"ip:2001:DB8:0::1", "ip:2001:db8::1"},
		{"prefix:203.0.113.77/24", "prefix:203.0.113.0/24"},
		{"prefix:2001:db8:1:2::/48", "prefix:2001:db8:1::/48"},
		{"key:k_0123", "key:k_0123"},
		{"fingerprint:t13d1516h2_8daaf6152771", "fingerprint:t13d1516h2_8daaf6152771"},
	} {
		e, err := verdict.ParseEntity(tc.entity)
		if err != nil || e.String() != tc.want {
			t.Errorf("verdict.ParseEntity(%q) = %s, %v; want %s", tc.entity, e, err, tc.want)
		}
	}
	for _, bad := range []string{"203.0.113.7", "planet:x", "ip:", "prefix:1.2.3.4"} {
		if _, err := verdict.ParseEntity(bad); !errors.Is(err, verdict.ErrInvalid) {
			t.Errorf("verdict.ParseEntity(%q) = %v, want verdict.ErrInvalid", bad, err)
		}
	}
}

func TestAddNormalizesAndCopies(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Now: c.Now})
	ev := []verdict.Evidence{{Detector: "probing"}}
	d := add(t, s, Decision{Scope: verdict.ScopeIP, Value: "::ffff:203.0.113.7", Action: verdict.Block, Evidence: ev})
	ev[0].Detector = "changed by the caller"
	d.Evidence[0].Detector = "changed by the caller too"
	got := s.Active(verdict.ScopeIP, []byte("203.0.113.7"), c.Now().UnixNano())
	if got == nil || got.Value != "203.0.113.7" || got.Evidence[0].Detector != "probing" {
		t.Fatalf("Active = %+v", got)
	}
}

func TestSweep(t *testing.T) {
	c := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "d.db")
	s := open(t, Options{Path: path, Now: c.Now, OffenseMemory: time.Hour})
	add(t, s, probing("203.0.113.7", c.Now()))
	add(t, s, Decision{Scope: verdict.ScopeKey, Value: "k", Action: verdict.Block, Expires: c.Now().Add(time.Hour)})
	c.Advance(5 * time.Minute)
	if n := s.Sweep(c.Now()); n != 1 || s.Len() != 1 || s.Stats().Offenders != 2 {
		t.Fatalf("Sweep = %d, stats %+v", n, s.Stats())
	}
	c.Advance(time.Hour)
	if n := s.Sweep(c.Now()); n != 1 || s.Len() != 0 || s.Stats().Offenders != 0 {
		t.Fatalf("Sweep = %d, stats %+v", n, s.Stats())
	}
	s.Close()
	s = open(t, Options{Path: path, Now: c.Now, OffenseMemory: 24 * time.Hour})
	if st := s.Stats(); st.Active != 0 || st.Offenders != 0 {
		t.Fatalf("swept state came back: %+v", st)
	}
}

func TestOffendersBounded(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Now: c.Now, MaxDecisions: 2})
	for i := range 10 {
		add(t, s, Decision{Scope: verdict.ScopeKey, Value: fmt.Sprint("k_", i), Action: verdict.Block})
		c.Advance(time.Second)
	}
	if st := s.Stats(); st.Offenders != 4 || st.OffendersDropped != 6 || st.Active != 2 || st.Dropped != 8 {
		t.Fatalf("stats %+v; want 4 offenders (2 x MaxDecisions), 6 forgotten, 2 active, 8 dropped", st)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := clock.NewFake(t0)
	s := open(t, Options{Path: filepath.Join(t.TempDir(), "d.db"), Now: c.Now, MaxDecisions: 50})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				d, _, err := s.Add(Decision{Scope: verdict.ScopeIP, Value: fmt.Sprintf("203.0.113.%d", (w*100+i)%64), Action: []verdict.Action{verdict.Throttle, verdict.Block}[i%2]})
				if err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 {
					s.Remove(d.ID)
				}
				if i%13 == 0 {
					c.Advance(time.Minute)
					s.Sweep(c.Now())
				}
			}
		})
		wg.Go(func() {
			for i := range 2000 {
				if d := s.Active(verdict.ScopeIP, fmt.Appendf(nil, "203.0.113.%d", i%64), c.Now().UnixNano()); d != nil && d.Value == "" {
					t.Error("empty decision")
					return
				}
				if i%100 == 0 {
					s.List(c.Now())
				}
			}
		})
	}
	wg.Wait()
	if n := len(s.List(time.Unix(0, 0))); n != s.Len() || n > 50 {
		t.Errorf("List has %d, Len %d (max 50)", n, s.Len())
	}
}

// BenchmarkActive compares the sharded lookup with the obvious
// alternative, one RWMutex over one map keyed by scope byte + value.
func BenchmarkActive(b *testing.B) {
	s, _ := Open(Options{Now: func() time.Time { return t0 }})
	global := struct {
		sync.RWMutex
		m map[string]*Decision
	}{m: map[string]*Decision{}}
	for i := range 10_000 {
		d, _, _ := s.Add(Decision{Scope: verdict.ScopeIP, Value: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Action: verdict.Block})
		global.m[string(byte(verdict.ScopeIP))+d.Value] = &d
	}
	hit, miss := []byte("10.0.3.7"), []byte("192.0.2.1")
	now := t0.UnixNano()
	b.Run("sharded/hit", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if s.Active(verdict.ScopeIP, hit, now) == nil {
					b.Fatal("miss")
				}
			}
		})
	})
	b.Run("sharded/miss", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Active(verdict.ScopeIP, miss, now)
			}
		})
	})
	b.Run("global-rwmutex/hit", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var buf [64]byte
			for pb.Next() {
				k := append(append(buf[:0], byte(verdict.ScopeIP)), hit...)
				global.RLock()
				d := global.m[string(k)]
				global.RUnlock()
				if d == nil || now >= d.Expires.UnixNano() {
					b.Fatal("miss")
				}
			}
		})
	})
}
