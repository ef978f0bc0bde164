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
	"crypto/rand"
	"html"
	"html/template"
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
)

// pendingAction is the action a step-up to read & write was started for,
// kept in the login cookie (pendingLogin.Action) until the callback. It
// names the account that asked, so that a consent given by another
// account is not taken for this one's.
type pendingAction struct {
	Droplet  int    `json:"droplet"`
	Type     string `json:"type"`
	Account  string `json:"account"` // the session's account UUID
	TeamUUID string `json:"team,omitempty"`
	// Session identifies the session that asked (its LoginState): the
	// callback acts on the pending action only in the browser whose
	// session started the step-up, so a login cookie carried into another
	// browser cannot make that browser confirm anything.
	Session string `json:"session"`
}

// confirmation is the one-time token of the confirmation form last shown
// to this browser, in its own short-lived cookie: any instance can check
// it, and it is deleted at the first use, so a resubmitted form acts once.
type confirmation struct {
	Token   string    `json:"token"`
	Droplet int       `json:"droplet"`
	Type    string    `json:"type"`
	Issued  time.Time `json:"issued"`
}

// confirmTTL bounds how long a confirmation form may be left open.
const confirmTTL = doclient.ActionOnceFor

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

// menuOptions is the <option> list of a row's action menu for each status
// that has actions, built once: the droplet list shows up to 100 rows, and
// rendering four escaped options per row in the template would triple the
// page's rendering time. Read-only.
var menuOptions = map[string]template.HTML{
	"active": optionsHTML(actionsFor("active")),
	"off":    optionsHTML(actionsFor("off")),
}

func optionsHTML(actions []actionInfo) template.HTML {
	var b strings.Builder
	for _, a := range actions {
		b.WriteString(`<option value="` + html.EscapeString(a.Type) + `">` + html.EscapeString(a.Label) + `</option>`)
	}
	return template.HTML(b.String()) // escaped above; the labels are the app's own
}

// canWrite reports whether a granted scope lets the token act on droplets.
func canWrite(scope string) bool {
	fields := strings.Fields(scope)
	return slices.Contains(fields, "write") || slices.Contains(fields, "droplet:update")
}

// Actions returns the power actions the row's status allows, for the
// action buttons (views/partials/actions.html).
func (r dropletRow) Actions() []actionInfo { return actionsFor(r.Status) }

// ActionOptions is the same, as the options of the droplet list's menu.
func (r *dropletRow) ActionOptions() template.HTML { return menuOptions[r.Status] }

// dropletView is a droplet on the detail and confirmation pages.
type dropletView struct {
	dropletRow
}

type dropletPage struct {
	Droplet  dropletView
	Access   string
	CanWrite bool
	Flow     *flowPanel // "How this worked", closed; nil without a record
}

type confirmPage struct {
	Droplet dropletView
	Action  actionInfo
	Token   string
}

type stepUpPage struct {
	DropletID int
	Name      string
	Action    actionInfo
	Refused   bool // DigitalOcean refused the session's token (403), not just the app's reading of its scope
}

type progressPage struct {
	DropletID int
	Name      string
	Status    string // the droplet's, once the action is done
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
	sess, ok := s.connected(c, "Connect your DigitalOcean account to see this droplet.")
	if !ok {
		return nil
	}
	d, err := s.fetchDroplet(c, sess, id)
	if err != nil {
		return err
	}
	data := dropletPage{Droplet: newDropletView(d), Access: accessLabel(sess.Scope), CanWrite: canWrite(sess.Scope),
		Flow: panel(s.sessions.loadRecord(c.Request()), false, s.sandbox)}
	return s.render(c, http.StatusOK, "droplet", d.Name, sess, data)
}

