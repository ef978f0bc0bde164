package handlers

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"golang.org/x/oauth2"

	"dosignin/doclient"
)

// Session is everything the app keeps about a connected browser. It lives
// only inside the encrypted session cookie: there is no server-side store,
// which is why any number of instances can serve the same user.
type Session struct {
	AccessToken  string           `json:"at"`
	RefreshToken string           `json:"rt"`
	Expiry       time.Time        `json:"exp"`
	Scope        string           `json:"scope"`
	Account      doclient.Account `json:"acct"`

	// Created and LastSeen enforce the absolute lifetime and the idle
	// timeout on the server: a cookie's Max-Age is only a request to the
	// browser, and a stolen cookie would ignore it.
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"seen"`

	// LoginState is a hash of the state that created this session, so a
	// replayed callback (Back, reload) is recognised and refused with 400
	// instead of looking like a forgery.
	LoginState string `json:"login"`

	// Pages is how many pages (of 200) the account's droplet list had last
	// time, so the droplet page can ask for all of them at once.
	Pages int `json:"pages,omitempty"`

	// Refreshed is when the app last refreshed the token pair (zero: not
	// since login), for the token status and Refresh now.
	Refreshed time.Time `json:"refreshed,omitzero"`
}

// Token returns the session's tokens in x/oauth2's form.
func (s *Session) Token() *oauth2.Token {
	return &oauth2.Token{AccessToken: s.AccessToken, RefreshToken: s.RefreshToken, TokenType: "Bearer", Expiry: s.Expiry}
}

// SetToken stores a new token pair, as a refresh rotates both tokens.
func (s *Session) SetToken(t *oauth2.Token) {
	s.AccessToken, s.Expiry = t.AccessToken, t.Expiry
	if t.RefreshToken != "" {
		s.RefreshToken = t.RefreshToken
	}
	if scope, ok := t.Extra("scope").(string); ok && scope != "" {
		s.Scope = scope
	}
}

// pendingLogin is what /connect remembers for the callback, in its own
// short-lived cookie: the state that ties the callback to this browser and
// the PKCE verifier that proves the code was asked for by this app.
type pendingLogin struct {
	State    string    `json:"state"`
	Verifier string    `json:"verifier"`
	Started  time.Time `json:"started"`
	// Action is set when this login is a step-up to read & write for a
	// droplet action (handlers/actions.go): where the callback goes next.
	Action *pendingAction `json:"action,omitempty"`
}

// flash is a one-time message shown on the next page.
type flash struct {
	Kind string `json:"kind"` // "info" or "error"
	Text string `json:"text"`
}

// Cookie names. On https the __Host- prefix makes the browser insist on
// Secure, Path=/ and no Domain, so a sibling subdomain cannot plant one.
const (
	sessionCookie = "do_session"
	loginCookie   = "do_login"
	flashCookie   = "do_flash"
	flowCookie    = "do_flow"    // the flow record (handlers/flow.go)
	confirmCookie = "do_confirm" // the one-time token of a confirmation form (handlers/actions.go)

	// loginTTL bounds how long a started login may take: long enough to
	// sign in at DigitalOcean, short enough that a leaked state is useless.
	loginTTL = 10 * time.Minute
	// touchEvery limits how often a request rewrites the session cookie
	// just to move LastSeen forward.
	touchEvery = time.Minute
	valueKey   = "v"
)

// sessionStore reads and writes the app's three cookies. It wraps
// gorilla/sessions' CookieStore (signed with HMAC-SHA256 and encrypted with
// AES-256) so that handlers deal in typed values, never in Values["..."].
type sessionStore struct {
	session *sessions.CookieStore // the connected user's tokens
	short   *sessions.CookieStore // login state and flash messages
	names   map[string]string     // logical name -> cookie name (with __Host- on https)
	idle    time.Duration
	maxAge  time.Duration
	now     func() time.Time
	records *recordCodec // the flow record's cookie (handlers/flow.go)
}

func newSessionStore(secrets [][]byte, secure bool, idle, maxAge time.Duration, now func() time.Time) (*sessionStore, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no session secret")
	}
	pairs, err := cookieKeys(secrets)
	if err != nil {
		return nil, err
	}
	newStore := func(age time.Duration) *sessions.CookieStore {
		st := sessions.NewCookieStore(pairs...)
		// Every flag is set explicitly: the CookieStore defaults
		// (SameSite=None, Secure on http) would be wrong here. Lax, not
		// Strict, because DigitalOcean sends the browser back to the callback
		// with a cross-site top-level GET, which must carry the login cookie.
		st.Options = &sessions.Options{Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
		st.MaxAge(int(age / time.Second)) // also makes the codec reject older cookies
		for _, codec := range st.Codecs {
			// The value is already JSON (see write): gob on top of it
			// would double the cost of every request's cookie.
			codec.(*securecookie.SecureCookie).SetSerializer(securecookie.NopEncoder{})
		}
		return st
	}
	s := &sessionStore{
		session: newStore(maxAge),
		short:   newStore(loginTTL),
		names:   map[string]string{},
		idle:    idle,
		maxAge:  maxAge,
		now:     now,
		records: newRecordCodec(pairs, loginTTL),
	}
	for _, n := range []string{sessionCookie, loginCookie, flashCookie, flowCookie, confirmCookie} {
		s.names[n] = n
		if secure {
			s.names[n] = "__Host-" + n
		}
	}
	return s, nil
}

// cookieKeys derives a signing and an encryption key from each secret,
// rather than using the secret itself for both.
func cookieKeys(secrets [][]byte) ([][]byte, error) {
	var pairs [][]byte
	for _, secret := range secrets {
		auth, err := hkdf.Key(sha256.New, secret, nil, "dosignin cookie signing v1", 32)
		if err != nil {
			return nil, err
		}
		enc, err := hkdf.Key(sha256.New, secret, nil, "dosignin cookie encryption v1", 32)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, auth, enc)
	}
	return pairs, nil
}

// load returns the connected user's session, or ok=false when there is none.
// A cookie that fails to decode (tampered, truncated, signed with a retired
// key, too old) or whose lifetime is over is cleared and counts as not
// connected: never an error page.
func (s *sessionStore) load(w http.ResponseWriter, r *http.Request) (sess *Session, ok bool) {
	var v Session
	switch found, err := s.read(r, s.session, sessionCookie, &v); {
	case !found:
		return nil, false
	case err != nil || v.AccessToken == "":
		s.clear(w, sessionCookie)
		return nil, false
	}
	now := s.now()
	if now.Sub(v.Created) > s.maxAge || now.Sub(v.LastSeen) > s.idle {
		s.clear(w, sessionCookie)
		return nil, false
	}
	// Touch the session for the idle timeout, but not while its token is
	// near expiry: a parallel request may be refreshing it, and writing
	// back the pair this request came with (the spent one) could replace
	// the rotated pair in the browser, which keeps whichever cookie
	// arrives last. A refresh saves the session, and the time, itself.
	if now.Sub(v.LastSeen) > touchEvery && !refreshDueSoon(&v, now) {
		v.LastSeen = now
		// A failed touch only shortens the idle window; the page still works.
		_ = s.save(w, r, &v)
	}
	return &v, true
}

// refreshDueSoon reports whether a request may refresh the session's token
// about now: within doclient.RefreshMargin of expiry, plus as much again for
// requests already under way.
func refreshDueSoon(sess *Session, now time.Time) bool {
	return !sess.Expiry.IsZero() && now.Add(2*doclient.RefreshMargin).After(sess.Expiry)
}

// start begins a brand-new session after a successful login. Starting fresh
// (never reusing a cookie that came with the request) prevents session
// fixation.
func (s *sessionStore) start(w http.ResponseWriter, r *http.Request, tok *oauth2.Token, acct doclient.Account, state string) (*Session, error) {
	now := s.now()
	sess := &Session{Account: acct, Created: now, LastSeen: now, LoginState: stateHash(state)}
	sess.SetToken(tok)
	return sess, s.save(w, r, sess)
}

// save writes the session cookie. An error here is a server problem (the
// value no longer fits in a cookie, or the keys are broken): callers turn it
// into a 500 and it is logged loudly.
func (s *sessionStore) save(w http.ResponseWriter, r *http.Request, sess *Session) error {
	return s.write(w, r, s.session, sessionCookie, sess)
}

// end deletes the session cookie (logout, revoked or expired grant).
func (s *sessionStore) end(w http.ResponseWriter) { s.clear(w, sessionCookie) }

// beginLogin remembers a started login for the callback.
func (s *sessionStore) beginLogin(w http.ResponseWriter, r *http.Request, p pendingLogin) error {
	return s.write(w, r, s.short, loginCookie, p)
}

// takeLogin returns the pending login and deletes its cookie, whatever the
// outcome: a state is good for one callback only.
func (s *sessionStore) takeLogin(w http.ResponseWriter, r *http.Request) (pendingLogin, bool) {
	var p pendingLogin
	found, err := s.read(r, s.short, loginCookie, &p)
	if found {
		s.clear(w, loginCookie)
	}
	if !found || err != nil || p.State == "" || s.now().Sub(p.Started) > loginTTL {
		return pendingLogin{}, false
	}
	return p, true
}

// setFlash queues a message for the next page. Failing to save one loses
// only the message, so the error is not worth a failed request.
func (s *sessionStore) setFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	_ = s.write(w, r, s.short, flashCookie, flash{Kind: kind, Text: text})
}

// takeFlash returns the queued message, if any, and deletes it.
func (s *sessionStore) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	var f flash
	found, err := s.read(r, s.short, flashCookie, &f)
	if found {
		s.clear(w, flashCookie)
	}
	if !found || err != nil || f.Text == "" {
		return nil
	}
	return &f
}

// read decodes cookie name into v. found reports whether the browser sent
// the cookie at all; err whether it was unusable.
func (s *sessionStore) read(r *http.Request, st *sessions.CookieStore, name string, v any) (found bool, err error) {
	c, err := r.Cookie(s.names[name])
	if err != nil {
		return false, nil
	}
	var raw []byte
	if err := securecookie.DecodeMulti(s.names[name], c.Value, &raw, st.Codecs...); err != nil {
		return true, err
	}
	if len(raw) > 0 && raw[0] != '{' {
		if raw, err = legacyValue(raw); err != nil {
			return true, err
		}
	}
	return true, json.Unmarshal(raw, v)
}

// legacyValue reads the value of a cookie written by earlier versions of
// this app, which kept the JSON inside gorilla/sessions' gob-encoded map, so
// that upgrading the app signs nobody out.
func legacyValue(gob []byte) ([]byte, error) {
	values := map[any]any{}
	if err := (securecookie.GobEncoder{}).Deserialize(gob, &values); err != nil {
		return nil, err
	}
	raw, ok := values[valueKey].([]byte)
	if !ok {
		return nil, errors.New("cookie holds no value")
	}
	return raw, nil
}

// write encodes v as JSON (so no gob.Register is needed), signed and
// encrypted by st's codecs, into cookie name.
func (s *sessionStore) write(w http.ResponseWriter, r *http.Request, st *sessions.CookieStore, name string, v any) error {
	dropSetCookie(w.Header(), s.names[name])
	encoded, err := s.encode(st, name, v)
	if err != nil {
		return fmt.Errorf("saving cookie %s: %w", name, err)
	}
	s.writeEncoded(w, st, name, encoded)
	return nil
}

// encode returns the value write would give cookie name, for a caller
// that needs its size first (see writeEncoded).
func (s *sessionStore) encode(st *sessions.CookieStore, name string, v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return securecookie.EncodeMulti(s.names[name], raw, st.Codecs...)
}

// writeEncoded sets cookie name to a value from encode, as write would.
func (s *sessionStore) writeEncoded(w http.ResponseWriter, st *sessions.CookieStore, name, encoded string) {
	dropSetCookie(w.Header(), s.names[name])
	http.SetCookie(w, sessions.NewCookie(s.names[name], encoded, st.Options))
}

// clear tells the browser to delete cookie name.
func (s *sessionStore) clear(w http.ResponseWriter, name string) {
	opts := *s.short.Options
	opts.MaxAge = -1
	dropSetCookie(w.Header(), s.names[name])
	http.SetCookie(w, sessions.NewCookie(s.names[name], "", &opts))
}

// dropSetCookie removes a Set-Cookie already queued for name, so a second
// write in one response replaces the first instead of sending both.
func dropSetCookie(h http.Header, name string) {
	var kept []string
	for _, line := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(line, name+"=") {
			kept = append(kept, line)
		}
	}
	h.Del("Set-Cookie")
	for _, line := range kept {
		h.Add("Set-Cookie", line)
	}
}

// stateHash identifies a state without storing the state itself.
func stateHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:16])
}

// sameState compares two states in constant time, so response timing
// reveals nothing about how much of a guessed state was right.
func sameState(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
