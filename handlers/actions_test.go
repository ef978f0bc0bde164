package handlers

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/sandbox"
)

// actionDelay is how long the sandbox's actions run, by the test clock.
const actionDelay = 3 * time.Second

// sbDroplet is a droplet as the sandbox's API shows it.
type sbDroplet struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// droplets lists the account's droplets straight from the sandbox, with
// the token in the browser's session.
func (a *testApp) droplets(c *http.Client) []sbDroplet {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.SBURL+"/v2/droplets", nil)
	req.Header.Set("Authorization", "Bearer "+a.session(c).AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Droplets []sbDroplet }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		a.t.Fatal(err)
	}
	return body.Droplets
}

// dropletStatus is the status of droplet id, by the sandbox.
func (a *testApp) dropletStatus(c *http.Client, id int) string {
	a.t.Helper()
	for _, d := range a.droplets(c) {
		if d.ID == id {
			return d.Status
		}
	}
	return "gone"
}

// same is the header a browser sends with a form of the app's own page.
func (a *testApp) same() http.Header { return http.Header{"Origin": {a.URL}} }

// press presses an action button: POST /droplets/{id}/actions type=t.
func (a *testApp) press(c *http.Client, id int, t string) page {
	a.t.Helper()
	return a.post(c, fmt.Sprintf("%s/droplets/%d/actions", a.URL, id), url.Values{"type": {t}}, a.same())
}

// submit sends the form of page p whose action is path, with its hidden
// fields, as a browser does when its button is pressed.
func (a *testApp) submit(c *http.Client, p page, path string) page {
	a.t.Helper()
	fields := formFields(a.t, p, path)
	return a.post(c, a.URL+path, fields, a.same())
}

// formFields returns the hidden fields of p's form that posts to path.
func formFields(t testing.TB, p page, path string) url.Values {
	t.Helper()
	return allFields(t, p, path)
}

// allFields returns the hidden fields of p's form that posts to path, a
// field that appears several times (ssh_keys) with each of its values.
func allFields(t testing.TB, p page, path string) url.Values {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(p.Body, -1) {
		if html.UnescapeString(m[1]) != path {
			continue
		}
		fields := url.Values{}
		for _, input := range hiddenRE.FindAllString(m[2], -1) {
			var name, value string
			for _, at := range attrRE.FindAllStringSubmatch(input, -1) {
				if at[1] == "name" {
					name = html.UnescapeString(at[2])
				} else {
					value = html.UnescapeString(at[2])
				}
			}
			fields.Add(name, value)
		}
		return fields
	}
	t.Fatalf("%s (%d) has no form posting to %s:\n%s", p.URL, p.Status, path, p.Body)
	return nil
}

// stepUp presses "Connect with read & write access" on the step-up page p
// and answers DigitalOcean's consent page with decision; account, when
// set, is the account chosen there (the test adds prompt=select_account,
// as a user who switches accounts at DigitalOcean would see).
func (a *testApp) stepUp(c *http.Client, p page, id int, decision, account string) page {
	a.t.Helper()
	return a.stepUpAt(c, p, fmt.Sprintf("/droplets/%d/step-up", id), decision, account)
}

// stepUpAt is stepUp for the step-up form of p that posts to path.
func (a *testApp) stepUpAt(c *http.Client, p page, path, decision, account string) page {
	a.t.Helper()
	fields := allFields(a.t, p, path)
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp := a.post(&noFollow, a.URL+path, fields, a.same())
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.Status != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), a.SBURL+"/v1/oauth/authorize?") {
		a.t.Fatalf("step-up answered %d %q, want a redirect to the authorize page", resp.Status, resp.Header.Get("Location"))
	}
	if got := loc.Query().Get("scope"); got != "read write" {
		a.t.Errorf("the step-up asks for scope %q, want %q", got, "read write")
	}
	if account != "" {
		q := loc.Query()
		q.Set("prompt", "select_account")
		loc.RawQuery = q.Encode()
	}
	consent := a.get(c, loc.String())
	action, form := consentForm(a.t, consent)
	form.Set("decision", decision)
	if account != "" {
		form.Set("account", account)
	}
	return a.post(c, action, form, http.Header{"Origin": {a.SBURL}})
}

// confirmAction presses button t of droplet id with a read & write session
// and returns the confirmation page.
func (a *testApp) confirmPage(c *http.Client, id int, t string) page {
	a.t.Helper()
	p := a.press(c, id, t)
	if p.Status != http.StatusOK || p.URL.Path != fmt.Sprintf("/droplets/%d/confirm", id) {
		a.t.Fatalf("pressing %s led to %s (%d), want the confirmation", t, p.URL, p.Status)
	}
	return p
}

