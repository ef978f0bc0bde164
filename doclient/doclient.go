// Package doclient signs users in with DigitalOcean and manages their
// droplets.
//
// It wraps DigitalOcean's OAuth 2.0 authorization server
// (https://cloud.digitalocean.com/v1/oauth) with golang.org/x/oauth2, and the
// API calls this app makes (listing droplets, reading one, its power
// actions, creating and destroying droplets) with the official client,
// github.com/digitalocean/godo.
//
// The authorization-code flow (RFC 6749 §4.1) with PKCE (RFC 7636), numbered
// as in DigitalOcean's tutorial "How To Use OAuth Authentication with
// DigitalOcean" (and the README), and where each step lives:
//
//  1. Authorization link: send the browser to [Client.AuthCodeURL], with a
//     fresh, unguessable state and PKCE verifier that the app remembers (e.g.
//     in a short-lived cookie).
//  2. The user approves or denies the app on DigitalOcean.
//  3. DigitalOcean redirects the browser back to Config.RedirectURL with code
//     and state (or error). The app compares state with the one it
//     remembered before anything else.
//  4. Request tokens: trade the code and the verifier with [Client.Exchange].
//  5. Receive tokens: the answer also says who signed in ([Account]).
//
// Then: call the API with the access token ([Client.Droplets],
// [Client.Droplet]; with write access, [Client.DropletAction] and
// [Client.Action] to follow it; [Client.CreateDroplet], from the choices
// of [Client.Regions], [Client.Sizes], [Client.Images] and [Client.Keys],
// and [Client.DeleteDroplet]); access tokens expire, and a [TokenSource]
// refreshes them ([Client.Refresh]) and tells the app about the new pair so
// it can store it; on logout, revoke the token ([Client.Revoke]).
//
// Failures come back as [*OAuthError] (the OAuth server said no), [*APIError]
// (the API said no), [ErrCodeUsed] (a code replayed after its exchange),
// [ErrMalformedAnswer] (a success answer that is not the call's result, e.g.
// "{}"), [ErrWaitedForAnotherInstance] (another instance holds the
// credential) or a wrapped network error; [IsInvalidGrant],
// [IsUnauthorized], [IsTimeout], [IsUnavailable], [IsMalformed],
// [IsRateLimited], [IsForbidden], [IsNotFound], [IsUnprocessable] (422,
// with DigitalOcean's message) and [IsActionRefused] tell a handler which
// page to show. No call returns a nil value without an error.
// No error string contains a token, a code or the client secret.
//
// Each single-use credential (a code, a refresh token) reaches DigitalOcean
// once however many requests present it: within the process by default,
// and across instances with a [SharedStore] in Config.Shared. Token
// requests are never retried, and neither are the requests that change
// something (a droplet action, a create, a destroy); an API GET answered
// 429 with a short retry-after ([MaxRateLimitWait]) is sent again once.
// Each of those changes is sent once per one-time key (the user's
// confirmation): a form sent twice acts once, creates one droplet,
// destroys once.
//
// A [Trace] attached to a context ([WithTrace]) learns what each step
// sent and received, with every secret already masked, so that an app can
// show a learner the flow as it happened.
//
// Every call to DigitalOcean is bounded by Config.Timeout.
package doclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"
)

// Default base URLs of DigitalOcean's OAuth server and API.
const (
	DefaultOAuthURL = "https://cloud.digitalocean.com/v1/oauth"
	DefaultAPIURL   = "https://api.digitalocean.com"
)

// Defaults for the optional Config fields.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultUserAgent = "dosignin (reference app)"
)

// Endpoint is DigitalOcean's OAuth 2.0 endpoint. golang.org/x/oauth2 ships
// none for DigitalOcean. DigitalOcean expects the client ID and secret in the
// POST body of token requests, hence [oauth2.AuthStyleInParams]; saying so
// here also spares x/oauth2 from probing with a failed first request.
var Endpoint = EndpointAt(DefaultOAuthURL)

