package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/handlers/flow"
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
	sess, err := s.session(c, "Connect your DigitalOcean account first: there is no token to refresh.")
	if err != nil {
		return err
	}
	w := c.Response()
	if !sess.Refreshed.IsZero() && s.now().Sub(sess.Refreshed) < justRefreshed {
		s.sessions.setFlashNear(w, "info", "Just refreshed, a moment ago: the access token is new, valid until "+sess.Expiry.UTC().Format("15:04:05 MST")+".", flashTokenStatus)
		return c.Redirect(http.StatusSeeOther, "/digitalocean")
	}

	ctx, calls := flow.Collect(c.Request().Context())
	tok, err := s.do.Refresh(ctx, sess.RefreshToken)
	if err != nil {
		return upstreamProblem(signedOutIf(err)) // the session is kept unless the grant is dead: the old pair is still good
	}
	// Saved before anything else: the old refresh token is spent.
	if err := s.saveRefreshed(c, sess, tok); err != nil {
		return err
	}
	s.recordEvents(c, calls.Events(), true) // the droplet page shows the refresh, its panel open
	s.sessions.setFlashNear(w, "info", "Refreshed: DigitalOcean issued a new token pair; the access token is valid until "+sess.Expiry.UTC().Format("15:04:05 MST")+".", flashTokenStatus)
	return c.Redirect(http.StatusSeeOther, "/digitalocean")
}
