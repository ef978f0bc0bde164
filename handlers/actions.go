package handlers

// Droplet power actions: write access, asked for only when the user wants
// it (incremental consent), confirmed, sent once, and followed to the end.
//
//	GET  /droplets/{id}                  the droplet and its action buttons
//	POST /droplets/{id}/actions          a button (type=...): on to the confirmation
//	GET  /droplets/{id}/confirm?type=... the confirmation, or the step-up page with a read-only session
//	POST /droplets/{id}/step-up          connect again with read write, the action pending in the login cookie
//	POST /droplets/{id}/actions          the confirmation (type=..., confirm=<one-time token>): the action
//	GET  /droplets/{id}/actions/{action} its progress, reloading itself until it is done
//
// No GET changes anything at DigitalOcean, every POST is same-origin only
// (sameOriginWrites), and every POST answers with a redirect to a GET page
// (POST-redirect-GET), so a reload never repeats an action.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digitalocean/godo"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"dosignin/doclient"
	"dosignin/handlers/flow"
)

// pendingAction is what a step-up to read & write was started for, kept
// in the login cookie (pendingLogin.Action) until the callback: a power
// action on a droplet, creating a droplet (handlers/provision.go) or
// destroying one (handlers/destroy.go). It names the account that asked,
// so that a consent given by another account is not taken for this
// one's. The callback never does it: it shows its confirmation (next).
type pendingAction struct {
	Droplet int    `json:"droplet,omitempty"`
	Type    string `json:"type"` // a power action's type, stepUpCreate or stepUpDestroy
	// Create is the droplet to create, for stepUpCreate. The form's
	// limits bound it (handleCreateStepUp), so the login cookie stays
	// well under a cookie's 4 KB.
	Create   *dropletSpec `json:"create,omitempty"`
	Account  string       `json:"account"` // the session's account UUID
	TeamUUID string       `json:"team,omitempty"`
	// Session identifies the session that asked (its LoginState): the
	// callback acts on the pending action only in the browser whose
	// session started the step-up, so a login cookie carried into another
	// browser cannot make that browser confirm anything.
	Session string `json:"session"`
}

// What a step-up may be for besides the power actions.
const (
	stepUpCreate  = "create"
	stepUpDestroy = "destroy"
)

// String names what a step-up is for, for the flow record: "reboot
// droplet 123", "create droplet web-1" ("" for none).
func (p *pendingAction) String() string {
	switch {
	case p == nil:
		return ""
	case p.Type == stepUpCreate && p.Create != nil:
		return "create droplet " + p.Create.Name
	case p.Type == stepUpDestroy:
		return "destroy droplet " + strconv.Itoa(p.Droplet)
	}
	act, _ := actionFor(p.Type)
	return act.Verb + " droplet " + strconv.Itoa(p.Droplet)
}

// next is where the callback sends the browser once the step-up is
// granted: the confirmation of what it was for, never the thing itself.
func (p *pendingAction) next() string {
	droplet := "/droplets/" + strconv.Itoa(p.Droplet)
	switch p.Type {
	case stepUpCreate:
		if p.Create == nil {
			return "/droplets/new"
		}
		return "/droplets/new/confirm?" + p.Create.query()
	case stepUpDestroy:
		return droplet + "/destroy"
	}
	return droplet + "/confirm?type=" + url.QueryEscape(p.Type)
}

// back is where the browser goes when the step-up did not grant what it
// was for: the page the user started from.
func (p *pendingAction) back() string {
	if p.Type == stepUpCreate {
		if p.Create == nil {
			return "/droplets/new"
		}
		return "/droplets/new?" + p.Create.query()
	}
	return "/droplets/" + strconv.Itoa(p.Droplet)
}

// stepUpFor reads the type field of a droplet's step-up form: a power
// action, or stepUpDestroy.
func stepUpFor(t string) (string, error) {
	if t == stepUpDestroy {
		return t, nil
	}
	act, err := actionType(t)
	return act.Type, err
}

// actionInfo is what the pages say about each action.
type actionInfo struct {
	Type     string // DigitalOcean's name
	Label    string // the button
	Verb     string // "reboot", for sentences
	Done     string // "rebooted"
	Effect   string // what happens, on the confirmation page
	Disrupts bool   // interrupts what runs on the droplet: the button looks dangerous
}

