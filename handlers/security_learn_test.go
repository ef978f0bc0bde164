package handlers

// Security tests of the learn pages (handlers/learn.go), numbered like
// the protections in docs/SECURITY.md.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/handlers/learn"
)

func TestSecurity44LearnStateNeverMixesWithTheSession(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser

	// Signed in and learning at once: the whole learn flow, revocation
	// included, leaves the session and its grant as they were.
	a.connect(b, "approve")
	sess := a.session(b)
	a.learnToStep5(b)
	a.Clock.Advance(time.Minute)
	a.learnPress(b, "/learn/refresh")
	a.learnPress(b, "/learn/mistakes/"+learn.MistakeOldRefreshToken)
	lst := a.learnState(b)
	a.learnPress(b, "/learn/revoke")
	if got := a.session(b); got == nil || got.AccessToken != sess.AccessToken || got.RefreshToken != sess.RefreshToken {
		t.Fatalf("learning changed the session: %+v, was %+v", got, sess)
	}
	if p := a.get(b, a.URL+"/digitalocean"); p.Status != http.StatusOK || !strings.Contains(p.Body, "Your droplets") {
		t.Fatalf("after learning, the droplet page: %d", p.Status)
	}
	if a.apiStatus(sess.AccessToken) != http.StatusOK {
		t.Error("the learn flow's revocation ended the app's grant")
	}
	for _, v := range []string{lst.Flow.Access, lst.Flow.Refresh, lst.Flow.State, learn.ClientSecret} {
		if v == sess.AccessToken || v == sess.RefreshToken {
			t.Errorf("the learn flow and the session share %q", v)
		}
	}

	// Neither cookie stands for the other: the learn cookie under the
	// session's name signs nobody in, and the session's (or the login or
	// flow cookie's) under the learn cookie's name is no learn state.
	learnValue, sessionValue := a.cookie(b, learnCookie), a.cookie(b, sessionCookie)
	if learnValue == "" || sessionValue == "" {
		t.Fatal("the browser lacks a cookie")
	}
	swapped := newBrowser(t)
	swapped.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{{Name: sessionCookie, Value: learnValue}})
	if p := a.get(swapped, a.URL+"/"); !strings.Contains(p.Body, `href="/connect"`) || strings.Contains(p.Body, "Disconnect") {
		t.Error("the learn cookie, as the session cookie, signs in")
	}
	for _, value := range []string{sessionValue, a.cookie(b, flowCookie)} {
		swapped := newBrowser(t)
		swapped.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{{Name: learnCookie, Value: value}})
		if p := a.get(swapped, a.URL+"/learn/5"); !strings.Contains(p.Body, "No flow has started in this browser") {
			t.Error("another cookie's value reads as learn state")
		}
	}

	// The learn cookie is sealed: no layer shows a token, the made-up
	// secret or the state, or reads as the state without the keys.
	for _, l := range cookieLayers(learnValue) {
		for _, plain := range []string{lst.Flow.Access, lst.Flow.State, learn.ClientSecret, "access_token", `"flow"`} {
			if strings.Contains(l, plain) {
				t.Fatalf("the learn cookie shows %q", plain)
			}
		}
		var got learnState
		if err := json.Unmarshal([]byte(l), &got); err == nil {
			t.Fatalf("a layer of the learn cookie reads as learn state without the keys: %+v", got)
		}
	}

	// Short-lived and bounded: Max-Age at most loginTTL, at most 4 KB
	// whatever the flow holds, and ended on the server loginTTL after the
	// last press whatever the browser keeps.
	p := a.learnPress(b, "/learn/device/start")
	lines := p.Header.Values("Set-Cookie")
	if len(lines) == 0 { // the redirect's; the page after sets none
		lines = a.lastSetCookie(b, "/learn/client-credentials")
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, learnCookie+"=") {
			continue
		}
		if len(line) > 4096 {
			t.Errorf("the learn cookie's Set-Cookie is %d bytes", len(line))
		}
		if m := regexp.MustCompile(`Max-Age=(\d+)`).FindStringSubmatch(line); m == nil || m[1] != "600" {
			t.Errorf("the learn cookie's Set-Cookie %q, want Max-Age=600", line[len(line)-80:])
		}
	}
	a.Clock.Advance(loginTTL + time.Second)
	if p := a.get(b, a.URL+"/learn/5"); !strings.Contains(p.Body, "No flow has started in this browser, or it has ended") {
		t.Error("the learn state outlived loginTTL")
	}
}

// lastSetCookie presses path without following the redirect, and returns
// the Set-Cookie lines of its answer.
func (a *testApp) lastSetCookie(c *http.Client, path string) []string {
	a.t.Helper()
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodPost, a.URL+path, nil)
	req.Header.Set("Origin", a.URL)
	resp, err := noFollow.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Values("Set-Cookie")
}

