package doclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// How long a [sharedGrants] hands out, or refuses, a credential's result.
const (
	// refreshReuse: a refresh token presented again within a minute of its
	// refresh (a browser's parallel requests, a slow tab) gets the same new
	// pair, since only its session's cookie held the old refresh token.
	refreshReuse = time.Minute
	// CodeShareWindow is how long after its exchange a code presented again
	// gets the same tokens: a double click, or a reload before the first
	// answer arrived. Later, until CodeSpentFor has passed, [Client.Exchange]
	// refuses it with [ErrCodeUsed] without asking DigitalOcean: a callback
	// replayed that late is not the user's own double click.
	CodeShareWindow = 5 * time.Second
	// CodeSpentFor is as long as a login cookie lives (and longer than
	// DigitalOcean keeps a code): past it, a replay fails the state check.
	CodeSpentFor = 10 * time.Minute

	failureShare = 5 * time.Second // a failure is handed to everyone who presents the credential, then forgotten
	pollInterval = 20 * time.Millisecond
)

// ErrWaitedForAnotherInstance is returned by [Client.Refresh] and
// [Client.Exchange] when another instance of the app holds the shared lock
// on the credential and published no result within the wait (it hangs, or
// the shared store failed or lost the lock meanwhile). No request was made: the other
// instance may still be presenting the credential, and presenting it a
// second time is what makes DigitalOcean revoke a grant. Trying again in a
// moment is safe; it is not DigitalOcean's failure.
var ErrWaitedForAnotherInstance = errors.New("doclient: another instance of the app holds this credential's lock and published no result in time")

// ErrCodeUsed is returned by [Client.Exchange] for a code exchanged more
// than [CodeShareWindow] ago: no token request is made, and the caller
// should answer as for a spent link.
var ErrCodeUsed = errors.New("doclient: exchange code: the authorization code was already used")

// SharedStore is a store that several instances of the app share (Valkey
// or Redis: see package sharedstore), through which they make each
// single-use credential reach DigitalOcean once. Without one, [Client]
// coordinates within its own process.
//
// Names are hex hashes and hold no secret; values hold tokens, so an
// implementation must encrypt and authenticate them. Every method must
// return quickly (a short timeout). When the store fails before any other
// instance was seen holding the credential's lock, the Client falls back
// to in-process coordination for that request, so the store is never a
// single point of failure; once another instance was seen holding it, the
// Client only waits (see [ErrWaitedForAnotherInstance]).
type SharedStore interface {
	// Get returns the value stored under name; nil, nil when there is none.
	Get(ctx context.Context, name string) ([]byte, error)
	// Set stores value under name for ttl.
	Set(ctx context.Context, name string, value []byte, ttl time.Duration) error
	// Lock takes the lock called name for lease, marked with token; false
	// when another holder has it.
	Lock(ctx context.Context, name, token string, lease time.Duration) (bool, error)
	// Unlock releases the lock if token still holds it, and only then.
	Unlock(ctx context.Context, name, token string) error
}

// sharedGrants makes one request to DigitalOcean per single-use credential
// (a refresh token, or an authorization code with its verifier), however
// many callers present it: concurrent calls share one request
// (singleflight), and calls arriving within share after it succeeded get
// its result. DigitalOcean accepts each credential once, so without this
// every caller but the first would fail with invalid_grant, and a replayed
// credential may even make DigitalOcean revoke the grant. After share, and
// for spent more, the credential is refused with ErrCodeUsed (codes only;
// refresh tokens have no spent period).
//
// With a SharedStore the same holds across instances: the first instance
// takes a lock named after the credential's hash, makes the request, and
// publishes the result; the others wait for the result, within wait. The
// store is an optimisation: when it fails before anyone was seen holding
// the lock, the instance coordinates in its own process; after, it waits
// and never presents the credential itself.
//
// In memory (a memo) it keeps the successes and spent codes, keyed by a
// hash of the credential, and hands a result only to a caller that
// presents the same credential. Failures are not kept: the next request
// asks again.
type sharedGrants struct {
	op    string        // "refresh token" or "exchange code", for errors and shared names
	share time.Duration // a result is handed out this long after the request
	spent time.Duration // then the credential is refused this long (0: forgotten)
	store SharedStore   // nil: this process only
	lease time.Duration // the shared lock's lease: longer than the request it guards
	wait  time.Duration // how long to wait for another instance's result

	// recent keeps a token (nil once the code is only known as spent)
	// for share+spent after its request answered.
	recent memo[*oauth2.Token]
}

