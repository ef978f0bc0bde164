package handlers

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"dosignin/handlers/learn"
	"dosignin/internal/curlcmd"
	"dosignin/sandbox"
)

// withLearn turns the learn pages on, as sandbox mode does: their clients
// in the sandbox's configuration (as main's learnClients), and their own
// client of the sandbox (newTestApp fills in its address).
func withLearn() appOption {
	return func(o *Options, sb *sandbox.Config) {
		redirect := o.RedirectURL.Scheme + "://" + o.RedirectURL.Host + learn.CallbackPath
		sb.Clients = []sandbox.ClientConfig{
			{ID: learn.ClientID, Secret: learn.ClientSecret, Name: learn.ClientName, RedirectURIs: []string{redirect}},
			{ID: learn.QuickClientID, Secret: learn.ClientSecret, Name: learn.QuickClientName, RedirectURIs: []string{redirect}, CodeTTL: learn.QuickCodeTTL},
			{ID: learn.PublicClientID, Name: learn.PublicClientName},
		}
		o.Learn = &learn.Config{RedirectURL: redirect, Timeout: 5 * time.Second}
	}
}

func newLearnApp(t *testing.T, opts ...appOption) *testApp {
	t.Helper()
	return newTestApp(t, append([]appOption{withLearn()}, opts...)...)
}

// press sends a learn page's button: a same-origin POST, followed to the
// page it leads to.
func (a *testApp) learnPress(c *http.Client, path string) page {
	a.t.Helper()
	return a.post(c, a.URL+path, nil, http.Header{"Origin": {a.URL}})
}

var (
	consentLinkRE = regexp.MustCompile(`<a class="button" href="([^"]*/authorize\?[^"]*)">Open the consent page</a>`)
	curlRE        = regexp.MustCompile(`(?s)<pre class="curl" data-copy>(curl .*?)</pre>`)
	answerRE      = regexp.MustCompile(`(?s)<figcaption>The answer, as it came</figcaption>\s*<pre>(.*?)</pre>`)
)

// learnConsent opens step 2's link and presses decision ("approve" or
// "deny") on the sandbox's consent page, which sends the browser to the
// learn callback and on to step 3.
func (a *testApp) learnConsent(c *http.Client, decision string) page {
	a.t.Helper()
	step2 := a.get(c, a.URL+"/learn/2")
	m := consentLinkRE.FindStringSubmatch(step2.Body)
	if m == nil {
		a.t.Fatalf("step 2 has no consent link:\n%s", step2.Body)
	}
	return a.decide(c, html.UnescapeString(m[1]), decision)
}

// decide opens an authorization link and presses decision on the consent
// page.
func (a *testApp) decide(c *http.Client, link, decision string) page {
	a.t.Helper()
	consent := a.get(c, link)
	if consent.Status != http.StatusOK {
		a.t.Fatalf("the consent page: %d\n%s", consent.Status, consent.Body)
	}
	action, fields := consentForm(a.t, consent)
	fields.Set("decision", decision)
	return a.post(c, action, fields, http.Header{"Origin": {a.SBURL}})
}

// learnToStep4 starts a flow, approves it and checks the state.
func (a *testApp) learnToStep4(c *http.Client) {
	a.t.Helper()
	a.learnPress(c, "/learn/start")
	if p := a.learnConsent(c, "approve"); p.URL.Path != "/learn/3" {
		a.t.Fatalf("after Authorize the browser is at %s (%d)", p.URL.Path, p.Status)
	}
	if p := a.learnPress(c, "/learn/3/check"); !strings.Contains(p.Body, "Yes</strong>: this callback answers") {
		a.t.Fatalf("the state check did not pass:\n%s", p.Body)
	}
}

