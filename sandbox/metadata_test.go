package sandbox_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"dosignin/sandbox"
)

// RFC 8414 metadata, relative to the sandbox's root, with absolute URLs on
// the host the client used.
func TestServerMetadata(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	var md map[string]any
	resp, raw := h.call(t, http.MethodGet, "/.well-known/oauth-authorization-server", "", nil, &md)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("metadata: %d %s", resp.StatusCode, raw)
	}
	want := map[string]string{
		"issuer":                                h.base,
		"authorization_endpoint":                h.base + "/v1/oauth/authorize",
		"token_endpoint":                        h.base + "/v1/oauth/token",
		"revocation_endpoint":                   h.base + "/v1/oauth/revoke",
		"registration_endpoint":                 h.base + "/v1/oauth/register",
		"code_challenge_methods_supported":      "[S256]",
		"response_types_supported":              "[code]",
		"grant_types_supported":                 "[authorization_code refresh_token]",
		"token_endpoint_auth_methods_supported": "[client_secret_post client_secret_basic none]",
		"service_documentation":                 h.base + "/developer",
	}
	for k, v := range want {
		if got := fmt.Sprint(md[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	if !strings.HasPrefix(h.base, "http://127.0.0.1:") || !strings.HasSuffix(h.base, "/sandbox") {
		t.Fatalf("harness base %s", h.base)
	}

	// The advertised endpoints are the ones that work: register there,
	// then open the consent page there.
	var reg map[string]any
	resp, raw = h.call(t, http.MethodPost, strings.TrimPrefix(md["registration_endpoint"].(string), h.base), "", map[string]any{"redirect_uris": []string{"http://localhost:7000/cb"}, "token_endpoint_auth_method": "none"}, &reg)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register at the advertised endpoint: %d %s", resp.StatusCode, raw)
	}
	q := url.Values{"client_id": {reg["client_id"].(string)}, "redirect_uri": {"http://localhost:7000/cb"}, "response_type": {"code"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	openConsent(t, h.browser(t), md["authorization_endpoint"].(string)+"?"+q.Encode())

	resp, raw = h.call(t, http.MethodPost, "/.well-known/oauth-authorization-server", "", nil, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(raw, "invalid_request") {
		t.Errorf("POST metadata: %d %s", resp.StatusCode, raw)
	}
}

// The Developer page shows the personal access token, which works, the
// endpoints on the host the browser used, and how to register; its
// stylesheet link resolves.
func TestDeveloperPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"), withConfig(func(c *sandbox.Config) { c.ActionDelay = 7 * time.Second; c.BurstLimit = -1 }))
	resp, page := do(t, h.srv.Client(), http.MethodGet, h.base+"/developer", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("developer page: %d %v", resp.StatusCode, resp.Header)
	}
	pat := h.sb.PersonalAccessToken()
	for _, want := range []string{
		`<code class="token" id="pat">` + pat + `</code>`,
		`curl -H "Authorization: Bearer ` + pat + `" ` + h.base + "/v2/droplets",
		h.base + "/v1/oauth/register",
		h.base + "/.well-known/oauth-authorization-server",
		"Sammy the Shark", "Octavia the Octopus",
		"in progress for 7s",
		"5000 requests an hour, no per-minute limit",
		"gone when the sandbox restarts",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("developer page lacks %q", want)
		}
	}
	wantStatus(t, h, "/v2/droplets", pat, http.StatusOK)

	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	pageURL, _ := url.Parse(h.base + "/developer")
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "link" && attr(n, "rel") == "stylesheet" {
			css, _ := pageURL.Parse(attr(n, "href"))
			if resp, _ := do(t, h.srv.Client(), http.MethodGet, css.String(), nil, nil); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
				t.Errorf("stylesheet %s: %d", css, resp.StatusCode)
			}
		}
	}

	resp, _ = do(t, h.srv.Client(), http.MethodPost, h.base+"/developer", url.Values{}, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /developer: %d", resp.StatusCode)
	}
}

// The burst limit: 429 too_many_requests with retry-after past the
// per-minute budget, and a fresh budget the next minute; a negative limit
// turns it off, and a negative hourly limit drops the ratelimit headers.
func TestBurstLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = 3 }))
	tok := h.login(t)
	for range 3 {
		wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)
		h.clock.Advance(10 * time.Second)
	}
	resp, raw := h.call(t, http.MethodGet, "/v2/droplets", tok.AccessToken, nil, nil)
	wantAPIError(t, "fourth request in a minute", resp, raw, http.StatusTooManyRequests, "too_many_requests")
	if resp.Header.Get("Retry-After") != "30" || resp.Header.Get("Ratelimit-Remaining") != "4997" {
		t.Errorf("429 headers: Retry-After %q, remaining %q", resp.Header.Get("Retry-After"), resp.Header.Get("Ratelimit-Remaining"))
	}
	wantStatus(t, h, "/v2/account", h.sb.PersonalAccessToken(), http.StatusOK) // another token, another budget
	h.clock.Advance(30 * time.Second)
	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)

	// Without limits, past both defaults within one minute (in process:
	// 6000 requests over HTTP would only slow the test down).
	off := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = -1; c.RateLimit = -1 }))
	get := func(sb http.Handler, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v2/account", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		return rec
	}
	pat := off.sb.PersonalAccessToken()
	for i := range 6000 {
		rec := get(off.sb, pat)
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d without limits: %d", i, rec.Code)
		}
		if i == 0 && rec.Header().Get("Ratelimit-Limit") != "" {
			t.Errorf("ratelimit headers with the hourly limit off: %v", rec.Header())
		}
	}

	// The default is DigitalOcean's 250 a minute.
	def := newHarness(t)
	pat = def.sb.PersonalAccessToken()
	for i := range 250 {
		if rec := get(def.sb, pat); rec.Code != http.StatusOK {
			t.Fatalf("request %d of 250: %d", i+1, rec.Code)
		}
	}
	rec := get(def.sb, pat)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != strconv.Itoa(60) {
		t.Errorf("request 251: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// The API and the token endpoints allow other origins, as DigitalOcean's
// do, so a single-page app can call them; the consent and Developer pages
// don't.
func TestCrossOriginRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	for _, path := range []string{"/v2/droplets", "/v2/droplets/1/actions", "/v1/oauth/token", "/v1/oauth/revoke", "/v1/oauth/register", "/.well-known/oauth-authorization-server"} {
		resp, body := do(t, h.srv.Client(), http.MethodOptions, h.base+path, nil, http.Header{
			"Origin": {"http://localhost:3000"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization,content-type"},
		})
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" || body != "" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight %s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	if st := h.sb.Stats(); st.APIRequests != 0 {
		t.Errorf("preflights counted as %d API requests", st.APIRequests)
	}
	resp := h.api(t, "/v2/droplets", h.sb.PersonalAccessToken(), nil)
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Ratelimit-Remaining") {
		t.Errorf("GET /v2/droplets: %v", resp.Header)
	}
	for _, path := range []string{"/v1/oauth/authorize", "/developer"} {
		resp, _ := do(t, h.srv.Client(), http.MethodOptions, h.base+path, nil, http.Header{"Origin": {"http://localhost:3000"}, "Access-Control-Request-Method": {"POST"}})
		if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.StatusCode == http.StatusNoContent {
			t.Errorf("preflight %s allowed: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
}