// act confirms action t on droplet id and returns the progress page.
func (a *testApp) act(c *http.Client, id int, t string) page {
	a.t.Helper()
	p := a.submit(c, a.confirmPage(c, id, t), fmt.Sprintf("/droplets/%d/actions", id))
	if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.Path, fmt.Sprintf("/droplets/%d/actions/", id)) {
		a.t.Fatalf("confirming %s led to %s (%d):\n%s", t, p.URL, p.Status, p.Body)
	}
	return p
}

func connectWrite(a *testApp, c *http.Client) {
	a.t.Helper()
	consent := a.get(c, a.URL+"/connect?access=write")
	action, fields := consentForm(a.t, consent)
	fields.Set("decision", "approve")
	if p := a.post(c, action, fields, http.Header{"Origin": {a.SBURL}}); p.Status != http.StatusOK {
		a.t.Fatalf("connecting with write access: %d", p.Status)
	}
}

const metaRefresh = `<meta http-equiv="refresh"`

// The whole story of the issue: connect read-only, press Reboot, be asked
// for read & write, approve, confirm, watch it reboot; then power off, and
// on again, without being asked again.
func TestStepUpThenRebootPowerOffPowerOn(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	a.connect(c, "approve")
	d := a.droplets(c)[0]
	if d.Status != "active" {
		t.Fatalf("first droplet is %s", d.Status)
	}
	readToken := a.session(c).AccessToken
	// The droplet list links each droplet to its page, beside its buttons.
	list := a.get(c, a.URL+"/digitalocean")
	mustContain(t, list, fmt.Sprintf(`<a href="/droplets/%d">%s</a>`, d.ID, d.Name), fmt.Sprintf(`action="/droplets/%d/actions"`, d.ID),
		`<option value="reboot">Reboot</option>`, `<option value="shutdown">Shut down</option>`)

	detail := a.get(c, fmt.Sprintf("%s/droplets/%d", a.URL, d.ID))
	mustContain(t, detail, d.Name, "Read access", ">Reboot<", ">Shut down<", ">Power off<", ">Power cycle<", "need read &amp; write access")
	mustNotContain(t, detail, ">Power on<")

	step := a.press(c, d.ID, "reboot")
	if step.Status != http.StatusOK || step.URL.Path != fmt.Sprintf("/droplets/%d/confirm", d.ID) {
		t.Fatalf("Reboot with a read-only session led to %s (%d)", step.URL, step.Status)
	}
	mustContain(t, step, "This needs read &amp; write access", d.Name, "Connect with read &amp; write access")
	mustNotContain(t, step, `name="confirm"`)

	confirm := a.stepUp(c, step, d.ID, "approve", "")
	if confirm.Status != http.StatusOK || confirm.URL.Path != fmt.Sprintf("/droplets/%d/confirm", d.ID) || confirm.URL.Query().Get("type") != "reboot" {
		t.Fatalf("after the step-up the browser is at %s (%d), want the reboot's confirmation", confirm.URL, confirm.Status)
	}
	mustContain(t, confirm, "Reboot "+d.Name+"?", "restarts gracefully", `name="confirm"`)
	sess := a.session(c)
	if !canWrite(sess.Scope) || sess.AccessToken == readToken {
		t.Errorf("after the step-up the session has scope %q (new token: %v)", sess.Scope, sess.AccessToken != readToken)
	}
	if n := a.Sandbox.Stats().Actions; n != 0 {
		t.Fatalf("%d actions before the confirmation: the callback acted", n)
	}

	progress := a.submit(c, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID))
	mustContain(t, progress, "In progress", metaRefresh)
	if n := a.Sandbox.Stats().Actions; n != 1 {
		t.Fatalf("%d actions after one confirmation", n)
	}
	a.Clock.Advance(actionDelay + time.Second)
	done := a.get(c, progress.URL.String())
	mustContain(t, done, "Completed", "was rebooted", "status-active")
	mustNotContain(t, done, metaRefresh)

	// With read & write, Power off goes straight to its confirmation.
	off := a.act(c, d.ID, "power_off")
	mustContain(t, off, "In progress")
	a.Clock.Advance(actionDelay + time.Second)
	mustContain(t, a.get(c, off.URL.String()), "was powered off", "It is now <span class=\"status status-off\">off</span>")
	if st := a.dropletStatus(c, d.ID); st != "off" {
		t.Errorf("after Power off the droplet is %s", st)
	}
	detail = a.get(c, fmt.Sprintf("%s/droplets/%d", a.URL, d.ID))
	mustContain(t, detail, ">Power on<")
	mustNotContain(t, detail, ">Reboot<")
	row := a.get(c, a.URL+"/digitalocean?status=off")
	mustContain(t, row, d.Name, `<option value="power_on">Power on</option>`)
	mustNotContain(t, row, `<option value="reboot">`)

	on := a.act(c, d.ID, "power_on")
	a.Clock.Advance(actionDelay + time.Second)
	mustContain(t, a.get(c, on.URL.String()), "was powered on")
	if st := a.dropletStatus(c, d.ID); st != "active" {
		t.Errorf("after Power on the droplet is %s", st)
	}
	if n := a.Sandbox.Stats().Actions; n != 3 {
		t.Errorf("%d actions, want 3", n)
	}
	// The "How this worked" panel tells the step-up's story, and lists
	// the actions' POSTs among what followed.
	list = a.get(c, a.URL+"/how-this-worked")
	mustContain(t, list, "How this worked", "step-up to read &amp; write", "handleStepUp", "handlers/actions.go",
		"Timeline, from the action&#39;s button to the action&#39;s confirmation",
		"<code>scope</code></th><td>read write</td>", fmt.Sprintf("POST /v2/droplets/%d/actions", d.ID))
}

