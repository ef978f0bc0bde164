package doclient

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// RefreshMargin is how long before its expiry a [TokenSource] already renews
// an access token, so that a token does not expire between the check and the
// API call, or during a page of several calls.
const RefreshMargin = time.Minute

// How long, and for how many refresh tokens, Refresh remembers the token
// pair a refresh produced.
const (
	refreshReuseWindow = time.Minute
	maxRecentRefreshes = 1024
)

// Refresh trades refreshToken for a new token pair (grant_type=refresh_token
// at the token endpoint, client credentials in the POST body). This is how
// the app keeps access after the access token expires, without sending the
// user through DigitalOcean again.
//
// DigitalOcean refresh tokens are single-use and rotate: the answer holds a
// new refresh token that replaces the old one, and the old access token stops
// working. Store the new pair before the response is sent, or the session is
// lost.
//
// A browser often sends several requests at once (tabs, parallel fetches)
// carrying the same expired session, and only the first refresh with a given
// refresh token can succeed; the others would fail with invalid_grant and log
// the user out. So Refresh sends exactly one request per refresh token:
// concurrent calls with the same refresh token share one request
// (singleflight), and calls arriving up to a minute after it succeeded get
// the same new pair without asking DigitalOcean again. That memory holds at
// most 1024 recent refreshes, keyed by a SHA-256 hash of the old refresh
// token; it hands a new token only to a caller that presents the old refresh
// token, which only that session's cookie held.
//
// The deduplication lives in this Client, so in one process. With several
// instances behind a load balancer, concurrent requests of one browser can
// land on different instances; each instance then refreshes, DigitalOcean
// accepts the first, and the others get invalid_grant, so that browser is
// asked to connect again. To avoid it, run one instance, have the load
// balancer route a browser to one instance, or share the memory between
// instances (e.g. in Redis), which this package does not do.
//
// The request to DigitalOcean is not cancelled when ctx is: once sent, a
// refresh consumes the old refresh token, so it is seen through (within
// Config.Timeout) and its result remembered for the caller's next attempt.
// Refresh itself returns as soon as ctx is done.
//
// An expired, revoked or reused refresh token fails with an error for which
// [IsInvalidGrant] is true: the user has to connect again.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	if refreshToken == "" {
		return nil, ErrNoRefreshToken
	}
	key := tokenHash(sha256.Sum256([]byte(refreshToken)))
	if tok, ok := c.recent.get(key, c.now()); ok {
		return tok, nil
	}
	result := c.refreshGroup.DoChan(string(key[:]), func() (any, error) {
		// Another call may have finished this refresh between our look
		// into c.recent and now.
		if tok, ok := c.recent.get(key, c.now()); ok {
			return tok, nil
		}
		tok, err := c.refresh(context.WithoutCancel(ctx), refreshToken)
		if err != nil {
			return nil, err
		}
		c.recent.put(key, tok, c.now())
		return tok, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("doclient: refresh token: %w", ctx.Err())
	case r := <-result:
		if r.Err != nil {
			return nil, r.Err
		}
		return copyToken(r.Val.(*oauth2.Token)), nil
	}
}

// refresh sends the refresh request itself.
func (c *Client) refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// A token with only a refresh token counts as expired, so x/oauth2's
	// token source refreshes it at once.
	tok, err := c.oauth.TokenSource(c.oauthContext(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, wrapError(ctx, "refresh token", err)
	}
	c.stampExpiry(tok)
	return tok, nil
}

// tokenHash is the SHA-256 of a refresh token: recentRefreshes is keyed by
// hashes so it never holds an old refresh token itself.
type tokenHash [sha256.Size]byte

// recentRefreshes remembers the results of recent refreshes, so that callers
// arriving just after a refresh get its result. Entries expire after
// refreshReuseWindow, lazily: they are dropped when looked up or when room is
// needed.
type recentRefreshes struct {
	mu      sync.Mutex
	entries map[tokenHash]recentRefresh
}

