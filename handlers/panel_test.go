package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"dosignin/doclient"
	"dosignin/handlers/flow"
	"dosignin/sandbox"
)

// loginSecrets walks the flow like connect, but keeps what the browser saw
// on the way (the state and the code in the callback URL) and what the login
// cookie held (the PKCE verifier), to look for them in pages afterwards.
type loginSecrets struct {
	state, code, verifier string
}

func (a *testApp) connectKeepingSecrets(c *http.Client) (page, loginSecrets) {
	a.t.Helper()
	var ls loginSecrets
	callback := a.callbackURL(c) // the login cookie is still in the jar
	var login pendingLogin
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: a.cookie(c, loginCookie)})
	st, err := newSessionStore(a.secrets, false, time.Hour, 24*time.Hour, a.Clock.Now)
	if err != nil {
		a.t.Fatal(err)
	}
	if found, err := st.read(req, st.short, loginCookie, &login); !found || err != nil || login.Verifier == "" {
		a.t.Fatalf("login cookie: found %t, %v, verifier %q", found, err, login.Verifier)
	}
	u, _ := url.Parse(callback)
	ls.state, ls.code, ls.verifier = u.Query().Get("state"), u.Query().Get("code"), login.Verifier
	if ls.state == "" || ls.code == "" {
		a.t.Fatalf("callback without state or code: %s", callback)
	}
	return a.get(c, callback), ls
}

// secretsOf lists every secret the page must not show.
func (a *testApp) secretsOf(c *http.Client, ls loginSecrets) []string {
	sess := a.session(c)
	if sess == nil {
		a.t.Fatal("not connected")
	}
	return []string{sess.AccessToken, sess.RefreshToken, ls.state, ls.code, ls.verifier, "test-secret-that-is-long-enough"}
}

func TestSecurity16PanelShowsTheLoginWithNoSecret(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	p, ls := a.connectKeepingSecrets(a.Browser)
	if p.URL.Path != "/digitalocean" || p.Status != http.StatusOK {
		t.Fatalf("after the callback: %d %s", p.Status, p.URL)
	}
	before := a.secretsOf(a.Browser, ls)
	mustContain(t, p,
		`<details class="flow" open>`, "How this worked",
		// The five steps, named as in DigitalOcean's tutorial, with their functions.
		"Authorization code link", "User authorizes application", "Application receives authorization code",
		"Application requests access token", "Application receives access token",
		"<code>handleConnect</code>", "<code>handleCallback</code>", "<code>Client.Exchange</code>",
		// Step 1: every authorize parameter.
		"<code>client_id</code></th><td>test-client<", "<code>redirect_uri</code></th><td>"+a.URL+"/digitalocean<",
		"<code>response_type</code></th><td>code<", "<code>scope</code></th><td>read<",
		"<code>state</code></th><td>"+ls.state[:6]+"…<", "<code>code_challenge_method</code></th><td>S256<", "<code>code_challenge</code>",
		// Steps 3 to 5.
		"<code>code</code></th><td>"+ls.code[:6]+"… (", "matches the login cookie of this browser",
		"<code>grant_type</code></th><td>authorization_code<", "<code>code_verifier</code></th><td>•••• (43 characters)<",
		"<code>client_secret</code></th><td>•••• (31 characters)<", "the POST body",
		"<code>token_type</code></th><td>bearer<", "<code>expires_in</code></th><td>300<", "<code>info.email</code>",
		"<code>access_token</code></th><td>doo_v1_", "<code>refresh_token</code></th><td>dor_v1_",
		// The API call and the timeline.
		"GET /v2/droplets?page=1&amp;per_page=200", "ratelimit-remaining", "1 page fetched, 3 droplets",
		`class="timeline"`, "Timeline, from <code>/connect</code> to the droplet list",
		// Token status.
		"Token status", `action="/refresh"`, "Refresh now", "not since you connected", "<code>read</code>",
	)
	mustNotContain(t, p, before...)
	mustNotContain(t, p, ` style=`, "<script")

	// Closed on the next view.
	// The next view has a line that links the whole record, which shows
	// no secret either.
	again := a.get(a.Browser, a.URL+"/digitalocean")
	mustContain(t, again, `class="card flow-summary"`, `href="/how-this-worked"`, "This login&#39;s five steps")
	mustNotContain(t, again, `<details class="flow"`)
	mustNotContain(t, again, before...)
	whole := a.get(a.Browser, a.URL+"/how-this-worked")
	mustContain(t, whole, `<details class="flow" open>`, "<code>state</code></th><td>"+ls.state[:6]+"…<", "Token status")
	mustNotContain(t, whole, before...)

	// After Refresh now, neither the old nor the new secrets show.
	a.Clock.Advance(10 * time.Second)
	r := a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
	after := a.secretsOf(a.Browser, ls)
	if after[0] == before[0] {
		t.Fatal("Refresh now did not change the access token")
	}
	mustContain(t, r, "Token refreshed", "why: you pressed Refresh now", "new access_token")
	for _, q := range []page{r, a.get(a.Browser, a.URL+"/digitalocean"), a.get(a.Browser, a.URL+"/")} {
		mustNotContain(t, q, before...)
		mustNotContain(t, q, after...)
	}
}

