package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"dosignin/sandbox"
)

// Security tests for the droplet actions (handlers/actions.go), numbered as
// in docs/SECURITY.md.

func TestSecurity25CrossSiteActionIsRefused(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	d := a.droplets(c)[0]
	actions := fmt.Sprintf("%s/droplets/%d/actions", a.URL, d.ID)
	// A valid confirmation in this browser: only the request's origin is wrong.
	fields := formFields(t, a.confirmPage(c, d.ID, "reboot"), fmt.Sprintf("/droplets/%d/actions", d.ID))
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
		{"Origin": {"https://evil.example"}},
		{"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://sub.example"}},
	} {
		if p := a.post(c, actions, fields, h); p.Status != http.StatusForbidden {
			t.Errorf("cross-site confirmation with %v: %d, want 403", h, p.Status)
		}
		if p := a.post(c, actions, url.Values{"type": {"reboot"}}, h); p.Status != http.StatusForbidden {
			t.Errorf("cross-site button with %v: %d, want 403", h, p.Status)
		}
	}
	if n := a.Sandbox.Stats().Actions; n != 0 {
		t.Fatalf("cross-site POSTs made %d actions", n)
	}
	// The step-up, cross-site, starts no login.
	b := newBrowser(t)
	a.connect(b, "approve")
	p := a.post(b, fmt.Sprintf("%s/droplets/%d/step-up", a.URL, d.ID), url.Values{"type": {"reboot"}}, http.Header{"Origin": {"https://evil.example"}})
	if p.Status != http.StatusForbidden || a.cookie(b, loginCookie) != "" {
		t.Errorf("cross-site step-up: %d, login cookie set: %v", p.Status, a.cookie(b, loginCookie) != "")
	}
	// The same forms from the app's own page work.
	if p := a.post(c, actions, fields, a.same()); p.Status != http.StatusOK || a.Sandbox.Stats().Actions != 1 {
		t.Errorf("same-origin confirmation: %d, %d actions", p.Status, a.Sandbox.Stats().Actions)
	}
}

func TestSecurity26NoGETPerformsAnAction(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	d := a.droplets(c)[0]
	confirm := a.confirmPage(c, d.ID, "reboot")
	token := formFields(t, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID)).Get("confirm")
	base := fmt.Sprintf("%s/droplets/%d", a.URL, d.ID)
	for _, u := range []string{
		base + "/actions?type=reboot&confirm=" + token,
		base + "/actions?type=reboot",
		base + "/step-up?type=reboot",
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, u, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, u, resp.StatusCode)
			}
		}
	}
	// The pages that are GETs only show.
	for _, u := range []string{base, base + "/confirm?type=reboot", base + "/confirm?type=power_off"} {
		if p := a.get(c, u); p.Status != http.StatusOK {
			t.Errorf("GET %s: %d", u, p.Status)
		}
	}
	if n := a.Sandbox.Stats().Actions; n != 0 {
		t.Errorf("GETs made %d actions", n)
	}
}

func TestSecurity27PendingActionCannotBePlanted(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	victim := a.Browser
	a.connect(victim, "approve")
	d := a.droplets(victim)[0]
	before := a.session(victim)

	noFollow := func(c *http.Client) *http.Client {
		nf := *c
		nf.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &nf
	}

	// Through a query parameter: a link that would start the step-up.
	if p := a.get(noFollow(victim), fmt.Sprintf("%s/droplets/%d/step-up?type=reboot", a.URL, d.ID)); p.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET step-up: %d, want 405", p.Status)
	}
	if a.cookie(victim, loginCookie) != "" {
		t.Error("a GET set a login cookie")
	}
	// Nor a POST whose action is only in the query.
	if p := a.post(noFollow(victim), fmt.Sprintf("%s/droplets/%d/step-up?type=reboot", a.URL, d.ID), nil, a.same()); p.Status != http.StatusBadRequest || a.cookie(victim, loginCookie) != "" {
		t.Errorf("a step-up with its action in the query: %d, login cookie set: %v", p.Status, a.cookie(victim, loginCookie) != "")
	}
	// Through /connect or the callback: extra parameters are ignored, and
	// a plain login lands on the droplet list, never on a confirmation.
	b := newBrowser(t)
	consent := a.get(b, fmt.Sprintf("%s/connect?access=write&droplet=%d&type=reboot&action=reboot", a.URL, d.ID))
	if consent.Status != http.StatusBadRequest {
		action, fields := consentForm(t, consent)
		fields.Set("decision", "approve")
		if p := a.post(b, action, fields, nil); p.URL.Path != "/digitalocean" {
			t.Errorf("a login with action parameters landed on %s", p.URL)
		}
	}
	c2 := newBrowser(t)
	cb := a.callbackURL(c2)
	if p := a.get(c2, cb+fmt.Sprintf("&droplet=%d&type=reboot", d.ID)); p.URL.Path != "/digitalocean" {
		t.Errorf("a callback with action parameters landed on %s (%d)", p.URL, p.Status)
	}

	// Another browser's cookie: the attacker, signed in to the same
	// account, starts a step-up and approves it, then gets its login
	// cookie and callback into the victim's browser.
	attacker := newBrowser(t)
	a.connect(attacker, "approve")
	step := a.press(attacker, d.ID, "reboot")
	resp := a.post(noFollow(attacker), fmt.Sprintf("%s/droplets/%d/step-up", a.URL, d.ID), formFields(t, step, fmt.Sprintf("/droplets/%d/step-up", d.ID)), a.same())
	consent = a.get(attacker, resp.Header.Get("Location"))
	action, fields := consentForm(t, consent)
	fields.Set("decision", "approve")
	approved := a.post(noFollow(attacker), action, fields, nil)
	callback := approved.Header.Get("Location")
	u := mustParse(t, a.URL)
	victim.Jar.SetCookies(u, []*http.Cookie{{Name: loginCookie, Value: a.cookie(attacker, loginCookie)}})
	p := a.get(victim, callback)
	if strings.Contains(p.URL.Path, "/confirm") || strings.Contains(p.Body, `name="confirm"`) {
		t.Errorf("the planted step-up led the victim to a confirmation: %s", p.URL)
	}
	mustContain(t, p, "asked for by another session", "nothing was done")
	if after := a.session(victim); after == nil || after.AccessToken != before.AccessToken || canWrite(after.Scope) {
		t.Errorf("the planted step-up changed the victim's session: %+v", after)
	}

	// Another account chosen at the consent page: no confirmation either.
	other := a.Sandbox.Accounts()[1]
	p = a.stepUp(victim, a.press(victim, d.ID, "reboot"), d.ID, "approve", other.UUID)
	if strings.Contains(p.URL.Path, "/confirm") || canWrite(a.session(victim).Scope) {
		t.Errorf("a step-up approved by another account led to %s with scope %q", p.URL, a.session(victim).Scope)
	}
	if n := a.Sandbox.Stats().Actions; n != 0 {
		t.Errorf("%d actions", n)
	}
}

func TestSecurity28ConfirmationTokenWorksOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	ds := a.droplets(c)
	d := ds[0]
	path := fmt.Sprintf("/droplets/%d/actions", d.ID)
	u := mustParse(t, a.URL)

	// A forged token, a token for another action or another droplet: refused.
	confirm := a.confirmPage(c, d.ID, "reboot")
	fields := formFields(t, confirm, path)
	cookie := a.cookie(c, confirmCookie)
	withCookie := func() *http.Client {
		b := newBrowser(t)
		b.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: a.cookie(c, sessionCookie)}, {Name: confirmCookie, Value: cookie}})
		return b
	}
	for name, send := range map[string]func() page{
		"forged token": func() page {
			return a.post(withCookie(), a.URL+path, url.Values{"type": {"reboot"}, "confirm": {strings.Repeat("A", len(fields.Get("confirm")))}}, a.same())
		},
		"another action": func() page {
			return a.post(withCookie(), a.URL+path, url.Values{"type": {"power_off"}, "confirm": {fields.Get("confirm")}}, a.same())
		},
		"another droplet": func() page {
			return a.post(withCookie(), fmt.Sprintf("%s/droplets/%d/actions", a.URL, ds[1].ID), url.Values{"type": {"reboot"}, "confirm": {fields.Get("confirm")}}, a.same())
		},
		"no cookie": func() page {
			b := newBrowser(t)
			b.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: a.cookie(c, sessionCookie)}})
			return a.post(b, a.URL+path, fields, a.same())
		},
	} {
		if p := send(); p.Status != http.StatusConflict {
			t.Errorf("%s: %d, want 409", name, p.Status)
		}
	}
	if n := a.Sandbox.Stats().Actions; n != 0 {
		t.Fatalf("%d actions from refused confirmations", n)
	}

	// Used once, then again from the same browser: refused.
	if p := a.post(c, a.URL+path, fields, a.same()); p.Status != http.StatusOK {
		t.Fatalf("the confirmation: %d", p.Status)
	}
	if p := a.post(c, a.URL+path, fields, a.same()); p.Status != http.StatusConflict {
		t.Errorf("the same confirmation again: %d, want 409", p.Status)
	}
	// A copy of the cookie, replayed once the confirmation's time is up
	// (and the first reboot is long done): refused, no second reboot.
	a.Clock.Advance(confirmTTL + time.Minute)
	if p := a.post(withCookie(), a.URL+path, fields, a.same()); p.Status != http.StatusConflict {
		t.Errorf("a replayed old confirmation: %d, want 409", p.Status)
	}
	if n := a.Sandbox.Stats().Actions; n != 1 {
		t.Errorf("%d actions, want 1", n)
	}
}