// learnToStep5 goes on to Send.
func (a *testApp) learnToStep5(c *http.Client) page {
	a.t.Helper()
	a.learnToStep4(c)
	p := a.learnPress(c, "/learn/4/send")
	if p.URL.Path != "/learn/5" || !strings.Contains(p.Body, "HTTP/1.1 200 OK") {
		a.t.Fatalf("Send led to %s (%d) without a 200:\n%s", p.URL.Path, p.Status, p.Body)
	}
	return p
}

// learnState decodes the browser's learn cookie.
func (a *testApp) learnState(c *http.Client) *learnState {
	a.t.Helper()
	raw := a.cookie(c, learnCookie)
	if raw == "" {
		return &learnState{}
	}
	return a.Server.loadLearn(requestWith(learnCookie, raw))
}

// answers returns the raw answers a page shows, unescaped.
func answers(p page) []string {
	var out []string
	for _, m := range answerRE.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// curls returns the curl commands a page shows, unescaped.
func curls(p page) []string {
	var out []string
	for _, m := range curlRE.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

func TestLearnStepsInOrder(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser

	p := a.get(b, a.URL+"/learn")
	mustContain(t, p, "Learn OAuth 2 by doing", `action="/learn/start"`, "Authorization Code Link", "User Authorizes Application",
		"Application Receives Authorization Code", "Application Requests Access Token", "Application Receives Access Token")

	// Step 1: the link, each parameter explained, the made-up values in full.
	p = a.learnPress(b, "/learn/start")
	if p.URL.Path != "/learn/1" {
		t.Fatalf("Start led to %s", p.URL.Path)
	}
	st := a.learnState(b)
	if st.Flow == nil || len(st.Flow.State) != 52 || len(st.Flow.Verifier) != 43 {
		t.Fatalf("the learn cookie holds %+v, want a 52-character state and a 43-character verifier", st.Flow)
	}
	mustContain(t, p, "Step 1: Authorization Code Link", st.Flow.State, st.Flow.Verifier, learn.Challenge(st.Flow.Verifier), "never shows them")
	for _, param := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"} {
		mustContain(t, p, "<th scope=\"row\"><code>"+param+"</code></th>")
	}
	mustContain(t, p, html.EscapeString(url.QueryEscape(a.URL+learn.CallbackPath)), "client_id="+learn.ClientID)

	// Step 2 leads to the sandbox's consent page, which names the learn client.
	step2 := a.get(b, a.URL+"/learn/2")
	link := html.UnescapeString(consentLinkRE.FindStringSubmatch(step2.Body)[1])
	if consent := a.get(b, link); !strings.Contains(consent.Body, html.EscapeString(learn.ClientName)) {
		t.Errorf("the consent page does not name the learn client:\n%s", consent.Body)
	}

	// Step 3: the callback as it arrived; nothing sent yet.
	p = a.learnConsent(b, "approve")
	if p.URL.Path != "/learn/3" || p.URL.RawQuery != "" {
		t.Fatalf("the callback led to %s, want /learn/3 with no query", p.URL)
	}
	st = a.learnState(b)
	code := st.Flow.code()
	mustContain(t, p, "GET /learn/callback?code="+code, st.Flow.State, "Check the state")
	if s := a.Sandbox.Stats(); s.Authorizations != 1 || s.CodeExchanges != 0 {
		t.Fatalf("after the callback the sandbox saw %+v, want 1 authorization and no exchange", s)
	}
	p = a.learnPress(b, "/learn/3/check")
	mustContain(t, p, "Yes</strong>: this callback answers", `href="/learn/4"`)

	// Step 4: the request as it will be sent, with the learn client's
	// made-up secret and never the app's.
	p = a.get(b, a.URL+"/learn/4")
	mustContain(t, p, "POST /v1/oauth/token HTTP/1.1", "grant_type=authorization_code&amp;code="+code, "code_verifier="+st.Flow.Verifier,
		"client_secret="+learn.ClientSecret, "Content-Type: application/x-www-form-urlencoded", `action="/learn/4/send"`)
	mustNotContain(t, p, "test-secret-that-is-long-enough")
	if c := curls(p); len(c) == 0 || !strings.Contains(c[0], "-d 'code="+code+"'") || !strings.Contains(c[0], "-d 'code_verifier="+st.Flow.Verifier+"'") {
		t.Errorf("step 4's curl commands: %q", c)
	}

	// Step 5: the answer as it came, each member explained.
	p = a.learnPress(b, "/learn/4/send")
	st = a.learnState(b)
	if p.URL.Path != "/learn/5" || st.Flow.Access == "" || st.Flow.Refresh == "" {
		t.Fatalf("Send led to %s with %+v", p.URL.Path, st.Flow)
	}
	if got := answers(p); len(got) != 1 || !strings.HasPrefix(got[0], "HTTP/1.1 200 OK") {
		t.Fatalf("step 5's answers: %q", got)
	} else {
		for _, want := range []string{`"access_token": "` + st.Flow.Access + `"`, `"refresh_token": "` + st.Flow.Refresh + `"`, `"expires_in": 300`, `"scope": "read"`, a.Sandbox.Account().Email} {
			if !strings.Contains(got[0], want) {
				t.Errorf("step 5's answer does not show %s:\n%s", want, got[0])
			}
		}
	}
	for _, f := range learn.TokenFields() {
		mustContain(t, p, "<code>"+f.Name+"</code>")
	}

	if s := a.Sandbox.Stats(); s.CodeExchanges != 1 {
		t.Errorf("%d code exchanges, want 1", s.CodeExchanges)
	}

	// Then: the API. Shown without the answers until "Call the API".
	p = a.get(b, a.URL+"/learn/api")
	mustContain(t, p, "GET /v2/account HTTP/1.1", "Authorization: Bearer "+st.Flow.Access, "Call the API")
	mustNotContain(t, p, "The answer, as it came")
	before := a.Sandbox.Stats().APIRequests
	p = a.get(b, a.URL+"/learn/api?call=1")
	if got := answers(p); len(got) != 2 || !strings.HasPrefix(got[0], "HTTP/1.1 200 OK") || !strings.Contains(got[0], a.Sandbox.Account().Email) ||
		!strings.HasPrefix(got[1], "HTTP/1.1 200 OK") || !strings.Contains(got[1], `"total": 3`) {
		t.Errorf("the API's answers: %q", got)
	}
	if n := a.Sandbox.Stats().APIRequests - before; n != 2 {
		t.Errorf("Call the API made %d API requests, want 2", n)
	}

	// Refresh: a new pair.
	old := st.Flow
	a.Clock.Advance(time.Minute)
	p = a.learnPress(b, "/learn/refresh")
	st = a.learnState(b)
	if st.Flow.Refresh == old.Refresh || st.Flow.OldRefresh != old.Refresh || st.Flow.OldAccess != old.Access {
		t.Fatalf("after Refresh the cookie holds %+v, want a new pair and the old one", st.Flow)
	}
	mustContain(t, p, "The refresh you sent", "refresh_token="+old.Refresh, "single-use and rotate")
	if got := answers(p); len(got) != 1 || !strings.Contains(got[0], `"refresh_token": "`+st.Flow.Refresh+`"`) {
		t.Errorf("the refresh's answer: %q", got)
	}
	if s := a.Sandbox.Stats(); s.Refreshes != 1 {
		t.Errorf("%d refreshes, want 1", s.Refreshes)
	}

	// Revoke: then the API refuses the token.
	p = a.learnPress(b, "/learn/revoke")
	got := answers(p)
	if len(got) != 2 || !strings.HasPrefix(got[0], "HTTP/1.1 200 OK") || !strings.HasPrefix(got[1], "HTTP/1.1 401 Unauthorized") {
		t.Fatalf("the revoke page's answers: %q", got)
	}
	if s := a.Sandbox.Stats(); s.Revocations != 1 || s.LiveAccessTokens != 0 {
		t.Errorf("after Revoke the sandbox saw %+v, want 1 revocation and no live token", s)
	}
	if a.apiStatus(st.Flow.Access) != http.StatusUnauthorized {
		t.Error("the revoked token still works")
	}
	p = a.get(b, a.URL+"/learn/5")
	mustContain(t, p, "you revoked it")
}

func TestLearnStepsOutOfOrder(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser

	// Without a flow, every step says what is missing and links back.
	for _, path := range []string{"/learn/1", "/learn/2", "/learn/3", "/learn/4", "/learn/5", "/learn/api", "/learn/api?call=1", "/learn/refresh", "/learn/revoke"} {
		p := a.get(b, a.URL+path)
		if p.Status != http.StatusOK {
			t.Errorf("%s: %d", path, p.Status)
		}
		mustContain(t, p, "No flow has started in this browser", `href="/learn/1"`)
	}
	// A press without its predecessor does nothing but go to the page that says why.
	for path, want := range map[string]string{
		"/learn/3/check": "/learn/3", "/learn/4/send": "/learn/4", "/learn/refresh": "/learn/refresh", "/learn/revoke": "/learn/revoke",
		"/learn/mistakes/wrong-state": "/learn/3", "/learn/mistakes/wrong-verifier": "/learn/4", "/learn/mistakes/code-twice": "/learn/5",
		"/learn/mistakes/old-refresh-token": "/learn/refresh", "/learn/mistakes/expired-code": "/learn/4", "/learn/device/poll": "/learn/device",
	} {
		if p := a.learnPress(b, path); p.URL.Path != want || p.Status != http.StatusOK {
			t.Errorf("POST %s led to %s (%d), want %s", path, p.URL.Path, p.Status, want)
		}
	}
	if p := a.learnPress(b, "/learn/mistakes/no-such-mistake"); p.Status != http.StatusNotFound {
		t.Errorf("an unknown mistake: %d", p.Status)
	}
	if p := a.get(b, a.URL+"/learn/6"); p.Status != http.StatusNotFound {
		t.Errorf("/learn/6: %d", p.Status)
	}
	if s := a.Sandbox.Stats(); s != (sandbox.Stats{}) {
		t.Errorf("the sandbox saw %+v, want nothing", s)
	}

	// A flow started but no callback yet: step 3 sends to step 2.
	a.learnPress(b, "/learn/start")
	p := a.get(b, a.URL+"/learn/3")
	mustContain(t, p, "The callback has not arrived yet", `href="/learn/2"`)
	// The callback arrived, the state not checked: step 4 sends to step 3,
	// and Send sends nothing.
	a.learnConsent(b, "approve")
	p = a.get(b, a.URL+"/learn/4")
	mustContain(t, p, "Check the state first", `href="/learn/3"`)
	if p := a.learnPress(b, "/learn/4/send"); p.URL.Path != "/learn/4" || a.Sandbox.Stats().CodeExchanges != 0 {
		t.Errorf("Send before the state check went to %s and made %d exchanges", p.URL.Path, a.Sandbox.Stats().CodeExchanges)
	}
	// No tokens yet: step 5 sends to step 4.
	a.learnPress(b, "/learn/3/check")
	p = a.get(b, a.URL+"/learn/5")
	mustContain(t, p, "There are no tokens yet", `href="/learn/4"`)

	// A denial: step 3 shows it, step 4 says there is no code.
	a.learnPress(b, "/learn/start")
	p = a.learnConsent(b, "deny")
	mustContain(t, p, "error=access_denied", "because you pressed Deny")
	a.learnPress(b, "/learn/3/check")
	p = a.get(b, a.URL+"/learn/4")
	mustContain(t, p, "The callback brought no code")

	// A callback with no learn flow in the browser is not taken.
	other := newBrowser(t)
	p = a.get(other, a.URL+learn.CallbackPath+"?code=abc&state=def")
	if p.Status != http.StatusBadRequest || a.cookie(other, learnCookie) != "" {
		t.Errorf("a callback without a flow: %d, cookie %q", p.Status, a.cookie(other, learnCookie))
	}
	mustNotContain(t, p, "abc", "def")

	// The flow ends 10 minutes after the last press.
	a.Clock.Advance(loginTTL + time.Second)
	p = a.get(b, a.URL+"/learn/3")
	mustContain(t, p, "No flow has started in this browser, or it has ended")
}

// mistakeAnswer returns the answer a mistake's result shows.
func mistakeAnswer(t *testing.T, p page, name string) string {
	t.Helper()
	i := strings.Index(p.Body, `id="`+name+`"`)
	if i < 0 {
		t.Fatalf("%s has no %s mistake", p.URL.Path, name)
	}
	article := p.Body[i:]
	article = article[:strings.Index(article, "</article>")]
	got := answers(page{Body: article})
	if len(got) == 0 {
		t.Fatalf("the %s mistake shows no answer:\n%s", name, article)
	}
	return got[0]
}

func TestLearnMistakes(t *testing.T) {
	t.Parallel()
	type counts struct{ exchanges, refreshes, live int }
	tests := []struct {
		name   string
		before func(a *testApp, b *http.Client) // brings the flow where the mistake's button is
		status string                           // the answer's status line
		error  string                           // the OAuth error code
		after  func(t *testing.T, a *testApp, b *http.Client, p page, was counts)
	}{
		{name: learn.MistakeWrongRedirectURI, before: func(a *testApp, b *http.Client) { a.learnToStep4(b) },
			status: "HTTP/1.1 400 Bad Request", error: "invalid_grant",
			after: func(t *testing.T, a *testApp, b *http.Client, p page, _ counts) {
				mustContain(t, p, "The redirect_uri does not match", "redirect_uri="+url.QueryEscape(learn.ElsewhereURI))
				// The code is spent: Send has nothing to send.
				p = a.learnPress(b, "/learn/4/send")
				mustContain(t, p, "spent by a mistake")
			}},
		{name: learn.MistakeWrongVerifier, before: func(a *testApp, b *http.Client) { a.learnToStep4(b) },
			status: "HTTP/1.1 400 Bad Request", error: "invalid_grant",
			after: func(t *testing.T, a *testApp, b *http.Client, p page, _ counts) {
				mustContain(t, p, "The code_verifier does not match the code_challenge")
			}},
		{name: learn.MistakeCodeTwice, before: func(a *testApp, b *http.Client) { a.learnToStep5(b) },
			status: "HTTP/1.1 400 Bad Request", error: "invalid_grant",
			after: func(t *testing.T, a *testApp, b *http.Client, p page, _ counts) {
				// The sandbox revoked the grant the code gave: the page shows
				// the API refusing its token.
				if s := a.Sandbox.Stats(); s.Revocations != 1 {
					t.Errorf("%d revocations, want the code's grant revoked", s.Revocations)
				}
				mustContain(t, p, "HTTP/1.1 401 Unauthorized", "the code was sent twice")
			}},
		{name: learn.MistakeOldRefreshToken, before: func(a *testApp, b *http.Client) { a.learnToStep5(b); a.learnPress(b, "/learn/refresh") },
			status: "HTTP/1.1 400 Bad Request", error: "invalid_grant",
			after: func(t *testing.T, a *testApp, b *http.Client, p page, _ counts) {
				// And the old access token is refused too, DigitalOcean's rule.
				mustContain(t, p, "HTTP/1.1 401 Unauthorized")
				if a.apiStatus(a.learnState(b).Flow.Access) != http.StatusOK {
					t.Error("the new pair stopped working")
				}
			}},
		{name: learn.MistakeExpiredCode, before: func(a *testApp, b *http.Client) {
			p := a.learnPress(b, "/learn/4/quick-code") // to the consent page, for the quick client
			if !strings.Contains(p.Body, learn.QuickClientName) {
				a.t.Fatalf("the quick code's consent page:\n%s", p.Body)
			}
			action, fields := consentForm(a.t, p)
			fields.Set("decision", "approve")
			if p := a.post(b, action, fields, http.Header{"Origin": {a.SBURL}}); p.URL.Path != "/learn/4" {
				a.t.Fatalf("the quick code's callback led to %s", p.URL.Path)
			}
			// Pressed too soon, nothing is sent: it would have worked.
			p = a.learnPress(b, "/learn/mistakes/"+learn.MistakeExpiredCode)
			if !strings.Contains(p.Body, "The code has not expired yet") || a.Sandbox.Stats().CodeExchanges != 0 {
				a.t.Fatalf("pressed before the expiry, the mistake sent the code (%d exchanges):\n%s", a.Sandbox.Stats().CodeExchanges, p.Body)
			}
			a.Clock.Advance(learn.QuickCodeTTL + time.Second)
		}, status: "HTTP/1.1 400 Bad Request", error: "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newLearnApp(t)
			b := a.Browser
			tt.before(a, b)
			s := a.Sandbox.Stats()
			was := counts{s.CodeExchanges, s.Refreshes, s.LiveAccessTokens}
			p := a.learnPress(b, "/learn/mistakes/"+tt.name)
			m, _ := learn.MistakeNamed(tt.name)
			if want := m.Page; p.URL.Path != want {
				t.Fatalf("the mistake led to %s, want %s", p.URL.Path, want)
			}
			got := mistakeAnswer(t, p, tt.name)
			if !strings.HasPrefix(got, tt.status) || !strings.Contains(got, `"error": "`+tt.error+`"`) {
				t.Errorf("the mistake's answer:\n%s\nwant %s with error %s", got, tt.status, tt.error)
			}
			if tt.status != "HTTP/1.1 "+strconv.Itoa(m.Status)+" "+http.StatusText(m.Status) || tt.error != m.Error {
				t.Errorf("the mistake says it gets %d %s, the sandbox answered %s %s", m.Status, m.Error, tt.status, tt.error)
			}
			mustContain(t, p, "nothing was issued", "Why the check exists")
			s = a.Sandbox.Stats()
			if s.CodeExchanges != was.exchanges || s.Refreshes != was.refreshes || s.LiveAccessTokens > was.live {
				t.Errorf("the mistake issued something: %+v, was %+v", s, was)
			}
			if tt.after != nil {
				tt.after(t, a, b, p, was)
			}
		})
	}

	// The wrong state is the app's own check: the sandbox hears nothing.
	t.Run(learn.MistakeWrongState, func(t *testing.T) {
		t.Parallel()
		a := newLearnApp(t)
		b := a.Browser
		a.learnPress(b, "/learn/start")
		a.learnConsent(b, "approve")
		p := a.learnPress(b, "/learn/mistakes/"+learn.MistakeWrongState)
		mustContain(t, p, "<strong class=\"verdict-refused\">No</strong>: the app stops here with 403", a.learnState(b).Flow.State)
		if s := a.Sandbox.Stats(); s.CodeExchanges != 0 {
			t.Errorf("%d code exchanges after a wrong state", s.CodeExchanges)
		}
		// It checked nothing of the real flow: the state check still passes.
		p = a.learnPress(b, "/learn/3/check")
		mustContain(t, p, "Yes</strong>")
	})
}

