package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Security tests for creating and destroying droplets
// (handlers/provision.go, handlers/destroy.go), numbered as in
// docs/SECURITY.md.

// noRedirects is c without following redirects, to see a 303 itself.
func noRedirects(c *http.Client) *http.Client {
	nf := *c
	nf.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &nf
}

// confirmations opens, with a read & write session, the confirmation of
// webSpec and of destroying the account's first droplet (its name typed),
// and returns that droplet, the forms' fields and the destroy's path.
func (a *testApp) confirmations(c *http.Client) (d sbDroplet, create, destroy url.Values, destroyPath string) {
	a.t.Helper()
	connectWrite(a, c)
	d = a.droplets(c)[0]
	create = allFields(a.t, a.createConfirm(c, webSpec()), "/droplets")
	destroyPath = fmt.Sprintf("/droplets/%d/destroy", d.ID)
	destroy = allFields(a.t, a.destroyPage(c, d.ID), destroyPath)
	destroy.Set("name", d.Name)
	return d, create, destroy, destroyPath
}

func TestSecurity39CrossSiteCreateAndDestroyAreRefused(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	// Valid confirmations in this browser: only the requests' origin is wrong.
	d, create, destroy, destroyPath := a.confirmations(c)
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
		{"Origin": {"https://evil.example"}},
		{"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://sub.example"}},
	} {
		for _, form := range []struct {
			path   string
			fields url.Values
		}{
			{"/droplets", create},    // the confirmation
			{"/droplets", webSpec()}, // the form
			{destroyPath, destroy},   // the destroy confirmation
			{"/droplets/new/step-up", webSpec()},
			{fmt.Sprintf("/droplets/%d/step-up", d.ID), url.Values{"type": {"destroy"}}},
		} {
			if p := a.post(noRedirects(c), a.URL+form.path, form.fields, h); p.Status != http.StatusForbidden {
				t.Errorf("cross-site POST %s with %v: %d, want 403", form.path, h, p.Status)
			}
		}
	}
	if st := a.Sandbox.Stats(); st.DropletsCreated != 0 || st.DropletsDestroyed != 0 {
		t.Fatalf("cross-site POSTs created %d and destroyed %d droplets", st.DropletsCreated, st.DropletsDestroyed)
	}
	// The step-ups, cross-site, start no login.
	b := newBrowser(t)
	a.connect(b, "approve")
	for _, path := range []string{"/droplets/new/step-up", fmt.Sprintf("/droplets/%d/step-up", d.ID)} {
		p := a.post(noRedirects(b), a.URL+path, with(webSpec(), "type", "destroy"), http.Header{"Origin": {"https://evil.example"}})
		if p.Status != http.StatusForbidden || a.cookie(b, loginCookie) != "" {
			t.Errorf("cross-site step-up %s: %d, login cookie set: %v", path, p.Status, a.cookie(b, loginCookie) != "")
		}
	}
	// The same forms from the app's own pages work.
	if p := a.post(c, a.URL+"/droplets", create, a.same()); p.Status != http.StatusOK || a.Sandbox.Stats().DropletsCreated != 1 {
		t.Errorf("same-origin create: %d, %d created", p.Status, a.Sandbox.Stats().DropletsCreated)
	}
	if p := a.post(c, a.URL+destroyPath, destroy, a.same()); p.URL.Path != "/digitalocean" || a.Sandbox.Stats().DropletsDestroyed != 1 {
		t.Errorf("same-origin destroy: %d at %s, %d destroyed", p.Status, p.URL, a.Sandbox.Stats().DropletsDestroyed)
	}
}