// learnPOSTs are every learn POST route, with each mistake's.
func learnPOSTs(t *testing.T) []string {
	t.Helper()
	paths := []string{"/learn/start", "/learn/3/check", "/learn/4/send", "/learn/4/quick-code", "/learn/refresh", "/learn/revoke",
		"/learn/device/start", "/learn/device/poll", "/learn/client-credentials", "/learn/client-credentials/public"}
	for _, m := range learn.Mistakes() {
		paths = append(paths, "/learn/mistakes/"+m.Name)
	}
	// Every POST route of server.go is among them.
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`e\.POST\("(/learn[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		if !slices.Contains(paths, m[1]) && !strings.Contains(m[1], ":") {
			t.Errorf("the route POST %s is not tested", m[1])
		}
	}
	return paths
}

func TestSecurity45LearnPOSTsAreSameOriginOnlyAndDoOneThing(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser
	a.learnToStep4(b) // a flow whose Send would exchange the code

	// From another site, each press is refused before it does anything.
	before, cookie := a.Sandbox.Stats(), a.cookie(b, learnCookie)
	for _, path := range learnPOSTs(t) {
		p := a.post(b, a.URL+path, nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
		if p.Status != http.StatusForbidden {
			t.Errorf("a cross-site POST %s: %d, want 403", path, p.Status)
		}
	}
	if s := a.Sandbox.Stats(); s != before || a.cookie(b, learnCookie) != cookie {
		t.Errorf("cross-site presses changed something: sandbox %+v, was %+v; cookie changed: %t", s, before, a.cookie(b, learnCookie) != cookie)
	}
	// No GET does a press's work: it is a page that shows (Refresh's,
	// Revoke's), or none.
	pages := []string{"/learn/refresh", "/learn/revoke", "/learn/client-credentials"}
	for _, path := range learnPOSTs(t) {
		p := a.get(b, a.URL+path)
		if slices.Contains(pages, path) != (p.Status == http.StatusOK) || p.Status >= 500 {
			t.Errorf("GET %s: %d", path, p.Status)
		}
	}
	if s := a.Sandbox.Stats(); s != before || a.cookie(b, learnCookie) != cookie {
		t.Errorf("GETs changed something: sandbox %+v, was %+v", s, before)
	}

	// A double submit of Send (the second carries the cookie the browser
	// had before the first's answer) exchanges the code once, and both
	// answers show the same tokens.
	first := a.learnPress(b, "/learn/4/send")
	second := newBrowser(t)
	second.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{{Name: learnCookie, Value: cookie}})
	again := a.learnPress(second, "/learn/4/send")
	if s := a.Sandbox.Stats(); s.CodeExchanges != 1 || s.Revocations != 0 {
		t.Errorf("a double Send: %d exchanges and %d revocations, want 1 and 0", s.CodeExchanges, s.Revocations)
	}
	if x, y := answers(first), answers(again); len(x) != 1 || len(y) != 1 || x[0] != y[0] || !strings.HasPrefix(x[0], "HTTP/1.1 200 OK") {
		t.Errorf("the two Sends show different answers:\n%q\n%q", x, y)
	}
	// So does a double Refresh: one refresh, one new pair.
	cookie = a.cookie(b, learnCookie)
	a.learnPress(b, "/learn/refresh")
	second.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{{Name: learnCookie, Value: cookie}})
	a.learnPress(second, "/learn/refresh")
	if s := a.Sandbox.Stats(); s.Refreshes != 1 {
		t.Errorf("a double Refresh made %d refreshes, want 1", s.Refreshes)
	}
	if x, y := a.learnState(b).Flow, a.learnState(second).Flow; x.Refresh != y.Refresh || x.Refresh == "" {
		t.Errorf("the two Refreshes kept different pairs")
	}
	// Pressed again later, it is a new press.
	a.Clock.Advance(learn.ShareFor)
	a.learnPress(b, "/learn/refresh")
	if s := a.Sandbox.Stats(); s.Refreshes != 2 {
		t.Errorf("a later Refresh made %d refreshes in all, want 2", s.Refreshes)
	}
}

func TestSecurity46LearnPagesWithDigitalOceanShowNoSecret(t *testing.T) {
	t.Parallel()
	a := newTestApp(t) // no learn configuration: the app talks to "DigitalOcean"
	b := a.Browser
	a.connect(b, "approve")
	sess := a.session(b)
	before := a.Sandbox.Stats()

	secrets := []string{"test-secret-that-is-long-enough", learn.ClientSecret, sess.AccessToken, sess.RefreshToken}
	token := regexp.MustCompile(`do[opr]_v1_[0-9a-f]{6}`)
	for _, path := range []string{"/learn", "/learn/1", "/learn/2", "/learn/3", "/learn/4", "/learn/5", "/learn/api", "/learn/api?call=1",
		"/learn/refresh", "/learn/revoke", "/learn/device", "/learn/client-credentials", "/learn/implicit"} {
		p := a.get(b, a.URL+path)
		if p.Status != http.StatusOK {
			t.Errorf("%s: %d", path, p.Status)
		}
		mustNotContain(t, p, secrets...)
		mustNotContain(t, p, `method="post" action="/learn`)
		if m := token.FindString(p.Body); m != "" {
			t.Errorf("%s shows a token: %s…", path, m)
		}
		switch path {
		case "/learn/device", "/learn/client-credentials":
			mustContain(t, p, "DigitalOcean does not offer this grant", "configured for DigitalOcean, which")
		case "/learn/implicit":
		default:
			mustContain(t, p, "This app is configured for DigitalOcean, so this page explains the step")
		}
	}
	// The steps are explained with placeholders.
	mustContain(t, a.get(b, a.URL+"/learn/4"), "client_secret=CLIENT_SECRET", "code=AUTHORIZATION_CODE", "https://cloud.digitalocean.com/v1/oauth/token")
	// No press acts, and the callback takes nothing.
	for _, path := range learnPOSTs(t) {
		if p := a.learnPress(b, path); p.Status != http.StatusNotFound || !strings.Contains(p.Body, "Only in sandbox mode") {
			t.Errorf("POST %s with DigitalOcean: %d", path, p.Status)
		}
	}
	p := a.get(b, a.URL+learn.CallbackPath+"?code=stolen-code&state=some-state")
	if p.Status != http.StatusNotFound {
		t.Errorf("the learn callback with DigitalOcean: %d", p.Status)
	}
	mustNotContain(t, p, "stolen-code", "some-state")
	if a.cookie(b, learnCookie) != "" {
		t.Error("a learn cookie was set with DigitalOcean")
	}
	if s := a.Sandbox.Stats(); s != before {
		t.Errorf("the learn pages called DigitalOcean: %+v, was %+v", s, before)
	}
}

