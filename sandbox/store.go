package sandbox

import (
	"container/list"
	"errors"
	"sync"
	"time"
)

// Errors returned by the store. The HTTP handlers turn them into OAuth or
// API error responses.
var (
	errInvalidGrant  = errors.New("sandbox: unknown, expired, used or revoked code or token")
	errCodeReplayed  = errors.New("sandbox: authorization code used twice")
	errUnauthorized  = errors.New("sandbox: unknown, expired or revoked access token")
	errRateLimited   = errors.New("sandbox: rate limit exceeded")
	errWrongClient   = errors.New("sandbox: code or token issued to another client")
	errScopeWidening = errors.New("sandbox: refresh asked for more scope than granted")
)

// sweepEvery is how often, by the sandbox clock, a write sweeps expired
// entries. Sweeping is lazy (done by whichever request writes) so the
// sandbox needs no goroutine and no Close.
const sweepEvery = time.Minute

// store holds every authorization code and grant, behind one mutex.
// Secrets are indexed by their hash (see secretKey). How many of each it
// keeps, and whose go first when there is no room, is shares' business.
type store struct {
	mu          sync.Mutex
	codes       map[secretKey]*authCode
	access      map[secretKey]*grant // current access token of each grant, even if expired
	refresh     map[secretKey]*grant // current refresh token of each grant; one per live grant
	codeShares  *shares[*authCode]
	grantShares *shares[*grant]
	lastSweep   time.Time
	counters    Stats // only the counters; the gauges are computed in stats
}

// authCode is an issued authorization code and what it is bound to
// (RFC 6749 §4.1.3, RFC 7636 §4.4).
type authCode struct {
	clientID    string
	redirectURI string
	scope       string
	challenge   string        // S256 code_challenge, empty when the client sent none
	account     int           // index of the account that approved
	lifetime    time.Duration // how long it is valid; zero: codeTTL
	expires     time.Time
	used        bool
	grant       *grant // the grant it was exchanged for, revoked if the code is replayed

	key  secretKey     // its index in store.codes
	elem *list.Element // its place in store.codeShares
}

// grant is one authorization's current token pair. A refresh replaces both
// tokens in place, so the rate-limit budget and a code replay's revocation
// follow the grant across rotations.
type grant struct {
	clientID       string
	scope          string
	account        int  // index of the account it acts for
	personal       bool // the personal access token: no refresh token, never expires, not revocable
	accessKey      secretKey
	accessExpires  time.Time
	refreshKey     secretKey
	refreshExpires time.Time
	revoked        bool
	elem           *list.Element // its place in store.grantShares; nil for the personal token

	rateWindowStart time.Time
	rateUsed        int
	burstStart      time.Time
	burstUsed       int
}

// tokens is a freshly issued pair, returned once to the token endpoint.
type tokens struct {
	access    string
	refresh   string
	expiresIn time.Duration
	scope     string
	account   int
}

// rateStatus is what the rate-limit headers report. A negative limit
// means the hourly limit is off, and the headers are not sent.
type rateStatus struct {
	limit      int
	remaining  int
	reset      time.Time
	retryAfter time.Time // when a refused request may be retried
}

// limits are the two request budgets of a token: DigitalOcean's hourly one
// (reported by the ratelimit-* headers) and its burst limit per minute. A
// negative value turns a limit off.
type limits struct {
	hourly, perMinute int
}

// apiCaller is what an API handler learns about a valid token.
type apiCaller struct {
	scope   string
	account int
}

// newStore returns a store that keeps at most bound codes and bound
// grants, shared out as shares describes; app is the app's own client ID,
// or "" for a standalone sandbox.
func newStore(bound int, app string) *store {
	return &store{
		codes:       make(map[secretKey]*authCode),
		access:      make(map[secretKey]*grant),
		refresh:     make(map[secretKey]*grant),
		codeShares:  newShares[*authCode](bound, app),
		grantShares: newShares[*grant](bound, app),
	}
}

// newCode issues an authorization code bound to c's client, redirect URI,
// scope and challenge, valid for c.lifetime. When the client has no room left its oldest code
// is evicted (see shares), so issuing never fails.
func (st *store) newCode(now time.Time, c authCode) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweepLocked(now)
	code := randomHex(32)
	ac := &c
	ac.key, ac.expires = keyOf(code), now.Add(orDefault(c.lifetime, codeTTL))
	ac.used, ac.grant = false, nil
	if old, full := st.codeShares.victim(ac.clientID); full {
		st.forgetCodeLocked(old)
		st.counters.Evictions++
	}
	ac.elem = st.codeShares.push(ac.clientID, ac)
	st.codes[ac.key] = ac
	st.counters.Authorizations++
	return code
}

