package handlers

// Security tests, numbered like the protections in docs/SECURITY.md (and
// RFC 9700 / OWASP items of the issue that asked for them), so a reader
// can check coverage at a glance. Item 14 (startup refuses weak
// configuration) is about package main: see TestSecurity14 in config_test.go.

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"dosignin/doclient"
	"dosignin/sandbox"
)

func TestSecurity01StateIsCheckedBeforeAnyTokenRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mangle func(q url.Values)
		jar    bool // send the browser's login cookie
	}{
		{"wrong state", func(q url.Values) { q.Set("state", q.Get("state")+"x") }, true},
		{"empty state", func(q url.Values) { q.Set("state", "") }, true},
		{"missing state", func(q url.Values) { q.Del("state") }, true},
		{"another browser", func(url.Values) {}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			u, _ := url.Parse(a.callbackURL(a.Browser))
			q := u.Query()
			tt.mangle(q)
			u.RawQuery = q.Encode()
			browser := a.Browser
			if !tt.jar {
				browser = newBrowser(t)
			}
			p := a.get(browser, u.String())
			if p.Status != http.StatusForbidden {
				t.Errorf("status %d, want 403", p.Status)
			}
			mustContain(t, p, "Sign-in could not be verified")
			mustNotContain(t, p, q.Get("code"), q.Get("state"))
			if n := a.Sandbox.Stats().CodeExchanges; n != 0 {
				t.Errorf("%d token requests were made before the state check", n)
			}
		})
	}
}

func TestSecurity05ReplayedCallbackIs400WithoutSecondExchange(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	cb := a.callbackURL(a.Browser)
	if p := a.get(a.Browser, cb); p.Status != http.StatusOK {
		t.Fatalf("first callback: %d", p.Status)
	}
	p := a.get(a.Browser, cb)
	if p.Status != http.StatusBadRequest {
		t.Fatalf("replayed callback: status %d, want 400", p.Status)
	}
	mustContain(t, p, "already used")
	if n := a.Sandbox.Stats().CodeExchanges; n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
	// The replay lost nothing: the user is still connected.
	if p := a.get(a.Browser, a.URL+"/digitalocean"); p.Status != http.StatusOK || !strings.Contains(p.Body, "3 droplets") {
		t.Errorf("after a replay the droplet page is %d", p.Status)
	}
}

// A callback sent twice before the first answer arrives (a double click)
// carries the login cookie both times. The code goes to DigitalOcean once,
// both requests end signed in, and the grant survives: a second exchange
// would have been refused, and may have made DigitalOcean revoke it.
func TestSecurity05DoubleSentCallbackExchangesOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	cb := a.callbackURL(a.Browser)
	inFlight := newBrowser(t) // the second request: the login cookie, no session yet
	inFlight.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{{Name: loginCookie, Value: a.cookie(a.Browser, loginCookie)}})

	for name, c := range map[string]*http.Client{"first": a.Browser, "second": inFlight} {
		if p := a.get(c, cb); p.URL.Path != "/digitalocean" || !strings.Contains(p.Body, "3 droplets") {
			t.Errorf("%s callback: %d at %s, want the droplet page", name, p.Status, p.URL.Path)
		}
	}
	if n := a.Sandbox.Stats().CodeExchanges; n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
	if p := a.get(a.Browser, a.URL+"/digitalocean"); !strings.Contains(p.Body, "3 droplets") {
		t.Errorf("after the double callback the first session shows %d at %s", p.Status, p.URL.Path)
	}
}

