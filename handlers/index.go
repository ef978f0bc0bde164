package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"dosignin/handlers/flow"
)

// indexPage is the data of views/index.html.
type indexPage struct {
	Connected bool
	Access    string // "Read" or "Read & write": what was granted
	// Scope is what Connect asks for (DIGITALOCEAN_SCOPES), WriteScope
	// what "Connect with read & write access" asks for: the hints quote
	// them as the links send them.
	Scope, WriteScope string
	// OfferWrite shows the link that asks for read & write access: the
	// configured scopes (by default the least privilege that shows
	// droplets) may not change them.
	OfferWrite bool
	// Flow is what the last login did when it was refused, or what
	// Disconnect did, when this browser has a record of it.
	Flow *flow.Panel
}

const indexTitle = "Sign in with DigitalOcean"

// handleIndex serves GET /: what the app does and a "Connect DigitalOcean"
// link or, when connected, who is connected and a Disconnect form.
//
// When the token is about to expire it renews it, as the droplet page
// would: the visit then counts for the idle timeout (load does not touch a
// session whose token may be rotating), and a grant that has ended shows
// as not connected. If DigitalOcean cannot be reached, the page shows what
// the cookie says.
//
// A visitor who sends no cookie at all (most visitors, and every uptime
// monitor) gets the same bytes as every other such visitor: rendered once,
// at start (Server.anonymousIndex).
func (s *Server) handleIndex(c echo.Context) error {
	if len(c.Request().Header["Cookie"]) == 0 {
		return c.HTMLBlob(http.StatusOK, s.anonymousIndex)
	}
	sess, connected := s.sessions.load(c.Response(), c.Request())
	if connected && refreshDueSoon(sess, s.now()) {
		_, err := s.withToken(c, sess, func(context.Context, oauth2.TokenSource) error { return nil })
		var signedOut *errSignedOut
		switch {
		case errors.As(err, &signedOut):
			return err
		case err != nil:
			s.log.Warn("renewing the token for the index page failed", "error", err)
		}
	}
	data := s.indexPage(connected)
	if connected {
		data.Access = accessLabel(sess.Scope)
	} else if rec := s.sessions.loadRecord(c.Request()); rec != nil {
		// What a refusal or Disconnect did. A login that completed is the
		// droplet page's to show, and only while connected.
		if p := flow.NewPanel(rec, true, s.sandbox); p.Stopped != "" || p.Disconnected {
			data.Flow = p
		}
	}
	return s.render(c, http.StatusOK, "index", indexTitle, sess, data)
}

// indexPage is the index's data before what the request adds (the
// session's access, the record's panel).
func (s *Server) indexPage(connected bool) indexPage {
	write, _ := s.requestedScopes("write")
	scope := strings.Join(s.scopes, " ")
	return indexPage{Connected: connected, Scope: scope, WriteScope: strings.Join(write, " "), OfferWrite: !canWrite(scope)}
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