func TestRefreshNowRefreshesAndShowsTheNewExpiry(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	old := a.session(a.Browser)
	a.Clock.Advance(time.Minute)

	p := a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
	if p.Status != http.StatusOK || p.URL.Path != "/digitalocean" {
		t.Fatalf("Refresh now ended at %d %s", p.Status, p.URL)
	}
	sess := a.session(a.Browser)
	if n := a.Sandbox.Stats().Refreshes; n != 1 {
		t.Errorf("%d refreshes at the sandbox, want 1", n)
	}
	if sess.AccessToken == old.AccessToken || sess.RefreshToken == old.RefreshToken || !sess.Expiry.After(old.Expiry) {
		t.Errorf("the cookie was not updated: expiry %v -> %v", old.Expiry, sess.Expiry)
	}
	if a.apiStatus(sess.AccessToken) != http.StatusOK {
		t.Error("the new access token does not work")
	}
	newExpiry := sess.Expiry.UTC().Format("15:04:05 MST")
	mustContain(t, p, "Refreshed: DigitalOcean issued a new token pair", newExpiry, "Token refreshed", "why: you pressed Refresh now",
		"new expiry</code></th><td>"+newExpiry, "Last refreshed</dt><dd>"+a.Clock.Now().UTC().Format("15:04:05"))
}

func TestSecurity15RefreshNowDoubleSubmitRefreshesOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	a.Clock.Advance(time.Minute)

	// A double click: two requests with the same cookie at once.
	var wg sync.WaitGroup
	pages := make([]page, 2)
	for i := range pages {
		wg.Go(func() {
			pages[i] = a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
		})
	}
	wg.Wait()
	for _, p := range pages {
		if p.Status != http.StatusOK || p.URL.Path != "/digitalocean" {
			t.Errorf("a Refresh now ended at %d %s", p.Status, p.URL)
		}
	}
	if n := a.Sandbox.Stats().Refreshes; n != 1 {
		t.Errorf("a double click made %d refreshes, want 1", n)
	}
	// A third press a moment later: "just refreshed", no refresh.
	a.Clock.Advance(2 * time.Second)
	p := a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
	mustContain(t, p, "Just refreshed")
	if n := a.Sandbox.Stats().Refreshes; n != 1 {
		t.Errorf("a press 2 s later made %d refreshes in all, want 1", n)
	}
	if a.apiStatus(a.session(a.Browser).AccessToken) != http.StatusOK {
		t.Error("the cookie's access token does not work")
	}
	// Later, it refreshes again.
	a.Clock.Advance(justRefreshed)
	a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
	if n := a.Sandbox.Stats().Refreshes; n != 2 {
		t.Errorf("%d refreshes, want 2", n)
	}
}

