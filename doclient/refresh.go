package doclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// RefreshMargin is how long before its expiry a [TokenSource] already renews
// an access token, so that a token does not expire between the check and the
// API call, or during a page of several calls.
const RefreshMargin = time.Minute

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
// the same new pair without asking DigitalOcean again. That memory is
// bounded, keyed by a SHA-256 hash of the old refresh token; it hands a new
// token only to a caller that presents the old refresh token, which only
// that session's cookie held.
//
// The deduplication lives in this Client, so in one process, unless
// Config.Shared is set: with several instances behind a load balancer,
// concurrent requests of one browser can land on different instances, and
// without a shared store each would refresh; DigitalOcean accepts the
// first, the others get invalid_grant, and that browser is asked to connect
// again (or, at a server that revokes a grant whose refresh token is
// reused, the grant ends). With a [SharedStore] one instance refreshes and
// the others use its result.
//
// The request to DigitalOcean is not cancelled when ctx is: once sent, a
// refresh consumes the old refresh token, so it is seen through (within
// Config.Timeout) and its result remembered for the caller's next attempt.
// Refresh itself returns as soon as ctx is done.
//
// An expired, revoked or reused refresh token fails with an error for which
// [IsInvalidGrant] is true: the user has to connect again.
//
// A [Trace] in ctx learns of the refresh, with the reason RefreshAsked.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	return c.refreshFor(ctx, refreshToken, RefreshAsked)
}

// refreshFor is Refresh, reporting reason to the Trace.
func (c *Client) refreshFor(ctx context.Context, refreshToken string, reason RefreshReason) (*oauth2.Token, error) {
	if refreshToken == "" {
		return nil, ErrNoRefreshToken
	}
	ev := TokenRequest{GrantType: GrantRefreshToken, Reason: reason, Endpoint: c.oauth.Endpoint.TokenURL, At: c.now()}
	start := time.Now()
	var sent atomic.Bool // the closure may still run after do returns
	tok, err := c.refreshes.do(ctx, hashOf(refreshToken), c.now, func(ctx context.Context) (*oauth2.Token, error) {
		sent.Store(true)
		return c.refresh(ctx, refreshToken)
	})
	if tr := traceFrom(ctx); tr != nil {
		// The parameters x/oauth2 sends in the body (AuthStyleInParams), masked.
		ev.Sent = []Field{
			{"grant_type", GrantRefreshToken},
			{"refresh_token", MaskToken(refreshToken)},
			{"client_id", c.oauth.ClientID},
			{"client_secret", Hidden(c.oauth.ClientSecret)},
		}
		ev.Duration, ev.Shared = time.Since(start), !sent.Load()
		var fields tokenFields
		if tok != nil {
			fields = tokenFields{tok: tok, expiry: tok.Expiry}
		}
		tr.tokenRequest(ev, fields, err)
	}
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("doclient: refresh token: %w", ctx.Err())
	}
	return tok, err
}

// refresh sends the refresh request itself.
func (c *Client) refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// A token with only a refresh token counts as expired, so x/oauth2's
	// token source refreshes it at once.
	tok, err := c.oauth.TokenSource(c.oauthContext(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, tokenError(ctx, "refresh token", err)
	}
	c.stampExpiry(tok)
	return tok, nil
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
func (ts *TokenSource) Token() (*oauth2.Token, error) { return ts.token(false) }

// token is Token, or Renew when renew is set.
func (ts *TokenSource) token(renew bool) (*oauth2.Token, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	switch {
	case ts.err != nil:
		return nil, ts.err
	case ts.tok == nil:
		return nil, errors.New("doclient: TokenSource has no token")
	case ts.refreshed:
		return ts.tok, nil
	case renew:
		return ts.refreshLocked(RefreshRefused)
	case !ts.expiresWithin(RefreshMargin):
		return ts.tok, nil
	case ts.tok.RefreshToken == "" && !ts.expiresWithin(0):
		return ts.tok, nil // still valid for a while, and nothing to renew it with
	}
	reason := RefreshExpiresSoon
	if ts.expiresWithin(0) {
		reason = RefreshExpired
	}
	return ts.refreshLocked(reason)
}

// refreshLocked refreshes the token for reason, once; ts.mu is held.
func (ts *TokenSource) refreshLocked(reason RefreshReason) (*oauth2.Token, error) {
	tok, err := ts.c.refreshFor(ts.ctx, ts.tok.RefreshToken, reason)
	if err != nil {
		ts.err = err
		return nil, err
	}
	ts.tok, ts.refreshed = tok, true
	return tok, nil
}

// Renew refreshes the token now, whatever its expiry, and reports the new
// pair through Refreshed like Token does. Call it once when the API refused
// the access token (401) although it had not expired: a parallel request of
// the same browser (another tab, another instance) may have rotated the
// pair after this request read the session, and DigitalOcean stops
// accepting the old access token at once. Refresh then hands back that
// rotation's result without a second refresh; a grant that has really
// ended fails with an error for which [IsInvalidGrant] is true. A
// TokenSource that already refreshed does not refresh again.
func (ts *TokenSource) Renew() (*oauth2.Token, error) { return ts.token(true) }

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
