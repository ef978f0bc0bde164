package handlers

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"dosignin/sandbox"
)

func TestIndexOffersConnectLink(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	p := a.get(a.Browser, a.URL+"/")
	if p.Status != http.StatusOK {
		t.Fatalf("status %d", p.Status)
	}
	mustContain(t, p, `<a class="button" href="/connect">Connect DigitalOcean</a>`, `href="/connect?access=write"`)
	mustNotContain(t, p, `action="/logout"`, "Sandbox mode")
}

func TestConnectAuthorizeShowsEveryDroplet(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	p := a.connect(a.Browser, "approve")

	if p.Status != http.StatusOK || p.URL.Path != "/digitalocean" || p.URL.RawQuery != "" {
		t.Fatalf("after Authorize the browser is at %s with status %d, want the clean /digitalocean", p.URL, p.Status)
	}
	acct := a.Sandbox.Account()
	mustContain(t, p, "Your droplets", "3 droplets", acct.Name, acct.Email, "Read access")
	if n := strings.Count(p.Body, `<th scope="row"`); n != 3 {
		t.Errorf("the page lists %d droplets, want 3", n)
	}
	// The index now shows who is connected, a link to the droplets and a
	// Disconnect form.
	home := a.get(a.Browser, a.URL+"/")
	mustContain(t, home, acct.Name, acct.Email, `href="/digitalocean"`, `<form method="post" action="/logout">`, "Read")
	mustNotContain(t, home, ">Connect DigitalOcean<")

	if st := a.Sandbox.Stats(); st.CodeExchanges != 1 || st.Authorizations != 1 {
		t.Errorf("sandbox saw %+v, want one authorization and one exchange", st)
	}
	// The login cookie was spent; the session cookie holds the tokens.
	if v := a.cookie(a.Browser, loginCookie); v != "" {
		t.Error("the login-state cookie survived the callback")
	}
	sess := a.session(a.Browser)
	if !strings.HasPrefix(sess.AccessToken, "doo_v1_") || !strings.HasPrefix(sess.RefreshToken, "dor_v1_") || sess.Account.Email != acct.Email {
		t.Errorf("session holds %+v", sess)
	}
}

func TestDenyShowsMessageOnIndex(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	p := a.connect(a.Browser, "deny")
	if p.Status != http.StatusOK || p.URL.Path != "/" {
		t.Fatalf("after Deny the browser is at %s (%d), want the index", p.URL, p.Status)
	}
	mustContain(t, p, "You denied access", ">Connect DigitalOcean<")
	if a.cookie(a.Browser, sessionCookie) != "" || a.Sandbox.Stats().CodeExchanges != 0 {
		t.Error("a denial left a session or reached the token endpoint")
	}
	// The message is shown once.
	mustNotContain(t, a.get(a.Browser, a.URL+"/"), "You denied access")
}

func TestReusedCodeSaysTryAgain(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	first, _ := url.Parse(a.callbackURL(a.Browser))
	a.get(a.Browser, first.String())
	// A new login in the same browser, answered with the old, spent code.
	second, _ := url.Parse(a.callbackURL(a.Browser))
	q := second.Query()
	q.Set("code", first.Query().Get("code"))
	second.RawQuery = q.Encode()
	p := a.get(a.Browser, second.String())
	if p.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", p.Status)
	}
	mustContain(t, p, "Connect again", `href="/"`)
}

func TestDropletPageWhenNotConnectedGoesToIndex(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	p := a.get(a.Browser, a.URL+"/digitalocean")
	if p.URL.Path != "/" || p.Status != http.StatusOK {
		t.Fatalf("ended at %s (%d)", p.URL, p.Status)
	}
	mustContain(t, p, "Connect your DigitalOcean account", ">Connect DigitalOcean<")
}

func TestEveryDropletOfALargeAccount(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 450 })
	p := a.connect(a.Browser, "approve")
	mustContain(t, p, "450 droplets", "Showing 1–100 of 450 · ", "Page 1 of 5")
	// Next, page after page, shows every droplet once.
	names := map[string]bool{}
	for page := 1; ; page++ {
		for _, m := range rowNameRE.FindAllStringSubmatch(p.Body, -1) {
			if names[m[1]] {
				t.Errorf("page %d shows %s again", page, m[1])
			}
			names[m[1]] = true
		}
		next := nextRE.FindStringSubmatch(p.Body)
		if next == nil {
			break
		}
		p = a.get(a.Browser, a.URL+html.UnescapeString(next[1]))
		if page > 5 {
			t.Fatal("more than 5 pages of 100 for 450 droplets")
		}
	}
	if len(names) != 450 {
		t.Errorf("the pages list %d droplets, want 450", len(names))
	}
}

