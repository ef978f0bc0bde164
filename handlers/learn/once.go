package learn

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxPresses bounds how many recent presses once remembers; past it, a
// press is sent without being remembered, which only loses the sharing of
// a double click.
const maxPresses = 1024

// once shares one request between the presses that ask for it (see
// Client.SendOnce). Presses are remembered by a hash of what they send,
// never by the credentials themselves.
type once struct {
	mu      sync.Mutex
	presses map[[sha256.Size]byte]*press
	now     func() time.Time
}

// press is one request, in flight until done is closed, then answered.
type press struct {
	done   chan struct{}
	answer Answer
	until  time.Time // when its answer stops being shared
}

func newOnce(now func() time.Time) *once {
	if now == nil {
		now = time.Now
	}
	return &once{presses: map[[sha256.Size]byte]*press{}, now: now}
}

// do returns the answer of the press with key: send's, sent now, or that
// of a press in flight or answered less than keep ago.
func (o *once) do(key string, keep time.Duration, send func() Answer) Answer {
	k := sha256.Sum256([]byte(key))
	o.mu.Lock()
	now := o.now()
	if p, ok := o.presses[k]; ok {
		select {
		case <-p.done:
			if now.Before(p.until) {
				o.mu.Unlock()
				return p.answer
			}
		default:
			o.mu.Unlock()
			<-p.done
			return p.answer
		}
	}
	for key, p := range o.presses {
		select {
		case <-p.done:
			if !now.Before(p.until) {
				delete(o.presses, key)
			}
		default:
		}
	}
	p := &press{done: make(chan struct{})}
	remembered := len(o.presses) < maxPresses
	if remembered {
		o.presses[k] = p
	}
	o.mu.Unlock()

	p.answer = send()
	o.mu.Lock()
	p.until = o.now().Add(keep)
	o.mu.Unlock()
	close(p.done)
	return p.answer
}
