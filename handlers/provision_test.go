package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The sandbox's default account, as the create form offers it.
const (
	laptopKey = "41520173" // "Sammy's laptop"
	ciKey     = "41520974" // "CI deploy key"
)

// webSpec is a droplet the default sandbox account can create: the form's
// fields as a browser sends them.
func webSpec() url.Values {
	return url.Values{"name": {"web-new"}, "region": {"nyc3"}, "size": {"s-1vcpu-1gb"},
		"image": {"ubuntu-24-04-x64"}, "ssh_keys": {laptopKey}, "tags": {"web prod"}}
}

// with returns spec with field set to value ("" removes it).
func with(spec url.Values, field, value string) url.Values {
	out := url.Values{}
	for k, v := range spec {
		out[k] = append([]string(nil), v...)
	}
	if value == "" {
		out.Del(field)
	} else {
		out.Set(field, value)
	}
	return out
}

// sendCreateForm sends the create form with spec, as its Create
// droplet… button does, and returns where the browser lands.
func (a *testApp) sendCreateForm(c *http.Client, spec url.Values) page {
	a.t.Helper()
	return a.post(c, a.URL+"/droplets", spec, a.same())
}

// createConfirm sends the form and returns the confirmation (with a
// read & write session) or the step-up page (read-only).
func (a *testApp) createConfirm(c *http.Client, spec url.Values) page {
	a.t.Helper()
	p := a.sendCreateForm(c, spec)
	if p.Status != http.StatusOK || p.URL.Path != "/droplets/new/confirm" {
		a.t.Fatalf("the create form led to %s (%d), want its confirmation:\n%s", p.URL, p.Status, p.Body)
	}
	return p
}

// create confirms spec and returns the new droplet's page.
func (a *testApp) create(c *http.Client, spec url.Values) page {
	a.t.Helper()
	p := a.post(c, a.URL+"/droplets", allFields(a.t, a.createConfirm(c, spec), "/droplets"), a.same())
	if p.Status != http.StatusOK || idOf(p) == 0 {
		a.t.Fatalf("confirming the create led to %s (%d):\n%s", p.URL, p.Status, p.Body)
	}
	return p
}

// idOf is the droplet ID in a droplet page's address (0 if it is not one).
func idOf(p page) int {
	id, err := strconv.Atoi(strings.TrimPrefix(p.URL.Path, "/droplets/"))
	if err != nil {
		return 0
	}
	return id
}