// actionInfos is read-only: the table of the actions the app offers, in
// the order of the buttons (power_on last, see actionsFor).
var actionInfos = []actionInfo{
	{doclient.ActionReboot, "Reboot", "reboot", "rebooted", "The droplet restarts gracefully: the operating system shuts down and starts again. It is unreachable for a minute or so.", true},
	{doclient.ActionShutdown, "Shut down", "shut down", "shut down", "The operating system shuts down gracefully and the droplet powers off. It stays off (and is still billed) until you power it on.", true},
	{doclient.ActionPowerOff, "Power off", "power off", "powered off", "The droplet loses power at once, like pulling the plug: unsaved data may be lost. Prefer Shut down. It stays off (and is still billed) until you power it on.", true},
	{doclient.ActionPowerCycle, "Power cycle", "power cycle", "power cycled", "The droplet loses power at once and starts again, like a hard reset: unsaved data may be lost. Prefer Reboot.", true},
	{doclient.ActionPowerOn, "Power on", "power on", "powered on", "The droplet starts.", false},
}

func actionFor(t string) (actionInfo, bool) {
	i := slices.IndexFunc(actionInfos, func(a actionInfo) bool { return a.Type == t })
	if i < 0 {
		return actionInfo{}, false
	}
	return actionInfos[i], true
}

// actionsFor returns the actions that make sense for a droplet's status:
// an active droplet can be rebooted, shut down, powered off or cycled; an
// off one powered on; one being created or archived, nothing.
//
// The slices share actionInfos (no copy per droplet row); callers only read
// them.
func actionsFor(status string) []actionInfo {
	switch status {
	case "active":
		return actionInfos[:4:4]
	case "off":
		return actionInfos[4:]
	}
	return nil
}

// canWrite reports whether a granted scope lets the token act on droplets.
func canWrite(scope string) bool {
	fields := strings.Fields(scope)
	return slices.Contains(fields, "write") || slices.Contains(fields, "droplet:update")
}

// dropletView is a droplet on the detail and confirmation pages.
type dropletView struct {
	dropletRow
}

type dropletPage struct {
	Droplet  dropletView
	Access   string
	CanWrite bool
	Flow     *flow.Panel // "How this worked"; nil without a record
}

type confirmPage struct {
	Droplet dropletView
	Action  actionInfo
	Token   string
}

// stepUpPage is the data of views/stepup.html, for any write: a power
// action, a create, a destroy.
type stepUpPage struct {
	Verb    string        // what the write does, for sentences: "reboot", "create", "destroy"
	Name    string        // the droplet's name
	Action  string        // where the step-up form posts
	Fields  []hiddenField // its hidden fields: what the step-up is for
	Cancel  string        // the page to go back to
	Cost    string        // for a create: its price, "$6.00 a month"
	Refused bool          // DigitalOcean refused the session's token (403), not just the app's reading of its scope
	Account string        // the account to authorize, in words
	// ChooseAccount: DigitalOcean will ask which account to authorize
	// (the session's account was chosen there).
	ChooseAccount bool
}

// actionStepUp is the step-up page for power action act on droplet id.
func actionStepUp(sess *Session, id int, name string, act actionInfo, refused bool) stepUpPage {
	droplet := "/droplets/" + strconv.Itoa(id)
	return stepUpPage{
		Verb: act.Verb, Name: name, Action: droplet + "/step-up", Fields: []hiddenField{{"type", act.Type}}, Cancel: droplet,
		Refused: refused, Account: accountName(sess.Account), ChooseAccount: sess.ChoseAccount,
	}
}

type progressPage struct {
	DropletID int
	Name      string
	Status    string // the droplet's, as the API gives it now
	Action    actionInfo
	ActionID  int
	State     string // in-progress, completed, errored
	Started   time.Time
	Completed time.Time
	Checked   time.Time
}

// refreshEvery makes the layout add <meta http-equiv="refresh"> while the
// action runs, so the page follows it without JavaScript.
func (p progressPage) refreshEvery() int {
	if p.State == doclient.ActionInProgress {
		return 2
	}
	return 0
}

// handleDroplet serves GET /droplets/{id}: one droplet and the actions its
// status allows.
func (s *Server) handleDroplet(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	sess, err := s.session(c, "Connect your DigitalOcean account to see this droplet.")
	if err != nil {
		return err
	}
	d, rec, err := s.fetchDroplet(c, sess, id)
	if err != nil {
		return err
	}
	data := dropletPage{Droplet: newDropletView(d), Access: accessLabel(sess.Scope), CanWrite: canWrite(sess.Scope), Flow: s.showPanel(c, rec)}
	return s.render(c, http.StatusOK, "droplet", d.Name, sess, data)
}

