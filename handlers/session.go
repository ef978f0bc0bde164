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

	// ChoseAccount reports that the user chose the account at DigitalOcean
	// (prompt=select_account) when this session began, so that a step-up
	// lets them choose it again rather than getting the default account.
	ChoseAccount bool `json:"chose,omitempty"`

	// rotated reports that this request refreshed the pair and saved it,
	// so that saving the session again is safe however near its expiry.
	rotated bool
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
	// SelectAccount: the link asked DigitalOcean to let the user choose
	// the account (prompt=select_account).
	SelectAccount bool `json:"select,omitempty"`
}

// flash is a one-time message shown on the next page: at its top, or
// beside what it is about (Near).
type flash struct {
	Kind string `json:"kind"` // "info" or "error"
	Text string `json:"text"`
	Near string `json:"near,omitempty"` // "" or flashTokenStatus
}

// flashTokenStatus places a flash in the droplet page's token status box,
// beside the button that caused it.
const flashTokenStatus = "token-status"

// Cookie names. On https the __Host- prefix makes the browser insist on
// Secure, Path=/ and no Domain, so a sibling subdomain cannot plant one.
const (
	sessionCookie = "do_session"
	loginCookie   = "do_login"
	flashCookie   = "do_flash"
	flowCookie    = "do_flow"    // the flow record (handlers/flow)
	confirmCookie = "do_confirm" // the one-time token of a confirmation form (handlers/actions.go)

	// loginTTL bounds how long a started login may take: long enough to
	// sign in at DigitalOcean, short enough that a leaked state is useless.
	// The other short-lived cookies (flash, flow record, confirmation)
	// share it.
	loginTTL = 10 * time.Minute
	// touchEvery limits how often a request rewrites the session cookie
	// just to move LastSeen forward.
	touchEvery = time.Minute
)

// sessionStore reads and writes the app's cookies. Each holds one typed
// value as JSON, signed with HMAC-SHA256 and encrypted with AES-256 by
// gorilla/securecookie (the codec gorilla/sessions' CookieStore is built
// on; the README's "Choices" says why the app uses it directly), so that
// handlers deal in typed values, never in Values["..."].
type sessionStore struct {
	session []securecookie.Codec // the connected user's tokens: valid for maxAge
	short   []securecookie.Codec // login state, flash, flow record, confirmation, learn state: valid for loginTTL
	names   map[string]string    // logical name -> cookie name (with __Host- on https)
	secure  bool                 // Secure cookies (https)
	idle    time.Duration
	maxAge  time.Duration
	now     func() time.Time
}

func newSessionStore(secrets [][]byte, secure bool, idle, maxAge time.Duration, now func() time.Time) (*sessionStore, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no session secret")
	}
	pairs, err := cookieKeys(secrets)
	if err != nil {
		return nil, err
	}
	codecs := func(age time.Duration) []securecookie.Codec {
		cs := securecookie.CodecsFromPairs(pairs...)
		for _, c := range cs {
			// MaxAge makes the codec refuse a value signed longer ago.
			// The codec gets JSON, made and read by encode and read
			// (JSON, not gob, needs no type registration), and seals it
			// as it is.
			c.(*securecookie.SecureCookie).MaxAge(int(age / time.Second)).SetSerializer(securecookie.NopEncoder{})
		}
		return cs
	}
	s := &sessionStore{
		session: codecs(maxAge),
		short:   codecs(loginTTL),
		names:   map[string]string{},
		secure:  secure,
		idle:    idle,
		maxAge:  maxAge,
		now:     now,
	}
	for _, n := range []string{sessionCookie, loginCookie, flashCookie, flowCookie, confirmCookie, learnCookie} {
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
	if s.over(&v) {
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
		_ = s.save(w, &v)
	}
	return &v, true
}

// over reports whether a session's absolute lifetime or idle time is up.
func (s *sessionStore) over(sess *Session) bool {
	now := s.now()
	return now.Sub(sess.Created) > s.maxAge || now.Sub(sess.LastSeen) > s.idle
}

// peek returns the session as load does, but writes nothing: no touch,
// no clearing. The error page uses it to name the account in its header,
// and must leave the cookie alone: the handler that failed may have saved
// a rotated token pair in this response already, which a touch would
// overwrite with the spent one.
func (s *sessionStore) peek(r *http.Request) (*Session, bool) {
	var v Session
	if found, err := s.read(r, s.session, sessionCookie, &v); !found || err != nil || v.AccessToken == "" || s.over(&v) {
		return nil, false
	}
	return &v, true
}