var (
	rowNameRE = regexp.MustCompile(`<th scope="row" data-label="Name"><a href="/droplets/\d+">([^<]*)</a></th>`)
	nextRE    = regexp.MustCompile(`<a href="([^"]*)" rel="next">`)
)

func TestEmptyAccountSaysNoDropletsYet(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = -1 })
	p := a.connect(a.Browser, "approve")
	mustContain(t, p, "0 droplets", "No droplets yet")
}

func TestExpiredTokenIsRefreshedOnceAndPersisted(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	before := a.session(a.Browser)

	a.Clock.Advance(6 * time.Minute) // past the 5-minute token lifetime
	p := a.get(a.Browser, a.URL+"/digitalocean")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "3 droplets") {
		t.Fatalf("after expiry the droplet page is %d", p.Status)
	}
	if n := a.Sandbox.Stats().Refreshes; n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	after := a.session(a.Browser)
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken {
		t.Fatal("the rotated tokens were not saved into the cookie")
	}
	// DigitalOcean's rules: the old access token is dead, the new one works.
	if got := a.apiStatus(before.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("the stale access token gets %d at the API, want 401", got)
	}
	if got := a.apiStatus(after.AccessToken); got != http.StatusOK {
		t.Errorf("the new access token gets %d at the API, want 200", got)
	}
	// The next page view uses the saved token: no second refresh.
	a.get(a.Browser, a.URL+"/digitalocean")
	if n := a.Sandbox.Stats().Refreshes; n != 1 {
		t.Errorf("%d refreshes after a second view, want 1", n)
	}
}

func TestParallelExpiredRequestsRefreshOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	a.Clock.Advance(6 * time.Minute)

	// Ten tabs reloading at once all carry the same expired cookie.
	cookie := &http.Cookie{Name: sessionCookie, Value: a.cookie(a.Browser, sessionCookie)}
	var wg sync.WaitGroup
	statuses := make([]int, 10)
	for i := range statuses {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, a.URL+"/digitalocean", nil)
			req.AddCookie(cookie)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: status %d", i, s)
		}
	}
	if n := a.Sandbox.Stats().Refreshes; n != 1 {
		t.Errorf("%d refreshes for 10 parallel requests, want 1", n)
	}
}

func TestDeadRefreshTokenAsksToConnectAgain(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	revoke(t, a, a.session(a.Browser).RefreshToken)
	a.Clock.Advance(6 * time.Minute)

	p := a.get(a.Browser, a.URL+"/digitalocean")
	if p.URL.Path != "/" || p.Status != http.StatusOK {
		t.Fatalf("ended at %s (%d), want the index", p.URL, p.Status)
	}
	mustContain(t, p, "Connect again", ">Connect DigitalOcean<")
	if a.cookie(a.Browser, sessionCookie) != "" {
		t.Error("the dead session was not cleared")
	}
}

func TestRevokedAccessTokenAsksToConnectAgain(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	revoke(t, a, a.session(a.Browser).AccessToken)

	p := a.get(a.Browser, a.URL+"/digitalocean")
	if p.URL.Path != "/" {
		t.Fatalf("ended at %s (%d), want the index", p.URL, p.Status)
	}
	// The page first renews the token once (another tab may have rotated
	// it); the revoked grant refuses the refresh too.
	mustContain(t, p, "session has ended", ">Connect DigitalOcean<")
	if a.cookie(a.Browser, sessionCookie) != "" {
		t.Error("the session was not cleared after a 401")
	}
}