// handleActionButtonOrConfirmation serves POST /droplets/{id}/actions,
// which has two jobs. Without a confirm field it is an action button: on
// to the confirmation (or the step-up). With one, it is the confirmation:
// check and spend its one-time token, send the action once, and show its
// progress. Its fields are read from the body only, never from the query.
func (s *Server) handleActionButtonOrConfirmation(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	act, err := actionType(c.Request().PostFormValue("type"))
	if err != nil {
		return err
	}
	sess, err := s.session(c, "Your session has ended, so nothing was done. Connect again, then choose the action again.")
	if err != nil {
		return err
	}
	confirmURL := "/droplets/" + strconv.Itoa(id) + "/confirm?type=" + act.Type
	token := c.Request().PostFormValue("confirm")
	if token == "" {
		return c.Redirect(http.StatusSeeOther, confirmURL)
	}
	if err := s.spendConfirmation(c, token, actionPurpose(id, act), act.Verb+" the droplet", "/droplets/"+strconv.Itoa(id)); err != nil {
		return err
	}
	if !canWrite(sess.Scope) {
		return c.Redirect(http.StatusSeeOther, confirmURL)
	}
	var action *godo.Action
	_, err = s.withToken(c, sess, func(ctx context.Context, ts oauth2.TokenSource) (err error) {
		action, err = s.do.DropletAction(ctx, ts, id, act.Type, token)
		return err
	})
	if err != nil {
		return s.actionProblem(c, sess, err, id, act)
	}
	s.log.Info("droplet action started", "droplet", id, "type", act.Type, "action", action.ID)
	return c.Redirect(http.StatusSeeOther, "/droplets/"+strconv.Itoa(id)+"/actions/"+strconv.Itoa(action.ID))
}

// handleConfirm serves GET /droplets/{id}/confirm?type=...: the page that
// names the droplet and says what the action will do, with a form holding
// a fresh one-time token. With a read-only session it is instead the page
// that offers the step-up to read & write. It changes nothing at
// DigitalOcean.
func (s *Server) handleConfirm(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil || len(q["type"]) != 1 {
		return badAction()
	}
	act, err := actionType(q.Get("type"))
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
		return s.render(c, http.StatusOK, "stepup", "This needs read & write access", sess, actionStepUp(sess, id, d.Name, act, false))
	}
	token, err := s.issueConfirmation(c, actionPurpose(id, act))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "confirm", act.Label+" "+d.Name+"?", sess,
		confirmPage{Droplet: newDropletView(d), Action: act, Token: token})
}

// handleStepUp serves POST /droplets/{id}/step-up: incremental consent,
// for a power action (type=reboot, ...) or for destroying the droplet
// (type=destroy). It starts a login (step 1 again, see startLogin) that
// asks for read write, with what the user chose kept in the login cookie,
// never in a URL: after DigitalOcean's consent the callback shows its
// confirmation (it executes nothing).
func (s *Server) handleStepUp(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	typ, err := stepUpFor(c.Request().PostFormValue("type"))
	if err != nil {
		return err
	}
	sess, err := s.session(c, "Your session has ended. Connect again, then choose the action again.")
	if err != nil {
		return err
	}
	return s.startStepUp(c, sess, pendingAction{Droplet: id, Type: typ})
}

// startStepUp starts the step-up login for p, on behalf of sess's account
// and session. No shortcut for a session whose scope already says write:
// the step-up page is also where DigitalOcean's 403 leads, when the token
// may not act whatever the session believes, and only a new consent can
// help. A session whose account was chosen at DigitalOcean lets the user
// choose again: without it DigitalOcean would use its default account,
// which may not be this one.
func (s *Server) startStepUp(c echo.Context, sess *Session, p pendingAction) error {
	p.Account, p.TeamUUID, p.Session = sess.Account.UUID, sess.Account.TeamUUID, sess.LoginState
	return s.startLogin(c, http.StatusSeeOther, []string{"read", "write"}, sess.ChoseAccount, &p)
}

// stepUpDenied answers a step-up the user declined at DigitalOcean: the
// read-only session is untouched.
func (s *Server) stepUpDenied(c echo.Context, p *pendingAction) error {
	s.sessions.setFlash(c.Response(), "info", "You did not grant read & write access, so nothing was done. You are still connected, with the access you had before.")
	return c.Redirect(http.StatusSeeOther, p.back())
}

