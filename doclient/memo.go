package doclient

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// maxRecent bounds each memo, so that a flood of distinct credentials
// cannot grow the process without limit.
const maxRecent = 4096

// credentialHash is how a memo knows a credential: by its SHA-256 hash.
type credentialHash [sha256.Size]byte

// hashOf is the key for a credential made of parts (joined unambiguously).
func hashOf(parts ...string) credentialHash {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var key credentialHash
	h.Sum(key[:0])
	return key
}

// memo is the in-process memory of calls that present a single-use
// credential (an authorization code, a refresh token, the one-time key of
// a confirmation): concurrent callers with the same credential share one
// call (singleflight), and results are remembered for keep, so that a
// caller arriving later can get one without a call of its own. Which
// results are kept, and what a kept one means, is the caller's to say
// (see do).
//
// It holds at most maxRecent results, keyed by a hash of the credential,
// so it never holds a credential itself; when full, it drops the expired
// results, then the oldest.
type memo[T any] struct {
	keep  time.Duration
	group singleflight.Group

	mu      sync.Mutex
	results map[credentialHash]memoResult[T]
}

// memoResult is a call's result and when the call answered.
type memoResult[T any] struct {
	val T
	err error
	at  time.Time
}

// do answers for key with look's answer when it has one (ok), and
// otherwise with call's, made once for all concurrent callers with key.
// look is asked again before the call, since another call may have
// finished between the first look and then; call keeps (put) what it wants
// remembered.
//
// call runs without ctx's cancellation: once sent, its request may have
// used the credential (or started an action), so it is seen through, and
// its result kept for the caller's next attempt. do itself returns
// ctx.Err() as soon as ctx is done.
func (m *memo[T]) do(ctx context.Context, key credentialHash, look func() (T, bool, error), call func(context.Context) (T, error)) (T, error) {
	if v, ok, err := look(); ok {
		return v, err
	}
	result := m.group.DoChan(string(key[:]), func() (any, error) {
		if v, ok, err := look(); ok {
			return v, err
		}
		return call(context.WithoutCancel(ctx))
	})
	select {
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	case r := <-result:
		v, _ := r.Val.(T)
		return v, r.Err
	}
}

// once is do for a request that may act (a POST, a DELETE): concurrent
// callers with key share one call, and its result is kept for keep,
// failures too, since after a timeout or a 5xx the request may have acted
// and must not be sent again with the same key. A 401 is not kept: the
// API refused the token before doing anything, and the caller may send
// the request again with a renewed one (see TokenSource.Renew).
func (m *memo[T]) once(ctx context.Context, key credentialHash, now func() time.Time, call func(context.Context) (T, error)) (T, error) {
	look := func() (T, bool, error) {
		r, ok := m.get(key, now())
		return r.val, ok, r.err
	}
	return m.do(ctx, key, look, func(ctx context.Context) (T, error) {
		v, err := call(ctx)
		if !IsUnauthorized(err) {
			m.put(key, memoResult[T]{val: v, err: err, at: now()})
		}
		return v, err
	})
}

// get returns the result kept for key, if it answered less than keep
// before now.
func (m *memo[T]) get(key credentialHash, now time.Time) (memoResult[T], bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.results[key]
	if !ok {
		return memoResult[T]{}, false
	}
	if now.Sub(r.at) >= m.keep {
		delete(m.results, key)
		return memoResult[T]{}, false
	}
	return r, true
}

// put keeps r for key, replacing what was kept. When full, it first drops
// the results that had expired by r.at, then, if none had, the oldest.
func (m *memo[T]) put(key credentialHash, r memoResult[T]) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.results == nil {
		m.results = make(map[credentialHash]memoResult[T])
	}
	if _, replaced := m.results[key]; !replaced && len(m.results) >= maxRecent {
		var oldest credentialHash
		var oldestAt time.Time
		for k, e := range m.results {
			if r.at.Sub(e.at) >= m.keep {
				delete(m.results, k)
				continue
			}
			if oldestAt.IsZero() || e.at.Before(oldestAt) {
				oldest, oldestAt = k, e.at
			}
		}
		if len(m.results) >= maxRecent {
			delete(m.results, oldest)
		}
	}
	m.results[key] = r
}