// destroyPage opens droplet id's destroy page (read & write session).
func (a *testApp) destroyPage(c *http.Client, id int) page {
	a.t.Helper()
	p := a.get(c, fmt.Sprintf("%s/droplets/%d/destroy", a.URL, id))
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="expect"`) {
		a.t.Fatalf("the destroy page of %d: %d\n%s", id, p.Status, p.Body)
	}
	return p
}

// destroy sends destroy page p with typed as the name.
func (a *testApp) destroy(c *http.Client, p page, id int, typed string) page {
	a.t.Helper()
	path := fmt.Sprintf("/droplets/%d/destroy", id)
	fields := allFields(a.t, p, path)
	fields.Set("name", typed)
	return a.post(c, a.URL+path, fields, a.same())
}

// sandboxCreate creates a droplet straight at the sandbox with the
// session's token, as another app (or the control panel) would.
func (a *testApp) sandboxCreate(c *http.Client, name string) int {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "region": "nyc3", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"})
	req, _ := http.NewRequest(http.MethodPost, a.SBURL+"/v2/droplets", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.session(c).AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var created struct{ Droplet sbDroplet }
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusAccepted {
		a.t.Fatalf("creating %s at the sandbox: %d, %v", name, resp.StatusCode, err)
	}
	return created.Droplet.ID
}

// connectAs connects with read & write access as one of the sandbox's
// accounts, chosen on its consent page.
func (a *testApp) connectAs(c *http.Client, account string) {
	a.t.Helper()
	consent := a.get(c, a.URL+"/connect?access=write&account=select")
	action, fields := consentForm(a.t, consent)
	fields.Set("decision", "approve")
	fields.Set("account", account)
	if p := a.post(c, action, fields, http.Header{"Origin": {a.SBURL}}); p.Status != http.StatusOK {
		a.t.Fatalf("connecting as %s: %d", account, p.Status)
	}
}

var ipv4RE = regexp.MustCompile(`<code>\d+\.\d+\.\d+\.\d+</code>`)

// The form's choices come from the API: the regions open to new droplets
// (not the closed one), the sizes offered in the chosen region with their
// price (a GET round trip changes the region), the distribution images by
// distribution, the account's SSH keys. Its calls are in the flow record.
func TestCreateFormChoicesFromTheAPI(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	a.connect(c, "approve")
	list := a.get(c, a.URL+"/digitalocean")
	mustContain(t, list, `href="/droplets/new"`, "Create droplet")

	form := a.get(c, a.URL+"/droplets/new")
	if form.Status != http.StatusOK {
		t.Fatalf("GET /droplets/new: %d", form.Status)
	}
	mustContain(t, form, "Create a droplet",
		`<option value="nyc1" selected>New York 1 (nyc1)</option>`, `<option value="nyc3">New York 3 (nyc3)</option>`, `<option value="syd1">Sydney 1 (syd1)</option>`,
		`formaction="/droplets/new"`, "Show sizes in this region", "The sizes offered in New York 1",
		`<option value="s-1vcpu-512mb-10gb">s-1vcpu-512mb-10gb: 1 vCPU, 512 MB, 10 GB disk · $4.00 a month</option>`,
		`<option value="s-1vcpu-1gb">s-1vcpu-1gb: 1 vCPU, 1 GB, 25 GB disk · $6.00 a month</option>`,
		`<option value="s-8vcpu-16gb">`, `<optgroup label="Ubuntu"><option value="ubuntu-24-04-x64">Ubuntu 24.04 (LTS) x64</option>`,
		`<optgroup label="Rocky Linux">`, `value="`+laptopKey+`"> Sammy&#39;s laptop`, `value="`+ciKey+`"> CI deploy key`,
		"Creating needs read &amp; write access")
	mustNotContain(t, form, "nyc2", "New York 2", // closed to new droplets
		"s-1vcpu-3gb",                   // retired
		"so-2vcpu-16gb", "m-4vcpu-32gb", // not offered in nyc1
		"Docker on Ubuntu") // a 1-Click image, not a distribution

	// Another region, by a GET round trip that keeps what was typed.
	sgp := a.get(c, a.URL+"/droplets/new?"+url.Values{"region": {"sgp1"}, "name": {"my-web"}, "tags": {"a b"}, "ssh_keys": {ciKey}, "image": {"debian-12-x64"}}.Encode())
	mustContain(t, sgp, `<option value="sgp1" selected>`, "The sizes offered in Singapore 1", `<option value="s-8vcpu-16gb">`, `<option value="c-8">`,
		`value="my-web"`, `value="a b"`, `value="`+ciKey+`" checked>`, `<option value="debian-12-x64" selected>`)
	mustNotContain(t, sgp, `<option value="s-1vcpu-512mb-10gb">`, `<option value="g-4vcpu-16gb">`, `value="`+laptopKey+`" checked`)
	blr := a.get(c, a.URL+"/droplets/new?region=blr1&size=s-8vcpu-16gb")
	mustContain(t, blr, "The sizes offered in Bangalore 1", `<option value="s-1vcpu-1gb">`)
	mustNotContain(t, blr, `value="s-8vcpu-16gb"`, "field-error") // not offered there: not chosen, and no word about it yet

	// What was typed is checked on the way, beside its field.
	typed := a.get(c, a.URL+"/droplets/new?name=web_1&tags=ok,no%21")
	mustContain(t, typed, `<p class="field-error" id="name-error">Only letters (a-z, A-Z), digits, dots and dashes, as in a hostname: &#39;_&#39; is not allowed.</p>`,
		`id="tags-error">Tags may hold only letters, digits, colons, dashes and underscores: &#34;no!&#34; is not a tag name.`, `aria-invalid="true"`)

	// Four API calls, recorded like the others.
	mustContain(t, form, "How this worked")
	mustContain(t, a.get(c, a.URL+"/how-this-worked"), "GET /v2/regions?page=1&amp;per_page=200", "GET /v2/sizes?page=1&amp;per_page=200",
		"GET /v2/images?page=1&amp;per_page=200&amp;type=distribution", "GET /v2/account/keys?page=1&amp;per_page=200")
	if n := a.Sandbox.Stats().DropletsCreated; n != 0 {
		t.Errorf("showing the form created %d droplets", n)
	}

	// Addresses no form of the app makes are a 400 that says which field.
	for query, want := range map[string]string{
		"colour=blue":                       "an unknown field (the form&#39;s fields are name, region, size, image, ssh_keys and tags)",
		"region=nyc1&region=nyc3":           "the field &#34;region&#34; more than once",
		"size=S_1":                          "a size that is not a slug such as s-1vcpu-1gb",
		"region=" + strings.Repeat("a", 65): "a region that is not a slug",
		"ssh_keys=laptop":                   "an SSH key that is not a key ID",
		"ssh_keys=007":                      "an SSH key that is not a key ID",
	} {
		p := a.get(c, a.URL+"/droplets/new?"+query)
		if p.Status != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", query, p.Status)
		}
		mustContain(t, p, want)
	}
	mustNotContain(t, a.get(c, a.URL+"/droplets/new?colour=blue"), "colour")

	// Not connected: to the index, which says why.
	b := newBrowser(t)
	if p := a.get(b, a.URL+"/droplets/new"); p.URL.Path != "/" || !strings.Contains(p.Body, "Connect your DigitalOcean account to create a droplet") {
		t.Errorf("the form without a session: %s (%d)", p.URL, p.Status)
	}
}

