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
	"dosignin/handlers/flow"
)

// Limits on the callback's query. DigitalOcean's codes and our states are
// under 100 bytes; anything near these sizes is not a real callback.
const (
	maxCallbackQuery = 8 << 10
	maxCallbackValue = 2 << 10
	revokeTimeout    = 5 * time.Second
)

// handleConnect serves GET /connect, step 1 of the authorization-code flow:
// it sends the browser to DigitalOcean's authorize page (see startLogin).
// ?access=write asks for read write instead of the configured scopes, and
// ?account=select lets the user choose the account at DigitalOcean.
//
// It takes no redirect target from the request: where the browser comes
// back to is the configured redirect URL, always.
func (s *Server) handleConnect(c echo.Context) error {
	scopes, err := s.requestedScopes(c.QueryParam("access"))
	if err != nil {
		return err
	}
	selectAccount, err := accountChoice(c.QueryParam("account"))
	if err != nil {
		return err
	}
	// The login cookie is set on the host this request came to, and
	// DigitalOcean returns the browser to the redirect URL's host. If they
	// differ (127.0.0.1 vs localhost), go to the right host first, or the
	// callback would arrive without the cookie and fail.
	if !strings.EqualFold(c.Request().Host, s.redirect.Host) {
		to := url.URL{Scheme: s.redirect.Scheme, Host: s.redirect.Host, Path: "/connect", RawQuery: connectQuery(c.QueryParam("access"), selectAccount)}
		return c.Redirect(http.StatusFound, to.String())
	}
	return s.startLogin(c, http.StatusFound, scopes, selectAccount, nil)
}

