package sandbox_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

// authParams returns a valid authorization request, with edits applied.
func authParams(edit func(url.Values)) url.Values {
	v := url.Values{
		"client_id":             {testClientID},
		"redirect_uri":          {testRedirectURI},
		"response_type":         {"code"},
		"scope":                 {"read"},
		"state":                 {"xyz"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
	if edit != nil {
		edit(v)
	}
	return v
}

func TestConsentPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.browser(t)
	resp, body := do(t, c, http.MethodGet, h.base+"/v1/oauth/authorize?"+authParams(nil).Encode(), nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}

	wantHeaders := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self' http://app.test",
	}
	for k, want := range wantHeaders {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	for _, want := range []string{
		`<html lang="en">`,
		testAppName + " wants to access your DigitalOcean account",
		"Sandbox</strong> — this is an emulation of DigitalOcean; no real account is touched. <a href=\"../../developer\">Developer page</a>",
		"Sammy the Shark", "sammy@example.com", "My Team",
		"<dd>Read",
		`<button type="submit" name="decision" value="approve" class="primary">Authorize</button>`,
		`<button type="submit" name="decision" value="deny">Deny</button>`,
		`<form method="post" action="authorize">`,
		`href="../../static/sandbox.css"`,
		`href="../../static/favicon.svg"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(body, "<h1"); n != 1 {
		t.Errorf("page has %d <h1>, want 1", n)
	}
	if strings.Contains(body, "<style") || strings.Contains(body, "style=") || strings.Contains(body, "<script") {
		t.Error("page has inline style or script, which the app's CSP forbids")
	}

	form := parseConsentForm(t, resp.Request.URL, body)
	for _, name := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method", "csrf_token"} {
		if !form.fields.Has(name) {
			t.Errorf("form lacks hidden input %q", name)
		}
	}
	if form.fields.Get("csrf_token") == "" {
		t.Error("csrf_token is empty")
	}

	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "sandbox_csrf" {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no CSRF cookie set")
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.MaxAge <= 0 {
		t.Errorf("CSRF cookie flags: %+v", cookie)
	}
	if cookie.Value == form.fields.Get("csrf_token") {
		t.Error("the form token should be derived from the cookie, not equal to it")
	}
}

func TestConsentPageDescribesScope(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for scope, want := range map[string]string{
		"":                          "<dd>Read",
		"read":                      "<dd>Read",
		"read write":                "<dd>Read &amp; write",
		"droplet:read account:read": "<code>droplet:read</code>",
	} {
		params := authParams(func(v url.Values) { v.Set("scope", scope) })
		_, body := do(t, h.browser(t), http.MethodGet, h.base+"/v1/oauth/authorize?"+params.Encode(), nil, nil)
		if !strings.Contains(body, want) {
			t.Errorf("scope %q: page lacks %q", scope, want)
		}
	}
}

func TestConsentPageEscapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.AppName = `<script>alert("x")</script>` }))
	params := authParams(func(v url.Values) { v.Set("state", `"><script>alert(1)</script>`) })
	_, body := do(t, h.browser(t), http.MethodGet, h.base+"/v1/oauth/authorize?"+params.Encode(), nil, nil)
	if strings.Contains(body, "<script>") {
		t.Errorf("page contains an unescaped script tag:\n%s", body)
	}
}

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	for _, f := range []struct{ name, contentType, contains string }{
		{"sandbox.css", "text/css", ".banner"},
		{"favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp, body := do(t, h.srv.Client(), http.MethodGet, h.base+"/static/"+f.name, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), f.contentType) || !strings.Contains(body, f.contains) {
			t.Errorf("GET %s: %d %s", f.name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := do(t, h.srv.Client(), http.MethodGet, h.base+"/static/layout.html", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /static/layout.html: %d, want 404", resp.StatusCode)
	}
}

func TestDeny(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.browser(t)
	_, form := openConsent(t, c, h.base+"/v1/oauth/authorize?"+authParams(nil).Encode())
	resp, _ := form.submit(t, c, "deny")
	q := redirectTarget(t, resp, testRedirectURI)
	if q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Get("state") != "xyz" || q.Has("code") {
		t.Errorf("deny redirect query = %v", q)
	}
	if st := h.sb.Stats(); st.Denials != 1 || st.Authorizations != 0 || st.OutstandingCodes != 0 {
		t.Errorf("stats after deny = %+v", st)
	}
}

// Until client_id and redirect_uri are verified the sandbox must not
// redirect: it would deliver errors, or worse codes, to an attacker's URL.
func TestBadClientOrRedirectURIShowsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := map[string]func(url.Values){
		"unknown client":           func(v url.Values) { v.Set("client_id", "someone-else") },
		"missing client":           func(v url.Values) { v.Del("client_id") },
		"repeated client":          func(v url.Values) { v.Add("client_id", testClientID) },
		"missing redirect":         func(v url.Values) { v.Del("redirect_uri") },
		"other redirect":           func(v url.Values) { v.Set("redirect_uri", "https://evil.test/callback") },
		"redirect with extra path": func(v url.Values) { v.Set("redirect_uri", testRedirectURI+"/x") },
		"redirect with slash":      func(v url.Values) { v.Set("redirect_uri", testRedirectURI+"/") },
		"redirect with query":      func(v url.Values) { v.Set("redirect_uri", testRedirectURI+"?next=evil") },
		"redirect other case":      func(v url.Values) { v.Set("redirect_uri", strings.ToUpper(testRedirectURI)) },
		"bad client and bad scope": func(v url.Values) { v.Set("client_id", "x"); v.Set("scope", "nope") },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			params := authParams(edit)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var resp *http.Response
				var body string
				if method == http.MethodGet {
					resp, body = do(t, h.browser(t), method, h.base+"/v1/oauth/authorize?"+params.Encode(), nil, nil)
				} else {
					params.Set("decision", "approve")
					resp, body = do(t, h.browser(t), method, h.base+"/v1/oauth/authorize", params, nil)
				}
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: status = %d, want 400", method, resp.StatusCode)
				}
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Errorf("%s: redirected to %s", method, loc)
				}
				if !strings.Contains(body, "<h1") || !strings.Contains(body, "Sandbox") {
					t.Errorf("%s: not an error page:\n%s", method, body)
				}
			}
		})
	}
}