// handleActions serves POST /droplets/{id}/actions. Its fields are read
// from the body only, never from the query. Without a confirm field
// it is an action button: on to the confirmation (or the step-up). With
// one, it is the confirmation: check and spend its one-time token, send
// the action once, and show its progress.
func (s *Server) handleActions(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	act, err := actionType(c.Request().PostFormValue("type"))
	if err != nil {
		return err
	}
	w, r := c.Response(), c.Request()
	sess, ok := s.connected(c, "Your session has ended, so nothing was done. Connect again, then choose the action again.")
	if !ok {
		return nil
	}
	confirmURL := "/droplets/" + strconv.Itoa(id) + "/confirm?type=" + act.Type
	token := c.Request().PostFormValue("confirm")
	if token == "" {
		return c.Redirect(http.StatusSeeOther, confirmURL)
	}
	// Spend the token whatever happens next: one confirmation, one try.
	conf, valid := s.takeConfirmation(w, r)
	if !valid || !sameState(token, conf.Token) || conf.Droplet != id || conf.Type != act.Type {
		return &Problem{Status: http.StatusConflict, Title: "This confirmation was already used",
			Message: "Nothing more was done. A confirmation works once and for 10 minutes, so that a form sent twice (a double click, Back and send again) cannot " + act.Verb + " the droplet twice. If you pressed the button twice, the first press counted: open the droplet to see its state.",
			Link:    "/droplets/" + strconv.Itoa(id), LinkText: "Open the droplet"}
	}
	if !canWrite(sess.Scope) {
		return c.Redirect(http.StatusSeeOther, confirmURL)
	}

	ctx, ft := traced(r.Context()) // for the "How this worked" panel
	ts := s.do.TokenSource(ctx, sess.Token())
	_, err = ts.Token()
	var action *godo.Action
	if err == nil {
		action, err = s.do.DropletAction(ctx, ts, id, act.Type, token)
	}
	if serr := s.saveIfRefreshed(w, r, sess, ts); serr != nil {
		return serr
	}
	if rec := s.sessions.loadRecord(r); rec != nil {
		ft.record(rec, -1, 0) // the action's POST, as an event
		s.keepRecord(w, r, rec)
	}
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
	sess, ok := s.connected(c, "Connect your DigitalOcean account first.")
	if !ok {
		return nil
	}
	d, err := s.fetchDroplet(c, sess, id)
	if err != nil {
		return err
	}
	if !canWrite(sess.Scope) {
		return s.render(c, http.StatusOK, "stepup", "This needs read & write access", sess,
			stepUpPage{DropletID: id, Name: d.Name, Action: act})
	}
	conf := confirmation{Token: rand.Text(), Droplet: id, Type: act.Type, Issued: s.now()}
	if err := s.sessions.write(c.Response(), c.Request(), s.sessions.short, confirmCookie, conf); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "confirm", act.Label+" "+d.Name+"?", sess,
		confirmPage{Droplet: newDropletView(d), Action: act, Token: conf.Token})
}

// handleStepUp serves POST /droplets/{id}/step-up: incremental consent. It
// starts a login that asks for read write, with the action the user chose
// kept in the login cookie, never in a URL: after DigitalOcean's consent
// the callback shows that action's confirmation (it executes nothing).
func (s *Server) handleStepUp(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	act, err := actionType(c.Request().PostFormValue("type"))
	if err != nil {
		return err
	}
	w, r := c.Response(), c.Request()
	sess, ok := s.connected(c, "Your session has ended. Connect again, then choose the action again.")
	if !ok {
		return nil
	}
	// No shortcut for a session whose scope already says write: this page
	// is also where DigitalOcean's 403 leads, when the token may not act
	// whatever the session believes, and only a new consent can help.
	login := pendingLogin{State: randomState(), Started: s.now(),
		Action: &pendingAction{Droplet: id, Type: act.Type, Account: sess.Account.UUID, TeamUUID: sess.Account.TeamUUID, Session: sess.LoginState}}
	if s.pkce {
		login.Verifier = oauth2.GenerateVerifier()
	}
	start, began := s.now(), time.Now()
	if err := s.sessions.beginLogin(w, r, login); err != nil {
		return err
	}
	ctx, ft := traced(r.Context())
	link := s.do.AuthCodeURL(ctx, login.State, login.Verifier, []string{"read", "write"})
	// The step-up is a login of its own, so it starts a new record for
	// the "How this worked" panel: step 1, the link, and what it is for.
	if len(ft.links) == 1 {
		l := ft.links[0]
		fields := append([]doclient.Field{{Name: "GET", Value: l.Endpoint}}, l.Params...)
		s.keepRecord(w, r, &flowRecord{StepUp: act.Verb + " droplet " + strconv.Itoa(id),
			Steps: []flowStep{newStep(kindLink, start, time.Since(began), "step-up: redirected to DigitalOcean for read write", fields)}})
	}
	return c.Redirect(http.StatusSeeOther, link)
}

