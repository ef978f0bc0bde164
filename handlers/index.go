package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// indexPage is the data of views/index.html.
type indexPage struct {
	Connected bool
	Access    string // "Read" or "Read & write": what was granted
	// OfferWrite shows the second link that asks for read & write access;
	// the default asks for the least privilege that shows droplets.
	OfferWrite bool
}

// handleIndex serves GET /: what the app does and a "Connect DigitalOcean"
// link or, when connected, who is connected and a Disconnect form.
func (s *Server) handleIndex(c echo.Context) error {
	sess, connected := s.sessions.load(c.Response(), c.Request())
	data := indexPage{Connected: connected, OfferWrite: !slices.Contains(s.scopes, "write")}
	if connected {
		data.Access = accessLabel(sess.Scope)
	}
	return s.render(c, http.StatusOK, "index", "Sign in with DigitalOcean", sess, data)
}

// handleHealthz serves GET /healthz for load balancers. It never calls
// DigitalOcean: an outage there must not take this app out of rotation.
func (s *Server) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