// The form sent with mistakes comes back (422) with a word beside each
// field that is wrong and everything kept; nothing is created.
func TestCreateFormSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	for _, tc := range []struct {
		name  string
		spec  url.Values
		id    string // the field's error element
		words string
	}{
		{"no name", with(webSpec(), "name", ""), "name-error", "Give the droplet a name."},
		{"a space", with(webSpec(), "name", "my web"), "name-error", "a space is not allowed"},
		{"too long", with(webSpec(), "name", strings.Repeat("a", 256)), "name-error", "At most 255 characters; this name has 256."},
		{"a dash last", with(webSpec(), "name", "web-"), "name-error", "cannot start or end with a dot or a dash"},
		{"no size", with(webSpec(), "size", ""), "size-error", "Choose a size."},
		{"a size not in the region", with(with(webSpec(), "region", "nyc1"), "size", "m-4vcpu-32gb"), "size-error", "m-4vcpu-32gb is not offered in New York 1"},
		{"a retired size", with(webSpec(), "size", "s-1vcpu-3gb"), "size-error", "no longer offers the size s-1vcpu-3gb"},
		{"the closed region", with(webSpec(), "region", "nyc2"), "region-error", "New York 2 is closed to new droplets"},
		{"an unknown region", with(webSpec(), "region", "mars1"), "region-error", "DigitalOcean has no region mars1"},
		{"an unknown image", with(webSpec(), "image", "plan9-x64"), "image-error", "not among DigitalOcean&#39;s distribution images"},
		{"another account's key", with(webSpec(), "ssh_keys", "43077112"), "", "One of the ticked keys is no longer in your account"},
		{"a bad tag", with(webSpec(), "tags", "web pr@d"), "tags-error", "&#34;pr@d&#34; is not a tag name"},
		{"too many tags", with(webSpec(), "tags", "a b c d e f g h i j k"), "tags-error", "At most 10 tags; there are 11."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := a.sendCreateForm(c, tc.spec)
			if p.Status != http.StatusUnprocessableEntity || p.URL.Path != "/droplets" {
				t.Fatalf("%d at %s, want the form again (422)", p.Status, p.URL)
			}
			mustContain(t, p, "Create a droplet", "cannot be created as it is", tc.words, `value="`+tc.spec.Get("name")+`"`)
			if tc.id != "" {
				mustContain(t, p, `id="`+tc.id+`">`)
			}
		})
	}
	// The same checks on the confirmation's address, edited by hand.
	p := a.get(c, a.URL+"/droplets/new/confirm?"+with(with(webSpec(), "region", "nyc1"), "size", "m-4vcpu-32gb").Encode())
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "is not offered in New York 1") || strings.Contains(p.Body, `name="confirm"`) {
		t.Errorf("a confirmation for a size not in the region: %d", p.Status)
	}
	if n := a.Sandbox.Stats().DropletsCreated; n != 0 {
		t.Errorf("%d droplets created", n)
	}
}