// stepUpGranted finishes a step-up after the code exchange. The new token
// must belong to the account (and team) that asked: a user who picked
// another account at the consent page is told so, that account's new
// token is revoked, and the session stays as it was (read-only, the
// original account). Otherwise the new read & write session replaces the
// old one and the browser goes to the confirmation of what it was for
// (pendingAction.next): the callback itself never acts.
func (s *Server) stepUpGranted(c echo.Context, p *pendingAction, tok *oauth2.Token, acct doclient.Account, state string) error {
	w, r := c.Response(), c.Request()
	revoke := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), revokeTimeout)
		defer cancel()
		if err := s.do.Revoke(ctx, tok.AccessToken); err != nil {
			s.log.Warn("revoking an unused step-up token failed", "error", err)
		}
	}
	sess, ok := s.sessions.load(w, r)
	if !ok || p.Session == "" || sess.LoginState != p.Session {
		// Not the session that asked (it ended meanwhile, or this login
		// cookie came from another browser): start nothing from it.
		revoke()
		s.sessions.setFlash(w, "error", "This read & write access was asked for by another session, so it was not used and nothing was done. Go back to what you were doing and choose it again.")
		return c.Redirect(http.StatusSeeOther, "/")
	}
	if acct.UUID != p.Account || acct.TeamUUID != p.TeamUUID {
		revoke()
		who := acct.Email
		if who == "" {
			who = "another account"
		}
		s.sessions.setFlash(w, "error", "You authorized "+who+" at DigitalOcean, not the account you are connected with, so nothing was done and that authorization was revoked. You are still connected as before, as "+accountName(sess.Account)+", with read access. To go on, step up again and authorize "+accountName(sess.Account)+".")
		return c.Redirect(http.StatusSeeOther, p.back())
	}
	if _, err := s.sessions.start(w, tok, acct, state, sess.ChoseAccount); err != nil {
		return &Problem{Status: http.StatusInternalServerError, Title: "Sign-in could not be saved",
			Message: "The app could not store your new access. It has been logged. Go back to the home page and try again.", Err: err}
	}
	return c.Redirect(http.StatusSeeOther, p.next())
}

// handleProgress serves GET /droplets/{id}/actions/{action}: the action's
// status from GET /v2/actions/{id}. While it is in progress the page reloads
// itself every two seconds; once done it says how it ended and stops.
//
// Every view also asks for the droplet (GET /v2/droplets/{id}), so that
// the page names it from the first view to the last, with its status now.
// That is one more request per two-second reload, a few dozen for an
// action, against the API's 5,000 an hour; carrying the name in the URL
// instead would let any link put words of its choosing on this page.
func (s *Server) handleProgress(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	actionID, err := strconv.Atoi(c.Param("action"))
	if err != nil || actionID <= 0 || strconv.Itoa(actionID) != c.Param("action") {
		return echo.ErrNotFound
	}
	sess, err := s.session(c, "Connect your DigitalOcean account to follow this action.")
	if err != nil {
		return err
	}
	var a *godo.Action
	var d *godo.Droplet
	_, err = s.withToken(c, sess, func(ctx context.Context, ts oauth2.TokenSource) (err error) {
		if a, err = s.do.Action(ctx, ts, actionID); err == nil {
			d, err = s.do.Droplet(ctx, ts, id)
		}
		return err
	})
	if err != nil {
		return s.readProblem(err, "This action")
	}
	if a.ResourceID != id || a.ResourceType != "droplet" {
		return &Problem{Status: http.StatusNotFound, Title: "No such action on this droplet",
			Message: "This droplet has no action with that number.", Link: "/droplets/" + strconv.Itoa(id), LinkText: "Open the droplet"}
	}
	act, known := actionFor(a.Type)
	if !known {
		act = actionInfo{Type: a.Type, Label: a.Type, Verb: a.Type, Done: a.Type}
	}
	data := progressPage{DropletID: id, Action: act, ActionID: a.ID, State: a.Status, Checked: s.now()}
	if a.StartedAt != nil {
		data.Started = a.StartedAt.Time
	}
	if a.CompletedAt != nil {
		data.Completed = a.CompletedAt.Time
	}
	data.Name, data.Status = d.Name, d.Status
	return s.render(c, http.StatusOK, "action", act.Label+" "+d.Name+": "+strings.ReplaceAll(a.Status, "-", " "), sess, data)
}

// fetchDroplet gets droplet id with the session's token, and the flow
// record with the call added.
func (s *Server) fetchDroplet(c echo.Context, sess *Session, id int) (*godo.Droplet, *flow.Record, error) {
	var d *godo.Droplet
	rec, err := s.withToken(c, sess, func(ctx context.Context, ts oauth2.TokenSource) (err error) {
		d, err = s.do.Droplet(ctx, ts, id)
		return err
	})
	if err != nil {
		return nil, nil, s.readProblem(err, "This droplet")
	}
	return d, rec, nil
}