// refreshDueSoon reports whether a request may refresh the session's token
// about now: within doclient.RefreshMargin of expiry, plus as much again for
// requests already under way.
func refreshDueSoon(sess *Session, now time.Time) bool {
	return !sess.Expiry.IsZero() && now.Add(2*doclient.RefreshMargin).After(sess.Expiry)
}

// start begins a brand-new session after a successful login: step 5 of
// the flow, the tokens received go straight into the encrypted cookie.
// Starting fresh (never reusing a cookie that came with the request)
// prevents session fixation.
func (s *sessionStore) start(w http.ResponseWriter, tok *oauth2.Token, acct doclient.Account, state string, choseAccount bool) (*Session, error) {
	now := s.now()
	sess := &Session{Account: acct, Created: now, LastSeen: now, LoginState: stateHash(state), ChoseAccount: choseAccount}
	sess.SetToken(tok)
	return sess, s.save(w, sess)
}

// save writes the session cookie. An error here is a server problem (the
// value no longer fits in a cookie, or the keys are broken): callers turn it
// into a 500 and it is logged loudly.
func (s *sessionStore) save(w http.ResponseWriter, sess *Session) error {
	return s.write(w, s.session, sessionCookie, sess, s.maxAge)
}

// end deletes the session cookie (logout, revoked or expired grant).
func (s *sessionStore) end(w http.ResponseWriter) { s.clear(w, sessionCookie) }

// beginLogin remembers a started login for the callback.
func (s *sessionStore) beginLogin(w http.ResponseWriter, p pendingLogin) error {
	return s.write(w, s.short, loginCookie, p, loginTTL)
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
func (s *sessionStore) setFlash(w http.ResponseWriter, kind, text string) {
	s.setFlashNear(w, kind, text, "")
}

// setFlashNear is setFlash for a message shown beside what it is about.
func (s *sessionStore) setFlashNear(w http.ResponseWriter, kind, text, near string) {
	_ = s.write(w, s.short, flashCookie, flash{Kind: kind, Text: text, Near: near}, loginTTL)
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
func (s *sessionStore) read(r *http.Request, codecs []securecookie.Codec, name string, v any) (found bool, err error) {
	c, err := r.Cookie(s.names[name])
	if err != nil {
		return false, nil
	}
	var raw []byte
	if err := securecookie.DecodeMulti(s.names[name], c.Value, &raw, codecs...); err != nil {
		return true, err
	}
	return true, json.Unmarshal(raw, v)
}

// write sets cookie name to v, signed and encrypted, for age.
func (s *sessionStore) write(w http.ResponseWriter, codecs []securecookie.Codec, name string, v any, age time.Duration) error {
	encoded, err := s.encode(codecs, name, v)
	if err != nil {
		return err
	}
	s.setCookie(w, name, encoded, age)
	return nil
}

// encode returns the value write gives cookie name: v as JSON, sealed.
func (s *sessionStore) encode(codecs []securecookie.Codec, name string, v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("saving cookie %s: %w", name, err)
	}
	return s.seal(codecs, name, raw)
}

// seal signs and encrypts raw, a value as JSON, for cookie name: encode's
// second half, for a caller that has the JSON already (see saveRecord).
func (s *sessionStore) seal(codecs []securecookie.Codec, name string, raw []byte) (string, error) {
	encoded, err := securecookie.EncodeMulti(s.names[name], raw, codecs...)
	if err != nil {
		return "", fmt.Errorf("saving cookie %s: %w", name, err)
	}
	return encoded, nil
}

// setCookie sets cookie name to an encoded value for age, replacing a
// Set-Cookie for it queued earlier in the response.
func (s *sessionStore) setCookie(w http.ResponseWriter, name, value string, age time.Duration) {
	s.sendCookie(w, name, value, int(age/time.Second))
}

// clear tells the browser to delete cookie name.
func (s *sessionStore) clear(w http.ResponseWriter, name string) { s.sendCookie(w, name, "", -1) }

// sendCookie queues the Set-Cookie of cookie name, with maxAge in seconds
// (negative: delete it now). Every flag is set explicitly. SameSite is
// Lax, not Strict, because DigitalOcean sends the browser back to the
// callback with a cross-site top-level GET, which must carry the login
// cookie.
func (s *sessionStore) sendCookie(w http.ResponseWriter, name, value string, maxAge int) {
	dropSetCookie(w.Header(), s.names[name])
	http.SetCookie(w, &http.Cookie{Name: s.names[name], Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
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
