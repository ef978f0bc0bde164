package doclient

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// How long, and for how many keys, a [sharedGrants] remembers a result.
const (
	reuseWindow = time.Minute
	maxRecent   = 1024
)

// sharedGrants makes one request to DigitalOcean per single-use credential
// (a refresh token, or an authorization code with its verifier), however
// many callers present it: concurrent calls share one request
// (singleflight), and calls arriving up to reuseWindow after it succeeded
// get its result. DigitalOcean accepts each credential once, so without
// this every caller but the first would fail with invalid_grant, and a
// replayed code may even make DigitalOcean revoke the grant.
//
// It remembers at most maxRecent results, keyed by a SHA-256 hash of the
// credential, so it never holds a credential itself, and it hands a result
// only to a caller that presents the same credential.
type sharedGrants struct {
	group singleflight.Group

	mu     sync.Mutex
	recent map[credentialHash]recentGrant
}

type credentialHash [sha256.Size]byte

type recentGrant struct {
	tok *oauth2.Token
	at  time.Time
}

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

// do returns the result of fn for key, calling fn only when no call for key
// is under way or succeeded within reuseWindow. fn runs without ctx's
// cancellation: once sent, the request consumes the credential, so it is
// seen through and its result remembered for the caller's next attempt; do
// itself returns as soon as ctx is done.
func (s *sharedGrants) do(ctx context.Context, key credentialHash, now func() time.Time, fn func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	if tok, ok := s.get(key, now()); ok {
		return tok, nil
	}
	result := s.group.DoChan(string(key[:]), func() (any, error) {
		// Another call may have finished between our look and now.
		if tok, ok := s.get(key, now()); ok {
			return tok, nil
		}
		tok, err := fn(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		s.put(key, tok, now())
		return tok, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-result:
		if r.Err != nil {
			return nil, r.Err
		}
		return copyToken(r.Val.(*oauth2.Token)), nil
	}
}

func (s *sharedGrants) get(key credentialHash, now time.Time) (*oauth2.Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.recent[key]
	if !ok {
		return nil, false
	}
	if now.Sub(e.at) >= reuseWindow {
		delete(s.recent, key)
		return nil, false
	}
	return copyToken(e.tok), true
}

// put remembers tok, dropping expired entries, or the oldest one, when full.
func (s *sharedGrants) put(key credentialHash, tok *oauth2.Token, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recent == nil {
		s.recent = make(map[credentialHash]recentGrant)
	}
	if len(s.recent) >= maxRecent {
		var oldest credentialHash
		var oldestAt time.Time
		for k, e := range s.recent {
			if now.Sub(e.at) >= reuseWindow {
				delete(s.recent, k)
				continue
			}
			if oldestAt.IsZero() || e.at.Before(oldestAt) {
				oldest, oldestAt = k, e.at
			}
		}
		if len(s.recent) >= maxRecent {
			delete(s.recent, oldest)
		}
	}
	s.recent[key] = recentGrant{tok: tok, at: now}
}

// copyToken gives each caller its own *oauth2.Token, so that one caller
// changing its token cannot change another's.
func copyToken(tok *oauth2.Token) *oauth2.Token {
	cp := *tok
	return &cp
}