func TestSecurity40NoGETCreatesOrDestroys(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	d, create, destroy, destroyPath := a.confirmations(c)

	// The POST routes refuse GET and HEAD, whatever the query holds.
	for _, u := range []string{
		"/droplets?" + create.Encode(),
		"/droplets?" + webSpec().Encode(),
		"/droplets/new/step-up?" + webSpec().Encode(),
		fmt.Sprintf("/droplets/%d/step-up?type=destroy", d.ID),
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, a.URL+u, nil)
			resp, err := noRedirects(c).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, u, resp.StatusCode)
			}
		}
	}
	if a.cookie(c, loginCookie) != "" {
		t.Error("a GET started a step-up")
	}
	// The GET pages only show, even with a confirmation in their query.
	for _, u := range []string{
		"/droplets/new?" + webSpec().Encode(),
		"/droplets/new/confirm?" + webSpec().Encode(),
		destroyPath + "?" + destroy.Encode(),
		destroyPath,
	} {
		if p := a.get(noRedirects(c), a.URL+u); p.Status != http.StatusOK && p.Status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want the page (or a 400 for fields it does not take)", u, p.Status)
		}
	}
	if p := a.get(c, a.URL+destroyPath); p.Status != http.StatusOK || !strings.Contains(p.Body, `name="expect"`) {
		t.Errorf("GET %s: %d, want the destroy page", destroyPath, p.Status)
	}
	if st := a.Sandbox.Stats(); st.DropletsCreated != 0 || st.DropletsDestroyed != 0 || a.dropletStatus(c, d.ID) == "gone" {
		t.Errorf("GETs created %d and destroyed %d droplets", st.DropletsCreated, st.DropletsDestroyed)
	}
	// The forms themselves still work.
	a.create(c, webSpec())
	if n := a.Sandbox.Stats().DropletsCreated; n != 1 {
		t.Errorf("the create confirmation created %d droplets", n)
	}
}