func TestSecurity05MalformedCallbackIs400(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	var many []string // a long query made of short parameters
	for i := range 1500 {
		many = append(many, fmt.Sprintf("p%d=x", i))
	}
	for _, q := range []string{
		"code=a&code=b&state=s",                            // a repeated parameter
		"state=%zz&code=a",                                 // a bad escape
		"code=" + strings.Repeat("a", 16<<10) + "&state=s", // 16 KB
		"code=" + strings.Repeat("a", 4<<10) + "&state=s",  // one value over its limit, the query under its own
		"code=a&state=s&" + strings.Join(many, "&"),        // the query over its limit, each value under its own
	} {
		p := a.get(a.Browser, a.URL+"/digitalocean?"+q)
		if p.Status != http.StatusBadRequest {
			t.Errorf("?%.40s: status %d, want 400", q, p.Status)
		}
		mustContain(t, p, "not valid")
	}
}

func TestSecurity05EmptyCodeIs400(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	u, _ := url.Parse(a.callbackURL(a.Browser))
	q := u.Query()
	q.Set("code", "")
	u.RawQuery = q.Encode()
	if p := a.get(a.Browser, u.String()); p.Status != http.StatusBadRequest {
		t.Errorf("status %d, want 400", p.Status)
	}
	if n := a.Sandbox.Stats().CodeExchanges; n != 0 {
		t.Errorf("%d exchanges for an empty code", n)
	}
}

func TestSecurity05ErrorDescriptionIsEscaped(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	u, _ := url.Parse(a.callbackURL(a.Browser))
	q := url.Values{"state": {u.Query().Get("state")}, "error": {"server_error"}, "error_description": {`<script>alert(1)</script>`}}
	u.RawQuery = q.Encode()
	p := a.get(a.Browser, u.String())
	if p.URL.Path != "/" {
		t.Fatalf("ended at %s", p.URL)
	}
	mustContain(t, p, "server_error", "&lt;script&gt;alert(1)&lt;/script&gt;")
	mustNotContain(t, p, "<script>")
}

func TestSecurity07CookieRevealsNothingAndFits(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	raw := a.cookie(a.Browser, sessionCookie)
	sess := a.session(a.Browser)
	if len(raw) > 4096 {
		t.Errorf("session cookie is %d bytes, over the 4096-byte limit", len(raw))
	}
	// Peel every base64 layer the cookie has and look for secrets in each.
	layers := []string{raw}
	for s := raw; ; {
		b, err := base64.URLEncoding.DecodeString(s)
		if err != nil {
			break
		}
		s = string(b)
		layers = append(layers, s)
		if i := strings.LastIndex(s, "|"); i > 0 {
			parts := strings.Split(s, "|")
			if len(parts) == 3 {
				s = parts[1]
			}
		}
	}
	for _, l := range layers {
		for _, secret := range []string{sess.AccessToken, sess.RefreshToken, sess.Account.Email, "doo_v1_", "dor_v1_"} {
			if strings.Contains(l, secret) {
				t.Fatalf("the cookie reveals %q", secret)
			}
		}
	}
	if len(layers) < 2 {
		t.Fatal("cookie was not even base64: the test checked nothing")
	}
}

func TestSecurity08SessionLifetimeIsEnforcedOnTheServer(t *testing.T) {
	t.Parallel()
	// The test app's idle timeout is 1 hour and its absolute lifetime 24.
	// Its tokens last 5 minutes, so every view renews the token, except
	// with tokens that last 30 days, as DigitalOcean's do.
	for _, tt := range []struct {
		name     string
		path     string
		longToks bool
		step     time.Duration // the clock moves this much before each page view
		views    int
		alive    bool
	}{
		{"active within idle timeout", "/digitalocean", false, 50 * time.Minute, 3, true},
		{"active on the index within idle timeout", "/", false, 50 * time.Minute, 3, true},
		{"active on the index within idle timeout, long-lived token", "/", true, 50 * time.Minute, 3, true},
		{"idle too long", "/digitalocean", false, 61 * time.Minute, 1, false},
		{"idle too long, long-lived token", "/", true, 61 * time.Minute, 1, false},
		{"active past absolute lifetime", "/digitalocean", false, 50 * time.Minute, 29, false},
		{"active on the index past absolute lifetime", "/", true, 50 * time.Minute, 29, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t, func(_ *Options, sb *sandbox.Config) {
				if tt.longToks {
					sb.TokenTTL = 30 * 24 * time.Hour
				}
			})
			a.connect(a.Browser, "approve")
			var p page
			for range tt.views {
				a.Clock.Advance(tt.step)
				p = a.get(a.Browser, a.URL+tt.path)
			}
			if connected := strings.Contains(p.Body, `action="/logout"`); connected != tt.alive {
				t.Errorf("connected = %v, want %v", connected, tt.alive)
			}
		})
	}
}

