package doclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// Trace is a set of optional hooks that learn what the Client did on behalf
// of one request, in the manner of net/http/httptrace: attach it to a
// context with [WithTrace] and pass that context to the Client's methods.
// Any hook may be nil.
//
// The hooks exist so that an app can show a learner what happened at each
// step of the flow. Every value they receive is already masked: this
// package is the one that knows which fields of a request are secrets, so
// it masks them before they leave it (see [MaskState] and its siblings).
// State and code_challenge keep their first characters, the code its first
// characters and its length, tokens their prefix and first characters, and
// code_verifier and client_secret only their length; none shows more than
// a quarter of a value.
//
// Hooks may be called from several goroutines at once (the pages of
// [Client.Droplets] are fetched in parallel) and must not block for long.
type Trace struct {
	// AuthorizeLink reports the link of step 1, built by [Client.AuthCodeURL].
	AuthorizeLink func(AuthorizeLink)
	// TokenRequest reports a request to the token endpoint: the exchange
	// of steps 4 and 5, or a refresh. It is called once per call of
	// [Client.Exchange] or [Client.Refresh], also when the result was shared
	// with another caller instead of sent again.
	TokenRequest func(TokenRequest)
	// Revoke reports the request of [Client.Revoke].
	Revoke func(RevokeRequest)
	// APICall reports each request to the API, as sent on the wire.
	APICall func(APICall)
	// DropletsListed reports a listing of [Client.Droplets] that
	// succeeded, after its last page.
	DropletsListed func(DropletListing)
}

// Field is one parameter of a request or a response, with its value as
// safe to show as it is.
type Field struct {
	Name  string
	Value string
}

// AuthorizeLink is step 1: the authorize URL without its query, and every
// query parameter, in the URL's order.
type AuthorizeLink struct {
	Endpoint string
	Params   []Field
	At       time.Time
}

// Grant types of a [TokenRequest].
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// RefreshReason says why a token was refreshed.
type RefreshReason string

// Why [TokenSource] or the app refreshed a token.
const (
	RefreshExpired     RefreshReason = "expired"            // the access token had expired
	RefreshExpiresSoon RefreshReason = "about to expire"    // it expires within RefreshMargin
	RefreshAsked       RefreshReason = "asked for"          // the app (the user) asked for it
	RefreshRefused     RefreshReason = "refused by the API" // the API refused the access token (see TokenSource.Renew)
)

// TokenRequest is one trip to the token endpoint: what was sent (the
// client credentials travel in the POST body, see [Endpoint]) and what came
// back.
type TokenRequest struct {
	GrantType string        // GrantAuthorizationCode or GrantRefreshToken
	Reason    RefreshReason // for a refresh: why
	Endpoint  string        // the token URL
	Sent      []Field       // the POST body's parameters, client credentials included (masked)
	Received  []Field       // the token response; nil when it failed
	Expiry    time.Time     // the new access token's expiry; zero when it failed
	Error     string        // the OAuth error code ("invalid_grant") or a short reason; "" on success
	Shared    bool          // answered by a request another caller had made (see Client.Refresh)
	At        time.Time
	Duration  time.Duration
}

// RevokeRequest is the request of [Client.Revoke]: the token goes in the
// POST body and in the Authorization header.
type RevokeRequest struct {
	Endpoint string
	Token    string // masked
	Status   int    // 0 when no answer came
	Error    string
	At       time.Time
	Duration time.Duration
}

// APICall is one request to the API.
type APICall struct {
	Method string
	// Path is the path and query as sent, e.g.
	// "/v2/droplets?page=1&per_page=200".
	Path   string
	Status int // 0 when no answer came
	// RateLimitRemaining is the ratelimit-remaining header: how many
	// requests the token may still make this hour; "" when absent.
	RateLimitRemaining string
	At                 time.Time
	Duration           time.Duration
}

// DropletListing is one call of [Client.Droplets]: every page it fetched.
type DropletListing struct {
	Droplets int // droplets listed
	Pages    int // API requests made, one per page
	At       time.Time
	Duration time.Duration
}

type traceKey struct{}

