package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"dosignin/doclient"
)

// indexPage is the data of views/index.html.
type indexPage struct {
	Connected bool
	Access    string // "Read" or "Read & write": what was granted
	// OfferWrite shows the second link that asks for read & write access;
	// the default asks for the least privilege that shows droplets.
	OfferWrite bool
	// Flow is what the last login did when it was denied, or what
	// Disconnect did, when this browser has a record of it.
	Flow *flowPanel
}

// handleIndex serves GET /: what the app does and a "Connect DigitalOcean"
// link or, when connected, who is connected and a Disconnect form.
//
// When the token is about to expire it renews it, as the droplet page
// would: the visit then counts for the idle timeout (load does not touch a
// session whose token may be rotating), and a grant that has ended shows
// as not connected. If DigitalOcean cannot be reached, the page shows what
// the cookie says.
//
// A visitor who sends no cookie at all (most visitors, and every monitor)
// gets the page rendered at start.
func (s *Server) handleIndex(c echo.Context) error {
	w, r := c.Response(), c.Request()
	if len(r.Header["Cookie"]) == 0 {
		return c.HTMLBlob(http.StatusOK, s.anonymousIndex)
	}
	sess, connected := s.sessions.load(w, r)
	if connected && refreshDueSoon(sess, s.now()) {
		ctx, ft := traced(r.Context())
		ts := s.do.TokenSource(ctx, sess.Token())
		_, err := ts.Token()
		if serr := s.saveIfRefreshed(w, r, sess, ts); serr != nil {
			return serr
		}
		s.addToRecord(w, r, ft)
		switch {
		case doclient.IsInvalidGrant(err):
			return s.signOut(c, "Your DigitalOcean session has ended (the grant expired or was revoked). Connect again whenever you like.")
		case err != nil:
			s.log.Warn("renewing the token for the index page failed", "error", err)
		}
	}
	return s.render(c, http.StatusOK, "index", indexTitle, sess, s.indexData(sess, r))
}

const indexTitle = "Sign in with DigitalOcean"

// indexData is the index's data for sess (nil: not connected) and the
// request r (nil: a visitor without cookies, so without a flow record).
func (s *Server) indexData(sess *Session, r *http.Request) indexPage {
	data := indexPage{Connected: sess != nil, OfferWrite: !slices.Contains(s.scopes, "write")}
	switch {
	case sess != nil:
		data.Access = accessLabel(sess.Scope)
	case r != nil:
		if p := panel(s.sessions.loadRecord(r), true, s.sandbox); p != nil && (p.Stopped != "" || p.Disconnected) {
			// What a denial or Disconnect did. A login that completed is
			// the droplet page's to show, and only while connected.
			data.Flow = p
		}
	}
	return data
}

// handleHealthz serves GET /healthz for load balancers. It never calls
// DigitalOcean: an outage there must not take this app out of rotation.
// With a shared store it says whether the store is up, but answers 200
// either way: without the store the app still serves, coordinating
// in-process.
func (s *Server) handleHealthz(c echo.Context) error {
	health := map[string]string{"status": "ok"}
	if s.storeState != nil {
		health["shared_store"] = s.storeState(c.Request().Context())
	}
	return c.JSON(http.StatusOK, health)
}