// EndpointAt returns the OAuth 2.0 endpoint of an authorization server that
// behaves like DigitalOcean's but lives at oauthURL (a test server or the
// sandbox). A trailing slash on oauthURL is ignored.
func EndpointAt(oauthURL string) oauth2.Endpoint {
	base := strings.TrimRight(oauthURL, "/")
	return oauth2.Endpoint{
		AuthURL:   base + "/authorize",
		TokenURL:  base + "/token",
		AuthStyle: oauth2.AuthStyleInParams,
	}
}

// Config describes the app's registration with DigitalOcean and how to reach
// it. ClientID, ClientSecret and RedirectURL are required; the rest have
// defaults.
type Config struct {
	// ClientID and ClientSecret identify the app; DigitalOcean shows them
	// when the OAuth application is registered. The secret proves to
	// DigitalOcean that a token request comes from this app: keep it out of
	// source control, logs and anything sent to a browser.
	ClientID     string
	ClientSecret string

	// RedirectURL is the callback URL registered with DigitalOcean, e.g.
	// "http://localhost:5000/digitalocean". It is sent, identically, in the
	// authorize and the token request, and DigitalOcean refuses any other
	// value. Configure it; never build it from request headers such as Host,
	// which an attacker controls.
	RedirectURL string

	// Scopes are the scopes requested by default: "read", or "read write"
	// for full access. Ask for the least the app needs.
	Scopes []string

	// OAuthURL is the base URL of the OAuth server; "" means
	// DefaultOAuthURL. A trailing slash is ignored.
	OAuthURL string

	// APIURL is the base URL of the API; "" means DefaultAPIURL. It may have
	// a path prefix, e.g. "http://localhost:5000/sandbox".
	APIURL string

	// Timeout bounds each outgoing HTTP call (one token request, one page of
	// droplets); 0 means DefaultTimeout.
	Timeout time.Duration

	// Transport carries all requests; nil means a clone of
	// http.DefaultTransport that keeps up to 64 idle connections to a
	// host (the API's). Tests pass the transport of an httptest
	// server.
	Transport http.RoundTripper

	// UserAgent names the app in requests to DigitalOcean; "" means
	// DefaultUserAgent.
	UserAgent string

	// Now is the clock used to decide whether a token is about to expire;
	// nil means time.Now. Tests inject a fake clock.
	Now func() time.Time

	// Shared, when set, coordinates refreshes and code exchanges with the
	// other instances of the app (see [SharedStore]); nil means within this
	// process only, which is all a single instance needs.
	Shared SharedStore
}

// Client talks to DigitalOcean on behalf of one registered app. Create it with
// [New]; it is safe for concurrent use and meant to live as long as the
// program, because it remembers recent exchanges and refreshes (see
// [Client.Exchange] and [Client.Refresh]).
type Client struct {
	oauth     oauth2.Config
	revokeURL string
	timeout   time.Duration
	now       func() time.Time

	// transport sends every request; oauthHTTP wraps it for the OAuth
	// server, api for the API: one godo client for every user, since
	// each call brings its token in its context (see newAPI).
	transport http.RoundTripper
	oauthHTTP *http.Client
	api       *godo.Client

	// One request to DigitalOcean per authorization code, and per refresh
	// token, however many requests of one browser present it.
	exchanges *sharedGrants
	refreshes *sharedGrants
	// One POST per confirmation of a droplet action (see DropletAction),
	// of a create, and one DELETE per confirmation of a destroy.
	actions *memo[*godo.Action]
	creates *memo[*Created]
	deletes *memo[struct{}]
}