// stepUpDenied answers a step-up the user declined at DigitalOcean: the
// read-only session is untouched.
func (s *Server) stepUpDenied(c echo.Context, p *pendingAction) error {
	s.sessions.setFlash(c.Response(), c.Request(), "info", "You did not grant read & write access, so nothing was done. You are still connected, with the access you had before.")
	return c.Redirect(http.StatusSeeOther, "/droplets/"+strconv.Itoa(p.Droplet))
}

// stepUpGranted finishes a step-up after the code exchange. The new token
// must belong to the account (and team) that asked: a user who picked
// another account at the consent page is told so, that account's new
// token is revoked, and the session stays as it was (read-only, the
// original account). Otherwise the new read & write session replaces the
// old one and the browser goes to the action's confirmation: the callback
// itself never acts.
func (s *Server) stepUpGranted(c echo.Context, p *pendingAction, tok *oauth2.Token, acct doclient.Account, state string) error {
	w, r := c.Response(), c.Request()
	revoke := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), revokeTimeout)
		defer cancel()
		if err := s.do.Revoke(ctx, tok.AccessToken); err != nil {
			s.log.Warn("revoking an unused step-up token failed", "error", err)
		}
	}
	if sess, ok := s.sessions.load(w, r); !ok || p.Session == "" || sess.LoginState != p.Session {
		// Not the session that asked (it ended meanwhile, or this login
		// cookie came from another browser): start nothing from it.
		revoke()
		s.sessions.setFlash(w, r, "error", "This read & write access was asked for by another session, so it was not used and nothing was done. Open the droplet and choose the action again.")
		return c.Redirect(http.StatusSeeOther, "/")
	}
	if acct.UUID != p.Account || acct.TeamUUID != p.TeamUUID {
		revoke()
		who := acct.Email
		if who == "" {
			who = "another account"
		}
		s.sessions.setFlash(w, r, "error", "You authorized "+who+" at DigitalOcean, not the account you are connected with, so nothing was done and that authorization was revoked. You are still connected as before, with read access. To act on this droplet, step up again and choose the same account.")
		return c.Redirect(http.StatusSeeOther, "/droplets/"+strconv.Itoa(p.Droplet))
	}
	if _, err := s.sessions.start(w, r, tok, acct, state); err != nil {
		return &Problem{Status: http.StatusInternalServerError, Title: "Sign-in could not be saved",
			Message: "The app could not store your new access. It has been logged. Go back to the home page and try again.", Err: err}
	}
	return c.Redirect(http.StatusSeeOther, "/droplets/"+strconv.Itoa(p.Droplet)+"/confirm?type="+p.Type)
}