// WithTrace returns ctx carrying t, for the Client's methods to report to.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// traceFrom returns the Trace attached to ctx, or nil.
func traceFrom(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// MaskState shows the first 6 characters of a state, enough to recognise
// it beside the login cookie's, too few to forge a callback with.
func MaskState(s string) string { return lead(s, 6) + "…" }

// MaskChallenge shows the first 8 characters of a PKCE code_challenge. The
// challenge is a hash and not secret, but it is shortened like the rest.
func MaskChallenge(s string) string { return lead(s, 8) + "…" }

// MaskCode shows the first 6 characters of an authorization code and its
// length.
func MaskCode(s string) string {
	return lead(s, 6) + "… (" + strconv.Itoa(utf8.RuneCountInString(s)) + " characters)"
}

// Hidden shows nothing of a secret (the client secret, the PKCE verifier)
// but its length.
func Hidden(s string) string {
	return "•••• (" + strconv.Itoa(utf8.RuneCountInString(s)) + " characters)"
}

// MaskToken shows a token's type prefix and its first 4 characters after
// it: "doo_v1_3f9a…" for a DigitalOcean access token. A token too short
// for that shows less. An empty token (no refresh token) stays empty.
func MaskToken(s string) string {
	if s == "" {
		return ""
	}
	head := 0
	// DigitalOcean's tokens start with a type and version, "doo_v1_"
	// (access) or "dor_v1_" (refresh): short, and not secret.
	if i := strings.LastIndex(prefix(s, 8), "_"); i > 0 {
		head = utf8.RuneCountInString(s[:i+1])
	}
	return lead(s, head+4) + "…"
}

// lead is what a mask shows of s: its first n characters, but never more
// than a quarter of its characters, whatever the server sent, so that a
// value made too short is never shown whole (and one shorter than 4 not
// at all).
func lead(s string, n int) string {
	return prefix(s, min(n, utf8.RuneCountInString(s)/4))
}

// prefix is the first n characters of s.
func prefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// authorizeLink reports the link built by AuthCodeURL.
func (t *Trace) authorizeLink(link string, at time.Time) {
	if t == nil || t.AuthorizeLink == nil {
		return
	}
	u, err := url.Parse(link)
	if err != nil {
		return
	}
	ev := AuthorizeLink{At: at}
	// The query in the order x/oauth2 wrote it (url.Values would sort it).
	for _, pair := range strings.Split(u.RawQuery, "&") {
		name, value, _ := strings.Cut(pair, "=")
		name, _ = url.QueryUnescape(name)
		value, _ = url.QueryUnescape(value)
		switch name {
		case "state":
			value = MaskState(value)
		case "code_challenge":
			value = MaskChallenge(value)
		}
		ev.Params = append(ev.Params, Field{name, value})
	}
	u.RawQuery = ""
	ev.Endpoint = u.String()
	t.AuthorizeLink(ev)
}

// dropletsListed reports a listing of Droplets.
func (t *Trace) dropletsListed(l DropletListing) {
	if t != nil && t.DropletsListed != nil {
		t.DropletsListed(l)
	}
}

// tokenRequest reports a call of Exchange or Refresh.
func (t *Trace) tokenRequest(ev TokenRequest, tok tokenFields, err error) {
	if t == nil || t.TokenRequest == nil {
		return
	}
	if err != nil {
		ev.Error = errorCode(err)
	} else {
		ev.Received = tok.fields()
		ev.Expiry = tok.expiry
	}
	t.TokenRequest(ev)
}

// errorCode is what a trace shows of a failure: the OAuth error code, or a
// short reason. Never the error text, which may quote the server.
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrCodeUsed):
		return "code already used (no request sent)"
	case IsInvalidGrant(err):
		return "invalid_grant"
	case IsMalformed(err):
		return "unreadable answer"
	case IsUnavailable(err):
		return "no answer"
	}
	if oe := (*OAuthError)(nil); errors.As(err, &oe) && oe.Code != "" {
		return oe.Code
	}
	return "refused"
}

// traceTransport reports every API request to the Trace of its context.
// It sits below oauth2.Transport, so it sees the request as sent.
type traceTransport struct {
	base http.RoundTripper
	// Requests under apiURL are API calls, except those under oauthURL
	// (the sandbox serves both from one base).
	apiURL, oauthURL string
	now              func() time.Time
}

func (t *traceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr := traceFrom(req.Context())
	if tr == nil || tr.APICall == nil || !t.isAPICall(req.URL.String()) {
		return t.base.RoundTrip(req)
	}
	at, start := t.now(), time.Now()
	resp, err := t.base.RoundTrip(req)
	ev := APICall{Method: req.Method, Path: req.URL.RequestURI(), At: at, Duration: time.Since(start)}
	if err == nil {
		ev.Status = resp.StatusCode
		ev.RateLimitRemaining = resp.Header.Get("Ratelimit-Remaining")
	}
	tr.APICall(ev)
	return resp, err
}

// tokenFields is what a trace shows of a token response.
type tokenFields struct {
	tok    *oauth2.Token
	expiry time.Time
}

func (f tokenFields) fields() []Field {
	tok := f.tok
	if tok == nil {
		return nil
	}
	fs := []Field{
		{"access_token", MaskToken(tok.AccessToken)},
		{"token_type", tok.TokenType},
		{"expires_in", strconv.FormatInt(tok.ExpiresIn, 10)},
		{"refresh_token", MaskToken(tok.RefreshToken)},
	}
	if scope, ok := tok.Extra("scope").(string); ok {
		fs = append(fs, Field{"scope", scope})
	}
	if acct := AccountFromToken(tok); acct != (Account{}) {
		fs = append(fs,
			Field{"info.name", acct.Name},
			Field{"info.email", acct.Email},
			Field{"info.team_name", acct.TeamName})
	}
	return fs
}

func (t *traceTransport) isAPICall(u string) bool {
	return strings.HasPrefix(u, t.apiURL) && !strings.HasPrefix(u, t.oauthURL)
}