// New checks cfg and returns a Client. It reports every problem it finds, one
// per line, so a misconfigured app can stop at start with a clear message.
func New(cfg Config) (*Client, error) {
	if cfg.OAuthURL == "" {
		cfg.OAuthURL = DefaultOAuthURL
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		const maxIdlePerHost = 64
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every user's calls go to the same host, so keep an idle
		// connection for each call in flight at a busy moment (a listing
		// alone has up to eight): with fewer, each burst of views closes
		// connections that the next one opens again, a TCP and TLS
		// handshake each.
		t.MaxIdleConns = max(t.MaxIdleConns, maxIdlePerHost)
		t.MaxIdleConnsPerHost = maxIdlePerHost
		cfg.Transport = t
	}

	var problems []error
	if cfg.ClientID == "" {
		problems = append(problems, errors.New("doclient: ClientID is empty"))
	}
	if cfg.ClientSecret == "" {
		problems = append(problems, errors.New("doclient: ClientSecret is empty"))
	}
	for _, u := range []struct{ name, value string }{
		{"RedirectURL", cfg.RedirectURL},
		{"OAuthURL", cfg.OAuthURL},
		{"APIURL", cfg.APIURL},
	} {
		if err := checkHTTPURL(u.value); err != nil {
			problems = append(problems, fmt.Errorf("doclient: %s: %w", u.name, err))
		}
	}
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Errorf("doclient: Timeout %v is negative", cfg.Timeout))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}

	// With a trailing slash, as godo resolves paths against it.
	apiURL := strings.TrimRight(cfg.APIURL, "/") + "/"
	transport := &userAgentTransport{userAgent: cfg.UserAgent, base: &traceTransport{
		base: cfg.Transport, now: cfg.Now,
		apiURL: apiURL, oauthURL: strings.TrimRight(cfg.OAuthURL, "/") + "/"}}
	api, err := newAPI(transport, apiURL, cfg.UserAgent)
	if err != nil {
		return nil, fmt.Errorf("doclient: APIURL: %w", err)
	}
	// A shared lock outlives the request it guards (bounded by Timeout),
	// so it needs no renewal (see callLocked); waiting for another
	// instance's result is bounded likewise.
	lease := cfg.Timeout + 2*time.Second
	return &Client{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     EndpointAt(cfg.OAuthURL),
			RedirectURL:  cfg.RedirectURL,
			Scopes:       slices.Clone(cfg.Scopes),
		},
		revokeURL: strings.TrimRight(cfg.OAuthURL, "/") + "/revoke",
		timeout:   cfg.Timeout,
		now:       cfg.Now,
		transport: transport,
		oauthHTTP: &http.Client{Transport: transport, CheckRedirect: refuseRedirects},
		api:       api,
		exchanges: newSharedGrants("exchange code", CodeShareWindow, CodeSpentFor, cfg.Shared, lease),
		refreshes: newSharedGrants("refresh token", refreshReuse, 0, cfg.Shared, lease),
		actions:   &memo[*godo.Action]{keep: ActionOnceFor},
		creates:   &memo[*Created]{keep: ActionOnceFor},
		deletes:   &memo[struct{}]{keep: ActionOnceFor},
	}, nil
}

