// Package clock is the injected clock: production passes time.Now, tests a
// Fake that moves only when told to.
package clock

import (
	"sync/atomic"
	"time"
)

// Fake is a clock for tests; safe for concurrent use.
type Fake struct{ ns atomic.Int64 }

// NewFake returns a Fake reading t.
func NewFake(t time.Time) *Fake {
	c := &Fake{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the current fake time, in UTC.
func (c *Fake) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Advance moves the clock forward by d.
func (c *Fake) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Set moves the clock to t.
func (c *Fake) Set(t time.Time) { c.ns.Store(t.UnixNano()) }
