package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// register POSTs client metadata to the registration endpoint.
func (h *harness) register(t testing.TB, metadata any) (*http.Response, map[string]any) {
	t.Helper()
	var out map[string]any
	resp, _ := h.call(t, http.MethodPost, "/v1/oauth/register", "", metadata, &out)
	return resp, out
}

// A public client (a CLI with a loopback listener) registers itself, signs
// in with PKCE and no secret, lists droplets, refreshes and revokes.
func TestPublicClientSignsInWithPKCE(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	const callback = "http://127.0.0.1:8085/callback"
	resp, reg := h.register(t, map[string]any{
		"client_name":                "My CLI",
		"redirect_uris":              []string{callback},
		"token_endpoint_auth_method": "none",
	})
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d %v", resp.StatusCode, reg)
	}
	id, _ := reg["client_id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) || reg["client_secret"] != nil || reg["token_endpoint_auth_method"] != "none" ||
		reg["client_name"] != "My CLI" || reg["client_id_issued_at"] != float64(h.clock.Now().Unix()) {
		t.Fatalf("registration response = %v", reg)
	}
	if fmt.Sprint(reg["redirect_uris"]) != "["+callback+"]" || fmt.Sprint(reg["grant_types"]) != "[authorization_code refresh_token]" || fmt.Sprint(reg["response_types"]) != "[code]" {
		t.Errorf("registered metadata = %v", reg)
	}

	conf := &oauth2.Config{
		ClientID:    id,
		RedirectURL: callback,
		Scopes:      []string{"read"},
		Endpoint: oauth2.Endpoint{
			AuthURL:   h.base + "/v1/oauth/authorize",
			TokenURL:  h.base + "/v1/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	// Without PKCE the sandbox refuses, on its own page: the client
	// registered itself, so errors don't redirect to it.
	c := h.browser(t)
	resp, page := do(t, c, http.MethodGet, conf.AuthCodeURL("st"), nil, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "must use PKCE") {
		t.Errorf("no PKCE: %d %s", resp.StatusCode, page)
	}

	verifier := oauth2.GenerateVerifier()
	_, page = do(t, c, http.MethodGet, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), nil, nil)
	for _, want := range []string{"My CLI wants to access", "registered itself", "http://127.0.0.1:8085"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	_, form := openConsent(t, c, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	resp, _ = form.submit(t, c, "approve")
	code := redirectTarget(t, resp, callback).Get("code")

	// The code is bound to this client: the app's client can't redeem it.
	_, err := h.conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier))
	wantOAuthError(t, err, "invalid_grant")
	_, form = openConsent(t, c, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	resp, _ = form.submit(t, c, "approve")
	code = redirectTarget(t, resp, callback).Get("code")
	tok, err := conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("public client's exchange: %v", err)
	}
	var list listResponse
	if resp, raw := h.call(t, http.MethodGet, "/v2/droplets", tok.AccessToken, nil, &list); resp.StatusCode != http.StatusOK || list.Meta.Total != 8 {
		t.Fatalf("droplets: %d %.200s", resp.StatusCode, raw)
	}

	// Refresh with the client_id alone; a secret is refused.
	refreshed, err := conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	withSecret := *conf
	withSecret.ClientSecret = "guess"
	_, err = withSecret.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_client")
	withSecret.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	_, err = withSecret.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_client")
	basic := *conf // Basic with an empty password, as some libraries send for a public client
	basic.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if refreshed, err = basic.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err != nil {
		t.Fatalf("refresh with Basic and no password: %v", err)
	}

	resp, _ = h.postForm(t, "/v1/oauth/revoke", url.Values{"client_id": {id}, "token": {refreshed.AccessToken}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	wantStatus(t, h, "/v2/droplets", refreshed.AccessToken, http.StatusUnauthorized)
	_, err = conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_grant")
}

// A confidential client registers and is issued a secret, which it must
// then use, in the body or with Basic.
func TestConfidentialClientRegisters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const callback = "https://example.com/oauth/callback"
	resp, reg := h.register(t, map[string]any{"redirect_uris": []string{callback}, "scope": "read droplet:update"})
	secret, _ := reg["client_secret"].(string)
	if resp.StatusCode != http.StatusCreated || len(secret) != 64 || reg["client_secret_expires_at"] != float64(0) ||
		reg["token_endpoint_auth_method"] != "client_secret_basic" || reg["scope"] != "read droplet:update" || reg["client_name"] != nil {
		t.Fatalf("register: %d %v", resp.StatusCode, reg)
	}
	conf := &oauth2.Config{
		ClientID: reg["client_id"].(string), ClientSecret: secret, RedirectURL: callback,
		Endpoint: oauth2.Endpoint{AuthURL: h.base + "/v1/oauth/authorize", TokenURL: h.base + "/v1/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	c := h.browser(t)
	_, page := do(t, c, http.MethodGet, conf.AuthCodeURL("st"), nil, nil)
	if !strings.Contains(page, "An unnamed application wants to access") {
		t.Errorf("consent page of a nameless client:\n%s", page)
	}
	_, form := openConsent(t, c, conf.AuthCodeURL("st")) // PKCE is optional for a confidential client
	resp, _ = form.submit(t, c, "approve")
	code := redirectTarget(t, resp, callback).Get("code")

	noSecret := *conf
	noSecret.ClientSecret = ""
	noSecret.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	_, err := noSecret.Exchange(h.ctx(), code)
	wantOAuthError(t, err, "invalid_client")
	tok, err := conf.Exchange(h.ctx(), code)
	if err != nil {
		t.Fatalf("exchange with Basic: %v", err)
	}
	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)
}

// Every rule of RFC 7591 the sandbox applies, each with its error.
func TestRegistrationErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name     string
		metadata any
		want     string
	}{
		{"no redirect_uris", map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		{"empty redirect_uris", map[string]any{"redirect_uris": []string{}}, "invalid_redirect_uri"},
		{"plain http to a host", map[string]any{"redirect_uris": []string{"http://example.com/cb"}}, "invalid_redirect_uri"},
		{"fragment", map[string]any{"redirect_uris": []string{"https://example.com/cb#x"}}, "invalid_redirect_uri"},
		{"empty fragment", map[string]any{"redirect_uris": []string{"https://example.com/cb#"}}, "invalid_redirect_uri"},
		{"relative", map[string]any{"redirect_uris": []string{"/cb"}}, "invalid_redirect_uri"},
		{"custom scheme", map[string]any{"redirect_uris": []string{"myapp://cb"}}, "invalid_redirect_uri"},
		{"user info", map[string]any{"redirect_uris": []string{"https://u:p@example.com/cb"}}, "invalid_redirect_uri"},
		{"too long", map[string]any{"redirect_uris": []string{"https://example.com/" + strings.Repeat("a", 2000)}}, "invalid_redirect_uri"},
		{"too many", map[string]any{"redirect_uris": strings.Split(strings.Repeat("https://example.com/cb,", 11), ",")[:11]}, "invalid_redirect_uri"},
		{"redirect_uris not a list", map[string]any{"redirect_uris": "https://example.com/cb"}, "invalid_client_metadata"},
		{"unknown auth method", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
		{"implicit grant", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "grant_types": []string{"implicit"}}, "invalid_client_metadata"},
		{"refresh only", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "grant_types": []string{"refresh_token"}}, "invalid_client_metadata"},
		{"token response", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "response_types": []string{"token"}}, "invalid_client_metadata"},
		{"long name", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "client_name": strings.Repeat("n", 101)}, "invalid_client_metadata"},
		{"control character in name", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "client_name": "a\nb"}, "invalid_client_metadata"},
		{"bidi override in name", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "client_name": "Sign in with \u202eGo"}, "invalid_client_metadata"},
		{"zero-width space in name", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "client_name": "Digital\u200bOcean"}, "invalid_client_metadata"},
		{"bad scope", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "scope": "admin"}, "invalid_client_metadata"},
		{"not an object", []string{"https://example.com/cb"}, "invalid_client_metadata"},
	}
	for _, tt := range tests {
		resp, out := h.register(t, tt.metadata)
		if resp.StatusCode != http.StatusBadRequest || out["error"] != tt.want || out["error_description"] == "" {
			t.Errorf("%s: %d %v, want 400 %s", tt.name, resp.StatusCode, out, tt.want)
		}
	}
	// The name's limit is in characters: 100 of them, accented or not.
	if resp, out := h.register(t, map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "client_name": strings.Repeat("é", 100)}); resp.StatusCode != http.StatusCreated {
		t.Errorf("a name of 100 accented letters: %d %v", resp.StatusCode, out)
	}
	for name, uri := range map[string]string{"localhost": "http://localhost:9000/cb", "IPv6 loopback": "http://[::1]:9000/cb", "https with query": "https://example.com/cb?x=1"} {
		if resp, out := h.register(t, map[string]any{"redirect_uris": []string{uri}}); resp.StatusCode != http.StatusCreated {
			t.Errorf("%s: %d %v", name, resp.StatusCode, out)
		}
	}

	raw := func(method, contentType, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, h.base+"/v1/oauth/register", strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	for name, tt := range map[string]struct{ method, ct, body string }{
		"form body":    {http.MethodPost, "application/x-www-form-urlencoded", "redirect_uris=https://example.com/cb"},
		"broken JSON":  {http.MethodPost, "application/json", `{"redirect_uris": [`},
		"two objects":  {http.MethodPost, "application/json", `{"redirect_uris":["https://example.com/cb"]} {}`},
		"huge body":    {http.MethodPost, "application/json", `{"client_name":"` + strings.Repeat("a", 20<<10) + `"}`},
		"no body type": {http.MethodPost, "", `{"redirect_uris":["https://example.com/cb"]}`},
	} {
		if status, out := raw(tt.method, tt.ct, tt.body); status != http.StatusBadRequest || out["error"] != "invalid_client_metadata" {
			t.Errorf("%s: %d %v", name, status, out)
		}
	}
	if status, out := raw(http.MethodGet, "", ""); status != http.StatusMethodNotAllowed || out["error"] != "invalid_request" {
		t.Errorf("GET: %d %v", status, out)
	}
}

