package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"dosignin/doclient"
)

// Limits on the callback's query. DigitalOcean's codes and our states are
// under 100 bytes; anything near these sizes is not a real callback.
const (
	maxCallbackQuery = 8 << 10
	maxCallbackValue = 2 << 10
	revokeTimeout    = 5 * time.Second
)

// handleConnect serves GET /connect, step 1 of the authorization-code flow:
// it sends the browser to DigitalOcean's authorize page with a fresh state
// and PKCE challenge, remembered in the short-lived login cookie.
//
// It takes no redirect target from the request: where the browser comes
// back to is the configured redirect URL, always.
func (s *Server) handleConnect(c echo.Context) error {
	r := c.Request()
	start, began := s.now(), time.Now() // when (app clock), and a monotonic start for the duration
	scopes, err := s.requestedScopes(c.QueryParam("access"))
	if err != nil {
		return err
	}
	var extra []oauth2.AuthCodeOption
	switch c.QueryParam("account") {
	case "":
	case "select":
		extra = append(extra, doclient.SelectAccount)
	default:
		return &Problem{Status: http.StatusBadRequest, Title: "Unknown account choice",
			Message: "Go back to the home page and pick one of the Connect links."}
	}
	// The login cookie is set on the host this request came to, and
	// DigitalOcean returns the browser to the redirect URL's host. If they
	// differ (127.0.0.1 vs localhost), go to the right host first, or the
	// callback would arrive without the cookie and fail.
	if !strings.EqualFold(r.Host, s.redirect.Host) {
		to := url.URL{Scheme: s.redirect.Scheme, Host: s.redirect.Host, Path: "/connect"}
		q := url.Values{}
		if c.QueryParam("access") == "write" {
			q.Set("access", "write")
		}
		if extra != nil {
			q.Set("account", "select")
		}
		to.RawQuery = q.Encode()
		return c.Redirect(http.StatusFound, to.String())
	}

	login := pendingLogin{State: randomState(), Started: s.now()}
	if s.pkce {
		login.Verifier = oauth2.GenerateVerifier() // 32 random bytes, 43 characters
	}
	if err := s.sessions.beginLogin(c.Response(), r, login); err != nil {
		return err // the cookie store is broken: a 500, logged
	}
	ctx, ft := traced(r.Context())
	link := s.do.AuthCodeURL(ctx, login.State, login.Verifier, scopes, extra...)
	// A new login starts a new record: step 1, the link.
	if len(ft.links) == 1 {
		l := ft.links[0]
		fields := append([]doclient.Field{{Name: "GET", Value: l.Endpoint}}, l.Params...)
		s.keepRecord(c.Response(), r, &flowRecord{Steps: []flowStep{newStep(kindLink, start, time.Since(began), "redirected to DigitalOcean", fields)}})
	}
	return c.Redirect(http.StatusFound, link)
}

// requestedScopes returns the scopes for access=read|write; by default the
// configured ones (read), so the app asks for no more than it needs.
func (s *Server) requestedScopes(access string) ([]string, error) {
	switch access {
	case "":
		return s.scopes, nil
	case "read":
		return []string{"read"}, nil
	case "write":
		return []string{"read", "write"}, nil
	}
	return nil, &Problem{Status: http.StatusBadRequest, Title: "Unknown access level",
		Message: "Access can be read or write. Go back to the home page and pick one of the Connect links."}
}

// handleDigitalOcean serves GET /digitalocean: the OAuth callback when the
// query carries code, state or error, the droplet page otherwise.
//
// A query that parses and has none of those is the droplet page's filters,
// which handleDroplets checks with its own rules (and messages); any other
// query, malformed ones included, gets the callback's strict parsing.
func (s *Server) handleDigitalOcean(c echo.Context) error {
	raw := c.Request().URL.RawQuery
	if loose, err := url.ParseQuery(raw); err == nil && !isCallback(loose) {
		return s.handleDroplets(c)
	}
	q, err := parseCallback(raw)
	if err != nil {
		return err
	}
	return s.handleCallback(c, q)
}

// isCallback reports whether q carries any of the callback's parameters.
func isCallback(q url.Values) bool {
	return q.Has("code") || q.Has("state") || q.Has("error")
}

// parseCallback parses the callback's query strictly: bad escapes, repeated
// parameters or oversized values mean this is not DigitalOcean speaking.
func parseCallback(raw string) (url.Values, error) {
	bad := func(why string) error {
		return &Problem{Status: http.StatusBadRequest, Title: "This sign-in link is not valid",
			Message: "The address DigitalOcean sent you back with was damaged (" + why + "). Go back to the home page and connect again."}
	}
	if len(raw) > maxCallbackQuery {
		return nil, bad("too long")
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, bad("malformed")
	}
	for _, values := range q {
		if len(values) > 1 {
			return nil, bad("a parameter appears twice")
		}
		if len(values[0]) > maxCallbackValue {
			return nil, bad("a parameter is too long")
		}
	}
	return q, nil
}