func TestSecurity15RefreshNowIsPostAndSameOriginOnly(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	before := a.session(a.Browser).AccessToken

	p := a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
	if p.Status != http.StatusForbidden {
		t.Errorf("cross-site Refresh now: %d, want 403", p.Status)
	}
	if p := a.get(a.Browser, a.URL+"/refresh"); p.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET /refresh: %d, want 405", p.Status)
	}
	if n := a.Sandbox.Stats().Refreshes; n != 0 || a.session(a.Browser).AccessToken != before {
		t.Errorf("%d refreshes, want none", n)
	}
	// Not connected: to the index, which says why.
	p = a.post(newBrowser(t), a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
	if p.URL.Path != "/" {
		t.Errorf("Refresh now without a session ended at %s", p.URL.Path)
	}
	mustContain(t, p, "no token to refresh")
}

func TestDenialIsExplainedOnTheIndex(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	p := a.connect(a.Browser, "deny")
	if p.URL.Path != "/" {
		t.Fatalf("Deny ended at %s", p.URL.Path)
	}
	mustContain(t, p, "You denied access", "Step 2: you chose Deny; DigitalOcean sent back error=access_denied",
		"<code>decision</code></th><td>Deny<", "<code>client_id</code></th><td>test-client<", ">Connect DigitalOcean<")
	if n := a.Sandbox.Stats().CodeExchanges; n != 0 {
		t.Errorf("%d exchanges after a denial", n)
	}
}

func TestFailedChecksSayWhichAndWhy(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	callback := a.callbackURL(a.Browser)
	// Another browser: no login cookie, so the state check fails.
	p := a.get(newBrowser(t), callback)
	mustContain(t, p, "Step 3 check failed: the state", "so that nobody can finish a login in your browser")
	// The same browser, after the callback: a spent code.
	a.get(a.Browser, callback)
	p = a.get(a.Browser, callback)
	mustContain(t, p, "Step 3 check failed: this callback&#39;s one-time code was already traded")
}

func TestIndexChoices(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	index := a.get(a.Browser, a.URL+"/")
	mustContain(t, index, `href="/connect"`, `href="/connect?access=write"`, `href="/connect?account=select"`,
		"Use another DigitalOcean account", "prompt=select_account")
	for link, want := range map[string]string{"/connect": "", "/connect?access=write": "", "/connect?account=select": "select_account"} {
		consent := a.get(newBrowser(t), a.URL+link)
		if got := consent.URL.Query().Get("prompt"); got != want {
			t.Errorf("%s: prompt=%q, want %q", link, got, want)
		}
	}
	if p := a.get(a.Browser, a.URL+"/connect?account=other"); p.Status != http.StatusBadRequest {
		t.Errorf("unknown account choice: %d, want 400", p.Status)
	}
	// The sandbox offers its accounts; choosing the second signs in as it,
	// and step 1 in the panel shows the prompt.
	accounts := a.Sandbox.Accounts()
	if len(accounts) < 2 {
		t.Fatalf("the sandbox has %d accounts, want 2", len(accounts))
	}
	consent := a.get(a.Browser, a.URL+"/connect?account=select")
	mustContain(t, consent, accounts[0].Name, accounts[1].Name)
	action, fields := consentForm(t, consent)
	fields.Set("decision", "approve")
	fields.Set("account", accounts[1].UUID)
	p := a.post(a.Browser, action, fields, http.Header{"Origin": {a.SBURL}})
	mustContain(t, p, "Your droplets", accounts[1].Email, "<code>prompt</code></th><td>select_account<")
	mustNotContain(t, p, accounts[0].Email)
}

