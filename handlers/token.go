package handlers

import (
	"context"
	"errors"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"dosignin/doclient"
	"dosignin/handlers/flow"
)

// withToken runs call, which calls the DigitalOcean API with ts, the
// token of the request's session: every API call of the app goes through
// here. (The OAuth server's endpoints do not: the callback's exchange has
// no session yet, Refresh now refreshes on purpose, and Disconnect ends
// the session whatever DigitalOcean answers.) It:
//
//   - refreshes the access token first when it has expired or is about to
//     (doclient.TokenSource), once for all of call's requests;
//   - tries call once more after renewing the token when the API refused
//     it with 401 although it had not expired: a parallel request of the
//     same browser may have rotated the pair (see TokenSource.Renew);
//   - saves a rotated pair into the session cookie before anything else
//     can fail, since the old refresh token is spent;
//   - adds what was sent to the browser's flow record, which it returns
//     (nil when the browser has none) for pages that show the panel.
//
// A grant that DigitalOcean no longer honours comes back as an
// [*errSignedOut], which handleError turns into a sign-out; any other
// error is call's, for the handler to put in words.
func (s *Server) withToken(c echo.Context, sess *Session, call func(ctx context.Context, ts oauth2.TokenSource) error) (*flow.Record, error) {
	ctx, calls := flow.Collect(c.Request().Context())
	ts := s.do.TokenSource(ctx, sess.Token())
	_, err := ts.Token() // the refresh, if due, before the call: its errors are not the API's
	if err == nil {
		err = call(ctx, ts)
	}
	if _, refreshed := ts.Refreshed(); doclient.IsUnauthorized(err) && !refreshed && sess.RefreshToken != "" {
		if _, err = ts.Renew(); err == nil {
			err = call(ctx, ts)
		}
	}
	if tok, refreshed := ts.Refreshed(); refreshed {
		if serr := s.saveRefreshed(c, sess, tok); serr != nil {
			return nil, serr
		}
	}
	rec := s.recordEvents(c, calls.Events(), false)
	return rec, signedOutIf(err)
}

// saveRefreshed stores a rotated token pair in the session cookie, with
// the time of the refresh.
func (s *Server) saveRefreshed(c echo.Context, sess *Session, tok *oauth2.Token) error {
	sess.SetToken(tok)
	sess.LastSeen, sess.Refreshed, sess.rotated = s.now(), s.now(), true
	return s.sessions.save(c.Response(), sess)
}

// session returns the connected user's session, or an errNotConnected
// that sends the browser to the index, which says why.
func (s *Server) session(c echo.Context, why string) (*Session, error) {
	sess, ok := s.sessions.load(c.Response(), c.Request())
	if !ok {
		return nil, &errNotConnected{why: why}
	}
	return sess, nil
}

// errNotConnected is returned by a page that needs a session when there
// is none: handleError sends the browser to the index with why.
type errNotConnected struct{ why string }

func (e *errNotConnected) Error() string { return "not connected: " + e.why }

// errSignedOut is returned when DigitalOcean no longer honours the
// session's grant: handleError deletes the session cookie and sends the
// browser to the index, which says why.
type errSignedOut struct {
	why string // the reason, a sentence without its full stop
	err error
}

func (e *errSignedOut) Error() string { return "signed out: " + e.why + ": " + errorText(e.err) }
func (e *errSignedOut) Unwrap() error { return e.err }

// signedOutIf turns the errors that end a session into an errSignedOut:
// the grant is dead (invalid_grant, or no refresh token to renew an
// expired token with), or the API refused the access token even after a
// renewal.
func signedOutIf(err error) error {
	var so *errSignedOut
	switch {
	case err == nil, errors.As(err, &so):
		return err
	case doclient.IsInvalidGrant(err):
		return &errSignedOut{why: "Your DigitalOcean session has ended (the grant expired or was revoked)", err: err}
	case doclient.IsUnauthorized(err):
		return &errSignedOut{why: "DigitalOcean no longer accepts this app's access token (it may have been revoked)", err: err}
	}
	return err
}
