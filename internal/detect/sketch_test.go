package detect

import (
	"fmt"
	"hash/fnv"
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).UnixNano()

func at(d time.Duration) int64 { return t0 + int64(d) }

func TestWindowSlides(t *testing.T) {
	var w Window
	width := time.Minute
	for i := range 60 { // one a second for a minute
		w.Add(at(time.Duration(i)*time.Second), width, 1)
	}
	if got := w.Count(at(59*time.Second), width); got != 60 {
		t.Fatalf("count after a minute = %v, want 60", got)
	}
	// Half a window later, half of the previous window still counts.
	if got := w.Count(at(90*time.Second), width); math.Abs(got-30) > 1 {
		t.Fatalf("count 30s into the next window = %v, want ~30", got)
	}
	if got := w.Count(at(5*time.Minute), width); got != 0 {
		t.Fatalf("count after idle = %v, want 0", got)
	}
}

func TestDistinctEstimates(t *testing.T) {
	width := time.Minute
	for _, n := range []int{1, 10, 40, 100, 200} {
		var d Distinct
		for i := range n {
			f := fnv.New64a()
			fmt.Fprint(f, "/missing/", i)
			h := f.Sum64() // deterministic, so the test cannot flake
			d.Add(at(time.Second), width, h)
			d.Add(at(time.Second), width, h) // repeats do not count
		}
		got := d.Count(at(2*time.Second), width)
		if math.Abs(got-float64(n)) > 0.15*float64(n)+1 {
			t.Errorf("%d distinct estimated as %.1f", n, got)
		}
	}
	var d Distinct
	d.Add(at(0), width, 42)
	if !d.Has(at(time.Second), width, 42) || d.Has(at(time.Second), width, 43) {
		t.Error("Has is wrong")
	}
	if got := d.Count(at(3*time.Minute), width); got != 0 {
		t.Errorf("after two idle windows = %v", got)
	}
}

func TestScoreDecays(t *testing.T) {
	var s Score
	half := 10 * time.Minute
	s.Add(at(0), half, 60)
	if got := s.Value(at(half), half); math.Abs(got-30) > 1e-9 {
		t.Fatalf("after one half-life = %v, want 30", got)
	}
	if got := s.Add(at(half), half, 90); got != 100 {
		t.Fatalf("capped score = %v", got)
	}
}

func TestEWMA(t *testing.T) {
	var e EWMA
	for range 200 {
		e.Observe(10, 0.1)
	}
	if math.Abs(e.Mean()-10) > 1e-6 || e.Std() > 1e-6 {
		t.Fatalf("steady EWMA mean=%v std=%v", e.Mean(), e.Std())
	}
	for i := range 200 {
		e.Observe(float64(10+i%2*10), 0.1) // alternates 10, 20
	}
	if math.Abs(e.Mean()-15) > 1 || e.Std() < 3 {
		t.Fatalf("alternating EWMA mean=%v std=%v", e.Mean(), e.Std())
	}
}

func TestStepsSignalOncePerMultiple(t *testing.T) {
	var s Steps
	var got []int
	for _, m := range []float64{5, 9.9, 10, 12, 19, 20, 35, 41, 3, 10} {
		got = append(got, s.Cross(m, 10))
	}
	want := []int{0, 0, 1, 0, 0, 1, 1, 1, 0, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Cross sequence = %v, want %v", got, want)
		}
	}
}