func TestSecurity47LearnSendsNoTokenRequestBeforeTheStateMatches(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser
	var tokenRequests atomic.Int32
	a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/oauth/token" {
			tokenRequests.Add(1)
		}
		a.Sandbox.ServeHTTP(w, r)
	}))
	a.learnPress(b, "/learn/start")

	// An attacker's callback: their own code, a state of their own
	// making. The check fails, and Send sends nothing.
	attacker := newBrowser(t)
	a.learnPress(attacker, "/learn/start")
	a.learnConsent(attacker, "approve")
	theirs := a.learnState(attacker).Flow.Callback
	q, _ := url.ParseQuery(theirs)
	for _, forged := range []string{theirs, "code=" + q.Get("code"), "code=" + q.Get("code") + "&state=", "code=" + q.Get("code") + "&state=" + a.learnState(b).Flow.State + "x"} {
		p := a.get(b, a.URL+learn.CallbackPath+"?"+forged)
		if p.URL.Path != "/learn/3" {
			t.Fatalf("the callback %q led to %s (%d)", forged, p.URL.Path, p.Status)
		}
		p = a.learnPress(b, "/learn/3/check")
		mustContain(t, p, "<strong class=\"verdict-refused\">No</strong>")
		if p := a.learnPress(b, "/learn/4/send"); p.URL.Path != "/learn/4" || !strings.Contains(p.Body, "Check the state first") {
			t.Errorf("Send after a failed check went to %s", p.URL.Path)
		}
		if p := a.learnPress(b, "/learn/mistakes/"+learn.MistakeWrongVerifier); p.URL.Path != "/learn/4" {
			t.Errorf("a step-4 mistake after a failed check went to %s", p.URL.Path)
		}
	}
	if n := tokenRequests.Load(); n != 0 {
		t.Fatalf("%d token requests before the state matched", n)
	}

	// The callback is read strictly and bounded: what the sandbox never
	// sends is refused, and the flow keeps the callback it had.
	kept := a.learnState(b).Flow.Callback
	for _, bad := range []string{
		"code=a&code=b&state=s",
		"code=" + strings.Repeat("a", maxLearnCallback) + "&state=s",
		"code=%zz&state=s",
		"nothing=here",
	} {
		if p := a.get(b, a.URL+learn.CallbackPath+"?"+bad); p.Status != http.StatusBadRequest {
			t.Errorf("the callback %.40q…: %d, want 400", bad, p.Status)
		}
	}
	if got := a.learnState(b).Flow.Callback; got != kept {
		t.Errorf("a refused callback replaced the flow's: %q", got)
	}
}

func TestSecurity48LearnPagesAreNotCompressed(t *testing.T) {
	t.Parallel()
	a := newLearnApp(t)
	b := a.Browser
	a.learnToStep5(b)
	// A forged callback's query is reflected on step 3, beside the
	// flow's state; step 5 shows tokens. Neither is compressed, whatever
	// the browser accepts, while the app's other pages are.
	get := func(path string) (encoding string, n int) {
		req, _ := http.NewRequest(http.MethodGet, a.URL+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := b.Do(req) // with Accept-Encoding set, the transport leaves the body as it came
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Encoding"), len(body)
	}
	for _, path := range []string{"/learn/3", "/learn/4", "/learn/5", "/learn/refresh", "/learn/device"} {
		if enc, n := get(path); enc != "" {
			t.Errorf("%s is sent %s (%d bytes)", path, enc, n)
		}
	}
	if enc, _ := get("/"); enc != "gzip" {
		t.Errorf("the index is sent %q: the check above would prove nothing", enc)
	}
}