// startLogin is step 1 of the flow: a fresh state and PKCE verifier, kept
// in the short-lived login cookie, and a redirect (with status) to
// DigitalOcean's authorize page for scopes. A new login starts a new flow
// record. action, when not nil, is the droplet action a step-up is for.
func (s *Server) startLogin(c echo.Context, status int, scopes []string, selectAccount bool, action *pendingAction) error {
	began := time.Now()
	login := pendingLogin{State: randomState(), Started: s.now(), Action: action, SelectAccount: selectAccount}
	if s.pkce {
		login.Verifier = oauth2.GenerateVerifier() // 32 random bytes, 43 characters
	}
	if err := s.sessions.beginLogin(c.Response(), login); err != nil {
		return err // the cookie store is broken: a 500, logged
	}
	var extra []oauth2.AuthCodeOption
	if selectAccount {
		extra = append(extra, doclient.SelectAccount)
	}
	ctx, calls := flow.Collect(c.Request().Context())
	link := s.do.AuthCodeURL(ctx, login.State, login.Verifier, scopes, extra...)
	if l, ok := calls.Link(); ok {
		s.saveRecord(c, flow.NewLogin(l, time.Since(began), action.String()))
	}
	return c.Redirect(status, link)
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

// accountChoice reads ?account=: "select" asks DigitalOcean to let the user
// choose the account (prompt=select_account).
func accountChoice(v string) (selectAccount bool, err error) {
	switch v {
	case "":
		return false, nil
	case "select":
		return true, nil
	}
	return false, &Problem{Status: http.StatusBadRequest, Title: "Unknown account choice",
		Message: "Go back to the home page and pick one of the Connect links."}
}

// connectQuery is /connect's query for an access level and account choice.
func connectQuery(access string, selectAccount bool) string {
	q := url.Values{}
	if access == "write" {
		q.Set("access", "write")
	}
	if selectAccount {
		q.Set("account", "select")
	}
	return q.Encode()
}

// handleCallbackOrDropletList serves GET /digitalocean, which has two
// jobs, as in DigitalOcean's tutorial app: with code, state or error in
// the query it is the OAuth callback (handleCallback), without them the
// droplet list (handleDropletList).
//
// A query that parses and has none of those is the droplet list's
// filters, which handleDropletList checks with its own rules (and
// messages); any other query, malformed ones included, gets the callback's
// strict parsing.
func (s *Server) handleCallbackOrDropletList(c echo.Context) error {
	raw := c.Request().URL.RawQuery
	if loose, err := url.ParseQuery(raw); err == nil && !isCallback(loose) {
		return s.handleDropletList(c)
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

// handleCallback is steps 3 to 5 of the flow. Step 3: the callback must
// answer the login this browser started (its state), checked before any
// call to DigitalOcean. Steps 4 and 5: trade the code for tokens and start
// a new session holding them.
func (s *Server) handleCallback(c echo.Context, q url.Values) error {
	w, r := c.Response(), c.Request()
	arrived, began := s.now(), time.Now()
	state := q.Get("state")
	// Read and delete the login cookie before anything else: whatever
	// happens next, this state is spent.
	login, started := s.sessions.takeLogin(w, r)

	// Step 3. A callback this browser already completed (a reload, or
	// Back) is told apart from a forgery, without asking DigitalOcean.
	if sess, ok := s.sessions.load(w, r); ok && state != "" && sess.LoginState == stateHash(state) {
		return callbackReplayed()
	}
	// The state check is what stops an attacker from logging this browser
	// into their account (login CSRF) with a code of their own.
	if !started || !sameState(state, login.State) {
		return stateMismatch()
	}
	rec := s.sessions.loadRecord(r)
	if !rec.Of(state) {
		rec = nil // the record is of another login
	}
	if e := q.Get("error"); e != "" {
		if rec != nil {
			rec.Refused(arrived, time.Since(began), trim(e, 60))
			s.saveRecord(c, rec)
		}
		return s.loginRefused(c, login, e, q.Get("error_description"))
	}
	code := q.Get("code")
	if code == "" {
		return &Problem{Status: http.StatusBadRequest, Title: "This sign-in link is not valid",
			Message: "DigitalOcean's answer carried no authorization code. Go back to the home page and connect again."}
	}

	// Steps 4 and 5.
	checks := time.Since(began)
	ctx, calls := flow.Collect(r.Context())
	tok, acct, err := s.do.Exchange(ctx, code, login.Verifier)
	if exchange, ok := calls.Exchange(); ok && rec != nil {
		rec.LoggedIn(arrived, checks, exchange)
		s.saveRecord(c, rec)
	}
	if err != nil {
		return exchangeProblem(err)
	}
	if login.Action != nil {
		return s.stepUpGranted(c, login.Action, tok, acct, state)
	}
	if _, err := s.sessions.start(w, tok, acct, state, login.SelectAccount); err != nil {
		return sessionNotSaved(err)
	}
	// 303 to the clean URL, so a reload does not resend the code.
	return c.Redirect(http.StatusSeeOther, "/digitalocean")
}

// loginRefused answers a callback that carries error instead of a code:
// the user pressed Deny, or DigitalOcean refused the request. The
// description comes from the URL, so anyone could have written it: it is
// shown as escaped text, trimmed, and trusted for nothing.
func (s *Server) loginRefused(c echo.Context, login pendingLogin, e, description string) error {
	w := c.Response()
	switch {
	case login.Action != nil && e == "access_denied":
		return s.stepUpDenied(c, login.Action)
	case e == "access_denied":
		s.sessions.setFlash(w, "info", "You denied access, so the app cannot show your droplets. Connect again whenever you like.")
	default:
		s.sessions.setFlash(w, "error", "DigitalOcean did not grant access: it answered error="+trim(e, 60)+", which means "+flow.AuthorizeError(e)+"."+describe(description))
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

// The callback's failures. None offers "Try again": the callback's state
// and code are spent, so only a new login can help.

func callbackReplayed() *Problem {
	return &Problem{Status: http.StatusBadRequest, Title: "This sign-in link was already used",
		Message: "Step 3 check failed: this callback's one-time code was already traded for the tokens you are connected with (a reload or Back brought it here again). A code works once, so that a code copied from a browser history or a log is useless. Open your droplets, or disconnect and connect again."}
}

func stateMismatch() *Problem {
	return &Problem{Status: http.StatusForbidden, Title: "Sign-in could not be verified",
		Message: "Step 3 check failed: the state in this answer from DigitalOcean does not match the login cookie of a sign-in started in this browser in the last 10 minutes. The check exists so that nobody can finish a login in your browser with their own code (and land you in their account). Go back to the home page and connect again."}
}

func sessionNotSaved(err error) *Problem {
	return &Problem{Status: http.StatusInternalServerError, Title: "Sign-in could not be saved",
		Message: "The app could not store your sign-in. It has been logged. Go back to the home page and connect again.", Err: err}
}

// exchangeProblem says why step 4, the code exchange, failed.
func exchangeProblem(err error) *Problem {
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
	case doclient.IsMalformed(err):
		return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean's answer could not be read",
			Message: "DigitalOcean answered the token request, but without tokens this app could read. Go back to the home page and connect again.", Err: err}
	case doclient.IsTimeout(err):
		return &Problem{Status: http.StatusGatewayTimeout, Title: "DigitalOcean took too long",
			Message: "DigitalOcean did not answer in time while finishing your sign-in. Go back to the home page and connect again.", Err: err}
	case doclient.IsUnavailable(err):
		return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean could not be reached",
			Message: "DigitalOcean did not answer while finishing your sign-in. Go back to the home page and connect again.", Err: err}
	}
	return &Problem{Status: http.StatusBadGateway, Title: "Sign-in failed",
		Message: "DigitalOcean refused to finish the sign-in. Go back to the home page and connect again. If it keeps happening, check the app's DIGITALOCEAN_CLIENT_ID and DIGITALOCEAN_CLIENT_SECRET.", Err: err}
}

// handleLogout serves POST /logout (same-origin only, see sameOriginWrites):
// Disconnect (see disconnect), then the index, which says how it went.
func (s *Server) handleLogout(c echo.Context) error {
	switch _, outcome := s.disconnect(c); outcome {
	case revoked:
		s.sessions.setFlash(c.Response(), "info", "Disconnected. The app's access to your DigitalOcean account was revoked.")
	case alreadyEnded:
		s.sessions.setFlash(c.Response(), "info", "Disconnected. The app's access to your DigitalOcean account had already ended.")
	case notConfirmed:
		s.sessions.setFlash(c.Response(), "error", "Disconnected from this app, but DigitalOcean did not confirm that it revoked the app's access. "+revokeYourself)
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

// handleUseAnotherAccount serves POST /use-another-account (same-origin
// only, see sameOriginWrites), the index's "Use another account" for a
// connected browser: it disconnects first, revoking the token as
// Disconnect does, so that the grant of the account left behind does not
// stay live, then starts a login in which DigitalOcean asks which account
// to authorize (/connect?account=select). It is a POST, never a link: a
// GET that signs out would sign out whoever a page, an image or a
// prefetch sends there.
func (s *Server) handleUseAnotherAccount(c echo.Context) error {
	sess, outcome := s.disconnect(c)
	if sess != nil {
		// Shown where the new login ends: the droplet list, or the index
		// after a Deny (whose message then replaces this one).
		who := accountName(sess.Account)
		switch outcome {
		case revoked, alreadyEnded:
			s.sessions.setFlash(c.Response(), "info", "Before this login the app disconnected "+who+": its access to that account has ended.")
		case notConfirmed:
			s.sessions.setFlash(c.Response(), "error", "Before this login the app disconnected "+who+", but DigitalOcean did not confirm that it revoked the app's access to that account. "+revokeYourself)
		}
	}
	return c.Redirect(http.StatusSeeOther, "/connect?"+connectQuery("", true))
}

// revokeYourself says how to end a grant the app could not revoke.
const revokeYourself = "You can revoke it in the DigitalOcean control panel under API → OAuth Applications."

// revocation is what disconnect's revoke came to.
type revocation int

const (
	notConnected revocation = iota // no session: nothing to revoke
	revoked                        // DigitalOcean revoked the grant
	alreadyEnded                   // the grant had expired or been revoked
	notConfirmed                   // unreachable, rate-limited or refused: the grant may be live
)

// disconnect ends the browser's session: it deletes the session cookie,
// then revokes the token at DigitalOcean, best effort and in bounded time.
// It returns the session it ended (nil when there was none) and what the
// revoke came to.
func (s *Server) disconnect(c echo.Context) (*Session, revocation) {
	w, r := c.Response(), c.Request()
	sess, ok := s.sessions.load(w, r)
	s.sessions.end(w)
	if !ok {
		return nil, notConnected
	}
	// Revoking the access token ends the whole grant, refresh token
	// included. DigitalOcean documents revoking a live access token,
	// authenticated by itself, so an expired one is refreshed first.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), revokeTimeout)
	defer cancel()
	ctx, calls := flow.Collect(ctx)
	tok, err := s.do.TokenSource(ctx, sess.Token()).Token()
	if err == nil {
		err = s.do.Revoke(ctx, tok.AccessToken)
	}
	// The index shows what Disconnect did; the login steps, which name
	// the account, are forgotten with it.
	if s.sessions.loadRecord(r) != nil {
		s.saveRecord(c, flow.Disconnected(calls.Events()))
	}
	switch {
	case err == nil:
		return sess, revoked
	case doclient.IsInvalidGrant(err) || doclient.IsInvalidToken(err):
		// The grant was already revoked or has expired: nothing to revoke.
		s.log.Info("nothing to revoke at logout", "error", err)
		return sess, alreadyEnded
	}
	// Unreachable, rate-limited, or refused for another reason: the grant
	// may still be live, so the page says so and how to end it.
	s.log.Warn("revoking the token at logout failed", "error", err)
	return sess, notConfirmed
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

// describe quotes an error_description, which anyone can write into a
// callback URL: trimmed, and shown as escaped text only.
func describe(desc string) string {
	if desc = trim(desc, 200); desc != "" {
		return " Its description: “" + desc + "”."
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