func TestSecurity09BadCookiesMeanNotConnected(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	good := a.cookie(a.Browser, sessionCookie)
	for name, value := range map[string]string{
		"flipped":   good[:len(good)-3] + "AAA",
		"truncated": good[:len(good)/2],
		"garbage":   "not-a-cookie",
		"oversized": strings.Repeat("A", 5000),
	} {
		req, _ := http.NewRequest(http.MethodGet, a.URL+"/", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		p := readPage(t, resp)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, ">Connect DigitalOcean<") {
			t.Errorf("%s cookie: status %d, not shown as disconnected", name, p.Status)
		}
		if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, sessionCookie+"=;") || !strings.Contains(sc, "Max-Age=0") {
			t.Errorf("%s cookie was not cleared: Set-Cookie %q", name, sc)
		}
	}
}

func TestSecurity10LogoutIsPostAndSameOriginOnly(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")

	p := a.post(a.Browser, a.URL+"/logout", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
	if p.Status != http.StatusForbidden {
		t.Errorf("cross-site logout: %d, want 403", p.Status)
	}
	if p := a.get(a.Browser, a.URL+"/logout"); p.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: %d, want 405", p.Status)
	}
	if n := a.Sandbox.Stats().Revocations; n != 0 {
		t.Errorf("%d revocations, want none", n)
	}
	if p := a.get(a.Browser, a.URL+"/digitalocean"); p.Status != http.StatusOK {
		t.Errorf("the user was logged out: %d", p.Status)
	}

	// A real logout revokes the grant at DigitalOcean, so even the old
	// cookie, replayed, shows no droplets.
	old := a.cookie(a.Browser, sessionCookie)
	if p := a.post(a.Browser, a.URL+"/logout", nil, http.Header{"Origin": {a.URL}}); p.URL.Path != "/" {
		t.Fatalf("same-origin logout ended at %s (%d)", p.URL.Path, p.Status)
	}
	a.Browser.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{{Name: sessionCookie, Value: old}})
	p = a.get(a.Browser, a.URL+"/digitalocean")
	if p.URL.Path == "/digitalocean" || strings.Contains(p.Body, "Your droplets") {
		t.Errorf("the old cookie still shows droplets after logout: %d %s", p.Status, p.URL.Path)
	}
}

func TestSecurity13ReadOnlyByDefaultWriteOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	consent := a.get(a.Browser, a.URL+"/connect?access=write")
	if got := consent.URL.Query().Get("scope"); got != "read write" {
		t.Errorf("scope %q, want %q", got, "read write")
	}
	action, fields := consentForm(t, consent)
	fields.Set("decision", "approve")
	p := a.post(a.Browser, action, fields, nil)
	mustContain(t, p, "Read &amp; write access")

	if got := a.get(newBrowser(t), a.URL+"/connect").URL.Query().Get("scope"); got != "read" {
		t.Errorf("default scope %q, want read", got)
	}
	if p := a.get(a.Browser, a.URL+"/connect?access=admin"); p.Status != http.StatusBadRequest {
		t.Errorf("unknown access: %d, want 400", p.Status)
	}

	// The index says which access its Connect link asks for.
	mustContain(t, a.get(newBrowser(t), a.URL+"/"), "read-only access")
	rw := newTestApp(t, func(o *Options, _ *sandbox.Config) { o.Scopes = []string{"read", "write"} })
	index := rw.get(rw.Browser, rw.URL+"/")
	mustContain(t, index, "read &amp; write access")
	mustNotContain(t, index, "read-only")
}

