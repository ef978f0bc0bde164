package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/doclient"
)

// justRefreshed is how soon after a refresh Refresh now answers "just
// refreshed" instead of refreshing again: DigitalOcean's refresh tokens
// are single-use, and a second refresh would only rotate the pair again.
const justRefreshed = 5 * time.Second

// handleRefresh serves POST /refresh (same-origin only, see
// sameOriginWrites), the droplet page's "Refresh now": it trades the
// refresh token for a new pair, saves the pair, and returns to the droplet
// page, whose panel shows the refresh.
//
// A double click sends two requests with the same cookie; both reach
// doclient.Client.Refresh with the same refresh token, which sends one
// request to DigitalOcean and gives both the same new pair. A press
// within justRefreshed of the last refresh does not refresh at all.
func (s *Server) handleRefresh(c echo.Context) error {
	w, r := c.Response(), c.Request()
	sess, ok := s.sessions.load(w, r)
	if !ok {
		s.sessions.setFlash(w, r, "info", "Connect your DigitalOcean account first: there is no token to refresh.")
		return c.Redirect(http.StatusSeeOther, "/")
	}
	now := s.now()
	if !sess.Refreshed.IsZero() && now.Sub(sess.Refreshed) < justRefreshed {
		s.sessions.setFlash(w, r, "info", "Just refreshed, a moment ago: the access token is new, valid until "+sess.Expiry.UTC().Format("15:04:05 MST")+".")
		return c.Redirect(http.StatusSeeOther, "/digitalocean")
	}

	ctx, ft := traced(r.Context())
	tok, err := s.do.Refresh(ctx, sess.RefreshToken)
	switch {
	case doclient.IsInvalidGrant(err) || errors.Is(err, doclient.ErrNoRefreshToken):
		return s.signOut(c, "DigitalOcean no longer accepts this app's refresh token (the grant expired or was revoked). Connect again to see your droplets.")
	case err != nil:
		return upstreamProblem(err) // the session is kept: the old pair is still good
	}
	// Saved before anything else: the old refresh token is spent.
	sess.SetToken(tok)
	sess.LastSeen, sess.Refreshed = now, now
	if err := s.sessions.save(w, r, sess); err != nil {
		return err
	}
	s.addToRecord(w, r, ft)
	s.sessions.setFlash(w, r, "info", "Refreshed: DigitalOcean issued a new token pair; the access token is valid until "+sess.Expiry.UTC().Format("15:04:05 MST")+".")
	return c.Redirect(http.StatusSeeOther, "/digitalocean")
}
