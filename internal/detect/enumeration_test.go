package detect

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

var (
	enumerationT0     = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	enumerationReset  = &request.Route{Name: "reset", Template: "POST /password/reset", Kind: "reset", Field: "email"}
	enumerationSignup = &request.Route{Name: "signup", Template: "POST /signup", Kind: "signup", Field: "email", Index: 1}
)

// enumerationTry is one signup or reset naming subject, and its answer.
type enumerationTry struct {
	route   *request.Route
	subject string
	status  int
}

func enumerationView(i int, ip string, t enumerationTry) *request.View {
	return &request.View{
		ID: "r" + strconv.Itoa(i), Time: enumerationT0.Add(time.Duration(i) * 3 * time.Second),
		ClientIP: netip.MustParseAddr(ip), Method: "POST", Path: t.route.Template[5:], Route: t.route,
		Subject: t.subject,
	}
}

// enumerationRun feeds tries from ip to d and returns the signals and the
// try (1-based) the first one came on.
func enumerationRun(d *Enumeration, ip string, tries []enumerationTry) ([]Signal, int) {
	s := &signals{}
	first := 0
	for i, t := range tries {
		v := enumerationView(i, ip, t)
		d.Request(v, s)
		d.Response(v, verdict.Outcome{Status: t.status}, s)
		if first == 0 && len(s.got) > 0 {
			first = i + 1
		}
	}
	return s.got, first
}

func TestEnumerationAttacks(t *testing.T) {
	tests := []struct {
		name  string
		tries func() []enumerationTry
	}{
		{"reset answers 404 for unknown emails", func() (ts []enumerationTry) {
			for i := range 15 {
				st := 404
				if i%5 == 0 {
					st = 200 // one in five exists
				}
				ts = append(ts, enumerationTry{enumerationReset, "s_e" + strconv.Itoa(i), st})
			}
			return ts
		}},
		{"signup answers 409 for taken emails", func() (ts []enumerationTry) {
			for i := range 15 {
				st := 409
				if i%3 == 0 {
					st = 201 // and signs up the rest
				}
				ts = append(ts, enumerationTry{enumerationSignup, "s_e" + strconv.Itoa(i), st})
			}
			return ts
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, first := enumerationRun(NewEnumeration(EnumerationConfig{}, NewHasher()), "203.0.113.70", tc.tries())
			if first < 10 || first > 14 { // the distinct estimate lags by a collision or two
				t.Fatalf("first signal on try %d, want 10..14 (%+v)", first, got)
			}
			if len(got) != 1 {
				t.Fatalf("got %d signals, want 1: %+v", len(got), got)
			}
			sig, ev := got[0], got[0].Evidence
			if sig.Detector != "enumeration" || sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.70"}) || sig.Weight != 45 || sig.Severity != Medium {
				t.Errorf("signal %+v, want enumeration on ip:203.0.113.70, weight 45, medium", sig)
			}
			if ev.Threshold != 10 || ev.Count < 10 || ev.Window != 10*time.Minute || ev.RequestID == "" {
				t.Errorf("evidence %+v, want count >= threshold 10 over 10m0s", ev)
			}
		})
	}
}

func TestEnumerationBenign(t *testing.T) {
	tests := []struct {
		name  string
		tries func() []enumerationTry
	}{
		{"a user resetting their own password a few times", func() []enumerationTry {
			return []enumerationTry{
				{enumerationReset, "s_me", 202}, {enumerationReset, "s_me", 202},
				{enumerationReset, "s_me", 202}, {enumerationReset, "s_me", 202},
			}
		}},
		{"a signup retried after a typo", func() []enumerationTry {
			return []enumerationTry{
				{enumerationSignup, "s_me@exmaple", 422}, {enumerationSignup, "s_me@example", 409},
				{enumerationSignup, "s_me2@example", 201},
			}
		}},
		{"an API that answers every reset alike leaks nothing", func() (ts []enumerationTry) {
			for i := range 60 {
				ts = append(ts, enumerationTry{enumerationReset, "s_e" + strconv.Itoa(i), 202})
			}
			return ts
		}},
		{"no identifier field", func() (ts []enumerationTry) {
			for range 60 {
				ts = append(ts, enumerationTry{enumerationReset, "", 404})
			}
			return ts
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := enumerationRun(NewEnumeration(EnumerationConfig{}, NewHasher()), "198.51.100.40", tc.tries()); len(got) != 0 {
				t.Fatalf("got %d signals, want none: %+v", len(got), got)
			}
		})
	}
}

func TestEnumerationBounded(t *testing.T) {
	d := NewEnumeration(EnumerationConfig{Common: Common{MaxEntities: 640}}, NewHasher())
	s := &signals{}
	for i := range 5000 {
		v := enumerationView(i, "10.0.0.1", enumerationTry{enumerationReset, "s_x", 404})
		v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		d.Response(v, verdict.Outcome{Status: 404}, s)
	}
	if st := d.Stats(); st.Entries > st.MaxEntries || st.Evictions == 0 || len(s.got) != 0 {
		t.Fatalf("stats = %+v, %d signals; want at most MaxEntries entries, some evictions, no signals", st, len(s.got))
	}
}

func enumerationUpdateAllocs() float64 {
	tb := NewTable[enumState](64, time.Minute)
	return testing.AllocsPerRun(100, func() { tb.Update(1, 1, func(*enumState) {}) })
}

func TestEnumerationQuietPathAllocs(t *testing.T) {
	d := NewEnumeration(EnumerationConfig{}, NewHasher())
	s := &signals{}
	v := enumerationView(1, "198.51.100.41", enumerationTry{enumerationReset, "s_me", 404})
	n := testing.AllocsPerRun(200, func() {
		d.Request(v, s)
		d.Response(v, verdict.Outcome{Status: 404}, s)
	})
	if want := enumerationUpdateAllocs(); n != want || len(s.got) != 0 {
		t.Fatalf("quiet path: %v allocs, %d signals; want %v (one table update), 0", n, len(s.got), want)
	}
}

// TestEnumerationPace checks that identifiers tried at a machine's pace
// (ten in a few seconds) weigh PaceWeight, past the challenge band, and
// that with the pace check off, or at the 3 s of TestEnumerationAttacks,
// they weigh Weight.
func TestEnumerationPace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    EnumerationConfig
		gap    time.Duration
		weight float64
	}{
		{"three a second", EnumerationConfig{}, 330 * time.Millisecond, 65},
		{"three a second, pace check off", EnumerationConfig{PaceWindow: -1}, 330 * time.Millisecond, 45},
		{"one every five seconds", EnumerationConfig{}, 5 * time.Second, 45},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewEnumeration(tc.cfg, NewHasher())
			s := &signals{}
			for i := range 15 {
				v := enumerationView(i, "203.0.113.71", enumerationTry{enumerationReset, "s_e" + strconv.Itoa(i), 404})
				v.Time = enumerationT0.Add(time.Duration(i) * tc.gap)
				d.Response(v, verdict.Outcome{Status: 404}, s)
			}
			if len(s.got) != 1 || s.got[0].Weight != tc.weight {
				t.Fatalf("signals %+v, want one of weight %v", s.got, tc.weight)
			}
			if paced := strings.Contains(s.got[0].Evidence.Summary, "machine's pace"); paced != (tc.weight == 65) {
				t.Errorf("evidence %q: names the pace %v, want %v", s.got[0].Evidence.Summary, paced, tc.weight == 65)
			}
		})
	}
}