// The number of registrations is bounded, so anyone can register but no
// one can fill the sandbox's memory. (Each comes from its own address,
// past the limit of registrations per address.)
func TestRegistrationsAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := `{"redirect_uris":["https://example.com/cb"],"token_endpoint_auth_method":"none"}`
	post := func(i int) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/oauth/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = fmt.Sprintf("10.0.%d.%d:4000", i/256, i%256)
		rec := httptest.NewRecorder()
		h.sb.ServeHTTP(rec, req)
		return rec
	}
	for i := range 1000 {
		if rec := post(i); rec.Code != http.StatusCreated {
			t.Fatalf("registration %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := post(1000)
	var out map[string]string
	json.Unmarshal(rec.Body.Bytes(), &out)
	if rec.Code != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" {
		t.Errorf("registration 1001: %d %s", rec.Code, rec.Body)
	}
	if st := h.sb.Stats(); st.RegisteredClients != 1000 {
		t.Errorf("Stats().RegisteredClients = %d, want 1000", st.RegisteredClients)
	}
	// The app's own client still signs in.
	h.login(t)
}

// A registered name is the client's own claim: shown escaped, never as
// markup.
func TestRegisteredNameIsEscaped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, reg := h.register(t, map[string]any{"client_name": `<img src=x onerror=alert(1)> "Bank"`, "redirect_uris": []string{"https://example.com/cb"}, "token_endpoint_auth_method": "none"})
	q := url.Values{"client_id": {reg["client_id"].(string)}, "redirect_uri": {"https://example.com/cb"}, "response_type": {"code"},
		"code_challenge": {strings.Repeat("b", 43)}, "code_challenge_method": {"S256"}}
	_, page := do(t, h.browser(t), http.MethodGet, h.base+"/v1/oauth/authorize?"+q.Encode(), nil, nil)
	if strings.Contains(page, "<img") || !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt; &#34;Bank&#34;") {
		t.Errorf("the registered name is not escaped:\n%s", page)
	}
}