// approveDevice approves (or denies) a user code on the sandbox's
// user-code page, as the learner does in another tab.
func (a *testApp) approveDevice(c *http.Client, userCode, decision string) {
	a.t.Helper()
	p := a.get(c, a.SBURL+"/device?user_code="+url.QueryEscape(userCode))
	if p.Status != http.StatusOK {
		a.t.Fatalf("the user-code page: %d\n%s", p.Status, p.Body)
	}
	action, fields := consentForm(a.t, p)
	fields.Set("decision", decision)
	if p := a.post(c, action, fields, http.Header{"Origin": {a.SBURL}}); p.Status != http.StatusOK {
		a.t.Fatalf("deciding on the user-code page: %d\n%s", p.Status, p.Body)
	}
}

func lastAnswer(t *testing.T, p page) string {
	t.Helper()
	got := answers(p)
	if len(got) == 0 {
		t.Fatalf("%s shows no answer:\n%s", p.URL.Path, p.Body)
	}
	return got[len(got)-1]
}

func TestLearnDeviceGrant(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser

	p := a.get(b, a.URL+"/learn/device")
	mustContain(t, p, "DigitalOcean does not offer this grant; the sandbox shows how it works", "client_id="+learn.PublicClientID, "go run . device")
	p = a.learnPress(b, "/learn/device/start")
	d := a.learnState(b).Device
	if d == nil || d.UserCode == "" || d.Interval != 5 {
		t.Fatalf("after Start the cookie holds %+v", d)
	}
	mustContain(t, p, "HTTP/1.1 200 OK", d.UserCode, `href="`+a.SBURL+`/device"`, "device_code="+d.DeviceCode)

	// Polled before the learner decides: pending; polled again at once: slow_down.
	p = a.learnPress(b, "/learn/device/poll")
	if got := lastAnswer(t, p); !strings.HasPrefix(got, "HTTP/1.1 400") || !strings.Contains(got, `"authorization_pending"`) {
		t.Errorf("the first poll: %s", got)
	}
	p = a.learnPress(b, "/learn/device/poll")
	if got := lastAnswer(t, p); !strings.Contains(got, `"slow_down"`) {
		t.Errorf("a poll at once after the first: %s", got)
	}
	// Approved on the user-code page, then polled after the (longer) interval: the tokens.
	a.approveDevice(newBrowser(t), d.UserCode, "approve")
	a.Clock.Advance(10 * time.Second)
	p = a.learnPress(b, "/learn/device/poll")
	if got := lastAnswer(t, p); !strings.HasPrefix(got, "HTTP/1.1 200 OK") || !strings.Contains(got, `"refresh_token"`) {
		t.Errorf("the poll after Approve: %s", got)
	}
	mustNotContain(t, p, `action="/learn/device/poll"`)
	if !a.learnState(b).Device.Done {
		t.Error("polling is not over after the tokens")
	}

	// Denied.
	a.learnPress(b, "/learn/device/start")
	a.Clock.Advance(learn.ShareFor) // a new authorization, not the last one shared again
	a.learnPress(b, "/learn/device/start")
	d = a.learnState(b).Device
	a.approveDevice(newBrowser(t), d.UserCode, "deny")
	p = a.learnPress(b, "/learn/device/poll")
	if got := lastAnswer(t, p); !strings.Contains(got, `"access_denied"`) {
		t.Errorf("the poll after Deny: %s", got)
	}

	// Expired.
	a.Clock.Advance(learn.ShareFor)
	a.learnPress(b, "/learn/device/start")
	a.Clock.Advance(10 * time.Minute)
	p = a.get(b, a.URL+"/learn/device")
	mustContain(t, p, "These codes have expired")
	p = a.learnPress(b, "/learn/device/poll")
	if got := lastAnswer(t, p); !strings.Contains(got, `"expired_token"`) {
		t.Errorf("the poll after 10 minutes: %s", got)
	}
}

