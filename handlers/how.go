package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"dosignin/handlers/flow"
)

// howPage is the data of views/how.html.
type howPage struct {
	Flow  *flow.Panel       // nil when the browser has no record
	Token *flow.TokenStatus // the session's token, when connected
}

// handleHowThisWorked serves GET /how-this-worked: the "How this worked"
// panel whole, open, with the token status when connected. The droplet
// pages show it whole only on the view after a login, a step-up or Refresh
// now, and otherwise a line that links here. It reads the cookies and
// calls nothing.
func (s *Server) handleHowThisWorked(c echo.Context) error {
	sess, connected := s.sessions.load(c.Response(), c.Request())
	data := howPage{}
	if rec := s.sessions.loadRecord(c.Request()); rec != nil {
		data.Flow = flow.NewPanel(rec, true, s.sandbox)
	}
	if connected {
		data.Token = flow.NewTokenStatus(accessLabel(sess.Scope), sess.Scope, sess.Expiry, sess.Refreshed, s.now())
	}
	return s.render(c, http.StatusOK, "how", "How this worked", sess, data)
}