// newSharedGrants returns the sharedGrants of op (see its fields).
func newSharedGrants(op string, share, spent time.Duration, store SharedStore, lease time.Duration) *sharedGrants {
	return &sharedGrants{op: op, share: share, spent: spent, store: store, lease: lease, wait: lease,
		recent: memo[*oauth2.Token]{keep: share + spent}}
}

// do returns the result of fn for key, calling fn only when no call for key
// is under way (here or, with a store, in another instance) or answered
// recently. fn runs without ctx's cancellation (see memo.do): once sent,
// the request consumes the credential; do itself returns as soon as ctx
// is done.
func (s *sharedGrants) do(ctx context.Context, key credentialHash, now func() time.Time, fn func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	look := func() (*oauth2.Token, bool, error) { return s.get(key, now()) }
	tok, err := s.recent.do(ctx, key, look, func(ctx context.Context) (*oauth2.Token, error) {
		tok, at, err := s.coordinate(ctx, key, now, fn)
		if err == nil || errors.Is(err, ErrCodeUsed) {
			s.recent.put(key, memoResult[*oauth2.Token]{val: tok, at: at})
		}
		return tok, err
	})
	if err != nil {
		return nil, err
	}
	return copyToken(tok), nil
}

// coordinate calls fn once across instances when there is a store, and
// just calls it otherwise (or when the store fails before another instance
// was seen holding the lock).
func (s *sharedGrants) coordinate(ctx context.Context, key credentialHash, now func() time.Time, fn func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, time.Time, error) {
	if s.store != nil {
		name := s.op + ":" + hex.EncodeToString(key[:])
		token := rand.Text() // marks our lock as ours
		giveUp := time.Now().Add(s.wait)
		heldElsewhere := false
		for {
			out, err := s.lookShared(ctx, name)
			if err == nil && out != nil {
				return out.result(s.op)
			}
			if !heldElsewhere {
				locked := false
				if err == nil {
					locked, err = s.store.Lock(ctx, name+":lock", token, s.lease)
				}
				if err != nil {
					break // the store failed (it logs that once) before anyone was seen asking: this process only
				}
				if locked {
					return s.callLocked(ctx, name, token, now, fn)
				}
				heldElsewhere = true
			}
			// Another instance is asking DigitalOcean: from now on only
			// wait for its answer, through store errors, and even if the
			// lock vanishes (Redis restarted empty): that instance may be
			// presenting the credential right now, and presenting it again
			// could revoke the grant. If no answer comes, the user's next
			// request starts afresh.
			if time.Now().After(giveUp) {
				return nil, time.Time{}, fmt.Errorf("doclient: %s: %w", s.op, ErrWaitedForAnotherInstance)
			}
			time.Sleep(pollInterval)
		}
	}
	tok, err := fn(ctx)
	return tok, now(), err
}

// callLocked calls fn while holding the shared lock and publishes the
// result before releasing the lock.
//
// The lock is not renewed: its lease (the client's timeout plus 2 s,
// set in [New]) already outlives fn, whose request is bounded by that
// timeout. A fixed lease shorter than the request is what signed
// oauth2-proxy's users out (a 2-second refresh lock that expired
// mid-refresh let a second instance present the same refresh token);
// sizing it from the timeout removes that failure without a renewing
// goroutine that could itself fail or leak.
func (s *sharedGrants) callLocked(ctx context.Context, name, token string, now func() time.Time, fn func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, time.Time, error) {
	defer func() { _ = s.store.Unlock(ctx, name+":lock", token) }()
	// Another instance may have published between our look and our lock.
	if out, err := s.lookShared(ctx, name); err == nil && out != nil {
		return out.result(s.op)
	}
	tok, err := fn(ctx)
	at := now()
	s.publish(ctx, name, tok, at, err)
	return tok, at, err
}

// sharedOutcome is what an instance publishes about a credential it
// presented: the tokens, DigitalOcean's refusal, another failure, or (under
// the ":spent" name) only that the code was used.
type sharedOutcome struct {
	At      time.Time   `json:"at"`
	Token   *wireToken  `json:"token,omitempty"`
	Refusal *OAuthError `json:"refusal,omitempty"`
	Failed  bool        `json:"failed,omitempty"`
	Timeout bool        `json:"timeout,omitempty"`
	Spent   bool        `json:"spent,omitempty"`
}

// wireToken is an oauth2.Token with the extra fields the app reads (scope,
// and info, the account).
type wireToken struct {
	AccessToken  string         `json:"access_token"`
	TokenType    string         `json:"token_type,omitempty"`
	RefreshToken string         `json:"refresh_token,omitempty"`
	Expiry       time.Time      `json:"expiry"`
	ExpiresIn    int64          `json:"expires_in,omitempty"`
	Scope        any            `json:"scope,omitempty"`
	Info         map[string]any `json:"info,omitempty"`
}