func TestUpstreamFailureKeepsTheSession(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		expired bool // fail the refresh rather than the listing
		status  int  // what DigitalOcean answers
		want    int  // what the user gets
	}{
		{"API 500", false, http.StatusInternalServerError, http.StatusBadGateway},
		{"refresh 503", true, http.StatusServiceUnavailable, http.StatusBadGateway},
		{"API 429", false, http.StatusTooManyRequests, http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			a.connect(a.Browser, "approve")
			if tt.expired {
				a.Clock.Advance(6 * time.Minute)
			}
			a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, `{"id":"server_error","message":"internal details here"}`)
			}))
			p := a.get(a.Browser, a.URL+"/digitalocean")
			if p.Status != tt.want {
				t.Fatalf("status %d, want %d", p.Status, tt.want)
			}
			mustContain(t, p, "Try again")
			mustNotContain(t, p, "internal details here", "server_error")
			if tt.want == http.StatusServiceUnavailable && p.Header.Get("Retry-After") != "7" {
				t.Errorf("Retry-After %q, want 7", p.Header.Get("Retry-After"))
			}
			// DigitalOcean comes back: the same session works again.
			a.SetUpstream(a.Sandbox)
			if p := a.get(a.Browser, a.URL+"/digitalocean"); p.Status != http.StatusOK {
				t.Errorf("after recovery the page is %d: the session was lost", p.Status)
			}
		})
	}
}

func TestLogoutRevokesAndForgets(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	old := a.cookie(a.Browser, sessionCookie)

	p := a.post(a.Browser, a.URL+"/logout", nil, http.Header{"Origin": {a.URL}, "Sec-Fetch-Site": {"same-origin"}})
	if p.URL.Path != "/" || p.Status != http.StatusOK {
		t.Fatalf("ended at %s (%d)", p.URL, p.Status)
	}
	mustContain(t, p, "Disconnected", ">Connect DigitalOcean<")
	if n := a.Sandbox.Stats().Revocations; n != 1 {
		t.Errorf("%d revocations, want 1", n)
	}
	if a.cookie(a.Browser, sessionCookie) != "" {
		t.Error("the session cookie survived logout")
	}

	// Someone who kept the old cookie gets no droplets: the token is dead.
	thief := newBrowser(t)
	u, _ := url.Parse(a.URL)
	thief.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: old}})
	p = a.get(thief, a.URL+"/digitalocean")
	if p.URL.Path != "/" {
		t.Fatalf("a replayed cookie reached %s (%d)", p.URL, p.Status)
	}
	mustNotContain(t, p, "Your droplets")
}

func TestConnectMovesToTheRedirectURLsHost(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	u, _ := url.Parse(a.URL)
	other := strings.Replace(a.URL, "127.0.0.1", "localhost", 1)
	if other == a.URL {
		t.Skip("test server is not on 127.0.0.1")
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(other + "/connect?access=write")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "http://" + u.Host + "/connect?access=write"; resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Errorf("got %d to %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Error("a login cookie was set on the wrong host")
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.SetUpstream(http.NotFoundHandler()) // DigitalOcean down must not matter
	p := a.get(a.Browser, a.URL+"/healthz")
	if p.Status != http.StatusOK || strings.TrimSpace(p.Body) != `{"status":"ok"}` {
		t.Errorf("got %d %s", p.Status, p.Body)
	}
}

func TestUnknownPageIsAFriendly404(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	p := a.get(a.Browser, a.URL+"/nope")
	if p.Status != http.StatusNotFound {
		t.Errorf("status %d", p.Status)
	}
	mustContain(t, p, "Page not found", `href="/"`)
}

func TestStaticAssetsAreServedAndCached(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	home := a.get(a.Browser, a.URL+"/")
	i := strings.Index(home.Body, `/static/style.css?v=`)
	if i < 0 {
		t.Fatal("index links no versioned stylesheet")
	}
	href := home.Body[i : strings.IndexByte(home.Body[i:], '"')+i]
	css := a.get(a.Browser, a.URL+href)
	if css.Status != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") || !strings.Contains(css.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("stylesheet: %d %q %q", css.Status, css.Header.Get("Content-Type"), css.Header.Get("Cache-Control"))
	}
	if p := a.get(a.Browser, a.URL+"/static/../main.go"); p.Status != http.StatusNotFound {
		t.Errorf("path traversal: %d", p.Status)
	}
}

// revoke ends a grant at the sandbox behind the app's back, as a user
// revoking access in DigitalOcean's control panel would.
func revoke(t *testing.T, a *testApp, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.SBURL+"/v1/oauth/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

func TestTokenEndpointFailureDuringSignIn(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"unreachable", http.StatusBadGateway, "<html>bad gateway</html>", "could not be reached"},
		{"bad client", http.StatusUnauthorized, `{"error":"invalid_client","error_description":"secret xyz wrong"}`, "DIGITALOCEAN_CLIENT_SECRET"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			cb := a.callbackURL(a.Browser)
			a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			p := a.get(a.Browser, cb)
			if p.Status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502", p.Status)
			}
			mustContain(t, p, tt.want, "connect again")
			mustNotContain(t, p, "Try again", "xyz", "invalid_client")
		})
	}
}