func TestSecurity01StateIsLongRandomAndFresh(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	seen := map[string]bool{}
	for range 5 {
		consent := a.get(newBrowser(t), a.URL+"/connect")
		state := consent.URL.Query().Get("state")
		// crypto/rand text is base32: 5 bits a character.
		if bits := len(state) * 5; bits < 128 {
			t.Errorf("state %q carries %d bits, want at least 128", state, bits)
		}
		if seen[state] {
			t.Errorf("state %q was handed out twice", state)
		}
		seen[state] = true
	}
	// The callback compares with sameState; two empty states must not
	// match, should a login cookie ever hold none.
	if sameState("", "") {
		t.Error("an empty state matches an empty one")
	}
}

func TestSecurity02PKCEOnEveryLogin(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	challenges := map[string]bool{}
	for range 3 {
		browser := newBrowser(t)
		consent := a.get(browser, a.URL+"/connect")
		q := consent.URL.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			t.Fatalf("authorize URL has no S256 challenge: %s", consent.URL.RawQuery)
		}
		if q.Has("code_verifier") {
			t.Fatal("the verifier was sent to the authorize endpoint")
		}
		login := a.pendingLogin(browser)
		if len(login.Verifier) < 43 {
			t.Errorf("verifier is %d characters, want 43+", len(login.Verifier))
		}
		sum := sha256.Sum256([]byte(login.Verifier))
		if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != q.Get("code_challenge") {
			t.Errorf("challenge %q is not S256 of the remembered verifier (%q)", q.Get("code_challenge"), got)
		}
		if challenges[q.Get("code_challenge")] {
			t.Error("a verifier was reused")
		}
		challenges[q.Get("code_challenge")] = true
		if strings.Contains(consent.Body, login.Verifier) {
			t.Error("the verifier reached a page")
		}
	}

	off := newTestApp(t, func(o *Options, _ *sandbox.Config) { o.PKCE = false })
	consent := off.get(off.Browser, off.URL+"/connect")
	if consent.URL.Query().Has("code_challenge") {
		t.Error("DIGITALOCEAN_PKCE=false still sends a challenge")
	}
}

func TestSecurity03RedirectURIIsTheConfiguredOne(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	req, _ := http.NewRequest(http.MethodGet, a.URL+"/connect", nil)
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Forwarded", "host=evil.example;proto=https")
	resp, err := a.Browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	consent := readPage(t, resp)
	if got, want := consent.URL.Query().Get("redirect_uri"), a.URL+"/digitalocean"; got != want {
		t.Errorf("redirect_uri %q, want the configured %q", got, want)
	}
	// The token request must repeat it exactly; the sandbox refuses the
	// exchange otherwise, so a completed login proves it.
	action, fields := consentForm(t, consent)
	fields.Set("decision", "approve")
	if p := a.post(a.Browser, action, fields, nil); p.Status != http.StatusOK || p.URL.Path != "/digitalocean" {
		t.Errorf("login failed: %d %s", p.Status, p.URL)
	}
}

func TestSecurity04NoOpenRedirect(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	evil := "https://evil.example/x"
	params := url.Values{}
	for _, k := range []string{"next", "redirect", "redirect_uri", "return_to", "url", "continue", "to"} {
		params.Set(k, evil)
	}
	noFollow := *a.Browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, target := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/connect"}, {"GET", "/digitalocean"}, {"GET", "/static/style.css"},
		{"GET", "/digitalocean?error=access_denied&state=x&" + params.Encode()},
		{"POST", "/logout"},
	} {
		u := a.URL + target.path
		if !strings.Contains(target.path, "?") {
			u += "?" + params.Encode()
		}
		req, _ := http.NewRequest(target.method, u, nil)
		req.Header.Set("Origin", a.URL)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if strings.Contains(loc, "evil.example") {
			t.Errorf("%s %s redirects to %q", target.method, target.path, loc)
		}
		if target.path == "/connect" {
			if got := mustParse(t, loc).Query().Get("redirect_uri"); got != a.URL+"/digitalocean" {
				t.Errorf("/connect sends redirect_uri %q", got)
			}
		}
	}
}