type recentRefresh struct {
	tok *oauth2.Token
	at  time.Time
}

func (r *recentRefreshes) get(key tokenHash, now time.Time) (*oauth2.Token, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[key]
	if !ok {
		return nil, false
	}
	if now.Sub(e.at) >= refreshReuseWindow {
		delete(r.entries, key)
		return nil, false
	}
	return copyToken(e.tok), true
}

func (r *recentRefreshes) put(key tokenHash, tok *oauth2.Token, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= maxRecentRefreshes {
		var oldest tokenHash
		var oldestAt time.Time
		for k, e := range r.entries {
			if now.Sub(e.at) >= refreshReuseWindow {
				delete(r.entries, k)
				continue
			}
			if oldestAt.IsZero() || e.at.Before(oldestAt) {
				oldest, oldestAt = k, e.at
			}
		}
		if len(r.entries) >= maxRecentRefreshes {
			delete(r.entries, oldest)
		}
	}
	r.entries[key] = recentRefresh{tok: tok, at: now}
}

// copyToken gives each caller its own *oauth2.Token, so that one caller
// changing its token cannot change another's.
func copyToken(tok *oauth2.Token) *oauth2.Token {
	cp := *tok
	return &cp
}

// TokenSource supplies the access token for the API calls of one request
// (one page view), refreshing it at most once when it has expired or will
// within [RefreshMargin]. Unlike x/oauth2's ReuseTokenSource, which refreshes
// silently, it reports the new token through [TokenSource.Refreshed], so the
// caller can store the rotated pair; losing it would end the session, since
// the old refresh token no longer works.
//
// It is safe for concurrent use: API calls made in parallel (the pages of
// [Client.Droplets]) share one refresh.
type TokenSource struct {
	c   *Client
	ctx context.Context // of the request it serves; see Client.TokenSource

	mu        sync.Mutex
	tok       *oauth2.Token
	refreshed bool
	err       error
}

// TokenSource returns a TokenSource starting from tok, the token stored in
// the session. ctx is the request's context: x/oauth2's TokenSource interface
// has no context, so a refresh uses this one. Use the TokenSource for one
// request only, then save [TokenSource.Refreshed] if it reports a new token.
func (c *Client) TokenSource(ctx context.Context, tok *oauth2.Token) *TokenSource {
	return &TokenSource{c: c, ctx: ctx, tok: tok}
}

// Token returns the current access token, refreshing it first when it has
// expired or expires within RefreshMargin. It refreshes at most once: a
// failed refresh is returned again to later calls, and a new token is used
// as is even if DigitalOcean issued it with a lifetime shorter than the
// margin. A token without an expiry is used as is.
func (ts *TokenSource) Token() (*oauth2.Token, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	switch {
	case ts.err != nil:
		return nil, ts.err
	case ts.tok == nil:
		return nil, errors.New("doclient: TokenSource has no token")
	case ts.refreshed || !ts.expiresWithin(RefreshMargin):
		return ts.tok, nil
	case ts.tok.RefreshToken == "" && !ts.expiresWithin(0):
		return ts.tok, nil // still valid for a while, and nothing to renew it with
	}
	tok, err := ts.c.Refresh(ts.ctx, ts.tok.RefreshToken)
	if err != nil {
		ts.err = err
		return nil, err
	}
	ts.tok, ts.refreshed = tok, true
	return tok, nil
}

// expiresWithin reports whether the access token is missing, or expires
// within d according to the Client's clock.
func (ts *TokenSource) expiresWithin(d time.Duration) bool {
	if ts.tok.AccessToken == "" {
		return true
	}
	return !ts.tok.Expiry.IsZero() && !ts.c.now().Add(d).Before(ts.tok.Expiry)
}

// Refreshed returns the new token and true if Token refreshed the token;
// otherwise nil and false. Store the new token (access token, refresh token,
// expiry) in the session before the response is sent.
func (ts *TokenSource) Refreshed() (*oauth2.Token, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.refreshed {
		return nil, false
	}
	return ts.tok, true
}
