package detect

import (
	"testing"
	"time"
)

func TestTableBounded(t *testing.T) {
	tb := NewTable[Window](640, time.Hour)
	h := NewHasher()
	for i := range 100_000 {
		tb.Update(h.String('i', string(rune(i))), at(time.Duration(i)), func(w *Window) { w.Add(at(0), time.Minute, 1) })
	}
	s := tb.Stats()
	if s.Entries > s.MaxEntries || s.MaxEntries != 640 {
		t.Fatalf("stats %+v", s)
	}
	if s.Evictions == 0 {
		t.Fatal("no evictions under a flood")
	}
	busy := h.String('i', "busy")
	for i := range 1000 {
		tb.Update(busy, at(time.Hour+time.Duration(i)), func(w *Window) { w.Add(at(time.Hour), time.Minute, 1) })
		tb.Update(h.String('x', string(rune(i))), at(time.Hour+time.Duration(i)), func(*Window) {})
	}
	if w, ok := tb.Get(busy); !ok || w.Count(at(time.Hour), time.Minute) < 900 {
		t.Fatalf("busy entity lost its state: %v %v", ok, w)
	}
}

func TestTableSweep(t *testing.T) {
	tb := NewTable[Score](1000, time.Minute)
	tb.Update(1, at(0), func(*Score) {})
	tb.Update(2, at(2*time.Minute), func(*Score) {})
	if n := tb.Sweep(at(2 * time.Minute)); n != 1 {
		t.Fatalf("swept %d", n)
	}
	if _, ok := tb.Get(2); !ok {
		t.Fatal("fresh entry swept")
	}
}