// TestSecurity35SeveralConfirmationsCoexistAndSayWhatHappened: a browser
// may have several confirmation pages open (tabs, a link it was sent);
// each works once, for its own droplet and action, whichever is used
// first. Past the bound the oldest is replaced, and using it says that,
// not "already used": nothing was done with it.
func TestSecurity35SeveralConfirmationsCoexistAndSayWhatHappened(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 8 })
	c := a.Browser
	connectWrite(a, c)
	var active []sbDroplet
	for _, d := range a.droplets(c) {
		if d.Status == "active" {
			active = append(active, d)
		}
	}
	if len(active) < 2 {
		t.Fatalf("%d active droplets, want 2", len(active))
	}
	path := func(d sbDroplet) string { return fmt.Sprintf("/droplets/%d/actions", d.ID) }
	// Two pages open at once; the second does not spend the first.
	first := formFields(t, a.confirmPage(c, active[0].ID, "reboot"), path(active[0]))
	second := formFields(t, a.confirmPage(c, active[1].ID, "shutdown"), path(active[1]))
	if p := a.post(c, a.URL+path(active[1]), second, a.same()); p.Status != http.StatusOK {
		t.Fatalf("the second confirmation: %d", p.Status)
	}
	if p := a.post(c, a.URL+path(active[0]), first, a.same()); p.Status != http.StatusOK {
		t.Fatalf("the first confirmation, opened before the second: %d\n%s", p.Status, p.Body)
	}
	if n := a.Sandbox.Stats().Actions; n != 2 {
		t.Fatalf("%d actions, want 2", n)
	}
	// Each once.
	p := a.post(c, a.URL+path(active[0]), first, a.same())
	if p.Status != http.StatusConflict {
		t.Errorf("the first confirmation again: %d, want 409", p.Status)
	}
	mustContain(t, p, "This confirmation was already used", "the first press counted")

	// One more page than the bound: the oldest is replaced, and says so.
	a.Clock.Advance(actionDelay + time.Second) // the reboot is done
	oldest := formFields(t, a.confirmPage(c, active[0].ID, "reboot"), path(active[0]))
	for range maxPendingConfirmations {
		a.confirmPage(c, active[0].ID, "power_off")
	}
	p = a.post(c, a.URL+path(active[0]), oldest, a.same())
	if p.Status != http.StatusConflict {
		t.Errorf("a replaced confirmation: %d, want 409", p.Status)
	}
	mustContain(t, p, "This confirmation was replaced", "Nothing was done")
	mustNotContain(t, p, "already used")
	if n := a.Sandbox.Stats().Actions; n != 2 {
		t.Errorf("%d actions after the replaced confirmation, want 2", n)
	}
	// The cookie stays small, whatever is opened.
	for range 3 * maxPendingConfirmations {
		a.confirmPage(c, active[0].ID, "power_off")
	}
	if n := len(a.cookie(c, confirmCookie)); n > 2048 {
		t.Errorf("the confirmation cookie is %d bytes after many pages", n)
	}
}

// TestSecurity33AnAnswerWithoutItsValueNeverInvitesARepeat: DigitalOcean
// (or whatever answers in its place) may say 2xx with a body that is not
// the droplet or the action asked for ({}, null, nothing). After the
// action's POST, which may have acted, that is a 502 that says so and
// offers no "Try again"; on the droplet and progress pages it is a 502,
// never a panic's 500.
func TestSecurity33AnAnswerWithoutItsValueNeverInvitesARepeat(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{}`, `null`, ``, `{"action":null}`, `{"action":{}}`} {
		t.Run("POST "+body, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			c := a.Browser
			connectWrite(a, c)
			d := a.droplets(c)[0]
			confirm := a.confirmPage(c, d.ID, "reboot")
			posts := failingActions(a, http.StatusCreated, nil, body)
			p := a.submit(c, confirm, fmt.Sprintf("/droplets/%d/actions", d.ID))
			if p.Status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502:\n%s", p.Status, p.Body)
			}
			mustContain(t, p, "The action may have started", "do not press the button again", fmt.Sprintf(`href="/droplets/%d"`, d.ID))
			mustNotContain(t, p, "Try again")
			if n := posts.Load(); n != 1 {
				t.Errorf("%d POSTs, want 1", n)
			}
		})
	}
	for _, body := range []string{`{}`, `null`, `{"droplet":null}`, `{"droplet":{"id":0}}`, `{"action":null}`, `{"action":{"id":0}}`} {
		t.Run("GET "+body, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			c := a.Browser
			connectWrite(a, c)
			d := a.droplets(c)[0]
			progress := a.act(c, d.ID, "reboot")
			// The droplet's answer or the action's alone is the empty one
			// (an action's body on a droplet's request reads as empty too).
			only := "/v2/droplets/"
			paths := []string{fmt.Sprintf("/droplets/%d", d.ID), fmt.Sprintf("/droplets/%d/confirm?type=reboot", d.ID), progress.URL.Path}
			if strings.Contains(body, "action") {
				only, paths = "/v2/actions/", []string{progress.URL.Path}
			}
			a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && strings.Contains(r.URL.Path, only) {
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprint(w, body)
					return
				}
				a.Sandbox.ServeHTTP(w, r)
			}))
			for _, path := range paths {
				p := a.get(c, a.URL+path)
				if p.Status != http.StatusBadGateway {
					t.Errorf("%s with %s: status %d, want 502", path, body, p.Status)
				}
				mustContain(t, p, "could not be read")
			}
		})
	}
}