// Every action, with a session connected read & write from the start: the
// confirmation names it, the progress completes, the droplet's status
// follows.
func TestEachActionAgainstTheSandbox(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ, from, words, after string
	}{
		{"reboot", "active", "restarts gracefully", "active"},
		{"shutdown", "active", "shuts down gracefully", "off"},
		{"power_off", "active", "pulling the plug", "off"},
		{"power_cycle", "active", "hard reset", "active"},
		{"power_on", "off", "The droplet starts.", "active"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			c := a.Browser
			connectWrite(a, c)
			d := a.droplets(c)[0]
			if tc.from == "off" {
				a.act(c, d.ID, "power_off")
				a.Clock.Advance(actionDelay + time.Second)
			}
			confirm := a.confirmPage(c, d.ID, tc.typ)
			mustContain(t, confirm, d.Name, tc.words)
			progress := a.submit(c, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID))
			mustContain(t, progress, "In progress", metaRefresh)
			a.Clock.Advance(actionDelay + time.Second)
			mustContain(t, a.get(c, progress.URL.String()), "Completed")
			if st := a.dropletStatus(c, d.ID); st != tc.after {
				t.Errorf("after %s the droplet is %s, want %s", tc.typ, st, tc.after)
			}
		})
	}
}

func TestDeniedStepUpKeepsTheReadOnlySession(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	a.connect(c, "approve")
	before := a.session(c)
	d := a.droplets(c)[0]
	p := a.stepUp(c, a.press(c, d.ID, "reboot"), d.ID, "deny", "")
	if p.Status != http.StatusOK || p.URL.Path != fmt.Sprintf("/droplets/%d", d.ID) {
		t.Fatalf("after denying the step-up the browser is at %s (%d), want the droplet", p.URL, p.Status)
	}
	mustContain(t, p, "You did not grant read &amp; write access", "still connected, with the access you had before", d.Name)
	after := a.session(c)
	if after == nil || after.AccessToken != before.AccessToken || after.Scope != before.Scope {
		t.Errorf("the denial changed the session: %+v", after)
	}
	if a.apiStatus(before.AccessToken) != http.StatusOK {
		t.Error("the read-only token stopped working")
	}
	mustContain(t, a.get(c, a.URL+"/digitalocean"), "Your droplets", d.Name)
	if n := a.Sandbox.Stats().Actions; n != 0 {
		t.Errorf("%d actions", n)
	}
}