// Once the redirect URI is trusted, errors go back to the app
// (RFC 6749 §4.1.2.1), with the state.
func TestAuthorizeErrorsRedirect(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name      string
		edit      func(url.Values)
		wantError string
	}{
		{"unknown scope", func(v url.Values) { v.Set("scope", "read admin") }, "invalid_scope"},
		{"malformed scope", func(v url.Values) { v.Set("scope", "droplet:") }, "invalid_scope"},
		{"implicit grant", func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		{"no response_type", func(v url.Values) { v.Del("response_type") }, "invalid_request"},
		{"plain PKCE", func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"challenge without method", func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request"},
		{"method without challenge", func(v url.Values) { v.Del("code_challenge") }, "invalid_request"},
		{"short challenge", func(v url.Values) { v.Set("code_challenge", "abc") }, "invalid_request"},
		{"repeated scope", func(v url.Values) { v.Add("scope", "write") }, "invalid_request"},
		{"unsupported prompt", func(v url.Values) { v.Set("prompt", "none") }, "invalid_request"},
		{"repeated prompt", func(v url.Values) { v["prompt"] = []string{"select_account", "select_account"} }, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, _ := do(t, h.browser(t), http.MethodGet, h.base+"/v1/oauth/authorize?"+authParams(tt.edit).Encode(), nil, nil)
			q := redirectTarget(t, resp, testRedirectURI)
			if q.Get("error") != tt.wantError || q.Get("error_description") == "" || q.Get("state") != "xyz" {
				t.Errorf("redirect query = %v, want error=%s with a description and state=xyz", q, tt.wantError)
			}
		})
	}
}