// handleProgress serves GET /droplets/{id}/actions/{action}: the action's
// status from GET /v2/actions/{id}. While it is in progress the page reloads
// itself every two seconds; once done it says how it ended and stops.
func (s *Server) handleProgress(c echo.Context) error {
	id, err := dropletID(c)
	if err != nil {
		return err
	}
	actionID, err := strconv.Atoi(c.Param("action"))
	if err != nil || actionID <= 0 || strconv.Itoa(actionID) != c.Param("action") {
		return echo.ErrNotFound
	}
	w, r := c.Response(), c.Request()
	sess, ok := s.connected(c, "Connect your DigitalOcean account to follow this action.")
	if !ok {
		return nil
	}
	ts := s.do.TokenSource(r.Context(), sess.Token())
	_, err = ts.Token()
	var a *godo.Action
	if err == nil {
		a, err = s.do.Action(r.Context(), ts, actionID)
	}
	var d *godo.Droplet
	if err == nil && a.Status != doclient.ActionInProgress {
		d, err = s.do.Droplet(r.Context(), ts, id)
	}
	if serr := s.saveIfRefreshed(w, r, sess, ts); serr != nil {
		return serr
	}
	if err != nil {
		return s.readProblem(c, err, "This action")
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
	if d != nil {
		data.Name, data.Status = d.Name, d.Status
	}
	return s.render(c, http.StatusOK, "action", act.Label+": "+a.Status, sess, data)
}

// connected returns the session or, when there is none, redirects to the
// index with why and returns ok=false (the handler then returns nil).
func (s *Server) connected(c echo.Context, why string) (*Session, bool) {
	sess, ok := s.sessions.load(c.Response(), c.Request())
	if !ok {
		s.sessions.setFlash(c.Response(), c.Request(), "info", why)
		_ = c.Redirect(http.StatusSeeOther, "/")
	}
	return sess, ok
}

// fetchDroplet gets droplet id with the session's token, refreshing and
// saving it first when due.
func (s *Server) fetchDroplet(c echo.Context, sess *Session, id int) (*godo.Droplet, error) {
	w, r := c.Response(), c.Request()
	ts := s.do.TokenSource(r.Context(), sess.Token())
	_, err := ts.Token()
	var d *godo.Droplet
	if err == nil {
		d, err = s.do.Droplet(r.Context(), ts, id)
	}
	if serr := s.saveIfRefreshed(w, r, sess, ts); serr != nil {
		return nil, serr
	}
	if err != nil {
		return nil, s.readProblem(c, err, "This droplet")
	}
	return d, nil
}

// readProblem maps a failed read (a droplet, an action) to its page.
func (s *Server) readProblem(c echo.Context, err error, what string) error {
	switch {
	case doclient.IsInvalidGrant(err):
		return s.signOut(c, "Your DigitalOcean session has ended (the grant expired or was revoked). Connect again whenever you like.")
	case doclient.IsUnauthorized(err):
		return s.signOut(c, "DigitalOcean no longer accepts this app's access token (it may have been revoked). Connect again whenever you like.")
	case doclient.IsNotFound(err):
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
		return s.render(c, http.StatusForbidden, "stepup", "This needs read & write access", sess,
			stepUpPage{DropletID: id, Name: "this droplet", Action: act, Refused: true})
	}
	if after, ok := doclient.IsRateLimited(err); ok {
		at := s.now().Add(max(after, time.Second))
		return &Problem{Status: http.StatusServiceUnavailable, Title: "DigitalOcean is busy",
			Message:    "DigitalOcean is limiting how fast this account may call its API, and refused the action before starting it: nothing was done. Try again at " + at.UTC().Format("15:04:05 MST") + " (in " + waitWords(after) + ").",
			RetryAfter: max(after, time.Second), Link: droplet, LinkText: "Back to the droplet", Err: err}
	}
	switch {
	case doclient.IsInvalidGrant(err):
		return s.signOut(c, "Your DigitalOcean session has ended (the grant expired or was revoked), so nothing was done. Connect again to act on your droplets.")
	case doclient.IsUnauthorized(err):
		return s.signOut(c, "DigitalOcean no longer accepts this app's access token, so nothing was done. Connect again to act on your droplets.")
	case doclient.IsNotFound(err):
		return &Problem{Status: http.StatusNotFound, Title: "Droplet not found",
			Message: "This droplet no longer exists in the connected account (it may have been destroyed), so nothing was done.",
			Link:    "/digitalocean", LinkText: "Your droplets", Err: err}
	}
	maybe := " The action may or may not have started. Before trying again, open the droplet: its status, and its latest action in the DigitalOcean control panel (the droplet's History tab), show whether it did."
	if doclient.IsTimeout(err) {
		return &Problem{Status: http.StatusGatewayTimeout, Title: "DigitalOcean took too long",
			Message: "DigitalOcean did not answer in time." + maybe, Link: droplet, LinkText: "Open the droplet", Err: err}
	}
	return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean did not confirm the action",
		Message: "DigitalOcean answered with an error instead of confirming." + maybe, Link: droplet, LinkText: "Open the droplet", Err: err}
}

// takeConfirmation returns the confirmation cookie's token, if it is there
// and fresh, and deletes the cookie.
func (s *Server) takeConfirmation(w http.ResponseWriter, r *http.Request) (confirmation, bool) {
	var conf confirmation
	found, err := s.sessions.read(r, s.sessions.short, confirmCookie, &conf)
	if found {
		s.sessions.clear(w, confirmCookie)
	}
	if !found || err != nil || conf.Token == "" || s.now().Sub(conf.Issued) > confirmTTL {
		return confirmation{}, false
	}
	return conf, true
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