func TestStepUpWithAnotherAccountDoesNothing(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	a.connect(c, "approve")
	before := a.session(c)
	d := a.droplets(c)[0]
	other := a.Sandbox.Accounts()[1]
	p := a.stepUp(c, a.press(c, d.ID, "reboot"), d.ID, "approve", other.UUID)
	if p.URL.Path != fmt.Sprintf("/droplets/%d", d.ID) {
		t.Fatalf("after choosing another account the browser is at %s (%d)", p.URL, p.Status)
	}
	mustContain(t, p, "You authorized "+other.Email, "nothing was done", "still connected as before")
	mustNotContain(t, p, `name="confirm"`)
	after := a.session(c)
	if after.AccessToken != before.AccessToken || after.Account.UUID != before.Account.UUID || canWrite(after.Scope) {
		t.Errorf("the session changed: %+v", after)
	}
	st := a.Sandbox.Stats()
	if st.Actions != 0 || st.Revocations != 1 {
		t.Errorf("sandbox saw %d actions and %d revocations, want none and the other account's token revoked", st.Actions, st.Revocations)
	}
}

func TestDoubleSubmittedConfirmationActsOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	d := a.droplets(c)[0]
	confirm := a.confirmPage(c, d.ID, "reboot")
	fields := formFields(t, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID))

	// A double click: both requests leave with the same cookie and form.
	u, _ := url.Parse(a.URL)
	cookies := c.Jar.Cookies(u)
	var wg sync.WaitGroup
	var landed [2]string
	browsers := [2]*http.Client{newBrowser(t), newBrowser(t)}
	for i, b := range browsers {
		b.Jar.SetCookies(u, cookies)
		wg.Go(func() {
			p := a.post(b, fmt.Sprintf("%s/droplets/%d/actions", a.URL, d.ID), fields, a.same())
			landed[i] = fmt.Sprint(p.Status, " ", p.URL.Path)
		})
	}
	wg.Wait()
	if n := a.Sandbox.Stats().Actions; n != 1 {
		t.Fatalf("a double-submitted confirmation made %d actions", n)
	}
	if landed[0] != landed[1] || !strings.HasPrefix(landed[0], "200 /droplets/") {
		t.Errorf("the two submissions landed on %q and %q, want the same progress page", landed[0], landed[1])
	}
	// The same form again from a browser whose cookie was spent.
	again := a.post(browsers[0], fmt.Sprintf("%s/droplets/%d/actions", a.URL, d.ID), fields, a.same())
	if again.Status != http.StatusConflict {
		t.Errorf("a resubmitted form answered %d", again.Status)
	}
	mustContain(t, again, "This confirmation was already used", "Nothing more was done", fmt.Sprintf(`href="/droplets/%d"`, d.ID))
	if n := a.Sandbox.Stats().Actions; n != 1 {
		t.Errorf("%d actions after a resubmission", n)
	}
}

func TestActionRefusedPages(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	d := a.droplets(c)[0]
	actions := fmt.Sprintf("/droplets/%d/actions", d.ID)

	// 422: powering on a droplet that is on (reachable by URL only).
	on := a.get(c, fmt.Sprintf("%s/droplets/%d/confirm?type=power_on", a.URL, d.ID))
	p := a.submit(c, on, actions)
	if p.Status != http.StatusUnprocessableEntity {
		t.Errorf("power on of an active droplet: %d", p.Status)
	}
	mustContain(t, p, "DigitalOcean did not power on the droplet", "Nothing was done", `href="`+fmt.Sprintf("/droplets/%d", d.ID))

	// 422: a second action while the first runs.
	a.act(c, d.ID, "reboot")
	p = a.submit(c, a.confirmPage(c, d.ID, "shutdown"), actions)
	if p.Status != http.StatusUnprocessableEntity {
		t.Errorf("an action during another: %d", p.Status)
	}
	mustContain(t, p, "DigitalOcean did not shut down the droplet", "Nothing was done")

	// 404: a droplet that does not exist (or is another account's).
	missing := a.get(c, a.URL+"/droplets/999999999")
	if missing.Status != http.StatusNotFound {
		t.Errorf("an unknown droplet: %d", missing.Status)
	}
	mustContain(t, missing, "Droplet not found", "destroyed")
	missing = a.get(c, a.URL+"/droplets/999999999/confirm?type=reboot")
	if missing.Status != http.StatusNotFound {
		t.Errorf("confirming on an unknown droplet: %d", missing.Status)
	}
	if n := a.Sandbox.Stats().Actions; n != 1 {
		t.Errorf("%d actions, want the one reboot", n)
	}
}

// failingActions answers every action POST with status and body, counting
// them, and lets everything else through to the sandbox.
func failingActions(a *testApp, status int, header http.Header, body string) *atomic.Int32 {
	return failing(a, func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/actions")
	}, status, header, body)
}

