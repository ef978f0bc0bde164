package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"go/ast"
	"go/parser"
	"go/token"
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
	again := a.get(a.Browser, a.URL+"/digitalocean")
	mustContain(t, again, `<details class="flow">`)
	mustNotContain(t, again, before...)

	// After Refresh now, neither the old nor the new secrets show.
	a.Clock.Advance(10 * time.Second)
	r := a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}})
	after := a.secretsOf(a.Browser, ls)
	if after[0] == before[0] {
		t.Fatal("Refresh now did not change the access token")
	}
	mustContain(t, r, "Token refreshed", "why: asked for", "new access_token")
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
	mustContain(t, p, "Refreshed: DigitalOcean issued a new token pair", newExpiry, "Token refreshed", "why: asked for",
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
		// anyone who knows its layout.
		if got, err := a.Server.sessions.records.unmarshal([]byte(l)); err == nil {
			t.Fatalf("a layer of the record cookie reads as a record without the keys: %+v", got)
		}
	}
	rec := a.Server.sessions.loadRecord(requestWith(flowCookie, raw))
	if rec == nil || len(rec.Steps) != 6 || len(rec.Events) != maxFlowEvents {
		t.Fatalf("record: %+v, want 5 login steps, the first droplet list and the last %d events", rec, maxFlowEvents)
	}
	if p := a.get(a.Browser, a.URL+"/digitalocean"); strings.Count(p.Body, "<strong>Token refreshed</strong>") > maxFlowEvents {
		t.Error("the panel shows more than the last events")
	}

	// At its largest: every value at its bound, every event the biggest kind.
	// Random text does not compress.
	long := func() string { return strings.Repeat(rand.Text(), 4) }
	fields := make([]doclient.Field, 12)
	for i := range fields {
		fields[i] = doclient.Field{Name: "field_" + rand.Text()[:8], Value: long()}
	}
	rec = &flowRecord{Viewed: true}
	for _, kind := range []string{kindLink, kindDecision, kindCallback, kindTokenRequest, kindTokenResponse} {
		rec.Steps = append(rec.Steps, newStep(kind, time.Now(), time.Hour, long(), fields))
	}
	for range 3 * maxFlowEvents {
		rec.addEvents(newStep(kindRefresh, time.Now(), time.Hour, long(), fields[:8]))
	}
	w := httptest.NewRecorder()
	if err := a.Server.sessions.saveRecord(w, httptest.NewRequest(http.MethodGet, "/", nil), rec); err != nil {
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
	rec = &flowRecord{}
	for {
		rec.Steps = append(rec.Steps, newStep(kindAPI, time.Now(), 0, "", []doclient.Field{{Name: "f", Value: long()}}))
		if encoded, _ := st.records.encode(flowCookie, rec); len(encoded) > maxRecordCookie-250 {
			break
		}
	}
	for range maxFlowEvents {
		rec.addEvents(newStep(kindAPI, time.Now(), 0, "", []doclient.Field{{Name: "f", Value: rand.Text()}}))
	}
	w = httptest.NewRecorder()
	if err := st.saveRecord(w, httptest.NewRequest(http.MethodGet, "/", nil), rec); err != nil {
		t.Fatal(err)
	}
	value, _, _ = strings.Cut(strings.TrimPrefix(w.Header().Get("Set-Cookie"), flowCookie+"="), ";")
	got := st.loadRecord(requestWith(flowCookie, value))
	if got == nil {
		t.Fatal("the record near the bound was not saved")
	}
	if len(value) > maxRecordCookie || len(got.Events) == 0 || len(got.Events) == maxFlowEvents {
		t.Errorf("a record near the bound: value of %d bytes (bound %d), %d of %d events kept, want some dropped", len(value), maxRecordCookie, len(got.Events), maxFlowEvents)
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

// TestPanelNamesRealFunctions: each step's "Implemented by" names a
// function that exists in the file it names.
func TestPanelNamesRealFunctions(t *testing.T) {
	for _, info := range stepInfo() {
		f, err := parser.ParseFile(token.NewFileSet(), "../"+info.file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("step %q: %v", info.name, err)
		}
		found := false
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			name := fd.Name.Name
			if fd.Recv != nil {
				recv := fd.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); ok && id.Name != "Server" {
					name = id.Name + "." + name
				}
			}
			found = found || name == info.fn
		}
		if !found {
			t.Errorf("step %q names %s in %s, which does not declare it", info.name, info.fn, info.file)
		}
	}
}