// The story: connect read-only, fill in the form, be asked for
// read & write, approve, see the price, confirm, and watch the droplet
// become active with an IP address.
func TestStepUpThenConfirmThenCreate(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	a.connect(c, "approve")
	spec := with(webSpec(), "ssh_keys", "")
	spec["ssh_keys"] = []string{laptopKey, ciKey}

	step := a.createConfirm(c, spec)
	mustContain(t, step, "This needs read &amp; write access", "To create <strong>web-new</strong> ($6.00 a month)", `action="/droplets/new/step-up"`, "Connect with read &amp; write access")
	mustNotContain(t, step, `name="confirm"`)

	confirm := a.stepUpAt(c, step, "/droplets/new/step-up", "approve", "")
	if confirm.Status != http.StatusOK || confirm.URL.Path != "/droplets/new/confirm" {
		t.Fatalf("after the step-up the browser is at %s (%d), want the create's confirmation", confirm.URL, confirm.Status)
	}
	mustContain(t, confirm, "Create web-new?", "This costs money.", "<strong>$6.00 a month</strong> ($0.00893 an hour)",
		"until you destroy it", "New York 3 (nyc3)", "s-1vcpu-1gb: 1 vCPU, 1 GB, 25 GB disk", "Ubuntu 24.04 (LTS) x64",
		"Sammy&#39;s laptop, CI deploy key", `<span class="tag">prod</span> <span class="tag">web</span>`,
		"Create web-new for $6.00 a month", `name="confirm"`)
	if !canWrite(a.session(c).Scope) {
		t.Fatal("the step-up did not give the session write access")
	}
	if n := a.Sandbox.Stats().DropletsCreated; n != 0 {
		t.Fatalf("%d droplets created before the confirmation: the callback acted", n)
	}

	created := a.post(c, a.URL+"/droplets", allFields(t, confirm, "/droplets"), a.same())
	id := idOf(created)
	if created.Status != http.StatusOK || id == 0 {
		t.Fatalf("the confirmation led to %s (%d)", created.URL, created.Status)
	}
	mustContain(t, created, "web-new", "DigitalOcean accepted the request and is creating web-new", "billed from now until you destroy it",
		`status-new">new</span>`, "DigitalOcean is creating this droplet", metaRefresh, "none yet")
	if n := a.Sandbox.Stats().DropletsCreated; n != 1 {
		t.Fatalf("%d droplets created, want 1", n)
	}
	// A reload while it is being created is only a reload.
	mustContain(t, a.get(c, created.URL.String()), metaRefresh, `status-new">new</span>`)

	a.Clock.Advance(actionDelay + time.Second)
	active := a.get(c, created.URL.String())
	mustContain(t, active, `status-active">active</span>`, `<span class="tag">web</span>`, `<span class="tag">prod</span>`)
	mustNotContain(t, active, metaRefresh, "DigitalOcean is creating this droplet")
	if !ipv4RE.MatchString(active.Body) {
		t.Error("the active droplet's page shows no IPv4 address")
	}
	if n := a.Sandbox.Stats().DropletsCreated; n != 1 {
		t.Errorf("%d droplets created after the reloads, want 1", n)
	}

	// It is in the list. The view after the step-up told the step-up's
	// story, and the record has the POST.
	list := a.get(c, a.URL+"/digitalocean")
	mustContain(t, list, fmt.Sprintf(`<a href="/droplets/%d">web-new</a>`, id))
	mustContain(t, created, "step-up to read &amp; write", "create droplet web-new")
	mustContain(t, a.get(c, a.URL+"/how-this-worked"), "POST /v2/droplets", "202 Accepted")
}