// A client that registered a scope (RFC 7591 §2) may ask for no more than
// it; asking for nothing gets the registered scope, and asking for a part
// of it gets that part.
func TestRegisteredScopeBoundsRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const callback = "https://example.com/cb"
	_, reg := h.register(t, map[string]any{"redirect_uris": []string{callback}, "scope": "read droplet:update"})
	conf := &oauth2.Config{
		ClientID: reg["client_id"].(string), ClientSecret: reg["client_secret"].(string), RedirectURL: callback,
		Endpoint: oauth2.Endpoint{AuthURL: h.base + "/v1/oauth/authorize", TokenURL: h.base + "/v1/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	c := h.browser(t)
	for _, scope := range []string{"read write", "droplet:read", "read droplet:update droplet:delete"} {
		resp, page := do(t, c, http.MethodGet, conf.AuthCodeURL("st", oauth2.SetAuthURLParam("scope", scope)), nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "invalid_scope") || !strings.Contains(page, "exceeds the scope the client registered") {
			t.Errorf("scope %q beyond the registered one: %d %s", scope, resp.StatusCode, page)
		}
	}
	for scope, granted := range map[string]string{"": "read droplet:update", "droplet:update": "droplet:update", "droplet:update read": "droplet:update read"} {
		_, form := openConsent(t, c, conf.AuthCodeURL("st", oauth2.SetAuthURLParam("scope", scope)))
		resp, _ := form.submit(t, c, "approve")
		tok, err := conf.Exchange(h.ctx(), redirectTarget(t, resp, callback).Get("code"))
		if err != nil {
			t.Fatalf("scope %q: %v", scope, err)
		}
		if got := tok.Extra("scope"); got != granted {
			t.Errorf("scope %q: granted %q, want %q", scope, got, granted)
		}
	}
}

// Anyone may register a client with any https redirect URI, so the sandbox
// must not send the browser there on its own: a link to the authorize
// endpoint with a bad parameter would otherwise bounce its visitor to any
// site the attacker registered (RFC 9700 §4.11.2). The error is shown on
// the sandbox's page instead; only the user's own click (Deny, Authorize)
// goes back to a registered client. The app's own client, which the
// sandbox's configuration vouches for, still gets its errors on the
// redirect URI, as RFC 6749 §4.1.2.1 says.
func TestRegisteredClientErrorsDoNotRedirect(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const evil = "https://evil.example/landing"
	_, reg := h.register(t, map[string]any{"redirect_uris": []string{evil}, "token_endpoint_auth_method": "none"})
	c := h.browser(t)
	for name, q := range map[string]url.Values{
		"no PKCE":            {"response_type": {"code"}},
		"implicit grant":     {"response_type": {"token"}},
		"no response_type":   {},
		"bad scope":          {"response_type": {"code"}, "scope": {"admin!"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}},
		"unsupported prompt": {"response_type": {"code"}, "prompt": {"none"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}},
	} {
		q.Set("client_id", reg["client_id"].(string))
		q.Set("redirect_uri", evil)
		q.Set("state", "st")
		resp, page := do(t, c, http.MethodGet, h.base+"/v1/oauth/authorize?"+q.Encode(), nil, nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "Invalid authorization request") {
			t.Errorf("%s: %d Location=%q, want the error page", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// The user's Deny still goes back to the client.
	q := url.Values{"client_id": {reg["client_id"].(string)}, "redirect_uri": {evil}, "response_type": {"code"}, "state": {"st"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	_, form := openConsent(t, c, h.base+"/v1/oauth/authorize?"+q.Encode())
	resp, _ := form.submit(t, c, "deny")
	if got := redirectTarget(t, resp, evil); got.Get("error") != "access_denied" {
		t.Errorf("deny: %v", got)
	}

	// The app's own client gets its errors on its redirect URI.
	resp, _ = do(t, c, http.MethodGet, h.conf.AuthCodeURL("st", oauth2.SetAuthURLParam("response_type", "token")), nil, nil)
	if got := redirectTarget(t, resp, testRedirectURI); got.Get("error") != "unsupported_response_type" {
		t.Errorf("the app's client: %v", got)
	}
}