// Hidden inputs are not trusted: a tampered form is validated again.
func TestDecisionRevalidatesForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.browser(t)
	_, form := openConsent(t, c, h.base+"/v1/oauth/authorize?"+authParams(nil).Encode())

	form.fields.Set("scope", "read sudo")
	resp, _ := form.submit(t, c, "approve")
	if q := redirectTarget(t, resp, testRedirectURI); q.Get("error") != "invalid_scope" {
		t.Errorf("tampered scope: %v", q)
	}

	form.fields.Set("scope", "read")
	form.fields.Set("redirect_uri", "https://evil.test/cb")
	resp, _ = form.submit(t, c, "approve")
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("tampered redirect_uri: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	form.fields.Set("redirect_uri", testRedirectURI)
	resp, _ = form.submit(t, c, "maybe")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown decision: status %d", resp.StatusCode)
	}
}

func TestRedirectKeepsRegisteredQuery(t *testing.T) {
	t.Parallel()
	const redirect = "http://app.test/cb?tenant=blue"
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.RedirectURIs = []string{redirect} }))
	c := h.browser(t)
	_, form := openConsent(t, c, h.base+"/v1/oauth/authorize?"+authParams(func(v url.Values) { v.Set("redirect_uri", redirect) }).Encode())
	resp, _ := form.submit(t, c, "approve")
	q := redirectTarget(t, resp, "http://app.test/cb")
	if q.Get("tenant") != "blue" || q.Get("code") == "" || q.Get("state") != "xyz" {
		t.Errorf("redirect query = %v", q)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	authURL := h.base + "/v1/oauth/authorize?" + authParams(nil).Encode()

	tests := []struct {
		name   string
		tamper func(t *testing.T, c *http.Client, form *consentForm, hdr http.Header)
	}{
		{"no cookie", func(t *testing.T, c *http.Client, _ *consentForm, _ http.Header) { c.Jar = h.browser(t).Jar }},
		{"no token", func(_ *testing.T, _ *http.Client, f *consentForm, _ http.Header) { f.fields.Del("csrf_token") }},
		{"wrong token", func(_ *testing.T, _ *http.Client, f *consentForm, _ http.Header) {
			f.fields.Set("csrf_token", "AAAA"+f.fields.Get("csrf_token")[4:])
		}},
		{"token from another browser", func(t *testing.T, _ *http.Client, f *consentForm, _ http.Header) {
			_, other := openConsent(t, h.browser(t), authURL)
			f.fields.Set("csrf_token", other.fields.Get("csrf_token"))
		}},
		{"cross-site", func(_ *testing.T, _ *http.Client, _ *consentForm, hdr http.Header) {
			hdr.Set("Sec-Fetch-Site", "cross-site")
		}},
		{"same-site", func(_ *testing.T, _ *http.Client, _ *consentForm, hdr http.Header) {
			hdr.Set("Sec-Fetch-Site", "same-site")
		}},
	}
	// Not parallel: the test checks the counters once they have all run.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.browser(t)
			_, form := openConsent(t, c, authURL)
			hdr := http.Header{}
			tt.tamper(t, c, &form, hdr)
			form.fields.Set("decision", "approve")
			resp, _ := do(t, c, http.MethodPost, form.action, form.fields, hdr)
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
				t.Errorf("status %d, Location %q; want 403 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}

	t.Run("same-origin browser", func(t *testing.T) {
		c := h.browser(t)
		_, form := openConsent(t, c, authURL)
		form.fields.Set("decision", "approve")
		resp, _ := do(t, c, http.MethodPost, form.action, form.fields, http.Header{"Sec-Fetch-Site": {"same-origin"}})
		if q := redirectTarget(t, resp, testRedirectURI); q.Get("code") == "" {
			t.Errorf("no code: %v", q)
		}
	})

	if st := h.sb.Stats(); st.Authorizations != 1 {
		t.Errorf("Authorizations = %d, want 1 (only the legitimate POST)", st.Authorizations)
	}
}