// Denying the step-up keeps the read-only session and goes back to the
// form, with everything kept.
func TestDeniedCreateStepUpGoesBackToTheForm(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	a.connect(c, "approve")
	p := a.stepUpAt(c, a.createConfirm(c, webSpec()), "/droplets/new/step-up", "deny", "")
	if p.Status != http.StatusOK || p.URL.Path != "/droplets/new" {
		t.Fatalf("after denying, the browser is at %s (%d)", p.URL, p.Status)
	}
	mustContain(t, p, "You did not grant read &amp; write access", `value="web-new"`, `<option value="nyc3" selected>`, `value="prod web"`, `value="`+laptopKey+`" checked>`)
	if canWrite(a.session(c).Scope) || a.Sandbox.Stats().DropletsCreated != 0 {
		t.Error("the denied step-up changed the session or created a droplet")
	}
}

// failingCreates answers every POST /v2/droplets and DELETE
// /v2/droplets/{id} with status and body, counting them, and lets
// everything else through to the sandbox.
func failingCreates(a *testApp, status int, header http.Header, body string) *atomic.Int32 {
	return failing(a, func(r *http.Request) bool {
		return (r.Method == http.MethodPost && r.URL.Path == "/v2/droplets") || r.Method == http.MethodDelete
	}, status, header, body)
}

// Every way a create can fail, each in words: a refusal (nothing was
// created: what to change, back to the form with the values kept); 403
// (the step-up); 429 (when to try again); a failure after which the
// droplet may exist (how to check: the list filtered by its name). None
// offers "Try again", and the POST is sent once.
func TestCreateFailurePages(t *testing.T) {
	t.Parallel()
	back := formLink(webSpec())
	look := `href="/digitalocean?name=web-new"`
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   int
		words  []string
	}{
		{"422 bad name", 422, nil, `{"id":"unprocessable_entity","message":"Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)"}`, 422,
			[]string{"DigitalOcean did not create the droplet", "DigitalOcean says: “Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)”", "Nothing was created.", "Change the name.", back, "Back to the form"}},
		{"403 forbidden", 403, nil, `{"id":"forbidden","message":"You do not have access for the attempted action."}`, 403,
			[]string{"This needs read &amp; write access", "DigitalOcean refused to create web-new", "Nothing was done", `action="/droplets/new/step-up"`}},
		{"429", 429, http.Header{"Retry-After": {"30"}}, `{"id":"too_many_requests","message":"API Rate limit exceeded."}`, 503,
			[]string{"nothing was created", "Try again at", "30 seconds", back}},
		{"500", 500, nil, `{"id":"server_error","message":"Server Error"}`, 502,
			[]string{"may or may not have been created", "Do not send the form again", "filtered by the name web-new", look, "Look for web-new"}},
		{"202 without the droplet", 202, nil, `{}`, 502,
			[]string{"did not say which droplet it created", "may or may not have been created", look}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			c := a.Browser
			connectWrite(a, c)
			confirm := a.createConfirm(c, webSpec())
			posts := failingCreates(a, tc.status, tc.header, tc.body)
			p := a.post(c, a.URL+"/droplets", allFields(t, confirm, "/droplets"), a.same())
			if p.Status != tc.want {
				t.Errorf("status %d, want %d:\n%s", p.Status, tc.want, p.Body)
			}
			mustContain(t, p, tc.words...)
			mustNotContain(t, p, ">Try again</a>")
			if n := posts.Load(); n != 1 {
				t.Errorf("POST /v2/droplets was sent %d times, want once (never retried)", n)
			}
			if tc.status == 429 && p.Header.Get("Retry-After") != "30" {
				t.Errorf("Retry-After %q", p.Header.Get("Retry-After"))
			}
			if a.session(c) == nil {
				t.Error("the failure ended the session")
			}
			if tc.status == 403 {
				a.SetUpstream(a.Sandbox)
				if p := a.stepUpAt(c, p, "/droplets/new/step-up", "approve", ""); p.URL.Path != "/droplets/new/confirm" {
					t.Errorf("the step-up after a 403 led to %s (%d)", p.URL, p.Status)
				}
			}
		})
	}
}