func TestDisconnectShowsTheRevokeAndForgetsTheAccount(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	email := a.session(a.Browser).Account.Email
	p := a.post(a.Browser, a.URL+"/logout", nil, http.Header{"Origin": {a.URL}})
	mustContain(t, p, "What Disconnect did", "Token revoked (Disconnect)", "POST /v1/oauth/revoke", "200 OK", "<code>token</code></th><td>doo_v1_")
	mustNotContain(t, p, email)
}

func TestSecurity17FlowRecordIsEncryptedAndBounded(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 450 })
	a.connect(a.Browser, "approve")
	email := a.session(a.Browser).Account.Email
	for range 8 {
		a.Clock.Advance(10 * time.Second)
		a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
	}
	raw := a.cookie(a.Browser, flowCookie)
	if raw == "" {
		t.Fatal("no flow record cookie")
	}
	layers := cookieLayers(raw)
	if len(layers) < 3 {
		t.Fatalf("the record cookie has %d layers: not securecookie's", len(layers))
	}
	for _, l := range layers {
		for _, plain := range []string{email, "client_id", "authorization_code", "doo_v1_"} {
			if strings.Contains(l, plain) {
				t.Fatalf("the record cookie shows %q", plain)
			}
		}
		// Unencrypted, a layer would be the record itself, readable by
		// anyone: JSON.
		var got flow.Record
		if err := json.Unmarshal([]byte(l), &got); err == nil {
			t.Fatalf("a layer of the record cookie reads as a record without the keys: %+v", got)
		}
	}
	rec := a.Server.sessions.loadRecord(requestWith(flowCookie, raw))
	if rec == nil || len(rec.Steps) != 6 || len(rec.Events) < 2 || len(rec.Events) > flow.MaxEvents || rec.Events[len(rec.Events)-2].Kind != flow.KindRefresh {
		t.Fatalf("record: %+v, want 5 login steps, the first droplet list and the last events (at most %d), the last refresh among them", rec, flow.MaxEvents)
	}
	if p := a.get(a.Browser, a.URL+"/how-this-worked"); strings.Count(p.Body, "<strong>Token refreshed</strong>") > flow.MaxEvents {
		t.Error("the panel shows more than the last events")
	}

	// At its largest: every value at its bound, every event the biggest kind.
	// Random text does not compress.
	long := func() string { return strings.Repeat(rand.Text(), 4) }
	fields := make([][2]string, 12)
	for i := range fields {
		fields[i] = [2]string{"field_" + rand.Text()[:8], long()}
	}
	rec = &flow.Record{}
	for _, kind := range []string{flow.KindLink, flow.KindDecision, flow.KindCallback, flow.KindTokenRequest, flow.KindTokenResponse} {
		rec.Steps = append(rec.Steps, flow.Step{Kind: kind, At: time.Now(), Took: time.Hour, Note: long(), Fields: fields})
	}
	for range 3 * flow.MaxEvents {
		rec.Add(flow.Step{Kind: flow.KindRefresh, At: time.Now(), Took: time.Hour, Note: long(), Fields: fields[:8]})
	}
	w := httptest.NewRecorder()
	if err := a.Server.sessions.saveRecord(w, rec); err != nil {
		t.Fatal(err)
	}
	setCookie := w.Header().Get("Set-Cookie")
	if n := len(setCookie); n > 4096 {
		t.Errorf("the largest record's Set-Cookie is %d bytes, over 4096", n)
	}
	value, _, _ := strings.Cut(strings.TrimPrefix(setCookie, flowCookie+"="), ";")
	if n := len(value); n > maxRecordCookie || maxRecordCookie+len(setCookie)-n > 4096 {
		t.Errorf("the largest record's cookie value is %d bytes; the bound is %d, plus %d bytes of name and attributes", n, maxRecordCookie, len(setCookie)-n)
	}
	if got := a.Server.sessions.loadRecord(requestWith(flowCookie, value)); got == nil || len(got.Steps) != 5 {
		t.Errorf("the largest record lost its login steps: %+v", got)
	}

	// Login steps just under the bound, then small events: the bound, not
	// securecookie's own 4096-byte limit, decides how many events stay.
	st := a.Server.sessions
	rec = &flow.Record{}
	for {
		rec.Steps = append(rec.Steps, flow.Step{Kind: flow.KindAPI, At: time.Now(), Fields: [][2]string{{"f", long()}}})
		if encoded, _ := st.encode(st.short, flowCookie, rec); len(encoded) > maxRecordCookie-500 {
			break
		}
	}
	for range flow.MaxEvents {
		rec.Add(flow.Step{Kind: flow.KindAPI, At: time.Now(), Fields: [][2]string{{"f", rand.Text()}}})
	}
	w = httptest.NewRecorder()
	if err := st.saveRecord(w, rec); err != nil {
		t.Fatal(err)
	}
	value, _, _ = strings.Cut(strings.TrimPrefix(w.Header().Get("Set-Cookie"), flowCookie+"="), ";")
	got := st.loadRecord(requestWith(flowCookie, value))
	if got == nil {
		t.Fatal("the record near the bound was not saved")
	}
	if len(value) > maxRecordCookie || len(got.Events) == 0 || len(got.Events) == flow.MaxEvents {
		t.Errorf("a record near the bound: value of %d bytes (bound %d), %d of %d events kept, want some dropped", len(value), maxRecordCookie, len(got.Events), flow.MaxEvents)
	}
	// Many small events: the count, not the size, is the bound.
	rec = &flow.Record{Steps: got.Steps[:1]}
	for range 3 * flow.MaxEvents {
		rec.Add(flow.Step{Kind: flow.KindAPI, Note: "200 OK"})
	}
	w = httptest.NewRecorder()
	if err := st.saveRecord(w, rec); err != nil {
		t.Fatal(err)
	}
	value, _, _ = strings.Cut(strings.TrimPrefix(w.Header().Get("Set-Cookie"), flowCookie+"="), ";")
	if got := st.loadRecord(requestWith(flowCookie, value)); got == nil || len(got.Events) != flow.MaxEvents {
		t.Errorf("a record of %d small events kept %+v, want the last %d", 3*flow.MaxEvents, got, flow.MaxEvents)
	}
	// And the session cookie with a refreshed session beside it.
	if n := len(a.cookie(a.Browser, sessionCookie)); n > 4096 {
		t.Errorf("session cookie is %d bytes", n)
	}
}