func TestSecurity06NewSessionCookieAtLogin(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	// An attacker plants a valid session of their own in the victim's
	// browser (e.g. from a sibling subdomain); login must replace it.
	attacker := newBrowser(t)
	a.connect(attacker, "approve")
	planted := a.cookie(attacker, sessionCookie)
	plantedSession := a.session(attacker)
	u := mustParse(t, a.URL)
	a.Browser.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: planted}})

	noFollow := *a.Browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(a.URL + "/connect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	login := findSetCookie(resp, loginCookie)
	if login == nil || login.MaxAge <= 0 || login.MaxAge > 600 {
		t.Fatalf("login cookie %+v, want Max-Age within 10 minutes", login)
	}

	cb := a.callbackURL(a.Browser)
	resp, err = noFollow.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := findSetCookie(resp, loginCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("the callback did not delete the login cookie: %+v", c)
	}
	fresh := findSetCookie(resp, sessionCookie)
	if fresh == nil || fresh.Value == planted {
		t.Fatal("login kept the planted session cookie")
	}
	if s := a.session(a.Browser); s.AccessToken == plantedSession.AccessToken || s.Created.Equal(plantedSession.Created) && s.LoginState == plantedSession.LoginState {
		t.Error("the session after login is the planted one")
	}
}

func TestSecurity07CookieFlagsOverHTTP(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	noFollow := *a.Browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(a.URL + "/connect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	checkCookieFlags(t, findSetCookie(resp, loginCookie), false)
	resp, err = noFollow.Get(a.callbackURL(a.Browser))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	checkCookieFlags(t, findSetCookie(resp, sessionCookie), false)
}

func TestSecurity07CookieFlagsOverHTTPS(t *testing.T) {
	t.Parallel()
	s := newBareServer(t, "https://app.example.com/digitalocean", nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "https://app.example.com/connect", nil)
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusFound {
		t.Fatalf("status %d", rec.Code)
	}
	c := findSetCookie(&http.Response{Header: rec.Header()}, "__Host-"+loginCookie)
	checkCookieFlags(t, c, true)
	for _, raw := range rec.Header().Values("Set-Cookie") {
		if !strings.HasPrefix(raw, "__Host-") {
			t.Errorf("cookie without the __Host- prefix over https: %s", raw)
		}
	}
}

func TestSecurity09CookieStoreFailureIsA500AndLoud(t *testing.T) {
	t.Parallel()
	// Break a store the way a bad deployment would: values that can no
	// longer be encoded.
	breakStore := func(codecs []securecookie.Codec) {
		for _, codec := range codecs {
			codec.(*securecookie.SecureCookie).MaxLength(64)
		}
	}
	for _, tc := range []struct {
		name string
		run  func(a *testApp) page
	}{
		{"session cookie at the callback", func(a *testApp) page {
			breakStore(a.Server.sessions.session)
			return a.connect(a.Browser, "approve")
		}},
		{"login cookie at /connect", func(a *testApp) page {
			breakStore(a.Server.sessions.short)
			return a.get(a.Browser, a.URL+"/connect")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := &syncBuffer{}
			a := newTestApp(t, func(o *Options, _ *sandbox.Config) {
				o.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			p := tc.run(a)
			if p.Status != http.StatusInternalServerError {
				t.Fatalf("status %d at %s, want 500", p.Status, p.URL.Path)
			}
			mustNotContain(t, p, "securecookie", "saving cookie", "too long")
			if strings.Contains(p.Body, "Try again") && p.URL.Path == "/digitalocean" {
				t.Error("the callback's error page offers to reload a spent URL")
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "saving cookie") {
				t.Errorf("the failure was not logged loudly:\n%s", logs)
			}
		})
	}
}

func TestSecurity11HeadersOnEveryPage(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	droplets := a.connect(a.Browser, "approve")
	pages := map[string]page{
		"index":    a.get(a.Browser, a.URL+"/"),
		"droplets": droplets,
		"404":      a.get(a.Browser, a.URL+"/nope"),
		"403":      a.get(a.Browser, a.URL+"/digitalocean?state=x&code=y"),
		"healthz":  a.get(a.Browser, a.URL+"/healthz"),
	}
	for name, p := range pages {
		h := p.Header
		csp := h.Get("Content-Security-Policy")
		// form-action: this site, and the OAuth server's origin only (the
		// step-up form's answer redirects there).
		for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'self' " + a.SBURL} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %s", name, csp, d)
			}
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", name, k, got, want)
			}
		}
		if h.Get("X-Xss-Protection") != "" {
			t.Errorf("%s: sends X-XSS-Protection", name)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain http", name)
		}
	}
	// The Connect button is a link, not a form: CSP form-action would
	// also apply to the redirect to DigitalOcean and block it.
	mustNotContain(t, a.get(newBrowser(t), a.URL+"/"), `action="/connect"`)

	s := newBareServer(t, "https://app.example.com/digitalocean", nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://app.example.com/", nil))
	if hsts := rec.Header().Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") || hsts < "max-age=31536000" {
		t.Errorf("HSTS over https: %q, want at least a year", hsts)
	}
}

