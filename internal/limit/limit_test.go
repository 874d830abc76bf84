package limit

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).UnixNano()

func TestGCRABurstThenRefill(t *testing.T) {
	r := PerPeriod(5, time.Minute, 5) // 5/min, burst 5: one token every 12s
	var s State
	var res Result
	for i := range 5 {
		s, res = GCRA(s, t0, r, 1)
		if !res.Allowed {
			t.Fatalf("request %d denied within burst", i+1)
		}
		if res.Remaining != int64(4-i) {
			t.Fatalf("request %d remaining = %d, want %d", i+1, res.Remaining, 4-i)
		}
	}
	if res.Reset != time.Minute {
		t.Errorf("reset after full burst = %v, want 1m", res.Reset)
	}
	before := s
	s, res = GCRA(s, t0, r, 1)
	if res.Allowed || res.RetryAfter != 12*time.Second || res.Remaining != 0 {
		t.Fatalf("6th request = %+v, want denied, retry 12s, remaining 0", res)
	}
	if s != before {
		t.Fatalf("a denied request changed the state")
	}
	s, res = GCRA(s, t0+int64(12*time.Second)-1, r, 1)
	if res.Allowed {
		t.Fatal("allowed 1ns before the next token")
	}
	s, res = GCRA(s, t0+int64(12*time.Second), r, 1)
	if !res.Allowed || res.Remaining != 0 {
		t.Fatalf("request at next token = %+v", res)
	}
	// A key idle past its TAT is a fresh key.
	_, res = GCRA(s, t0+int64(time.Hour), r, 1)
	if !res.Allowed || res.Remaining != 4 {
		t.Fatalf("after idle = %+v, want allowed with 4 remaining", res)
	}
}

func TestGCRASustainedRate(t *testing.T) {
	r := PerPeriod(10, time.Second, 1) // strictly one per 100ms
	var s State
	allowed := 0
	for i := range 1000 { // one request per 10ms for 10s
		var res Result
		s, res = GCRA(s, t0+int64(i)*int64(10*time.Millisecond), r, 1)
		if res.Allowed {
			allowed++
		}
	}
	if allowed != 100 {
		t.Fatalf("allowed %d of 1000 over 10s at 10/s, want 100", allowed)
	}
}

func TestGCRACost(t *testing.T) {
	r := PerPeriod(10, time.Second, 10)
	s, res := GCRA(State{}, t0, r, 7)
	if !res.Allowed || res.Remaining != 3 {
		t.Fatalf("cost 7 = %+v", res)
	}
	if _, res = GCRA(s, t0, r, 4); res.Allowed {
		t.Fatal("cost 4 with 3 remaining allowed")
	}
}

func TestCountQuota(t *testing.T) {
	end := t0 + int64(time.Hour)
	var s State
	var res Result
	for i := range 3 {
		s, res = CountQuota(s, t0, end, 3, 1)
		if !res.Allowed || res.Remaining != int64(2-i) {
			t.Fatalf("request %d = %+v", i+1, res)
		}
	}
	s, res = CountQuota(s, t0+1, end, 3, 1)
	if res.Allowed || res.RetryAfter != time.Hour-1 {
		t.Fatalf("over quota = %+v", res)
	}
	next := end + int64(24*time.Hour)
	_, res = CountQuota(s, end, next, 3, 1)
	if !res.Allowed || res.Remaining != 2 {
		t.Fatalf("new period = %+v, want a fresh count", res)
	}
}

func TestSlots(t *testing.T) {
	lease := time.Minute
	s, res := AcquireSlot(State{}, t0, 2, lease)
	s, res2 := AcquireSlot(s, t0, 2, lease)
	if !res.Allowed || !res2.Allowed || res2.Remaining != 0 {
		t.Fatalf("acquire = %+v %+v", res, res2)
	}
	if _, res = AcquireSlot(s, t0, 2, lease); res.Allowed {
		t.Fatal("third slot of 2 allowed")
	}
	s = ReleaseSlot(s, t0)
	if s, res = AcquireSlot(s, t0, 2, lease); !res.Allowed {
		t.Fatal("slot not reusable after release")
	}
	// Leaked slots are reclaimed after the lease.
	if _, res = AcquireSlot(s, t0+int64(lease), 2, lease); !res.Allowed || res.Remaining != 1 {
		t.Fatalf("after lease = %+v, want a reclaimed state", res)
	}
	if got := ReleaseSlot(ReleaseSlot(State{N: 1, Expires: t0 + 1}, t0), t0); got != (State{}) {
		t.Fatalf("over-release = %+v", got)
	}
}

func TestCalendarBounds(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		cal        Calendar
		at         time.Time
		start, end string
	}{
		{"utc day", Calendar{Day, time.UTC}, time.Date(2026, 11, 28, 23, 59, 0, 0, time.UTC),
			"2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"},
		{"berlin day seen from utc", Calendar{Day, berlin}, time.Date(2026, 11, 28, 23, 30, 0, 0, time.UTC),
			"2026-11-29T00:00:00+01:00", "2026-11-30T00:00:00+01:00"},
		{"dst day is 23h", Calendar{Day, berlin}, time.Date(2026, 3, 29, 12, 0, 0, 0, berlin),
			"2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"},
		{"month", Calendar{Month, time.UTC}, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC),
			"2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, e := tt.cal.Bounds(tt.at)
			if s.Format(time.RFC3339) != tt.start || e.Format(time.RFC3339) != tt.end {
				t.Fatalf("Bounds = %s, %s; want %s, %s", s.Format(time.RFC3339), e.Format(time.RFC3339), tt.start, tt.end)
			}
		})
	}
}