// formLink is the link back to the create form with the values v, as
// html/template writes it in an href.
func formLink(v url.Values) string {
	f, err := parseCreateForm(v)
	if err != nil {
		panic(err)
	}
	return `href="/droplets/new?` + strings.NewReplacer("&", "&amp;", "+", "&#43;").Replace(f.spec().query()) + `"`
}

func TestCreateTimeoutSaysHowToCheck(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	useTimeout(t, a, faultTimeout)
	c := a.Browser
	connectWrite(a, c)
	confirm := a.createConfirm(c, webSpec())
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var posts atomic.Int32
	a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
			select { // slower than the client's timeout
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		a.Sandbox.ServeHTTP(w, r)
	}))
	p := a.post(c, a.URL+"/droplets", allFields(t, confirm, "/droplets"), a.same())
	if p.Status != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", p.Status)
	}
	mustContain(t, p, "did not answer in time", "may or may not have been created", `href="/digitalocean?name=web-new"`)
	mustNotContain(t, p, ">Try again</a>")
	if n := posts.Load(); n != 1 {
		t.Errorf("%d POSTs, want 1", n)
	}
}

// catalogChanged serves the sandbox with its catalogue changed, as
// DigitalOcean's can change between the form and the confirmation: the
// smallest size said to be offered in sgp1 too, and an image that does
// not exist. The sandbox itself then refuses the create.
func catalogChanged(a *testApp) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || (r.URL.Path != "/v2/sizes" && r.URL.Path != "/v2/images") {
			a.Sandbox.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		a.Sandbox.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			a.t.Error(err)
		}
		if sizes, ok := body["sizes"].([]any); ok {
			for _, z := range sizes {
				if z := z.(map[string]any); z["slug"] == "s-1vcpu-512mb-10gb" {
					z["regions"] = append(z["regions"].([]any), "sgp1")
				}
			}
		}
		if images, ok := body["images"].([]any); ok {
			body["images"] = append(images, map[string]any{"id": 1, "name": "4 x64", "distribution": "Plan 9", "slug": "plan9-4-x64", "min_disk_size": 1})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
}