// checkHTTPURL reports whether s is an absolute http or https URL.
func checkHTTPURL(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// AuthCodeURL implements step 1 of the flow, the authorization link: it returns the DigitalOcean URL
// to redirect the browser to, where the user approves or denies the app. The
// URL carries client_id, redirect_uri, response_type=code, scope and state.
//
// state must be a fresh, unguessable value (at least 128 bits from
// crypto/rand) that the app remembers for this browser and compares with the
// state of the callback before exchanging the code; this is what stops an
// attacker from completing a login with their own code (RFC 6749 §10.12).
//
// verifier is a fresh PKCE code verifier, from [oauth2.GenerateVerifier];
// the URL then carries its S256 challenge, and the same verifier must be
// passed to [Client.Exchange], so that a stolen code is useless without it
// (RFC 7636). An empty verifier disables PKCE; use it only with a provider
// that refuses PKCE.
//
// scopes replaces Config.Scopes for this request; nil means Config.Scopes.
//
// extra adds parameters, such as [SelectAccount]. A [Trace] in ctx learns
// the link, with state and code_challenge shortened.
func (c *Client) AuthCodeURL(ctx context.Context, state, verifier string, scopes []string, extra ...oauth2.AuthCodeOption) string {
	cfg := c.oauth // a copy, so per-request scopes do not leak into c
	if scopes != nil {
		cfg.Scopes = scopes
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	link := cfg.AuthCodeURL(state, append(opts, extra...)...)
	traceFrom(ctx).authorizeLink(link, c.now())
	return link
}

// SelectAccount asks DigitalOcean to let the user choose which account to
// authorize the app for (prompt=select_account), rather than using the one
// signed in to the control panel.
var SelectAccount = oauth2.SetAuthURLParam("prompt", "select_account")

// Account is who authorized the app, from the "info" object of
// DigitalOcean's token response. It identifies the user for display; it is
// not a proof of identity to other services.
type Account struct {
	Name     string // the user's name
	Email    string // the user's email address
	UUID     string // the user's unique ID
	TeamUUID string // the ID of the team the token acts on
	TeamName string // the name of that team
}

// Exchange implements steps 4 and 5 of the flow: it trades the authorization code
// from the callback for an access and a refresh token, and returns the
// Account that authorized the app.
//
// Call it only after the callback's state matched the remembered one. Pass
// the PKCE verifier given to [Client.AuthCodeURL] ("" if PKCE is off). The
// request carries grant_type=authorization_code, code, redirect_uri,
// code_verifier and the client credentials, all in the POST body. A code
// works once: a reused, expired or foreign code fails with an error for which
// [IsInvalidGrant] is true.
//
// A browser may send the callback twice (a double click, a reload before the
// first answer arrived), each time with the same code and the same login
// cookie. A second exchange would fail, and DigitalOcean may answer a
// replayed code by revoking the tokens the first one got. So, as [Refresh]
// does for refresh tokens, calls with the same code and verifier share one
// request, and calls within [CodeShareWindow] after it get its result.
// Later, for [CodeSpentFor], the code is refused with [ErrCodeUsed] without
// a token request: a callback replayed that late (say, by someone who
// captured it with the login cookie) gets no tokens. With Config.Shared
// this holds across instances; without it, within one process.
func (c *Client) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, Account, error) {
	ev := TokenRequest{GrantType: GrantAuthorizationCode, Endpoint: c.oauth.Endpoint.TokenURL, At: c.now()}
	start := time.Now()
	var sent atomic.Bool // the closure may still run after do returns
	tok, err := c.exchanges.do(ctx, hashOf(code, verifier), c.now, func(ctx context.Context) (*oauth2.Token, error) {
		sent.Store(true)
		return c.exchange(ctx, code, verifier)
	})
	if tr := traceFrom(ctx); tr != nil {
		// The parameters x/oauth2 sends in the body (AuthStyleInParams), masked.
		ev.Sent = []Field{
			{"grant_type", GrantAuthorizationCode},
			{"code", MaskCode(code)},
			{"redirect_uri", c.oauth.RedirectURL},
		}
		if verifier != "" {
			ev.Sent = append(ev.Sent, Field{"code_verifier", Hidden(verifier)})
		}
		ev.Sent = append(ev.Sent, Field{"client_id", c.oauth.ClientID}, Field{"client_secret", Hidden(c.oauth.ClientSecret)})
		ev.Duration, ev.Shared = time.Since(start), !sent.Load()
		var fields tokenFields
		if tok != nil {
			fields = tokenFields{tok: tok, expiry: tok.Expiry}
		}
		tr.tokenRequest(ev, fields, err)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, Account{}, fmt.Errorf("doclient: exchange code: %w", ctx.Err())
		}
		return nil, Account{}, err
	}
	return tok, AccountFromToken(tok), nil
}

// exchange sends the token request itself.
func (c *Client) exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := c.oauth.Exchange(c.oauthContext(ctx), code, opts...)
	if err != nil {
		return nil, tokenError(ctx, "exchange code", err)
	}
	c.stampExpiry(tok)
	return tok, nil
}