func TestHeadOnReadOnlyPagesOnly(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	head := func(u string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodHead, u, nil)
		resp, err := a.Browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// Monitors and curl -I get the page's status and headers.
	for _, path := range []string{"/", "/healthz", "/static/style.css"} {
		if resp := head(a.URL + path); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("HEAD %s: %d, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
	// A HEAD of the callback (a link previewer, say) must not spend it.
	cb := a.callbackURL(a.Browser)
	if resp := head(cb); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("HEAD of the callback: %d, Set-Cookie %q; want 405 and no cookie change", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	if resp := head(a.URL + "/connect"); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("HEAD /connect: %d, Set-Cookie %q; want 405 and no login started", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	if p := a.get(a.Browser, cb); p.Status != http.StatusOK || p.URL.Path != "/digitalocean" {
		t.Errorf("the callback after a HEAD: %d %s, want the droplet page", p.Status, p.URL.Path)
	}
}

// Two tabs reload together after the token has run out: one refreshes it,
// the other only reads the session. Whichever answer the browser stores
// last, it must keep the rotated pair, or the next refresh would present
// the spent refresh token and end the session.
func TestParallelPageNeverWritesBackTheSpentTokens(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	a.Clock.Advance(6 * time.Minute) // past the 5-minute token lifetime
	stale := a.cookie(a.Browser, sessionCookie)

	if p := a.get(a.Browser, a.URL+"/digitalocean"); p.Status != http.StatusOK {
		t.Fatalf("droplet page: %d", p.Status)
	}
	// The index request left with the old cookie and answers last.
	req, _ := http.NewRequest(http.MethodGet, a.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: stale})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := findSetCookie(resp, sessionCookie); c != nil {
		a.Browser.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{c})
	}

	a.Clock.Advance(6 * time.Minute) // past the refresh reuse window too
	if p := a.get(a.Browser, a.URL+"/digitalocean"); p.URL.Path != "/digitalocean" || !strings.Contains(p.Body, "3 droplets") {
		t.Fatalf("the next droplet page after parallel reloads: %d at %s, want the droplets", p.Status, p.URL.Path)
	}
	if n := a.Sandbox.Stats().Refreshes; n != 2 {
		t.Errorf("%d refreshes, want 2", n)
	}
}

// Logout says what happened to the grant at DigitalOcean: revoked (after a
// refresh when the access token had expired), already ended, or not
// confirmed (unreachable, rate-limited), when it may still be live.
func TestLogoutSaysWhatHappenedToTheGrant(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		before func(a *testApp)
		flash  string
		revs   int
		refs   int // refreshes: an expired access token is renewed before revoking it
	}{
		{"expired access token is refreshed, then revoked", func(a *testApp) {
			a.Clock.Advance(6 * time.Minute)
		}, "access to your DigitalOcean account was revoked", 1, 1},
		{"grant already revoked at DigitalOcean", func(a *testApp) {
			revoke(t, a, a.session(a.Browser).AccessToken)
		}, "had already ended", 1, 0},
		{"DigitalOcean unreachable", func(a *testApp) {
			a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
		}, "did not confirm", 0, 0},
		{"DigitalOcean rate-limits the revoke", func(a *testApp) {
			a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/revoke") {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusTooManyRequests)
					w.Write([]byte(`{"error":"too_many_requests","error_description":"slow down"}`))
					return
				}
				a.Sandbox.ServeHTTP(w, r)
			}))
		}, "did not confirm", 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			a.connect(a.Browser, "approve")
			tt.before(a)
			p := a.post(a.Browser, a.URL+"/logout", nil, http.Header{"Origin": {a.URL}})
			if p.URL.Path != "/" || p.Status != http.StatusOK {
				t.Fatalf("ended at %s (%d)", p.URL.Path, p.Status)
			}
			mustContain(t, p, tt.flash, ">Connect DigitalOcean<")
			if a.cookie(a.Browser, sessionCookie) != "" {
				t.Error("the session cookie survived logout")
			}
			if st := a.Sandbox.Stats(); st.Revocations != tt.revs || st.Refreshes != tt.refs {
				t.Errorf("%d revocations and %d refreshes, want %d and %d", st.Revocations, st.Refreshes, tt.revs, tt.refs)
			}
		})
	}
}