func TestLearnClientCredentials(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser

	p := a.get(b, a.URL+"/learn/client-credentials")
	mustContain(t, p, "DigitalOcean does not offer this grant; the sandbox shows how it works", "grant_type=client_credentials")
	p = a.learnPress(b, "/learn/client-credentials")
	got := answers(p)
	if len(got) != 3 {
		t.Fatalf("want the token's answer and the API's two, got %q", got)
	}
	if !strings.HasPrefix(got[0], "HTTP/1.1 200 OK") || !strings.Contains(got[0], `"access_token"`) || strings.Contains(got[0], "refresh_token") || strings.Contains(got[0], `"info"`) {
		t.Errorf("the token answer: %s, want an access token with no refresh token and no info", got[0])
	}
	if !strings.HasPrefix(got[1], "HTTP/1.1 403 Forbidden") || !strings.Contains(got[1], "acts for no user") {
		t.Errorf("GET /v2/account with the token: %s, want 403", got[1])
	}
	if !strings.HasPrefix(got[2], "HTTP/1.1 200 OK") || !strings.Contains(got[2], `"droplets": []`) {
		t.Errorf("GET /v2/droplets with the token: %s, want an empty list", got[2])
	}

	p = a.learnPress(b, "/learn/client-credentials/public")
	if got := lastAnswer(t, p); !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request") || !strings.Contains(got, `"unauthorized_client"`) {
		t.Errorf("asked as a public client: %s", got)
	}
	mustContain(t, p, "nothing was issued")
	if s := a.Sandbox.Stats(); s.LiveAccessTokens != 1 {
		t.Errorf("%d live tokens, want the one of the confidential client", s.LiveAccessTokens)
	}
}