func requestWith(name, value string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	return req
}

// cookieLayers peels every base64 layer of a cookie value (securecookie
// has two), to look for plain text in each.
func cookieLayers(raw string) []string {
	layers := []string{raw}
	for s := raw; ; {
		b, err := base64.URLEncoding.DecodeString(s)
		if err != nil {
			return layers
		}
		s = string(b)
		layers = append(layers, s)
		if parts := strings.SplitN(s, "|", 3); len(parts) == 3 { // date|value|mac, and the mac is binary
			s = parts[1]
		}
	}
}

// BenchmarkFlowRecordRoundTrip is what the record costs a droplet page
// view: it reads the cookie, adds a page's events and writes it back.
func BenchmarkFlowRecordRoundTrip(b *testing.B) {
	st, err := newSessionStore([][]byte{[]byte("0123456789abcdef0123456789abcdef-bench")}, false, time.Hour, 24*time.Hour, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := st.saveRecord(w, benchRecord()); err != nil {
		b.Fatal(err)
	}
	cookie := w.Result().Cookies()[0]
	call := flow.Step{Kind: flow.KindAPI, At: time.Now(), Took: time.Millisecond, Note: "200 OK", Fields: [][2]string{{"request", "GET /v2/droplets?page=1&per_page=200"}}}
	b.Run("changed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.AddCookie(cookie)
			got := st.loadRecord(req)
			got.Add(call)
			if err := st.saveRecord(httptest.NewRecorder(), got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestTimelineKeepsTheLoginsFirstListing: the timeline ends with the
// droplet list that followed the login, however many views scrolled its
// event out of the last ten.
func TestTimelineKeepsTheLoginsFirstListing(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	// The first listing takes 60 ms; the later ones a fraction of that.
	a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/droplets") {
			time.Sleep(60 * time.Millisecond)
		}
		a.Sandbox.ServeHTTP(w, r)
	}))
	first := a.connect(a.Browser, "approve")
	a.SetUpstream(a.Sandbox)
	listing := regexp.MustCompile(`(?s)Droplet list \(API calls\)</span>.*?<span class="timeline-duration">([^<]*)</span>`)
	m := listing.FindStringSubmatch(first.Body)
	if m == nil {
		t.Fatal("the first view's timeline has no droplet list")
	}
	// Views that scroll the first listing's event out of the record.
	paths := []string{"/digitalocean?tag=web", "/digitalocean"}
	for i := range flow.MaxEvents + 1 {
		a.Clock.Advance(time.Second)
		if p := a.get(a.Browser, a.URL+paths[i%2]); flowSetCookie(p) == "" {
			t.Fatalf("view %d did not save the record", i+1)
		}
	}
	later := a.get(a.Browser, a.URL+"/how-this-worked")
	if got := listing.FindStringSubmatch(later.Body); got == nil || got[1] != m[1] {
		t.Errorf("the timeline's droplet list: %q on the first view, %q later", m[1], got)
	}
}