// readProblem maps a failed read (a droplet, an action) to its page.
func (s *Server) readProblem(err error, what string) error {
	if doclient.IsNotFound(err) {
		return &Problem{Status: http.StatusNotFound, Title: "Droplet not found",
			Message: what + " does not exist in the connected account: it may have been destroyed, or it belongs to another account.",
			Link:    "/digitalocean", LinkText: "Your droplets", Err: err}
	}
	return upstreamProblem(err)
}

// actionProblem says, in words, why an action was not started, or that it
// may have been. Nothing here retries: a second POST could act twice.
func (s *Server) actionProblem(c echo.Context, sess *Session, err error, id int, act actionInfo) error {
	droplet := "/droplets/" + strconv.Itoa(id)
	var signedOut *errSignedOut
	if errors.As(err, &signedOut) {
		signedOut.why += ", so nothing was done"
		return signedOut
	}
	if refused, ok := doclient.IsActionRefused(err); ok {
		why := "The droplet is already in that state, or another action is still in progress on it."
		if refused.Message != "" {
			why = "DigitalOcean says: “" + trim(refused.Message, 200) + "”."
		}
		return &Problem{Status: http.StatusUnprocessableEntity, Title: "DigitalOcean did not " + act.Verb + " the droplet",
			Message: why + " Nothing was done. Open the droplet to see its current state, and try again once any action on it has finished.",
			Link:    droplet, LinkText: "Open the droplet", Err: err}
	}
	if doclient.IsForbidden(err) {
		// The session's scope looked sufficient, but DigitalOcean says the
		// token may not do this: offer the step-up.
		return s.render(c, http.StatusForbidden, "stepup", "This needs read & write access", sess, actionStepUp(sess, id, "this droplet", act, true))
	}
	if after, ok := doclient.IsRateLimited(err); ok {
		return busyProblem(err, after, s.now(), "refused the action before starting it: nothing was done", droplet, "Back to the droplet")
	}
	if doclient.IsNotFound(err) {
		return &Problem{Status: http.StatusNotFound, Title: "Droplet not found",
			Message: "This droplet no longer exists in the connected account (it may have been destroyed), so nothing was done.",
			Link:    "/digitalocean", LinkText: "Your droplets", Err: err}
	}
	maybe := " The action may or may not have started. Before trying again, open the droplet: its status, and its latest action in the DigitalOcean control panel (the droplet's History tab), show whether it did."
	if doclient.IsMalformed(err) {
		return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean did not say which action it started",
			Message: "DigitalOcean accepted the request, but its answer did not name the action, so the app cannot follow it. The action may have started: do not press the button again." + maybe,
			Link:    droplet, LinkText: "Open the droplet", Err: err}
	}
	if doclient.IsTimeout(err) {
		return &Problem{Status: http.StatusGatewayTimeout, Title: "DigitalOcean took too long",
			Message: "DigitalOcean did not answer in time." + maybe, Link: droplet, LinkText: "Open the droplet", Err: err}
	}
	return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean did not confirm the action",
		Message: "DigitalOcean answered with an error instead of confirming." + maybe, Link: droplet, LinkText: "Open the droplet", Err: err}
}

// accountName names an account for a sentence: its email, else its name.
func accountName(a doclient.Account) string {
	switch {
	case a.Email != "" && a.Name != "":
		return a.Name + " (" + a.Email + ")"
	case a.Email != "":
		return a.Email
	case a.Name != "":
		return a.Name
	}
	return "the account you are connected with"
}

// actionPurpose is what a confirmation of act on droplet id confirms.
func actionPurpose(id int, act actionInfo) string {
	return act.Type + " droplet " + strconv.Itoa(id)
}

// dropletID reads {id}: a positive decimal number, as DigitalOcean's are.
func dropletID(c echo.Context) (int, error) {
	raw := c.Param("id")
	id, err := strconv.Atoi(raw)
	if err != nil || id <= 0 || strconv.Itoa(id) != raw {
		return 0, echo.ErrNotFound
	}
	return id, nil
}

func actionType(t string) (actionInfo, error) {
	if act, ok := actionFor(t); ok {
		return act, nil
	}
	return actionInfo{}, badAction()
}

func badAction() error {
	return &Problem{Status: http.StatusBadRequest, Title: "Unknown action",
		Message: "The app offers Reboot, Shut down, Power off, Power cycle and Power on. Go back to the droplet and press one of its buttons."}
}

func newDropletView(d *godo.Droplet) dropletView {
	return dropletView{dropletRow: newDropletRow(*d)}
}
