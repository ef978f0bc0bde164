// Package testclock is the one fake clock of the tests: a time that moves
// only when a test says so, safe for the goroutines of the servers under
// test. The app, doclient and the sandbox all take a Now func() time.Time;
// a test passes a Clock's Now to each, so that tokens, codes and
// confirmations expire without sleeping.
package testclock

import (
	"sync"
	"time"
)

// Clock is a settable clock. The zero value is not usable: call New.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads start until moved.
func New(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time, for a Config's Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