func TestSecurity12SecretsNeverLeave(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	a := newTestApp(t, func(o *Options, _ *sandbox.Config) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	cb := a.callbackURL(a.Browser)
	cbURL := mustParse(t, cb)
	code, state := cbURL.Query().Get("code"), cbURL.Query().Get("state")
	var seen []page
	seen = append(seen, a.get(a.Browser, cb))
	sess := a.session(a.Browser)
	if sess == nil {
		t.Fatal("not connected after the callback")
	}
	seen = append(seen, a.get(a.Browser, a.URL+"/"), a.get(a.Browser, a.URL+"/digitalocean"))
	a.get(a.Browser, cb) // a replay, for its error page and log line
	a.Clock.Advance(6 * time.Minute)
	seen = append(seen, a.get(a.Browser, a.URL+"/digitalocean")) // a refresh
	refreshed := a.session(a.Browser)
	if refreshed == nil {
		t.Fatal("not connected after the refresh")
	}
	seen = append(seen, a.post(a.Browser, a.URL+"/logout", nil, http.Header{"Origin": {a.URL}}))

	secrets := map[string]string{
		"code": code, "state": state, "access token": sess.AccessToken, "refresh token": sess.RefreshToken,
		"new access token": refreshed.AccessToken, "new refresh token": refreshed.RefreshToken,
		"client secret": "test-secret-that-is-long-enough", "session secret": string(a.secrets[0]),
	}
	for what, secret := range secrets {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log contains the %s", what)
		}
		for _, p := range seen {
			if strings.Contains(p.Body, secret) || strings.Contains(p.URL.String(), secret) {
				t.Errorf("%s shows the %s", p.URL.Path, what)
			}
		}
	}
	if !strings.Contains(logs.String(), "path=/digitalocean") {
		t.Fatalf("no request lines were logged, so nothing was checked:\n%s", logs)
	}
}

// pendingLogin decodes the browser's login-state cookie.
func (a *testApp) pendingLogin(c *http.Client) pendingLogin {
	a.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: a.cookie(c, loginCookie)})
	var p pendingLogin
	if found, err := a.Server.sessions.read(req, a.Server.sessions.short, loginCookie, &p); !found || err != nil {
		a.t.Fatalf("login cookie does not decode: %v", err)
	}
	return p
}