// exchangeCode redeems an authorization code (RFC 6749 §4.1.3). verify
// checks the request against what the code is bound to (client, redirect
// URI, PKCE verifier); it runs under the lock so that redeeming is atomic.
//
// A code is spent by its first redemption attempt, even one that fails
// verification: RFC 6749 §4.1.2 allows one use, and it makes guessing a
// verifier pointless. Presenting a spent code again revokes the tokens
// issued from it, as §4.1.2 recommends, because it means the code leaked.
func (st *store) exchangeCode(now time.Time, code string, ttl time.Duration, verify func(*authCode) error) (tokens, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.codes[keyOf(code)]
	if c == nil || !now.Before(c.expires) {
		return tokens{}, errInvalidGrant
	}
	if c.used {
		if c.grant != nil && st.revokeLocked(c.grant) {
			st.counters.Revocations++
		}
		return tokens{}, errCodeReplayed
	}
	c.used = true
	if err := verify(c); err != nil {
		return tokens{}, err
	}
	st.sweepLocked(now)
	g := &grant{clientID: c.clientID, scope: c.scope, account: c.account, rateWindowStart: now, burstStart: now}
	if old, full := st.grantShares.victim(g.clientID); full {
		st.dropLocked(old)
		st.counters.Evictions++
	}
	g.elem = st.grantShares.push(g.clientID, g)
	t := st.rotateLocked(now, g, ttl)
	c.grant = g
	st.counters.CodeExchanges++
	return t, nil
}

// refreshGrant redeems a refresh token (RFC 6749 §6). Refresh tokens are
// single-use and rotate, as at DigitalOcean: the old refresh token and the
// old access token stop working at once. scope, when not empty, may narrow
// the grant but never widen it.
func (st *store) refreshGrant(now time.Time, refreshToken, clientID string, scope []string, ttl time.Duration) (tokens, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.refresh[keyOf(refreshToken)]
	switch {
	case g == nil || !now.Before(g.refreshExpires):
		return tokens{}, errInvalidGrant
	case g.clientID != clientID:
		return tokens{}, errWrongClient
	}
	if len(scope) > 0 {
		if !scopeCovers(g.scope, scope) {
			return tokens{}, errScopeWidening
		}
		g.scope = joinScope(scope)
	}
	t := st.rotateLocked(now, g, ttl)
	st.counters.Refreshes++
	return t, nil
}

// rotateLocked gives g a new token pair, unindexing the old one. The
// grant becomes its client's newest: a grant in use is the last to be
// evicted.
func (st *store) rotateLocked(now time.Time, g *grant, ttl time.Duration) tokens {
	delete(st.access, g.accessKey)
	delete(st.refresh, g.refreshKey)
	st.grantShares.touch(g.clientID, g.elem)
	t := tokens{
		access:    newSecret(accessTokenPrefix),
		refresh:   newSecret(refreshTokenPrefix),
		expiresIn: ttl,
		scope:     g.scope,
		account:   g.account,
	}
	g.accessKey, g.accessExpires = keyOf(t.access), now.Add(ttl)
	g.refreshKey, g.refreshExpires = keyOf(t.refresh), now.Add(refreshTTL)
	st.access[g.accessKey] = g
	st.refresh[g.refreshKey] = g
	return t
}

// revoke revokes the grant that token (an access or a refresh token)
// belongs to; revoking either revokes the pair (RFC 7009 §2.1), even when
// the access token has already expired. When bearer is not empty the caller
// authenticated with it instead of client credentials: it must be a live
// access token, or the live refresh token being revoked, and it may only
// revoke its own grant (clientID is then ignored). revoke reports whether
// a live grant was revoked; unknown tokens are not an error (RFC 7009
// §2.2). The personal access token is never revoked: it lasts until the
// sandbox restarts, as its Developer page promises.
func (st *store) revoke(now time.Time, token, clientID, bearer string) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := keyOf(token)
	g := st.refresh[k]
	if g == nil {
		g = st.access[k]
	}
	if g != nil && !now.Before(g.refreshExpires) {
		g = nil // the whole grant has lapsed
	}
	if bearer != "" {
		caller := st.access[keyOf(bearer)]
		if caller != nil && !now.Before(caller.accessExpires) {
			caller = nil
		}
		if caller == nil && bearer == token && g != nil && g.refreshKey == k {
			caller = g
		}
		if caller == nil {
			return false, errUnauthorized
		}
		if caller != g {
			return false, nil
		}
		clientID = g.clientID
	}
	if g == nil || g.personal || g.clientID != clientID || !st.revokeLocked(g) {
		return false, nil
	}
	st.counters.Revocations++
	return true, nil
}

