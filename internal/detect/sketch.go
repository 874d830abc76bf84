package detect

import (
	"math"
	"math/bits"
	"time"
)

// Window counts events in a sliding window of a fixed width, in constant
// space: it keeps the current and previous tumbling windows and weights
// the previous one by how much of it still overlaps the sliding window.
// The zero Window is empty.
type Window struct {
	start     int64 // unix nanoseconds at which cur began
	cur, prev uint32
}

// Add counts n events at now.
func (w *Window) Add(now int64, width time.Duration, n uint32) {
	w.roll(now, int64(width))
	w.cur += n
}

// Count returns the events in the width before now.
func (w *Window) Count(now int64, width time.Duration) float64 {
	c := *w
	c.roll(now, int64(width))
	overlap := 1 - float64(now-c.start)/float64(width)
	return float64(c.cur) + float64(c.prev)*max(0, overlap)
}

// Span returns the events in the current and previous tumbling windows
// at now, unweighted: the span a Distinct of the same width covers, so
// the two can be compared.
func (w *Window) Span(now int64, width time.Duration) float64 {
	c := *w
	c.roll(now, int64(width))
	return float64(c.cur) + float64(c.prev)
}

func (w *Window) roll(now, width int64) {
	switch {
	case w.start == 0 || now-w.start >= 2*width:
		w.start, w.cur, w.prev = now-now%width, 0, 0
	case now-w.start >= width:
		w.start, w.cur, w.prev = w.start+width, 0, w.cur
	}
}

// Distinct estimates how many distinct items were seen in the last one to
// two tumbling windows of a width, in 72 bytes: a 256-bit linear-counting
// bitmap per window. Estimates are within a few percent up to ~200 items
// and saturate at MaxDistinct. The zero Distinct is empty.
type Distinct struct {
	start     int64
	cur, prev [4]uint64
}

// MaxDistinct is the largest estimate Distinct returns.
const MaxDistinct = 1500

// Add records the item with hash h at now.
func (d *Distinct) Add(now int64, width time.Duration, h uint64) {
	d.roll(now, int64(width))
	i := bit(h)
	d.cur[i>>6] |= 1 << (i & 63)
}

// bit maps a hash to one of 256 bits, using its well-mixed high bits.
func bit(h uint64) uint64 { return (h * 0x9E3779B97F4A7C15) >> 56 }

// Has reports whether an item with hash h may have been seen (false
// positives are possible once the bitmap fills).
func (d *Distinct) Has(now int64, width time.Duration, h uint64) bool {
	c := *d
	c.roll(now, int64(width))
	i := bit(h)
	return (c.cur[i>>6]|c.prev[i>>6])&(1<<(i&63)) != 0
}

// Count estimates the distinct items seen in the window at now.
func (d *Distinct) Count(now int64, width time.Duration) float64 {
	c := *d
	c.roll(now, int64(width))
	set := 0
	for i := range c.cur {
		set += bits.OnesCount64(c.cur[i] | c.prev[i])
	}
	if set == 256 {
		return MaxDistinct
	}
	return min(MaxDistinct, -256*math.Log(float64(256-set)/256))
}

func (d *Distinct) roll(now, width int64) {
	switch {
	case d.start == 0 || now-d.start >= 2*width:
		d.start, d.cur, d.prev = now-now%width, [4]uint64{}, [4]uint64{}
	case now-d.start >= width:
		d.start, d.cur, d.prev = d.start+width, [4]uint64{}, d.cur
	}
}

// Score is a risk score that decays exponentially with a half-life. The
// zero Score is 0.
type Score struct {
	v  float64
	at int64
}

// Value returns the score at now.
func (s Score) Value(now int64, halfLife time.Duration) float64 {
	if s.v == 0 || now <= s.at {
		return s.v
	}
	return s.v * math.Exp2(-float64(now-s.at)/float64(halfLife))
}

// Add raises the score by x (lowers it, for a negative x) at now, kept
// within 0 and 100, and returns the result.
func (s *Score) Add(now int64, halfLife time.Duration, x float64) float64 {
	s.v = max(0, min(100, s.Value(now, halfLife)+x))
	s.at = max(now, s.at)
	return s.v
}

// EWMA is an exponentially weighted moving average and variance of a rate,
// for baselines. The zero EWMA has seen nothing.
type EWMA struct {
	mean, variance float64
	n              uint32
}

// Observe folds x in with weight alpha (0 < alpha <= 1).
func (e *EWMA) Observe(x, alpha float64) {
	if e.n == 0 {
		e.mean, e.n = x, 1
		return
	}
	d := x - e.mean
	e.mean += alpha * d
	e.variance = (1 - alpha) * (e.variance + alpha*d*d)
	e.n = min(e.n+1, 1<<30)
}

// Mean returns the average, Std the standard deviation, and N how many
// observations were folded in.
func (e EWMA) Mean() float64 { return e.mean }
func (e EWMA) Std() float64  { return math.Sqrt(e.variance) }
func (e EWMA) N() uint32     { return e.n }