// handleCallback is steps 3 to 5 of the flow: check that this callback
// answers the login this browser started, then trade the code for tokens
// and start a new session.
func (s *Server) handleCallback(c echo.Context, q url.Values) error {
	w, r := c.Response(), c.Request()
	arrived, began := s.now(), time.Now()
	state := q.Get("state")
	// Read and delete the login cookie before anything else: whatever
	// happens next, this state is spent.
	login, started := s.sessions.takeLogin(w, r)
	rec := s.sessions.loadRecord(r)

	// A callback this browser has already completed (a reload, or Back)
	// is answered without DigitalOcean: a second exchange of the code
	// would be refused. (A callback sent twice before the first answer,
	// which carries the login cookie both times, is the Exchange's to
	// deduplicate.)
	if sess, ok := s.sessions.load(w, r); ok && state != "" && sess.LoginState == stateHash(state) {
		return &Problem{Status: http.StatusBadRequest, Title: "This sign-in link was already used",
			Message: "Step 3 check failed: this callback's one-time code was already traded for the tokens you are connected with (a reload or Back brought it here again). A code works once, so that a code copied from a browser history or a log is useless. Open your droplets, or disconnect and connect again."}
	}
	// The state check comes before any call to DigitalOcean: it is what
	// stops an attacker from logging this browser into their account
	// (login CSRF) with a code of their own.
	if !started || !sameState(state, login.State) {
		return &Problem{Status: http.StatusForbidden, Title: "Sign-in could not be verified",
			Message: "Step 3 check failed: the state in this answer from DigitalOcean does not match the login cookie of a sign-in started in this browser in the last 10 minutes. The check exists so that nobody can finish a login in your browser with their own code (and land you in their account). Go back to the home page and connect again."}
	}
	var link flowStep
	if rec != nil && len(rec.Steps) > 0 && rec.Steps[0].Kind == kindLink && fieldOf(rec.Steps[0], "state") == doclient.MaskState(login.State) {
		link = rec.Steps[0]
	} else {
		rec = nil // the record is of another login
	}

	if e := q.Get("error"); e != "" {
		// The user said no, or DigitalOcean refused the request. The
		// description comes from the URL, so anyone could have written it:
		// it is shown as escaped text, trimmed, and trusted for nothing.
		if rec != nil {
			decision := newStep(kindDecision, link.at(), arrived.Sub(link.at()), "denied", []doclient.Field{
				{Name: "decision", Value: "Deny"}, {Name: "error", Value: trim(e, 60)}})
			s.keepRecord(w, r, &flowRecord{Steps: []flowStep{link, decision}, StepUp: rec.StepUp})
		}
		if login.Action != nil && e == "access_denied" {
			return s.stepUpDenied(c, login.Action)
		}
		if e == "access_denied" {
			s.sessions.setFlash(w, r, "info", "You denied access, so the app cannot show your droplets. Connect again whenever you like.")
		} else {
			s.sessions.setFlash(w, r, "error", "DigitalOcean did not grant access: "+trim(e, 60)+describe(q.Get("error_description")))
		}
		return c.Redirect(http.StatusSeeOther, "/")
	}

	code := q.Get("code")
	if code == "" {
		return &Problem{Status: http.StatusBadRequest, Title: "This sign-in link is not valid",
			Message: "DigitalOcean's answer carried no authorization code. Go back to the home page and connect again."}
	}
	checks := time.Since(began)
	ctx, ft := traced(r.Context())
	tok, acct, err := s.do.Exchange(ctx, code, login.Verifier)
	if rec != nil && len(ft.tokens) == 1 { // steps 2 to 5, whatever the outcome
		s.keepRecord(w, r, &flowRecord{Steps: loginSteps(link, arrived, checks, ft.tokens[0]), StepUp: rec.StepUp})
	}
	// No "Try again" link on these pages: this URL's state and code are
	// spent, so only a new login can help.
	if after, ok := doclient.IsRateLimited(err); ok {
		return &Problem{Status: http.StatusServiceUnavailable, Title: "DigitalOcean is busy",
			Message:    "DigitalOcean is limiting how fast this app may sign people in. Go back to the home page and connect again in " + waitWords(after) + ".",
			RetryAfter: max(after, time.Second), Err: err}
	}
	switch {
	case errors.Is(err, doclient.ErrCodeUsed):
		// Exchanged more than a double click ago (here or on another
		// instance): a replay, perhaps by someone holding a copy of the
		// login cookie. No session, no token request.
		return &Problem{Status: http.StatusBadRequest, Title: "This sign-in link was already used",
			Message: "Step 4 check failed: this authorization code was already traded for tokens, more than a double click ago. A code works once, so that a callback someone captured cannot be replayed to get tokens. Go back to the home page and connect again.", Err: err}
	case doclient.IsInvalidGrant(err):
		return &Problem{Status: http.StatusBadRequest, Title: "This sign-in link has expired",
			Message: "Step 4 check failed: DigitalOcean no longer accepts this authorization code. A code works once and for a few minutes, so that a code that leaks (from a browser history, a log, a proxy) cannot be traded for tokens later. Connect again.", Err: err}
	case errors.Is(err, doclient.ErrWaitedForAnotherInstance):
		// Not DigitalOcean's doing: another instance of this app holds
		// the code's lock and did not finish (as in upstreamProblem).
		return &Problem{Status: http.StatusServiceUnavailable, Title: "Sign-in is taking too long",
			Message:    "Another instance of this app is finishing this sign-in and did not finish in time. Go back to the home page and connect again in a moment.",
			RetryAfter: time.Second, Err: err}
	case doclient.IsTimeout(err):
		return &Problem{Status: http.StatusGatewayTimeout, Title: "DigitalOcean took too long",
			Message: "DigitalOcean did not answer in time while finishing your sign-in. Go back to the home page and connect again.", Err: err}
	case doclient.IsUnavailable(err):
		return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean could not be reached",
			Message: "DigitalOcean did not answer while finishing your sign-in. Go back to the home page and connect again.", Err: err}
	case err != nil:
		return &Problem{Status: http.StatusBadGateway, Title: "Sign-in failed",
			Message: "DigitalOcean refused to finish the sign-in. Go back to the home page and connect again. If it keeps happening, check the app's DIGITALOCEAN_CLIENT_ID and DIGITALOCEAN_CLIENT_SECRET.", Err: err}
	}
	if login.Action != nil {
		return s.stepUpGranted(c, login.Action, tok, acct, state)
	}
	if _, err := s.sessions.start(w, r, tok, acct, state); err != nil {
		// A 500, logged, but without the generic page's "Try again":
		// reloading this spent URL could only fail.
		return &Problem{Status: http.StatusInternalServerError, Title: "Sign-in could not be saved",
			Message: "The app could not store your sign-in. It has been logged. Go back to the home page and connect again.", Err: err}
	}
	// 303 to the clean URL, so a reload does not resend the code.
	return c.Redirect(http.StatusSeeOther, "/digitalocean")
}