// DigitalOcean's own refusals, from the sandbox: a size not offered in
// the region, an image it does not have (each listed when the form was
// shown), and the account's droplet limit. Each says DigitalOcean's words
// and what to change; nothing is created.
func TestCreateRefusedByDigitalOcean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, field, value, says, change string
	}{
		{"size not in region", "region", "sgp1", "Size is not available in this region.", "Choose another size"},
		{"unknown image", "image", "plan9-4-x64", "You specified an invalid image for Droplet creation.", "Choose another image."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			c := a.Browser
			connectWrite(a, c)
			spec := with(with(webSpec(), "size", "s-1vcpu-512mb-10gb"), tc.field, tc.value)
			a.SetUpstream(catalogChanged(a))
			confirm := a.createConfirm(c, spec)
			a.SetUpstream(a.Sandbox)
			p := a.post(c, a.URL+"/droplets", allFields(t, confirm, "/droplets"), a.same())
			if p.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422:\n%s", p.Status, p.Body)
			}
			mustContain(t, p, "DigitalOcean says: “"+tc.says+"”", "Nothing was created.", tc.change, "Back to the form",
				formLink(spec))
			if n := a.Sandbox.Stats().DropletsCreated; n != 0 {
				t.Errorf("%d droplets created", n)
			}
		})
	}

	t.Run("droplet limit", func(t *testing.T) {
		t.Parallel()
		a := newTestApp(t)
		c := a.Browser
		other := a.Sandbox.Accounts()[1] // a limit of 10, with 5 droplets
		a.connectAs(c, other.UUID)
		for i := range 5 {
			a.sandboxCreate(c, fmt.Sprintf("lab-%d", i))
		}
		spec := with(webSpec(), "ssh_keys", "43077112") // Octavia's workstation
		p := a.post(c, a.URL+"/droplets", allFields(t, a.createConfirm(c, spec), "/droplets"), a.same())
		if p.Status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422:\n%s", p.Status, p.Body)
		}
		mustContain(t, p, "DigitalOcean says: “creating this/these droplet(s) will exceed your droplet limit”", "Nothing was created.",
			"destroy one you no longer need, or ask DigitalOcean to raise the limit")
		if n := a.Sandbox.Stats().DropletsCreated; n != 5 {
			t.Errorf("%d droplets created, want the 5 made beforehand", n)
		}
	})
}

// Destroy: the page asks for the droplet's name; a wrong one is refused
// with the page again and nothing done; the right one destroys it (one
// DELETE), and the list no longer shows it.
func TestDestroyWithTheTypedName(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	d := a.droplets(c)[0]
	detail := a.get(c, fmt.Sprintf("%s/droplets/%d", a.URL, d.ID))
	mustContain(t, detail, fmt.Sprintf(`href="/droplets/%d/destroy"`, d.ID), "Destroy "+d.Name+"…")

	page := a.destroyPage(c, d.ID)
	mustContain(t, page, "Destroy "+d.Name+"?", "This cannot be undone.", "type the droplet's name, <strong>"+d.Name+"</strong>", `name="confirm"`)
	wrong := a.destroy(c, page, d.ID, d.Name+"x")
	if wrong.Status != http.StatusUnprocessableEntity {
		t.Errorf("a wrong name: %d, want 422", wrong.Status)
	}
	mustContain(t, wrong, "You typed “"+d.Name+"x”, which is not this droplet's name, so nothing was destroyed.", `name="confirm"`)
	if a.Sandbox.Stats().DropletsDestroyed != 0 || a.dropletStatus(c, d.ID) == "gone" {
		t.Fatal("a wrong name destroyed the droplet")
	}
	// A wrong name spends nothing: the page came again with the same
	// confirmation, which then works once.
	if formFields(t, wrong, fmt.Sprintf("/droplets/%d/destroy", d.ID)).Get("confirm") != formFields(t, page, fmt.Sprintf("/droplets/%d/destroy", d.ID)).Get("confirm") {
		t.Error("the page after a wrong name carries another confirmation")
	}
	done := a.destroy(c, wrong, d.ID, " "+d.Name+" ")
	if done.Status != http.StatusOK || done.URL.Path != "/digitalocean" {
		t.Fatalf("the destroy led to %s (%d)", done.URL, done.Status)
	}
	mustContain(t, done, "Destroyed "+d.Name+": DigitalOcean deleted the droplet and its disk, and no longer bills it.")
	mustNotContain(t, done, fmt.Sprintf(`href="/droplets/%d"`, d.ID))
	if n := a.Sandbox.Stats().DropletsDestroyed; n != 1 || a.dropletStatus(c, d.ID) != "gone" {
		t.Errorf("%d destroyed, the droplet is %s", n, a.dropletStatus(c, d.ID))
	}
	mustContain(t, a.get(c, a.URL+"/how-this-worked"), fmt.Sprintf("DELETE /v2/droplets/%d", d.ID), "204 No Content")
	if p := a.destroy(c, page, d.ID, d.Name); p.Status != http.StatusConflict || a.Sandbox.Stats().DropletsDestroyed != 1 {
		t.Errorf("the used confirmation again: %d, %d destroyed; want 409 and 1", p.Status, a.Sandbox.Stats().DropletsDestroyed)
	}
	if p := a.get(c, fmt.Sprintf("%s/droplets/%d/destroy", a.URL, d.ID)); p.Status != http.StatusNotFound {
		t.Errorf("the destroy page of a destroyed droplet: %d, want 404", p.Status)
	}
}