// stampExpiry sets tok.Expiry from expires_in by this client's clock.
// x/oauth2 stamps it with time.Now; using the same clock as the expiry
// checks keeps the two consistent (and lets tests move time).
func (c *Client) stampExpiry(tok *oauth2.Token) {
	if tok.ExpiresIn > 0 {
		tok.Expiry = c.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
}

// AccountFromToken returns the Account in the "info" object of the token
// response tok came from. Missing fields are "". A nil tok gives the zero
// Account.
func AccountFromToken(tok *oauth2.Token) Account {
	if tok == nil {
		return Account{}
	}
	info, _ := tok.Extra("info").(map[string]any)
	field := func(name string) string {
		s, _ := info[name].(string)
		return s
	}
	return Account{
		Name:     field("name"),
		Email:    field("email"),
		UUID:     field("uuid"),
		TeamUUID: field("team_uuid"),
		TeamName: field("team_name"),
	}
}

// Revoke implements the last step: it revokes token (an access token) at
// DigitalOcean, so that it stops working even if a copy survives somewhere.
// Call it on logout, before forgetting the token.
//
// It sends POST {OAuthURL}/revoke with the form body token=<token>,
// authenticated with "Authorization: Bearer <token>", as DigitalOcean's own
// tools (doctl, the Terraform provider) do. The client credentials are not
// sent. A token that is already expired or revoked may be refused with an
// error; a caller that is logging out can treat any error as "nothing more
// to do" and log it.
func (c *Client) Revoke(ctx context.Context, token string) error {
	if token == "" {
		return errors.New("doclient: revoke token: no token")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	form := url.Values{"token": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.revokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("doclient: revoke token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)

	ev := RevokeRequest{Endpoint: c.revokeURL, Token: MaskToken(token), At: c.now()}
	start := time.Now()
	err = c.revoke(ctx, req, &ev.Status)
	if tr := traceFrom(ctx); tr != nil && tr.Revoke != nil {
		ev.Duration = time.Since(start)
		if err != nil {
			ev.Error = errorCode(err)
		}
		tr.Revoke(ev)
	}
	return err
}

// revoke sends the revoke request and sets *status to the answer's status.
func (c *Client) revoke(ctx context.Context, req *http.Request, status *int) error {
	resp, err := c.oauthHTTP.Do(req)
	if err != nil {
		return wrapError(ctx, "revoke token", err)
	}
	defer resp.Body.Close()
	*status = resp.StatusCode
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	return fmt.Errorf("doclient: revoke token: %w", oauthErrorFromResponse(resp))
}

// oauthContext returns ctx carrying the HTTP client x/oauth2 uses for token
// requests; without it x/oauth2 would use http.DefaultClient.
func (c *Client) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.oauthHTTP)
}

// refuseRedirects stops the HTTP client from following redirects: the OAuth
// server and the API never redirect these requests, and following one would
// send the client secret (in a POST body) or a bearer token (added by
// oauth2.Transport to every request) to wherever it points. The 3xx answer
// becomes an error instead.
func refuseRedirects(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}

// userAgentTransport sets the User-Agent header of requests that have none
// (x/oauth2 sets none; godo sets its own).
type userAgentTransport struct {
	userAgent string
	base      http.RoundTripper
}

func (t *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") != "" {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context()) // a RoundTripper must not modify its request
	req.Header.Set("User-Agent", t.userAgent)
	return t.base.RoundTrip(req)
}

// AuthorizeOrigin returns the scheme and host of the authorize endpoint
// (e.g. "https://cloud.digitalocean.com"): the origin a page's
// Content-Security-Policy form-action must allow for a form whose answer
// redirects the browser there, since browsers apply form-action to a form
// submission's redirects too.
func (c *Client) AuthorizeOrigin() string {
	u, err := url.Parse(c.oauth.Endpoint.AuthURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