// TestIndexLeavesTheRecordAloneWithoutARefresh: an index view close to the
// token's expiry, but not close enough to refresh, does not rewrite the
// flow record's cookie.
func TestIndexLeavesTheRecordAloneWithoutARefresh(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	sess := a.session(a.Browser)
	// Within 2 × RefreshMargin of expiry (the index looks), not within 1.
	a.Clock.Advance(sess.Expiry.Sub(a.Clock.Now()) - doclient.RefreshMargin - 20*time.Second)
	p := a.get(a.Browser, a.URL+"/")
	if n := a.Sandbox.Stats().Refreshes; n != 0 {
		t.Fatalf("%d refreshes, want 0", n)
	}
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, flowCookie+"=") {
			t.Errorf("the index rewrote the flow record without adding to it: %.40s…", c)
		}
	}
}

// TestSecurity29PanelEscapesRecordedValues: the panel's field tables, step
// hints and event lines show recorded values, some of them sent by
// DigitalOcean (the account's name, email and team, paths). Markup in any of
// them must reach the browser as text, in its own cell.
func TestSecurity29PanelEscapesRecordedValues(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")

	const evil = `<script>alert(1)</script>"'&</td></tr></table><b>`
	name, value, note := "info.name"+evil, "Sammy"+evil, "saved"+evil
	at := a.Clock.Now()
	// As many values as the record's cookie holds whole, with the page
	// view's own event (markup takes six bytes a character in JSON).
	f := [][2]string{{name, value}}
	rec := &flow.Record{StepUp: "Reboot " + evil}
	for _, kind := range []string{flow.KindLink, flow.KindDecision, flow.KindCallback, flow.KindTokenRequest, flow.KindTokenResponse} {
		rec.Steps = append(rec.Steps, flow.Step{Kind: kind, At: at, Took: time.Millisecond, Note: "saved"})
	}
	rec.Steps[0].Fields, rec.Steps[2].Fields, rec.Steps[2].Note = f, f, note
	rec.Steps[4].Fields = [][2]string{{"info.team_name", "Team " + evil}}
	rec.Add(flow.Step{Kind: flow.KindRefresh, At: at, Took: time.Millisecond, Note: note, Fields: f})
	w := httptest.NewRecorder()
	if err := a.Server.sessions.saveRecord(w, rec); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.URL)
	a.Browser.Jar.SetCookies(u, w.Result().Cookies())

	p := a.get(a.Browser, a.URL+"/how-this-worked")
	if p.Status != http.StatusOK {
		t.Fatalf("the record's page: %d", p.Status)
	}
	// What the browser receives: the characters escaped, nothing raw.
	mustNotContain(t, p, "<script", "<b>", `"'&`, "</td></tr></table><b>")
	mustContain(t, p, "<code>info.name&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;b&gt;</code></th>"+
		"<td>Sammy&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;b&gt;</td>")

	// What the browser makes of it: no script element, and each value is
	// the text of its own cell, the note the text of its hint.
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatal(err)
	}
	var cells, hints, lines []string
	scripts, bold := 0, 0
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch {
		case n.Data == "script":
			scripts++
		case n.Data == "b":
			bold++
		case n.Data == "tr" && hasClassAncestor(n, "fields"):
			var row []string
			for c := range n.ChildNodes() {
				if c.Type == html.ElementNode {
					row = append(row, textOf(c))
				}
			}
			cells = append(cells, strings.Join(row, " | "))
		case n.Data == "p" && attr(n, "class") == "hint" && hasClassAncestor(n, "steps"):
			hints = append(hints, textOf(n))
		case n.Data == "p" && hasClassAncestor(n, "events"):
			lines = append(lines, textOf(n))
		}
	}
	if scripts != 0 || bold != 0 {
		t.Errorf("the page has %d script and %d b elements, want none", scripts, bold)
	}
	if n := strings.Count(strings.Join(cells, "\n"), name+" | "+value); n != 3 { // steps 1 and 3, and the event
		t.Errorf("%d rows show the name and the value as text, want 3; rows:\n%s", n, strings.Join(cells, "\n"))
	}
	if len(hints) != 5 || !strings.HasSuffix(hints[2], " · "+note) || !strings.HasSuffix(hints[0], " · saved") {
		t.Errorf("step hints: %q, want 5 ending with the note", hints)
	}
	found := false
	for _, l := range lines {
		found = found || strings.Contains(l, "Token refreshed · "+note+" · ")
	}
	if !found {
		t.Errorf("no event line shows the note as text: %q", lines)
	}
	if !strings.Contains(textOf(doc), "for: Reboot "+evil+".") {
		t.Error("the step-up's action is not shown as text")
	}
}