// failing answers the requests match picks with status, header and
// body, counting them, and lets everything else through to the sandbox.
func failing(a *testApp, match func(*http.Request) bool, status int, header http.Header, body string) *atomic.Int32 {
	var sent atomic.Int32
	a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			sent.Add(1)
			for k, v := range header {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
		a.Sandbox.ServeHTTP(w, r)
	}))
	return &sent
}

func TestActionFailurePages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   int
		words  []string
	}{
		{"403 forbidden", 403, nil, `{"id":"forbidden","message":"You do not have access for the attempted action."}`, 403,
			[]string{"This needs read &amp; write access", "DigitalOcean refused", "Nothing was done", "Connect with read &amp; write access"}},
		{"404 gone", 404, nil, `{"id":"not_found","message":"The resource you were accessing could not be found."}`, 404,
			[]string{"no longer exists", "nothing was done"}},
		{"429 short", 429, http.Header{"Retry-After": {"1"}}, `{"id":"too_many_requests","message":"API Rate limit exceeded."}`, 503,
			[]string{"nothing was done", "Try again at", "a second"}},
		{"429 long", 429, http.Header{"Retry-After": {"90"}}, `{"id":"too_many_requests","message":"API Rate limit exceeded."}`, 503,
			[]string{"Try again at", "90 seconds"}},
		{"500", 500, nil, `{"id":"server_error","message":"Server Error"}`, 502,
			[]string{"may or may not have started", "open the droplet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			c := a.Browser
			connectWrite(a, c)
			d := a.droplets(c)[0]
			confirm := a.confirmPage(c, d.ID, "reboot")
			posts := failingActions(a, tc.status, tc.header, tc.body)
			p := a.submit(c, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID))
			if p.Status != tc.want {
				t.Errorf("status %d, want %d", p.Status, tc.want)
			}
			mustContain(t, p, tc.words...)
			mustNotContain(t, p, ">Try again</a>") // never resend a POST
			if n := posts.Load(); n != 1 {
				t.Errorf("the action POST was sent %d times, want once (never retried)", n)
			}
			if tc.status == 429 {
				if got, want := p.Header.Get("Retry-After"), tc.header.Get("Retry-After"); got != want {
					t.Errorf("Retry-After %q, want %q", got, want)
				}
			}
			if a.session(c) == nil {
				t.Error("the failure ended the session")
			}
			if tc.status == 403 {
				// The offer works, though the session's scope said write.
				a.SetUpstream(a.Sandbox)
				if p := a.stepUp(c, p, d.ID, "approve", ""); p.URL.Path != fmt.Sprintf("/droplets/%d/confirm", d.ID) {
					t.Errorf("the step-up after a 403 led to %s (%d)", p.URL, p.Status)
				}
			}
		})
	}
}

func TestActionTimeoutSaysItMayHaveStarted(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(o *Options, _ *sandbox.Config) {})
	c := a.Browser
	connectWrite(a, c)
	d := a.droplets(c)[0]
	confirm := a.confirmPage(c, d.ID, "reboot")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			select { // slower than the client's 5 s timeout
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		a.Sandbox.ServeHTTP(w, r)
	}))
	p := a.submit(c, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID))
	if p.Status != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", p.Status)
	}
	mustContain(t, p, "did not answer in time", "may or may not have started", "Open the droplet")
}

func TestProgressOfAnotherDropletsActionIsNotFound(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	ds := a.droplets(c)
	progress := a.act(c, ds[0].ID, "reboot")
	id := progress.URL.Path[strings.LastIndex(progress.URL.Path, "/")+1:]
	p := a.get(c, fmt.Sprintf("%s/droplets/%d/actions/%s", a.URL, ds[1].ID, id))
	if p.Status != http.StatusNotFound {
		t.Errorf("another droplet's action: %d", p.Status)
	}
	for _, bad := range []string{"/droplets/0", "/droplets/-1", "/droplets/01", "/droplets/x", "/droplets/1/actions/x"} {
		if p := a.get(c, a.URL+bad); p.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, p.Status)
		}
	}
	if p := a.get(c, fmt.Sprintf("%s/droplets/%d/confirm?type=destroy", a.URL, ds[0].ID)); p.Status != http.StatusBadRequest {
		t.Errorf("an unknown action type: %d, want 400", p.Status)
	}
	_ = strconv.Itoa
}

