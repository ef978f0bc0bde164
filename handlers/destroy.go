package handlers

// Destroying a droplet: gone with its disk, for good, so it is confirmed
// as DigitalOcean's control panel confirms it, by typing the droplet's
// name, as well as with the one-time token of every confirmation.
//
//	GET  /droplets/{id}/destroy   the page where the name is typed, or the step-up page with a read-only session
//	POST /droplets/{id}/destroy   the confirmation (name=<typed>, confirm=<token>): DELETE /v2/droplets/{id} once, then the list

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"dosignin/doclient"
)

// destroyPage is the data of views/destroy.html.
type destroyPage struct {
	Droplet dropletView
	Token   string
	Wrong   bool   // the name typed was not the droplet's
	Typed   string // what was typed then
}

// destroyPurpose is what a confirmation to destroy droplet id confirms:
// that droplet, under the name its page showed, which is the name the
// user must type.
func destroyPurpose(id int, name string) string {
	return "destroy droplet " + strconv.Itoa(id) + " named " + name
}

// handleDestroyConfirm serves GET /droplets/{id}/destroy: the droplet, what
// destroying it means, and a form where the user types its name, with a
// fresh one-time token bound to that droplet and name. With a read-only
// session it is instead the page that offers the step-up to read & write.
// It changes nothing at DigitalOcean.
func (s *Server) handleDestroyConfirm(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	sess, err := s.session(c, "Connect your DigitalOcean account first.")
	if err != nil {
		return err
	}
	d, _, err := s.fetchDroplet(c, sess, id)
	if err != nil {
		return err
	}
	if !canWrite(sess.Scope) {
		return s.render(c, http.StatusOK, "stepup", "This needs read & write access", sess, destroyStepUp(sess, d.ID, d.Name, false))
	}
	token, err := s.issueConfirmation(c, destroyPurpose(d.ID, d.Name))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "destroy", "Destroy "+d.Name+"?", sess, destroyPage{Droplet: newDropletView(d), Token: token})
}

// destroyStepUp is the step-up page for destroying droplet id.
func destroyStepUp(sess *Session, id int, name string, refused bool) stepUpPage {
	droplet := "/droplets/" + strconv.Itoa(id)
	return stepUpPage{
		Verb: "destroy", Name: name, Action: droplet + "/step-up", Fields: []hiddenField{{"type", stepUpDestroy}}, Cancel: droplet,
		Refused: refused, Account: accountName(sess.Account), ChooseAccount: sess.ChoseAccount,
	}
}

// handleDestroy serves POST /droplets/{id}/destroy, the confirmation. The
// name the user typed must be the droplet's (the expect field), or the
// page comes again, saying so, with the same confirmation, and nothing
// is done. Then its one-time token is spent, and must have been issued
// for this droplet under that name; then DELETE /v2/droplets/{id}, once,
// and the droplet list, which no longer shows it. Its fields are read
// from the body only.
func (s *Server) handleDestroy(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	r := c.Request()
	token, expect, typed := r.PostFormValue("confirm"), r.PostFormValue("expect"), strings.TrimSpace(r.PostFormValue("name"))
	sess, err := s.session(c, "Your session has ended, so nothing was destroyed. Connect again, then open the droplet again.")
	if err != nil {
		return err
	}
	droplet := "/droplets/" + strconv.Itoa(id)
	if token == "" {
		return &Problem{Status: http.StatusBadRequest, Title: "This confirmation is not valid",
			Message: "Nothing was done: the form carried no confirmation. Open the droplet and press Destroy there.", Link: droplet, LinkText: "Open the droplet"}
	}
	if typed != expect {
		// Not an attempt to destroy: the same confirmation stays open.
		d, _, err := s.fetchDroplet(c, sess, id)
		if err != nil {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, "destroy", "Destroy "+d.Name+"?", sess,
			destroyPage{Droplet: newDropletView(d), Token: token, Wrong: true, Typed: trim(typed, 64)})
	}
	if err := s.spendConfirmation(c, token, destroyPurpose(id, expect), "destroy the droplet", droplet); err != nil {
		return err
	}
	if !canWrite(sess.Scope) {
		return c.Redirect(http.StatusSeeOther, droplet+"/destroy")
	}
	_, err = s.withToken(c, sess, func(ctx context.Context, ts oauth2.TokenSource) error {
		return s.do.DeleteDroplet(ctx, ts, id, token)
	})
	if err != nil {
		return s.destroyProblem(c, sess, err, id, expect)
	}
	s.log.Info("droplet destroyed", "droplet", id)
	s.sessions.setFlash(c.Response(), "info", "Destroyed "+expect+": DigitalOcean deleted the droplet and its disk, and no longer bills it.")
	return c.Redirect(http.StatusSeeOther, "/digitalocean")
}

// destroyProblem says, in words, why the droplet was not destroyed, or
// that it may have been. Nothing here sends the DELETE again.
func (s *Server) destroyProblem(c echo.Context, sess *Session, err error, id int, name string) error {
	droplet := "/droplets/" + strconv.Itoa(id)
	var signedOut *errSignedOut
	if errors.As(err, &signedOut) {
		signedOut.why += ", so nothing was destroyed"
		return signedOut
	}
	if doclient.IsNotFound(err) {
		return &Problem{Status: http.StatusNotFound, Title: "This droplet was already gone",
			Message: "DigitalOcean has no droplet " + name + " (" + strconv.Itoa(id) + ") in the connected account any more: it was destroyed already (from another tab, another app or the control panel), or it belongs to another account. The app destroyed nothing.",
			Link:    "/digitalocean", LinkText: "Your droplets", Err: err}
	}
	if refused, ok := doclient.IsUnprocessable(err); ok {
		says := "DigitalOcean refused to destroy it."
		if refused.Message != "" {
			says = "DigitalOcean says: “" + trim(refused.Message, 200) + "”."
		}
		return &Problem{Status: http.StatusUnprocessableEntity, Title: "DigitalOcean did not destroy the droplet",
			Message: says + " Nothing was destroyed. Open the droplet to see its state, and try again once what DigitalOcean names is over.",
			Link:    droplet, LinkText: "Open the droplet", Err: err}
	}
	if doclient.IsForbidden(err) {
		return s.render(c, http.StatusForbidden, "stepup", "This needs read & write access", sess, destroyStepUp(sess, id, name, true))
	}
	if after, ok := doclient.IsRateLimited(err); ok {
		return busyProblem(err, after, s.now(), "refused the request before destroying anything: the droplet is still there", droplet, "Back to the droplet")
	}
	check := "/digitalocean?" + url.Values{"name": {name}}.Encode()
	maybe := " The droplet may or may not have been destroyed. Before trying again, look for it in your droplet list: if " + name + " is no longer there, it was destroyed."
	if doclient.IsTimeout(err) {
		return &Problem{Status: http.StatusGatewayTimeout, Title: "DigitalOcean took too long",
			Message: "DigitalOcean did not answer in time." + maybe, Link: check, LinkText: "Look for " + name, Err: err}
	}
	return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean did not confirm the destroy",
		Message: "DigitalOcean answered with an error instead of confirming." + maybe, Link: check, LinkText: "Look for " + name, Err: err}
}