func (o *sharedOutcome) result(op string) (*oauth2.Token, time.Time, error) {
	switch {
	case o.Token != nil:
		w := o.Token
		tok := &oauth2.Token{AccessToken: w.AccessToken, TokenType: w.TokenType, RefreshToken: w.RefreshToken, Expiry: w.Expiry, ExpiresIn: w.ExpiresIn}
		extra := map[string]any{}
		if w.Scope != nil {
			extra["scope"] = w.Scope
		}
		if w.Info != nil {
			extra["info"] = w.Info
		}
		return tok.WithExtra(extra), o.At, nil
	case o.Spent:
		return nil, o.At, ErrCodeUsed
	case o.Refusal != nil:
		refusal := *o.Refusal
		return nil, o.At, fmt.Errorf("doclient: %s (by another instance): %w", op, &refusal)
	}
	return nil, o.At, fmt.Errorf("doclient: %s (by another instance): %w", op, remoteFailure{timeout: o.Timeout})
}

// lookShared reads what another instance published about name, if anything.
func (s *sharedGrants) lookShared(ctx context.Context, name string) (*sharedOutcome, error) {
	names := []string{name}
	if s.spent > 0 {
		names = append(names, name+":spent")
	}
	for _, n := range names {
		data, err := s.store.Get(ctx, n)
		if err != nil {
			return nil, err
		}
		var out sharedOutcome
		if data != nil && json.Unmarshal(data, &out) == nil {
			return &out, nil
		}
	}
	return nil, nil
}

// publish tells other instances how presenting the credential went.
//
// A failure is kept for failureShare (5 s), and everyone who presents the
// credential meanwhile, on any instance, a fresh request included, gets it
// rather than a request of its own. That is on purpose: after a timeout
// DigitalOcean may have consumed the credential, so presenting it again at
// once could be the reuse that revokes the grant, and after a 5xx a few
// seconds of "try again" spare a struggling server. A refusal
// (invalid_grant) is final anyway. Without a store nothing of a failure is
// remembered (see do): the next request asks again.
func (s *sharedGrants) publish(ctx context.Context, name string, tok *oauth2.Token, at time.Time, err error) {
	out, ttl := sharedOutcome{At: at}, failureShare
	var refusal *OAuthError
	switch {
	case err == nil:
		info, _ := tok.Extra("info").(map[string]any)
		out.Token = &wireToken{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken,
			Expiry: tok.Expiry, ExpiresIn: tok.ExpiresIn, Scope: tok.Extra("scope"), Info: info}
		ttl = s.share
	case errors.As(err, &refusal):
		out.Refusal = refusal
	default:
		out.Failed, out.Timeout = true, IsTimeout(err)
	}
	data, _ := json.Marshal(out) // plain fields: cannot fail
	if s.store.Set(ctx, name, data, ttl) != nil || err != nil || s.spent == 0 {
		return
	}
	spent, _ := json.Marshal(sharedOutcome{At: at, Spent: true})
	_ = s.store.Set(ctx, name+":spent", spent, s.share+s.spent)
}

// remoteFailure is a network failure or timeout that another instance met
// while presenting the credential. It is a net.Error, so [IsUnavailable]
// and [IsTimeout] recognise it.
type remoteFailure struct{ timeout bool }

func (e remoteFailure) Error() string {
	if e.timeout {
		return "DigitalOcean did not answer in time"
	}
	return "DigitalOcean could not be reached"
}
func (e remoteFailure) Timeout() bool   { return e.timeout }
func (e remoteFailure) Temporary() bool { return true }

// get returns what is remembered about key: the result within share, or
// ErrCodeUsed within the spent period after it.
func (s *sharedGrants) get(key credentialHash, now time.Time) (*oauth2.Token, bool, error) {
	r, ok := s.recent.get(key, now)
	switch {
	case !ok:
		return nil, false, nil
	case now.Sub(r.at) < s.share && r.val != nil:
		return r.val, true, nil
	case r.val != nil:
		// The tokens are no longer handed out: forget them.
		s.recent.put(key, memoResult[*oauth2.Token]{at: r.at})
	}
	return nil, true, ErrCodeUsed
}

// copyToken gives each caller its own *oauth2.Token, so that one caller
// changing its token cannot change another's.
func copyToken(tok *oauth2.Token) *oauth2.Token {
	cp := *tok
	return &cp
}