// The index renews a token about to expire, as the droplet page does: a
// grant that has ended shows as not connected, and an outage at
// DigitalOcean leaves the page as the cookie says.
func TestIndexRenewsATokenAboutToExpire(t *testing.T) {
	t.Parallel()
	t.Run("renewed", func(t *testing.T) {
		t.Parallel()
		a := newTestApp(t)
		a.connect(a.Browser, "approve")
		a.Clock.Advance(6 * time.Minute)
		mustContain(t, a.get(a.Browser, a.URL+"/"), `action="/logout"`)
		if n := a.Sandbox.Stats().Refreshes; n != 1 {
			t.Errorf("%d refreshes, want 1", n)
		}
		if p := a.get(a.Browser, a.URL+"/digitalocean"); !strings.Contains(p.Body, "3 droplets") {
			t.Errorf("after the index renewed the token, the droplet page is %d at %s", p.Status, p.URL.Path)
		}
	})
	t.Run("grant ended", func(t *testing.T) {
		t.Parallel()
		a := newTestApp(t)
		a.connect(a.Browser, "approve")
		revoke(t, a, a.session(a.Browser).AccessToken)
		a.Clock.Advance(6 * time.Minute)
		p := a.get(a.Browser, a.URL+"/")
		mustContain(t, p, "session has ended", ">Connect DigitalOcean<")
		mustNotContain(t, p, `action="/logout"`)
	})
	t.Run("DigitalOcean unreachable", func(t *testing.T) {
		t.Parallel()
		a := newTestApp(t)
		a.connect(a.Browser, "approve")
		a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
		a.Clock.Advance(6 * time.Minute)
		if p := a.get(a.Browser, a.URL+"/"); p.Status != http.StatusOK || !strings.Contains(p.Body, `action="/logout"`) {
			t.Errorf("index during an outage: %d, connected %v", p.Status, strings.Contains(p.Body, `action="/logout"`))
		}
	})
}

// A tab that read the cookie just before another tab rotated the token
// pair presents an access token DigitalOcean no longer accepts, though it
// has not expired. The page renews it through the shared refresh result
// instead of signing the user out, and no second refresh reaches
// DigitalOcean.
func TestPageAfterAParallelRotationStillShowsTheDroplets(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	stale := a.cookie(a.Browser, sessionCookie)
	if p := a.post(a.Browser, a.URL+"/refresh", nil, http.Header{"Origin": {a.URL}}); p.Status != http.StatusOK {
		t.Fatalf("Refresh now: %d", p.Status)
	}
	if n := a.Sandbox.Stats().Refreshes; n != 1 {
		t.Fatalf("%d refreshes after Refresh now, want 1", n)
	}

	other := newBrowser(t) // the tab that still holds the cookie from before
	other.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{{Name: sessionCookie, Value: stale}})
	p := a.get(other, a.URL+"/digitalocean")
	if p.URL.Path != "/digitalocean" || !strings.Contains(p.Body, "3 droplets") {
		t.Fatalf("the other tab got %d at %s, want the droplet list", p.Status, p.URL.Path)
	}
	if n := a.Sandbox.Stats().Refreshes; n != 1 {
		t.Errorf("%d refreshes, want still 1: the rotation's result is shared", n)
	}
	// Both tabs now hold the rotated pair.
	if a.session(other).RefreshToken != a.session(a.Browser).RefreshToken {
		t.Error("the other tab was not given the rotated pair")
	}
}

// TestHowThisWorkedPage: the record's own page shows the whole panel,
// open, and the token status when connected; it reads only cookies (no
// request to DigitalOcean), and without a record says how to get one.
func TestHowThisWorkedPage(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	empty := a.get(newBrowser(t), a.URL+"/how-this-worked")
	if empty.Status != http.StatusOK {
		t.Fatalf("without a record: %d", empty.Status)
	}
	mustContain(t, empty, "Nothing recorded yet", `href="/connect"`)
	mustNotContain(t, empty, "Token status")

	a.connect(a.Browser, "approve")
	before := a.Sandbox.Stats().APIRequests
	p := a.get(a.Browser, a.URL+"/how-this-worked")
	mustContain(t, p, `<details class="flow" open>`, "Authorization code link", "Token status", `action="/refresh"`)
	if n := a.Sandbox.Stats().APIRequests - before; n != 0 {
		t.Errorf("the page made %d API requests, want none", n)
	}
	if flowSetCookie(p) != "" {
		t.Error("the page rewrote the record")
	}
}