// TestStepUpLetsTheUserChooseTheAccountAgain: a session opened with "Use
// another DigitalOcean account" (the second sandbox account) steps up
// with prompt=select_account, so the user can choose that account again,
// and the page says which one to choose; the action then goes through.
func TestStepUpLetsTheUserChooseTheAccountAgain(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	other := a.Sandbox.Accounts()[1]
	consent := a.get(c, a.URL+"/connect?account=select")
	action, fields := consentForm(t, consent)
	fields.Set("decision", "approve")
	fields.Set("account", other.UUID)
	if p := a.post(c, action, fields, http.Header{"Origin": {a.SBURL}}); p.Status != http.StatusOK {
		t.Fatalf("signing in as the second account: %d", p.Status)
	}
	d := a.droplets(c)[0]
	stepUp := a.press(c, d.ID, "reboot")
	mustContain(t, stepUp, "This needs read &amp; write access", "DigitalOcean will ask which account to authorize", other.Email)

	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	path := fmt.Sprintf("/droplets/%d/step-up", d.ID)
	resp := a.post(&noFollow, a.URL+path, formFields(t, stepUp, path), a.same())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("prompt") != "select_account" {
		t.Fatalf("the step-up's link %s does not let the user choose the account", loc)
	}
	consent = a.get(c, loc.String())
	mustContain(t, consent, other.Name)
	action, fields = consentForm(t, consent)
	fields.Set("decision", "approve")
	fields.Set("account", other.UUID)
	confirm := a.post(c, action, fields, http.Header{"Origin": {a.SBURL}})
	if confirm.Status != http.StatusOK || confirm.URL.Path != fmt.Sprintf("/droplets/%d/confirm", d.ID) {
		t.Fatalf("after choosing the same account: %d %s", confirm.Status, confirm.URL)
	}
	if p := a.submit(c, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID)); p.Status != http.StatusOK {
		t.Errorf("the confirmation: %d", p.Status)
	}
	if n := a.Sandbox.Stats().Actions; n != 1 {
		t.Errorf("%d actions, want 1", n)
	}

	// A session with the default account is not asked to choose, and is
	// told which account to authorize.
	b := newBrowser(t)
	a.connect(b, "approve")
	page := a.press(b, a.droplets(b)[0].ID, "reboot")
	mustContain(t, page, "Authorize it as", a.Sandbox.Accounts()[0].Email)
	mustNotContain(t, page, "DigitalOcean will ask which account")
}

// TestActionAfterAParallelRotationIsSentWithTheNewToken: the action's POST
// is refused with 401 because a parallel request rotated the pair; the
// app renews the token once and sends the POST again (DigitalOcean did
// nothing with the first), and the action starts once.
func TestActionAfterAParallelRotationIsSentWithTheNewToken(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	d := a.droplets(c)[0]
	confirm := a.confirmPage(c, d.ID, "reboot")
	var refused atomic.Bool
	a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/actions") && refused.CompareAndSwap(false, true) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"id":"unauthorized","message":"Unable to authenticate you."}`)
			return
		}
		a.Sandbox.ServeHTTP(w, r)
	}))
	p := a.submit(c, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID))
	if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.Path, fmt.Sprintf("/droplets/%d/actions/", d.ID)) {
		t.Fatalf("after the renewal: %d %s, want the progress page", p.Status, p.URL)
	}
	if s := a.Sandbox.Stats(); s.Actions != 1 || s.Refreshes != 1 {
		t.Errorf("%d actions and %d refreshes, want 1 and 1", s.Actions, s.Refreshes)
	}
}

// TestActionMenusOfferTheActions: the droplet list's menus, written out in
// views/partials/actions.html, offer what actionsFor says each status
// allows, in its order and with its labels; a status with no action has
// no menu.
func TestActionMenusOfferTheActions(t *testing.T) {
	t.Parallel()
	r, err := newRenderer(os.DirFS("../views"), os.DirFS("../static"))
	if err != nil {
		t.Fatal(err)
	}
	optionRE := regexp.MustCompile(`<option value="([^"]*)">([^<]*)</option>`)
	for _, status := range []string{"active", "off", "new", "archive"} {
		var b strings.Builder
		row := dropletRow{ID: 7, Name: "web-1", Status: status, Actions: actionsFor(status)}
		if err := r.pages["droplets"].ExecuteTemplate(&b, "action-menu", row); err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for _, a := range actionsFor(status) {
			want = append(want, a.Type+" "+a.Label)
		}
		for _, m := range optionRE.FindAllStringSubmatch(b.String(), -1) {
			got = append(got, m[1]+" "+m[2])
		}
		if !slices.Equal(got, want) {
			t.Errorf("the menu of a droplet %s offers %q, want %q", status, got, want)
		}
	}
}