// sendCurl runs a curl command a page shows, read without a shell.
func sendCurl(t *testing.T, command string) (int, string) {
	t.Helper()
	req, err := curlcmd.Parse(command)
	if err != nil {
		t.Fatalf("%v\n%s", err, command)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestLearnCurlCommandsWork runs each page's copy-as-curl command, as a
// learner would from a terminal, and gets the answer the page describes.
func TestLearnCurlCommandsWork(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser
	a.learnToStep4(b)

	// Step 4's command gets the tokens, after which Send is the code used twice.
	p := a.get(b, a.URL+"/learn/4")
	mustContain(t, p, "not both: the code works once")
	status, body := sendCurl(t, curls(p)[0])
	if status != http.StatusOK || !strings.Contains(body, `"access_token"`) {
		t.Fatalf("step 4's curl: %d %s", status, body)
	}
	p = a.learnPress(b, "/learn/4/send")
	mustContain(t, p, "HTTP/1.1 400 Bad Request", "invalid_grant")

	// A fresh flow for the rest.
	a.learnToStep5(b)
	for _, tt := range []struct {
		path   string
		status []int
	}{
		{"/learn/api", []int{http.StatusOK, http.StatusOK}},
		{"/learn/refresh", []int{http.StatusOK}},
		{"/learn/client-credentials", []int{http.StatusOK, http.StatusBadRequest}}, // the public client's is refused
		{"/learn/device", []int{http.StatusOK}},
	} {
		p := a.get(b, a.URL+tt.path)
		commands := curls(p)
		if len(commands) < len(tt.status) {
			t.Fatalf("%s shows %d curl commands, want %d", tt.path, len(commands), len(tt.status))
		}
		for i, want := range tt.status {
			if status, body := sendCurl(t, commands[i]); status != want {
				t.Errorf("%s's command %d: %d %s, want %d", tt.path, i+1, status, body, want)
			}
		}
	}
	// Revoking, in a flow of its own: the token then fails.
	other := newBrowser(t)
	a.learnToStep5(other)
	p = a.get(other, a.URL+"/learn/revoke")
	if status, body := sendCurl(t, curls(p)[0]); status != http.StatusOK {
		t.Errorf("the revoke page's command: %d %s", status, body)
	}
	if a.apiStatus(a.learnState(other).Flow.Access) != http.StatusUnauthorized {
		t.Error("the token works after the revoke page's command")
	}
	// The device's poll, with the code from Start: pending.
	a.learnPress(b, "/learn/device/start")
	p = a.get(b, a.URL+"/learn/device")
	commands := curls(p)
	if status, body := sendCurl(t, commands[1]); status != http.StatusBadRequest || !strings.Contains(body, "authorization_pending") {
		t.Errorf("the device's poll command: %d %s", status, body)
	}
}