func (st *store) revokeLocked(g *grant) bool {
	if g.revoked {
		return false
	}
	st.dropLocked(g)
	return true
}

// forgetCodeLocked forgets a code that expired or was evicted. A spent code
// forgotten early only loses its replay detection.
func (st *store) forgetCodeLocked(c *authCode) {
	delete(st.codes, c.key)
	st.codeShares.remove(c.clientID, c.elem)
	c.elem = nil
}

// dropLocked makes a grant's tokens stop working and forgets it: it was
// revoked, it expired, or it was evicted to make room.
func (st *store) dropLocked(g *grant) {
	g.revoked = true
	delete(st.access, g.accessKey)
	delete(st.refresh, g.refreshKey)
	st.grantShares.remove(g.clientID, g.elem)
	g.elem = nil
}

// addPersonal indexes a personal access token: a grant with no refresh
// token that never expires, like a token made in DigitalOcean's control
// panel with no expiry.
func (st *store) addPersonal(now time.Time, token, scope string, account int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	g := &grant{
		scope: scope, account: account, personal: true,
		accessKey: keyOf(token), accessExpires: now.AddDate(100, 0, 0), refreshExpires: now.AddDate(100, 0, 0),
		rateWindowStart: now, burstStart: now,
	}
	st.access[g.accessKey] = g
}

// useAccessToken authenticates an API request and spends one request of
// the grant's hourly and per-minute budgets. It returns who the token acts
// for and what the rate-limit headers should say.
func (st *store) useAccessToken(now time.Time, token string, lim limits) (apiCaller, rateStatus, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.access[keyOf(token)]
	if g == nil || !now.Before(g.accessExpires) {
		return apiCaller{}, fullBudget(now, lim.hourly), errUnauthorized
	}
	who := apiCaller{scope: g.scope, account: g.account}
	if !now.Before(g.rateWindowStart.Add(time.Hour)) {
		g.rateWindowStart, g.rateUsed = now, 0
	}
	if !now.Before(g.burstStart.Add(time.Minute)) {
		g.burstStart, g.burstUsed = now, 0
	}
	rs := rateStatus{limit: lim.hourly, reset: g.rateWindowStart.Add(time.Hour)}
	if lim.hourly >= 0 {
		rs.remaining = max(lim.hourly-g.rateUsed, 0)
		if g.rateUsed >= lim.hourly {
			rs.retryAfter = rs.reset
			return who, rs, errRateLimited
		}
	}
	if lim.perMinute >= 0 && g.burstUsed >= lim.perMinute {
		rs.retryAfter = g.burstStart.Add(time.Minute)
		return who, rs, errRateLimited
	}
	g.rateUsed++
	g.burstUsed++
	if lim.hourly >= 0 {
		rs.remaining = lim.hourly - g.rateUsed
	}
	return who, rs, nil
}

// fullBudget is what the rate-limit headers say to a caller without a
// valid token: nothing spent, a fresh hour ahead.
func fullBudget(now time.Time, limit int) rateStatus {
	return rateStatus{limit: limit, remaining: limit, reset: now.Add(time.Hour)}
}

func (st *store) countDenial() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.counters.Denials++
}

func (st *store) countAPIRequest() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.counters.APIRequests++
}

// stats returns the counters and the current number of live access tokens
// and outstanding codes.
func (st *store) stats(now time.Time) Stats {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.counters
	for _, g := range st.access {
		if !g.personal && now.Before(g.accessExpires) {
			s.LiveAccessTokens++
		}
	}
	for _, c := range st.codes {
		if !c.used && now.Before(c.expires) {
			s.OutstandingCodes++
		}
	}
	return s
}

// sweepLocked drops expired codes and grants whose refresh token has
// expired. Spent codes are kept until they expire, so that a replay can be
// detected, and a grant's expired access token stays indexed as long as the
// grant, so that revoking it still revokes the grant. Sweeping runs before
// every insertion, but at most once a minute; each client's entries are
// queued in the order they expire (see shares), so it reads only the
// expired ones and the first live one of each client.
func (st *store) sweepLocked(now time.Time) {
	if now.Sub(st.lastSweep) < sweepEvery {
		return
	}
	st.lastSweep = now
	st.codeShares.expire(func(c *authCode) bool {
		if now.Before(c.expires) {
			return false
		}
		st.forgetCodeLocked(c)
		return true
	})
	st.grantShares.expire(func(g *grant) bool {
		if now.Before(g.refreshExpires) {
			return false
		}
		st.dropLocked(g)
		return true
	})
}