// TestSecurity41ConfirmationIsForOneDropletOnce: a create's confirmation
// creates exactly the droplet its page showed, once: any field changed
// after it was shown (the name, the region, the size, the image, a key
// added or taken away, the tags) is refused. A destroy's confirmation
// destroys only the droplet it was shown for, only when its name is
// typed, and once.
func TestSecurity41ConfirmationIsForOneDropletOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	fields := allFields(t, a.createConfirm(c, webSpec()), "/droplets")
	u := mustParse(t, a.URL)
	cookies := c.Jar.Cookies(u)
	// Each try from a copy of this browser, so that none spends the
	// original's confirmation.
	copyOf := func() *http.Client {
		b := newBrowser(t)
		b.Jar.SetCookies(u, cookies)
		return b
	}
	for name, changed := range map[string]url.Values{
		"another name":    with(fields, "name", "web-evil"),
		"another region":  with(fields, "region", "sfo3"),
		"a larger size":   with(fields, "size", "m-4vcpu-32gb"),
		"another image":   with(fields, "image", "debian-12-x64"),
		"one more key":    func() url.Values { v := with(fields, "ssh_keys", laptopKey); v.Add("ssh_keys", ciKey); return v }(),
		"no key":          with(fields, "ssh_keys", ""),
		"other tags":      with(fields, "tags", "web prod admin"),
		"no tags":         with(fields, "tags", ""),
		"a forged token":  with(fields, "confirm", strings.Repeat("A", len(fields.Get("confirm")))),
		"the spec's hash": with(fields, "confirm", dropletSpecHash(t, fields)),
	} {
		p := a.post(copyOf(), a.URL+"/droplets", changed, a.same())
		if p.Status != http.StatusConflict {
			t.Errorf("%s: %d, want 409", name, p.Status)
		}
	}
	// The same tags in another order, or the same key twice, are the same droplet.
	same := with(fields, "tags", "prod, web")
	same.Add("ssh_keys", laptopKey)
	if p := a.post(copyOf(), a.URL+"/droplets", same, a.same()); p.Status != http.StatusOK || a.Sandbox.Stats().DropletsCreated != 1 {
		t.Fatalf("the confirmed droplet, written another way: %d, %d created\n%s", p.Status, a.Sandbox.Stats().DropletsCreated, p.Body)
	}
	// Once: again from the browser that used it, refused.
	if p := a.post(c, a.URL+"/droplets", fields, a.same()); p.Status != http.StatusOK {
		t.Fatalf("the confirmation: %d", p.Status)
	}
	if p := a.post(c, a.URL+"/droplets", fields, a.same()); p.Status != http.StatusConflict || !strings.Contains(p.Body, "already used") {
		t.Errorf("the confirmation again: %d, want 409", p.Status)
	}
	if n := a.Sandbox.Stats().DropletsCreated; n != 1 {
		t.Errorf("%d droplets created, want 1 (the copy's and the browser's submissions share one POST)", n)
	}

	// Destroy: the confirmation of one droplet's page, with its name typed.
	ds := a.droplets(c)
	first, second := ds[0], ds[1]
	path := func(d sbDroplet) string { return fmt.Sprintf("/droplets/%d/destroy", d.ID) }
	confirm := allFields(t, a.destroyPage(c, first.ID), path(first))
	cookies = c.Jar.Cookies(u)
	for name, send := range map[string]func() page{
		"another droplet": func() page {
			return a.post(copyOf(), a.URL+path(second), with(confirm, "name", first.Name), a.same())
		},
		"another droplet, its name": func() page {
			return a.post(copyOf(), a.URL+path(second), with(with(confirm, "expect", second.Name), "name", second.Name), a.same())
		},
		"another expected name, typed": func() page {
			return a.post(copyOf(), a.URL+path(first), with(with(confirm, "expect", "x"), "name", "x"), a.same())
		},
		"no name typed": func() page {
			return a.post(copyOf(), a.URL+path(first), confirm, a.same())
		},
		"a wrong name": func() page {
			return a.post(copyOf(), a.URL+path(first), with(confirm, "name", strings.ToUpper(first.Name)), a.same())
		},
		"no confirmation": func() page {
			return a.post(copyOf(), a.URL+path(first), with(with(confirm, "confirm", ""), "name", first.Name), a.same())
		},
	} {
		p := send()
		if p.Status != http.StatusConflict && p.Status != http.StatusUnprocessableEntity && p.Status != http.StatusBadRequest {
			t.Errorf("%s: %d, want it refused", name, p.Status)
		}
		if strings.Contains(name, "name") && p.Status == http.StatusUnprocessableEntity && !strings.Contains(p.Body, "so nothing was destroyed") {
			t.Errorf("%s: the page does not say that nothing was destroyed", name)
		}
	}
	if n := a.Sandbox.Stats().DropletsDestroyed; n != 0 || a.dropletStatus(c, first.ID) == "gone" || a.dropletStatus(c, second.ID) == "gone" {
		t.Fatalf("%d droplets destroyed by refused confirmations", n)
	}
	if p := a.post(c, a.URL+path(first), with(confirm, "name", first.Name), a.same()); p.URL.Path != "/digitalocean" {
		t.Fatalf("the destroy confirmation: %d at %s", p.Status, p.URL)
	}
	if p := a.post(c, a.URL+path(first), with(confirm, "name", first.Name), a.same()); p.Status != http.StatusConflict {
		t.Errorf("the destroy confirmation again: %d, want 409", p.Status)
	}
	if n := a.Sandbox.Stats().DropletsDestroyed; n != 1 || a.dropletStatus(c, second.ID) == "gone" {
		t.Errorf("%d destroyed, want only %s", n, first.Name)
	}
}

// dropletSpecHash is the hash the confirmation's purpose holds for the
// form's fields: not a token, however it is sent.
func dropletSpecHash(t *testing.T, fields url.Values) string {
	t.Helper()
	f, err := parseCreateForm(fields, "confirm")
	if err != nil {
		t.Fatal(err)
	}
	return f.spec().hash()
}