// A read-only session steps up first, and comes back to the destroy page.
func TestDestroyThroughTheStepUp(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	a.connect(c, "approve")
	d := a.droplets(c)[0]
	step := a.get(c, fmt.Sprintf("%s/droplets/%d/destroy", a.URL, d.ID))
	mustContain(t, step, "This needs read &amp; write access", "To destroy <strong>"+d.Name+"</strong>", `value="destroy"`)
	mustNotContain(t, step, `name="confirm"`)
	page := a.stepUp(c, step, d.ID, "approve", "")
	if page.URL.Path != fmt.Sprintf("/droplets/%d/destroy", d.ID) || !strings.Contains(page.Body, `name="expect"`) {
		t.Fatalf("after the step-up the browser is at %s (%d)", page.URL, page.Status)
	}
	if n := a.Sandbox.Stats().DropletsDestroyed; n != 0 {
		t.Fatal("the step-up destroyed the droplet")
	}
	if p := a.destroy(c, page, d.ID, d.Name); p.URL.Path != "/digitalocean" || a.Sandbox.Stats().DropletsDestroyed != 1 {
		t.Errorf("the destroy after the step-up: %s (%d)", p.URL, p.Status)
	}
}

// A droplet destroyed meanwhile (another tab, the control panel) is a 404
// that says so; the other failures say what happened.
func TestDestroyFailurePages(t *testing.T) {
	t.Parallel()
	t.Run("already gone", func(t *testing.T) {
		t.Parallel()
		a := newTestApp(t)
		c := a.Browser
		connectWrite(a, c)
		id := a.sandboxCreate(c, "short-lived")
		page := a.destroyPage(c, id)
		req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/v2/droplets/%d", a.SBURL, id), nil)
		req.Header.Set("Authorization", "Bearer "+a.session(c).AccessToken)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("destroying it elsewhere: %v", err)
		}
		p := a.destroy(c, page, id, "short-lived")
		if p.Status != http.StatusNotFound {
			t.Errorf("status %d, want 404", p.Status)
		}
		mustContain(t, p, "This droplet was already gone", "it was destroyed already", "The app destroyed nothing.")
	})
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   int
		words  []string
	}{
		{"403", 403, nil, `{"id":"forbidden","message":"You do not have access for the attempted action."}`, 403, []string{"DigitalOcean refused to destroy", `value="destroy"`}},
		{"429", 429, http.Header{"Retry-After": {"5"}}, `{"id":"too_many_requests","message":"API Rate limit exceeded."}`, 503, []string{"the droplet is still there", "Try again at"}},
		{"500", 500, nil, `{"id":"server_error","message":"Server Error"}`, 502, []string{"may or may not have been destroyed", "Look for "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			c := a.Browser
			connectWrite(a, c)
			d := a.droplets(c)[0]
			page := a.destroyPage(c, d.ID)
			sent := failingCreates(a, tc.status, tc.header, tc.body)
			p := a.destroy(c, page, d.ID, d.Name)
			if p.Status != tc.want {
				t.Errorf("status %d, want %d", p.Status, tc.want)
			}
			mustContain(t, p, tc.words...)
			mustNotContain(t, p, ">Try again</a>")
			if n := sent.Load(); n != 1 {
				t.Errorf("%d DELETEs, want 1", n)
			}
		})
	}
}