// textOf is the text of n and its descendants, as a browser shows it.
func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClassAncestor(n *html.Node, class string) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if slices.Contains(strings.Fields(attr(p, "class")), class) {
			return true
		}
	}
	return false
}

// TestCallbackErrorsAreNamedNotCalledDenials: DigitalOcean may send the
// browser back with an error other than access_denied (it is busy, the
// request was malformed): the index and the panel name that error and
// what it means, and only access_denied is told as the user's Deny.
func TestCallbackErrorsAreNamedNotCalledDenials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		error      string
		shows, not []string
	}{
		{"temporarily_unavailable", []string{"error=temporarily_unavailable", "too busy or down for a moment", "Step 2: DigitalOcean sent back error=temporarily_unavailable"}, []string{"you chose Deny", "You denied access"}},
		{"invalid_scope", []string{"error=invalid_scope", "a scope DigitalOcean does not know"}, []string{"you chose Deny", "You denied access"}},
		{"access_denied", []string{"You denied access", "Step 2: you chose Deny"}, []string{"too busy"}},
	} {
		t.Run(tc.error, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			u, _ := url.Parse(a.callbackURL(a.Browser))
			u.RawQuery = url.Values{"state": {u.Query().Get("state")}, "error": {tc.error}}.Encode()
			p := a.get(a.Browser, u.String())
			if p.URL.Path != "/" || p.Status != http.StatusOK {
				t.Fatalf("ended at %d %s", p.Status, p.URL)
			}
			mustContain(t, p, tc.shows...)
			mustNotContain(t, p, tc.not...)
			// Step 3 did happen: the callback came, its state was checked.
			mustContain(t, p, "no code, so no token request")
		})
	}
}

