package doclient

import (
	"strconv"
	"testing"
	"time"
)

// A memo forgets a result keep after it, and holds at most maxRecent:
// when full, the expired results go first, and only if none had expired,
// the oldest one.
func TestMemoBoundsAndExpiry(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(i int) credentialHash { return hashOf("credential", strconv.Itoa(i)) }
	fill := func(m *memo[int], at func(i int) time.Time) {
		for i := range maxRecent {
			m.put(key(i), memoResult[int]{val: i, at: at(i)})
		}
	}
	has := func(m *memo[int], i int, now time.Time) bool {
		r, ok := m.get(key(i), now)
		return ok && r.val == i
	}

	t.Run("expiry", func(t *testing.T) {
		m := &memo[int]{keep: time.Minute}
		m.put(key(1), memoResult[int]{val: 1, at: start})
		if !has(m, 1, start.Add(time.Minute-time.Nanosecond)) {
			t.Error("a result was forgotten within keep")
		}
		if has(m, 1, start.Add(time.Minute)) {
			t.Error("a result was remembered keep after it")
		}
	})

	t.Run("full: the oldest goes", func(t *testing.T) {
		m := &memo[int]{keep: time.Hour}
		fill(m, func(i int) time.Time { return start.Add(time.Duration(i) * time.Millisecond) })
		now := start.Add(time.Minute)
		m.put(key(maxRecent), memoResult[int]{val: maxRecent, at: now})
		if len(m.results) != maxRecent || has(m, 0, now) || !has(m, 1, now) || !has(m, maxRecent, now) {
			t.Errorf("%d results; the oldest kept %v, the next %v, the new one %v; want %d, false, true, true",
				len(m.results), has(m, 0, now), has(m, 1, now), has(m, maxRecent, now), maxRecent)
		}
	})

	t.Run("full: the expired go first", func(t *testing.T) {
		m := &memo[int]{keep: time.Hour}
		// The first half is more than an hour older than the rest.
		fill(m, func(i int) time.Time {
			if i < maxRecent/2 {
				return start
			}
			return start.Add(2 * time.Hour)
		})
		now := start.Add(2*time.Hour + time.Minute)
		m.put(key(maxRecent), memoResult[int]{val: maxRecent, at: now})
		if len(m.results) != maxRecent/2+1 || !has(m, maxRecent/2, now) || !has(m, maxRecent, now) {
			t.Errorf("%d results, want the %d recent ones and the new one", len(m.results), maxRecent/2)
		}
	})

	t.Run("full: replacing a result drops none", func(t *testing.T) {
		m := &memo[int]{keep: time.Hour}
		fill(m, func(int) time.Time { return start })
		m.put(key(5), memoResult[int]{val: 5, at: start.Add(time.Second)})
		if len(m.results) != maxRecent || !has(m, 0, start) {
			t.Errorf("%d results after a replacement, want %d", len(m.results), maxRecent)
		}
	})
}
