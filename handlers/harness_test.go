package handlers

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/doclient"
	"dosignin/internal/testclock"
	"dosignin/sandbox"
)

// testApp is the real app (Echo router, cookie store, doclient) on an
// httptest server, talking over HTTP to the sandbox on another server, as
// it talks to DigitalOcean in production.
type testApp struct {
	t       testing.TB
	URL     string // the app's base URL
	Sandbox *sandbox.Server
	SBURL   string           // the sandbox's base URL
	Clock   *testclock.Clock // shared by the app, doclient and the sandbox
	Server  *Server
	Browser *http.Client // a cookie jar that follows redirects, like a browser
	secrets [][]byte

	upstream atomic.Pointer[http.Handler]
}

type appOption func(*Options, *sandbox.Config)

func newTestApp(t testing.TB, opts ...appOption) *testApp {
	t.Helper()
	clock := testclock.New(time.Now())
	var appHandler http.Handler
	a := &testApp{t: t, Clock: clock, Browser: newBrowser(t)}
	appSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { appHandler.ServeHTTP(w, r) }))
	t.Cleanup(appSrv.Close)
	sbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*a.upstream.Load()).ServeHTTP(w, r) }))
	t.Cleanup(sbSrv.Close)

	redirect, _ := url.Parse(appSrv.URL + "/digitalocean")
	sbCfg := sandbox.Config{
		ClientID: "test-client", ClientSecret: "test-secret-that-is-long-enough",
		RedirectURIs: []string{redirect.String()},
		AppName:      "Test App",
		TokenTTL:     5 * time.Minute,
		Droplets:     3,
		Now:          clock.Now,
	}
	secrets := [][]byte{[]byte("0123456789abcdef0123456789abcdef-test")}
	o := Options{
		RedirectURL:    redirect,
		Scopes:         []string{"read"},
		PKCE:           true,
		SessionSecrets: secrets,
		IdleTimeout:    time.Hour,
		MaxAge:         24 * time.Hour,
		Views:          os.DirFS("../views"),
		Static:         os.DirFS("../static"),
		Now:            clock.Now,
	}
	for _, opt := range opts {
		opt(&o, &sbCfg)
	}
	if o.Learn != nil && o.Learn.OAuthURL == "" {
		// The learn pages talk to the same sandbox (withLearn).
		o.Learn.OAuthURL, o.Learn.APIURL = sbSrv.URL+"/v1/oauth", sbSrv.URL
	}
	sb, err := sandbox.New(sbCfg)
	if err != nil {
		t.Fatal(err)
	}
	a.SetUpstream(sb)
	client, err := doclient.New(doclient.Config{
		ClientID: sbCfg.ClientID, ClientSecret: sbCfg.ClientSecret,
		RedirectURL: redirect.String(), Scopes: o.Scopes,
		OAuthURL: sbSrv.URL + "/v1/oauth", APIURL: sbSrv.URL,
		Timeout: 5 * time.Second, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	o.Client = client
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	appHandler = s.Handler()

	a.URL, a.Sandbox, a.SBURL, a.Server, a.secrets = appSrv.URL, sb, sbSrv.URL, s, o.SessionSecrets
	return a
}

// SetUpstream replaces what answers at the sandbox's address, to make
// DigitalOcean fail in a given way; SetUpstream(a.Sandbox) restores it.
func (a *testApp) SetUpstream(h http.Handler) {
	a.upstream.Store(&h)
}

func newBrowser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// page is a response as a user sees it: where the browser ended up, the
// status, and the body.
type page struct {
	URL    *url.URL
	Status int
	Body   string
	Header http.Header
}

func (a *testApp) get(c *http.Client, u string) page {
	a.t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		a.t.Fatalf("GET %s: %v", u, err)
	}
	return readPage(a.t, resp)
}

func (a *testApp) post(c *http.Client, u string, form url.Values, header http.Header) page {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatalf("POST %s: %v", u, err)
	}
	return readPage(a.t, resp)
}

func readPage(t testing.TB, resp *http.Response) page {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{URL: resp.Request.URL, Status: resp.StatusCode, Body: string(body), Header: resp.Header}
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*>`)
	attrRE   = regexp.MustCompile(`(name|value)="([^"]*)"`)
)

// consentForm finds the sandbox's consent form and its hidden fields, as a
// browser would before the user clicks a button.
func consentForm(t testing.TB, p page) (action string, fields url.Values) {
	t.Helper()
	m := formRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no consent form on %s (status %d):\n%s", p.URL, p.Status, p.Body)
	}
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	fields = url.Values{}
	for _, input := range hiddenRE.FindAllString(m[2], -1) {
		var name, value string
		for _, a := range attrRE.FindAllStringSubmatch(input, -1) {
			if a[1] == "name" {
				name = html.UnescapeString(a[2])
			} else {
				value = html.UnescapeString(a[2])
			}
		}
		fields.Set(name, value)
	}
	return p.URL.ResolveReference(ref).String(), fields
}

// connect walks the whole flow the way a user does: Connect on the index,
// the consent page, a click on Authorize (decision "approve") or Deny.
func (a *testApp) connect(c *http.Client, decision string) page {
	a.t.Helper()
	consent := a.get(c, a.URL+"/connect")
	if consent.Status != http.StatusOK || !strings.HasPrefix(consent.URL.String(), a.SBURL) {
		a.t.Fatalf("/connect did not lead to the sandbox consent page: %d %s", consent.Status, consent.URL)
	}
	action, fields := consentForm(a.t, consent)
	fields.Set("decision", decision)
	return a.post(c, action, fields, http.Header{"Origin": {a.SBURL}})
}

// callbackURL stops the flow just before the browser returns to the app:
// it returns the redirect the sandbox issued after Authorize.
func (a *testApp) callbackURL(c *http.Client) string {
	a.t.Helper()
	consent := a.get(c, a.URL+"/connect")
	action, fields := consentForm(a.t, consent)
	fields.Set("decision", "approve")
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noFollow.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, a.URL+"/digitalocean?") {
		a.t.Fatalf("approve did not redirect to the callback: %d %q", resp.StatusCode, loc)
	}
	return loc
}

// cookie returns the value of the named cookie the browser holds for the app.
func (a *testApp) cookie(c *http.Client, name string) string {
	u, _ := url.Parse(a.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// session decodes the browser's session cookie with the app's keys, to check
// what the user cannot see (which tokens the cookie holds).
func (a *testApp) session(c *http.Client) *Session {
	a.t.Helper()
	value := a.cookie(c, sessionCookie)
	if value == "" {
		return nil
	}
	st, err := newSessionStore(a.secrets, false, time.Hour, 24*time.Hour, a.Clock.Now)
	if err != nil {
		a.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	var s Session
	if found, err := st.read(req, st.session, sessionCookie, &s); !found || err != nil {
		a.t.Fatalf("session cookie does not decode: %v", err)
	}
	return &s
}

// apiStatus asks the sandbox's API directly whether token still works.
func (a *testApp) apiStatus(token string) int {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.SBURL+"/v2/droplets", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// mustContain fails unless every want is in the page's text.
func mustContain(t *testing.T, p page, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(p.Body, w) {
			t.Errorf("%s (status %d) does not show %q", p.URL.Path, p.Status, w)
		}
	}
}

func mustNotContain(t *testing.T, p page, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if b != "" && strings.Contains(p.Body, b) {
			t.Errorf("%s (status %d) shows %q", p.URL.Path, p.Status, b)
		}
	}
}