// TestPanelSaysWhatTheLearnerDid: after Refresh now the page comes back
// with the panel open and the message in the token status box, beside the
// button; the timeline's title names where the login started and ended
// (a denial never reached the droplet list), and step 2 has one name.
func TestPanelSaysWhatTheLearnerDid(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	first := a.connect(a.Browser, "approve")
	mustContain(t, first, "Timeline, from <code>/connect</code> to the droplet list", `<span class="timeline-label">2. User authorizes application</span>`)
	mustNotContain(t, first, "At DigitalOcean (you decide)")
	if p := a.get(a.Browser, a.URL+"/digitalocean"); !strings.Contains(p.Body, `class="card flow-summary"`) {
		t.Fatal("a later view shows the whole panel")
	}
	a.Clock.Advance(10 * time.Second)
	r := a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
	mustContain(t, r, `<details class="flow" open>`, "why: you pressed Refresh now")
	box := r.Body[strings.Index(r.Body, `id="token-status-title"`):]
	box = box[:strings.Index(box, "</section>")]
	if !strings.Contains(box, "Refreshed: DigitalOcean issued a new token pair") {
		t.Errorf("the refresh's message is not in the token status box:\n%s", box)
	}
	if top := r.Body[:strings.Index(r.Body, "<h1>")]; strings.Contains(top, "Refreshed:") {
		t.Error("the refresh's message is also at the top of the page")
	}
	if p := a.get(a.Browser, a.URL+"/digitalocean"); !strings.Contains(p.Body, `class="card flow-summary"`) {
		t.Error("the whole panel stays after the view that showed the refresh")
	}

	denied := a.connect(newBrowser(t), "deny")
	mustContain(t, denied, "Timeline, from <code>/connect</code> to DigitalOcean&#39;s answer")
	mustNotContain(t, denied, "to the droplet list")
}

// TestSecurity36MasksNeverShowAShortValueWhole: whatever DigitalOcean (or
// whatever answers in its place) sends, the panel shows at most a quarter
// of a code or a token: a 6-character code and 4-character tokens do not
// appear whole on the page, nor in the record's cookie.
func TestSecurity36MasksNeverShowAShortValueWhole(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	const code, access, refresh = "q7Zk2P", "Wq3x", "Rt9v"
	a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/oauth/token":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":300,"refresh_token":%q,"scope":"read","info":{"name":"Sammy","email":"sammy@example.com","uuid":"u1","team_uuid":"t1","team_name":"My Team"}}`, access, refresh)
		case r.Method == http.MethodGet && r.URL.Path == "/v2/droplets" && r.Header.Get("Authorization") == "Bearer "+access:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"droplets":[],"links":{},"meta":{"total":0}}`)
		default:
			a.Sandbox.ServeHTTP(w, r)
		}
	}))
	u, _ := url.Parse(a.callbackURL(a.Browser))
	q := u.Query()
	q.Set("code", code)
	u.RawQuery = q.Encode()
	p := a.get(a.Browser, u.String())
	if p.Status != http.StatusOK || p.URL.Path != "/digitalocean" {
		t.Fatalf("after the callback: %d %s", p.Status, p.URL)
	}
	mustContain(t, p, `<details class="flow" open>`, "<code>access_token</code></th><td>", "<code>code</code></th><td>")
	for _, secret := range []string{code, access, refresh} {
		if strings.Contains(p.Body, secret) {
			t.Errorf("the panel shows %q whole", secret)
		}
		var rec flow.Record
		if _, err := a.Server.sessions.read(requestWith(flowCookie, a.cookie(a.Browser, flowCookie)), a.Server.sessions.short, flowCookie, &rec); err != nil {
			t.Fatal(err)
		}
		if raw, _ := json.Marshal(rec); strings.Contains(string(raw), secret) {
			t.Errorf("the flow record holds %q whole", secret)
		}
	}
}