// handleLogout serves POST /logout (same-origin only, see sameOriginWrites):
// it revokes the token at DigitalOcean, best effort and in bounded time,
// then deletes the session cookie.
func (s *Server) handleLogout(c echo.Context) error {
	w, r := c.Response(), c.Request()
	sess, ok := s.sessions.load(w, r)
	s.sessions.end(w)
	if !ok {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	// Revoking the access token ends the whole grant, refresh token
	// included. DigitalOcean documents revoking a live access token,
	// authenticated by itself, so an expired one is refreshed first.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), revokeTimeout)
	defer cancel()
	ctx, ft := traced(ctx)
	tok, err := s.do.TokenSource(ctx, sess.Token()).Token()
	if err == nil {
		err = s.do.Revoke(ctx, tok.AccessToken)
	}
	// The index shows what Disconnect did; the login steps, which name
	// the account, are forgotten with it.
	if rec := s.sessions.loadRecord(r); rec != nil {
		done := &flowRecord{Viewed: true}
		ft.record(done, -1, 0)
		s.keepRecord(w, r, done)
	}
	switch {
	case err == nil:
		s.sessions.setFlash(w, r, "info", "Disconnected. The app's access to your DigitalOcean account was revoked.")
	case doclient.IsInvalidGrant(err) || doclient.IsInvalidToken(err):
		// The grant was already revoked or has expired: nothing to revoke.
		s.log.Info("nothing to revoke at logout", "error", err)
		s.sessions.setFlash(w, r, "info", "Disconnected. The app's access to your DigitalOcean account had already ended.")
	default:
		// Unreachable, rate-limited, or refused for another reason: the
		// grant may still be live, so say so and how to end it.
		s.log.Warn("revoking the token at logout failed", "error", err)
		s.sessions.setFlash(w, r, "error", "Disconnected from this app, but DigitalOcean did not confirm that it revoked the app's access. You can revoke it in the DigitalOcean control panel under API → OAuth Applications.")
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

// randomState returns 256 bits from crypto/rand as 52 base32 characters:
// far beyond guessing, and safe in a URL as is.
func randomState() string {
	return rand.Text() + rand.Text()
}

// accessLabel puts a granted scope into words.
func accessLabel(scope string) string {
	if slices.Contains(strings.Fields(scope), "write") {
		return "Read & write"
	}
	return "Read"
}

func describe(desc string) string {
	if desc = trim(desc, 200); desc != "" {
		return " (" + desc + ")"
	}
	return ""
}

// trim shortens untrusted text for display.
func trim(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