// TestSecurity42DoubleSubmitCreatesOneDropletAndDestroysOnce: a double
// click sends the confirmation twice at once, with the same cookie and
// form; both requests pass the cookie's check, and doclient's memory of
// the one-time key makes them share one POST /v2/droplets (and one
// DELETE), so one droplet is created (destroyed once).
func TestSecurity42DoubleSubmitCreatesOneDropletAndDestroysOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	u := mustParse(t, a.URL)
	twice := func(path string, fields url.Values) [2]string {
		cookies := c.Jar.Cookies(u)
		var wg sync.WaitGroup
		var landed [2]string
		for i := range landed {
			b := newBrowser(t)
			b.Jar.SetCookies(u, cookies)
			wg.Go(func() {
				p := a.post(b, a.URL+path, fields, a.same())
				landed[i] = fmt.Sprint(p.Status, " ", p.URL.Path)
			})
		}
		wg.Wait()
		return landed
	}
	landed := twice("/droplets", allFields(t, a.createConfirm(c, webSpec()), "/droplets"))
	if n := a.Sandbox.Stats().DropletsCreated; n != 1 {
		t.Fatalf("a double-submitted confirmation created %d droplets", n)
	}
	if landed[0] != landed[1] || !strings.HasPrefix(landed[0], "200 /droplets/") {
		t.Errorf("the two submissions landed on %q and %q, want the same droplet's page", landed[0], landed[1])
	}
	id := strings.TrimPrefix(strings.TrimPrefix(landed[0], "200 "), "/droplets/")

	path := "/droplets/" + id + "/destroy"
	fields := allFields(t, a.get(c, a.URL+path), path)
	fields.Set("name", "web-new")
	landed = twice(path, fields)
	if n := a.Sandbox.Stats().DropletsDestroyed; n != 1 {
		t.Fatalf("a double-submitted destroy sent %d DELETEs that destroyed", n)
	}
	if landed[0] != landed[1] || landed[0] != "200 /digitalocean" {
		t.Errorf("the two submissions landed on %q and %q, want the list, both", landed[0], landed[1])
	}
}

// TestSecurity43StepUpKeepsABoundedDropletAndCreatesNothing: the droplet
// a step-up is for waits in the login cookie only if it passes the form's
// rules, which bound it (the cookie stays under 4 KB even at their
// limits); the callback shows its confirmation and creates nothing.
func TestSecurity43StepUpKeepsABoundedDropletAndCreatesNothing(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	a.connect(c, "approve")

	// Past the form's rules: no login, back to the form, which says why.
	for name, spec := range map[string]url.Values{
		"a long name":                 with(webSpec(), "name", strings.Repeat("a", 4000)),
		"many tags":                   with(webSpec(), "tags", strings.Repeat("tag ", 1000)),
		"a name DigitalOcean refuses": with(webSpec(), "name", "<script>"),
	} {
		p := a.post(noRedirects(c), a.URL+"/droplets/new/step-up", spec, a.same())
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/droplets/new?") || a.cookie(c, loginCookie) != "" {
			t.Errorf("%s: %d to %q, login cookie set: %v", name, p.Status, p.Header.Get("Location"), a.cookie(c, loginCookie) != "")
		}
	}
	// At the rules' limits the droplet survives the round trip whole.
	big := with(with(webSpec(), "name", strings.Repeat("a", maxDropletName)), "tags", strings.TrimSpace(strings.Repeat("abcdefghijklmnopqrstuvwx ", maxCreateTags)))
	big["ssh_keys"] = []string{laptopKey, ciKey}
	step := a.createConfirm(c, big)
	confirm := a.stepUpAt(c, step, "/droplets/new/step-up", "approve", "")
	if confirm.URL.Path != "/droplets/new/confirm" || !strings.Contains(confirm.Body, `name="confirm"`) {
		t.Fatalf("after the step-up: %s (%d)", confirm.URL, confirm.Status)
	}
	if got := dropletSpecOfPage(t, confirm); got.hash() != dropletSpecHash(t, big) {
		t.Errorf("the droplet changed on its way through the login cookie: %+v", got)
	}
	if n := a.Sandbox.Stats().DropletsCreated; n != 0 {
		t.Errorf("the step-up created %d droplets", n)
	}
}

// dropletSpecOfPage is the spec a create confirmation page's form carries.
func dropletSpecOfPage(t *testing.T, p page) dropletSpec {
	t.Helper()
	f, err := parseCreateForm(allFields(t, p, "/droplets"), "confirm")
	if err != nil {
		t.Fatal(err)
	}
	return f.spec()
}