// newBareServer builds the app without servers around it, for checks that
// need another redirect URL (https) than the test servers have.
func newBareServer(t testing.TB, redirect string, opts func(*Options)) *Server {
	t.Helper()
	r := mustParse(t, redirect)
	client, err := doclient.New(doclient.Config{ClientID: "id", ClientSecret: "secret", RedirectURL: redirect, OAuthURL: "http://127.0.0.1:1/v1/oauth", APIURL: "http://127.0.0.1:1", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Client: client, RedirectURL: r, Scopes: []string{"read"}, PKCE: true,
		SessionSecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef-test")},
		IdleTimeout:    time.Hour, MaxAge: 24 * time.Hour,
		Views: os.DirFS("../views"), Static: os.DirFS("../static"),
	}
	if opts != nil {
		opts(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func findSetCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func checkCookieFlags(t *testing.T, c *http.Cookie, https bool) {
	t.Helper()
	if c == nil {
		t.Fatal("cookie not set")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Secure != https {
		t.Errorf("cookie %s: HttpOnly=%v SameSite=%v Path=%q Domain=%q Secure=%v", c.Name, c.HttpOnly, c.SameSite, c.Path, c.Domain, c.Secure)
	}
	if https != strings.HasPrefix(c.Name, "__Host-") {
		t.Errorf("cookie %s: __Host- prefix should be used exactly over https", c.Name)
	}
	if len(c.Raw) > 4096 {
		t.Errorf("cookie %s is %d bytes", c.Name, len(c.Raw))
	}
}

func mustParse(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// syncBuffer is a log destination that is safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The droplet page's filters come from the URL, which anyone can craft: a
// value the page does not expect is a clear 400 before DigitalOcean is
// asked anything, the session survives it, and nothing of it is echoed
// unescaped.
func TestSecurity18DropletFiltersAreCheckedBeforeUse(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	for _, query := range []string{
		"status=running",
		"status=active&status=off",
		"sort=password",
		"dir=sideways",
		"page=0",
		"page=-3",
		"page=1e9",
		"tag=web%26per_page%3D1",
		"tag=" + strings.Repeat("t", 256),
		"region=NYC3",
		"region=nyc3%3Cscript%3E",
		"name=" + strings.Repeat("n", 256),
		"name=a%00b",
		"name=%3Cscript%3Ealert(1)%3C/script%3E&limit=5",
		"tag_name=web",
	} {
		before := a.Sandbox.Stats().APIRequests
		p := a.get(a.Browser, a.URL+"/digitalocean?"+query)
		if p.Status != http.StatusBadRequest {
			t.Errorf("?%s: status %d, want 400", query, p.Status)
			continue
		}
		mustContain(t, p, "These droplet filters are not valid")
		mustNotContain(t, p, "<script>")
		if n := a.Sandbox.Stats().APIRequests - before; n != 0 {
			t.Errorf("?%s: %d API requests before the filters were checked", query, n)
		}
	}
	// The session survived, and an HTML-ish filter is shown escaped.
	p := a.get(a.Browser, a.URL+"/digitalocean?name=%3Cb%3Ex")
	if p.Status != http.StatusOK {
		t.Fatalf("after bad filters: status %d", p.Status)
	}
	mustContain(t, p, `value="&lt;b&gt;x"`)
	mustNotContain(t, p, "<b>x")
}

// A query with code, state or error stays a callback, with its strict
// parsing and state check, whatever filter parameters come with it: filters
// are no way around either.
func TestSecurity19CallbackParametersAreNeverFilters(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	for _, tt := range []struct {
		query, want string
		status      int
	}{
		{"name=web&code=forged&state=forged", "Sign-in could not be verified", http.StatusForbidden},
		{"sort=name&state=x", "", http.StatusForbidden},
		{"status=active&error=access_denied&error=access_denied", "This sign-in link is not valid", http.StatusBadRequest},
		{"name=a&name=b&code=x", "This sign-in link is not valid", http.StatusBadRequest},
		{"name=%zz&code=x", "This sign-in link is not valid", http.StatusBadRequest},
	} {
		p := a.get(a.Browser, a.URL+"/digitalocean?"+tt.query)
		if p.Status != tt.status {
			t.Errorf("?%s: status %d, want %d (a callback)", tt.query, p.Status, tt.status)
		}
		mustContain(t, p, tt.want)
		mustNotContain(t, p, "Your droplets", "These droplet filters")
	}
	if n := a.Sandbox.Stats().CodeExchanges; n != 1 {
		t.Errorf("%d code exchanges, want only the login's", n)
	}
}

// TestSecurity30DropletValuesAreEscapedInTheFilterMenus: the filter form's
// menus are HTML built in Go (selectOptions), and their regions come from
// DigitalOcean's answer. A region whose slug and name hold markup reaches
// the browser as text in its <option>, and a chosen region is still
// recognised.
func TestSecurity30DropletValuesAreEscapedInTheFilterMenus(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	const evil = `x"><script>alert(1)</script><option value="`
	a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/v2/droplets") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"droplets":[{"id":7,"name":"web-7","status":"active","region":{"slug":%q,"name":%q}}],"links":{},"meta":{"total":1}}`, evil, "Name "+evil)
			return
		}
		a.Sandbox.ServeHTTP(w, r)
	}))
	p := a.get(a.Browser, a.URL+"/digitalocean")
	if p.Status != http.StatusOK {
		t.Fatalf("status %d", p.Status)
	}
	mustNotContain(t, p, "<script>")
	mustContain(t, p, `<option value="x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;option value=&#34;">Name x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;option value=&#34;</option>`)
}

// TestSecurity34RequestIDsAndLoggedValuesAreBounded: the request ID is
// the app's own unless the one that came with the request is short and
// well formed (a proxy's), and no log line quotes more than a bounded
// part of what a client sent: a 60 KB header or a path of kilobytes is
// neither echoed nor logged whole.
func TestSecurity34RequestIDsAndLoggedValuesAreBounded(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	a := newTestApp(t, func(o *Options, _ *sandbox.Config) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	get := func(path, id string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, a.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	proxy := "7f3c2a9e-5b1d-4c8f-9a6e-2d4b8c1e0f37"
	if got := get("/", proxy).Header.Get("X-Request-Id"); got != proxy {
		t.Errorf("a proxy's request ID %q came back as %q", proxy, got)
	}
	for name, bad := range map[string]string{
		"60 KB":       strings.Repeat("a", 60<<10),
		"a space":     "abc def ghi",
		"quotes":      `abcdefgh" level=ERROR msg="forged`,
		"too short":   "ab",
		"not ASCII":   "идентификатор",
		"a semicolon": "abcdefgh;rm",
	} {
		got := get("/", bad).Header.Get("X-Request-Id")
		if got == bad || !wellFormedRequestID(got) {
			t.Errorf("%s: the request ID came back as %.80q, want one of the app's", name, got)
		}
		if strings.Contains(logs.String(), bad) {
			t.Errorf("%s: the request ID was logged as sent", name)
		}
	}
	if got := get("/", "").Header.Get("X-Request-Id"); !wellFormedRequestID(got) {
		t.Errorf("no request ID: got %q", got)
	}
	long := "/" + strings.Repeat("x", 20<<10)
	get(long, "")
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 2048 {
			t.Errorf("a log line of %d bytes: %.120s…", len(line), line)
		}
	}
	if !strings.Contains(logs.String(), "path=/xxxx") {
		t.Error("the long path's request was not logged at all")
	}
}