// BenchmarkFlowRecordRoundTrip is what the record costs a droplet page
// view: "changed" reads the cookie, adds a page's events and writes it
// back; "repeated" reads it and finds that the view only repeats its newest
// events, as a reload does, so nothing is written (see recordPage).
func BenchmarkFlowRecordRoundTrip(b *testing.B) {
	st, err := newSessionStore([][]byte{[]byte("0123456789abcdef0123456789abcdef-bench")}, false, time.Hour, 24*time.Hour, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	rec := &flowRecord{Viewed: true}
	fields := []doclient.Field{{Name: "client_id", Value: "sandbox-client"}, {Name: "redirect_uri", Value: "http://localhost:5000/digitalocean"}, {Name: "state", Value: "K4LVUC…"}}
	for _, kind := range []string{kindLink, kindDecision, kindCallback, kindTokenRequest, kindTokenResponse} {
		rec.Steps = append(rec.Steps, newStep(kind, time.Now(), time.Millisecond, "ok", append(fields, fields...)))
	}
	call := func() flowStep {
		return newStep(kindAPI, time.Now(), time.Millisecond, "200 OK", []doclient.Field{{Name: "request", Value: "GET /v2/droplets?page=1&per_page=200"}})
	}
	for range maxFlowEvents {
		rec.addEvents(call())
	}
	w := httptest.NewRecorder()
	if err := st.saveRecord(w, httptest.NewRequest(http.MethodGet, "/", nil), rec); err != nil {
		b.Fatal(err)
	}
	cookie := w.Result().Cookies()[0]
	b.Run("changed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.AddCookie(cookie)
			got := st.loadRecord(req)
			got.addEvents(call())
			if err := st.saveRecord(httptest.NewRecorder(), req, got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("repeated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.AddCookie(cookie)
			got := st.loadRecord(req)
			if !got.repeatedBy([]flowStep{call()}, time.Now()) {
				b.Fatal("the view does not repeat the record's newest event")
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
	// Views that alternate between two listings, so each one is new to
	// the record and scrolls it (a reload that repeats the last view
	// would not; see recordPage).
	paths := []string{"/digitalocean?tag=web", "/digitalocean"}
	for i := range maxFlowEvents + 1 {
		a.Clock.Advance(time.Second)
		if p := a.get(a.Browser, a.URL+paths[i%2]); flowSetCookie(p) == "" {
			t.Fatalf("view %d did not save the record", i+1)
		}
	}
	later := a.get(a.Browser, a.URL+"/digitalocean")
	if got := listing.FindStringSubmatch(later.Body); got == nil || got[1] != m[1] {
		t.Errorf("the timeline's droplet list: %q on the first view, %q later", m[1], got)
	}
}

// TestTimelineStepsLieEndToEnd: the time at DigitalOcean starts where step
// 1 ended, so the timeline counts step 1 once.
func TestTimelineStepsLieEndToEnd(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	link := newStep(kindLink, t0, 100*time.Millisecond, "", nil)
	tok := doclient.TokenRequest{At: t0.Add(time.Second), Duration: 50 * time.Millisecond, Expiry: t0.Add(time.Hour)}
	steps := loginSteps(link, t0.Add(time.Second), 0, tok)
	if d := steps[1].duration(); d != 900*time.Millisecond {
		t.Errorf("at DigitalOcean: %v, want 900ms (the callback came 1 s after /connect began, and step 1 took 100 ms)", d)
	}
	_, total := timeline(&flowRecord{Steps: steps})
	if total != "1.1 s" {
		t.Errorf("timeline total %s, want 1.1 s", total)
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
// hints and event lines are HTML built in Go (handlers/panel.go), out of
// html/template's reach, from recorded values, some of them sent by
// DigitalOcean (the account's name, email and team, paths). Markup in any of
// them must reach the browser as text, in its own cell.
func TestSecurity29PanelEscapesRecordedValues(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")

	const evil = `<script>alert(1)</script>"'&</td></tr></table><b>`
	name, value, note := "info.name"+evil, "Sammy"+evil, "saved"+evil
	at := a.Clock.Now()
	f := []doclient.Field{{Name: name, Value: value}, {Name: "info.team_name", Value: "Team " + evil}}
	rec := &flowRecord{Viewed: true, StepUp: "Reboot " + evil}
	for _, kind := range []string{kindLink, kindDecision, kindCallback, kindTokenRequest, kindTokenResponse} {
		rec.Steps = append(rec.Steps, newStep(kind, at, time.Millisecond, note, f))
	}
	rec.addEvents(newStep(kindRefresh, at, time.Millisecond, note, f))
	w := httptest.NewRecorder()
	if err := a.Server.sessions.saveRecord(w, httptest.NewRequest(http.MethodGet, "/", nil), rec); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.URL)
	a.Browser.Jar.SetCookies(u, w.Result().Cookies())

	p := a.get(a.Browser, a.URL+"/digitalocean")
	if p.Status != http.StatusOK {
		t.Fatalf("droplet page: %d", p.Status)
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
	if n := strings.Count(strings.Join(cells, "\n"), name+" | "+value); n != 6 { // five steps and the event
		t.Errorf("%d rows show the name and the value as text, want 6; rows:\n%s", n, strings.Join(cells, "\n"))
	}
	if len(hints) != 5 || !strings.HasSuffix(hints[2], " · "+note) {
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
