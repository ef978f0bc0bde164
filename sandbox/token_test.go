package sandbox_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

// wantOAuthError checks an x/oauth2 error carries the OAuth error code.
func wantOAuthError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want an OAuth %s error", err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("error code = %q (%s), want %q", re.ErrorCode, re.ErrorDescription, code)
	}
}

// wantStatus checks an API call's status.
func wantStatus(t *testing.T, h *harness, path, token string, want int) {
	t.Helper()
	if resp := h.api(t, path, token, nil); resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d", path, resp.StatusCode, want)
	}
}

func TestHappyPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	code, verifier := h.authorize(t)

	// Exchange by hand to see the raw response, as DigitalOcean sends it.
	resp, body := h.postForm(t, "/v1/oauth/token", clientForm(
		"grant_type", "authorization_code", "code", code,
		"redirect_uri", testRedirectURI, "code_verifier", verifier))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: status %d: %v", resp.StatusCode, body)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	access, _ := body["access_token"].(string)
	refresh, _ := body["refresh_token"].(string)
	if !regexp.MustCompile(`^doo_v1_[0-9a-f]{64}$`).MatchString(access) {
		t.Errorf("access_token = %q, want doo_v1_ and 64 hex digits", access)
	}
	if !regexp.MustCompile(`^dor_v1_[0-9a-f]{64}$`).MatchString(refresh) {
		t.Errorf("refresh_token = %q, want dor_v1_ and 64 hex digits", refresh)
	}
	if body["token_type"] != "bearer" || body["scope"] != "read" || body["expires_in"] != float64(120) {
		t.Errorf("token_type, scope, expires_in = %v, %v, %v; want bearer, read, 120", body["token_type"], body["scope"], body["expires_in"])
	}
	acct := h.sb.Account()
	wantInfo := map[string]any{"name": acct.Name, "email": acct.Email, "uuid": acct.UUID, "team_uuid": acct.TeamUUID, "team_name": "My Team"}
	info, _ := body["info"].(map[string]any)
	for k, want := range wantInfo {
		if info[k] != want {
			t.Errorf("info.%s = %v, want %v", k, info[k], want)
		}
	}

	var list struct {
		Droplets []struct{ Name string }
		Meta     struct{ Total int }
	}
	if resp := h.api(t, "/v2/droplets", access, &list); resp.StatusCode != http.StatusOK {
		t.Fatalf("droplets: status %d", resp.StatusCode)
	}
	if list.Meta.Total != 8 || len(list.Droplets) != 8 || list.Droplets[0].Name != "web-01" {
		t.Errorf("droplets = %+v", list)
	}
	var account struct{ Account struct{ Email string } }
	h.api(t, "/v2/account", access, &account)
	if account.Account.Email != "sammy@example.com" {
		t.Errorf("account = %+v", account)
	}

	st := h.sb.Stats()
	if st.Authorizations != 1 || st.CodeExchanges != 1 || st.APIRequests != 2 || st.LiveAccessTokens != 1 || st.OutstandingCodes != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestExchangeWithXOAuth2(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.login(t, "read", "write")
	if tok.Type() != "Bearer" || tok.RefreshToken == "" || time.Until(tok.Expiry) <= 0 {
		t.Errorf("token = %+v", tok)
	}
	if tok.Extra("scope") != "read write" {
		t.Errorf("scope = %v", tok.Extra("scope"))
	}
	if info, _ := tok.Extra("info").(map[string]any); info["email"] != "sammy@example.com" {
		t.Errorf("info = %v", tok.Extra("info"))
	}
	wantStatus(t, h, "/v2/droplets", tok.AccessToken, http.StatusOK)
}

func TestMountedUnderPrefix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"), withConfig(func(c *sandbox.Config) { c.Droplets = 30 }))
	tok := h.login(t) // the form's relative action must resolve under /sandbox
	var list struct {
		Links struct{ Pages struct{ Next, Last string } }
	}
	h.api(t, "/v2/droplets?per_page=10", tok.AccessToken, &list)
	if want := h.srv.URL + "/sandbox/v2/droplets?page=2&per_page=10"; list.Links.Pages.Next != want {
		t.Errorf("next = %q, want %q", list.Links.Pages.Next, want)
	}
	if want := h.srv.URL + "/sandbox/v2/droplets?page=3&per_page=10"; list.Links.Pages.Last != want {
		t.Errorf("last = %q, want %q", list.Links.Pages.Last, want)
	}
}

// A code may be used once. Using it again means it leaked, so the tokens
// issued from it are revoked (RFC 6749 §4.1.2).
func TestCodeReuseRevokesTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	code, verifier := h.authorize(t)
	tok, err := h.conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)

	_, err = h.conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier))
	wantOAuthError(t, err, "invalid_grant")

	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusUnauthorized)
	_, err = h.conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_grant")
	if st := h.sb.Stats(); st.Revocations != 1 || st.LiveAccessTokens != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestCodeExchangeRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edit      func(form url.Values) // applied to a valid exchange request
		wantCode  string
		wantHTTP  int
		usesCode  bool // the attempt spends the code
		noPKCE    bool // authorize without a code_challenge
		afterward string
	}{
		{name: "wrong verifier", edit: func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) }, wantCode: "invalid_grant", wantHTTP: 400, usesCode: true},
		{name: "missing verifier", edit: func(f url.Values) { f.Del("code_verifier") }, wantCode: "invalid_grant", wantHTTP: 400, usesCode: true},
		{name: "malformed verifier", edit: func(f url.Values) { f.Set("code_verifier", "short") }, wantCode: "invalid_grant", wantHTTP: 400, usesCode: true},
		{name: "other redirect_uri", edit: func(f url.Values) { f.Set("redirect_uri", testRedirectURI+"/other") }, wantCode: "invalid_grant", wantHTTP: 400, usesCode: true},
		{name: "missing redirect_uri", edit: func(f url.Values) { f.Del("redirect_uri") }, wantCode: "invalid_request", wantHTTP: 400},
		{name: "missing code", edit: func(f url.Values) { f.Del("code") }, wantCode: "invalid_request", wantHTTP: 400},
		{name: "unknown code", edit: func(f url.Values) { f.Set("code", strings.Repeat("0", 64)) }, wantCode: "invalid_grant", wantHTTP: 400},
		{name: "wrong secret", edit: func(f url.Values) { f.Set("client_secret", "nope") }, wantCode: "invalid_client", wantHTTP: 401},
		{name: "no credentials", edit: func(f url.Values) { f.Del("client_id"); f.Del("client_secret") }, wantCode: "invalid_client", wantHTTP: 401},
		{name: "unknown grant type", edit: func(f url.Values) { f.Set("grant_type", "password") }, wantCode: "unsupported_grant_type", wantHTTP: 400},
		{name: "no grant type", edit: func(f url.Values) { f.Del("grant_type") }, wantCode: "invalid_request", wantHTTP: 400},
		{name: "repeated parameter", edit: func(f url.Values) { f.Add("code", "x") }, wantCode: "invalid_request", wantHTTP: 400},
		{name: "no PKCE, verifier ignored", noPKCE: true, edit: func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) }, wantHTTP: 200, usesCode: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			code, verifier := h.authorize(t)
			if tt.noPKCE {
				c := h.browser(t)
				_, form := openConsent(t, c, h.conf.AuthCodeURL("state-123"))
				resp, _ := form.submit(t, c, "approve")
				code = redirectTarget(t, resp, testRedirectURI).Get("code")
			}
			good := clientForm("grant_type", "authorization_code", "code", code, "redirect_uri", testRedirectURI, "code_verifier", verifier)
			form := clientForm()
			for k, v := range good {
				form[k] = append([]string(nil), v...)
			}
			tt.edit(form)
			resp, body := h.postForm(t, "/v1/oauth/token", form)
			if resp.StatusCode != tt.wantHTTP || (tt.wantCode != "" && body["error"] != tt.wantCode) {
				t.Fatalf("status %d body %v; want %d %s", resp.StatusCode, body, tt.wantHTTP, tt.wantCode)
			}
			if tt.wantCode != "" && body["error_description"] == "" {
				t.Error("no error_description")
			}
			if tt.wantHTTP == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}

			// The good request afterwards works unless the code was spent.
			resp, body = h.postForm(t, "/v1/oauth/token", good)
			switch {
			case tt.usesCode && (resp.StatusCode != 400 || body["error"] != "invalid_grant"):
				t.Errorf("code was not spent by the attempt: %d %v", resp.StatusCode, body)
			case !tt.usesCode && resp.StatusCode != 200:
				t.Errorf("code was spent by a request that never reached it: %d %v", resp.StatusCode, body)
			}
		})
	}
}

func TestCodeExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	code, verifier := h.authorize(t)
	if st := h.sb.Stats(); st.OutstandingCodes != 1 {
		t.Fatalf("OutstandingCodes = %d, want 1", st.OutstandingCodes)
	}
	h.clock.Advance(10*time.Minute + time.Second)
	if st := h.sb.Stats(); st.OutstandingCodes != 0 {
		t.Errorf("OutstandingCodes after expiry = %d, want 0", st.OutstandingCodes)
	}
	_, err := h.conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier))
	wantOAuthError(t, err, "invalid_grant")
}

func TestTokenEndpointRequestFormat(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name   string
		method string
		path   string
		ctype  string
		body   string
		want   int
	}{
		{"GET", http.MethodGet, "/v1/oauth/token", "", "", http.StatusMethodNotAllowed},
		{"JSON body", http.MethodPost, "/v1/oauth/token", "application/json", `{"grant_type":"refresh_token"}`, http.StatusBadRequest},
		{"secret in the query", http.MethodPost, "/v1/oauth/token?" + clientForm("grant_type", "refresh_token", "refresh_token", "x").Encode(), "application/x-www-form-urlencoded", "", http.StatusBadRequest},
		{"revoke by GET", http.MethodGet, "/v1/oauth/revoke", "", "", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tt.method, h.base+tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

// HTTP Basic is the fallback every OAuth server must accept
// (RFC 6749 §2.3.1), with form-encoded credentials.
func TestBasicClientAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.ClientSecret = "s3cr3t:with/odd+chars" }))
	code, verifier := h.authorize(t)
	conf := *h.conf
	conf.ClientSecret = "s3cr3t:with/odd+chars"
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	tok, err := conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange with Basic auth: %v", err)
	}

	// Both methods at once is ambiguous and refused.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_secret": {conf.ClientSecret}}
	hdr := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(testClientID+":"+url.QueryEscape(conf.ClientSecret)))}}
	resp, _ := do(t, h.srv.Client(), http.MethodPost, h.base+"/v1/oauth/token", form, hdr)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("Basic and body credentials: status %d, want 400", resp.StatusCode)
	}
}

// Refresh tokens are single-use and rotate; the old access token dies too.
func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := h.login(t)

	h.clock.Advance(30 * time.Second)
	fresh, err := h.conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: old.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == old.AccessToken || fresh.RefreshToken == old.RefreshToken || fresh.RefreshToken == "" {
		t.Fatal("refresh did not rotate both tokens")
	}
	if fresh.Extra("scope") != "read" || fresh.Extra("info") == nil {
		t.Errorf("refresh response lacks scope or info: %v %v", fresh.Extra("scope"), fresh.Extra("info"))
	}
	wantStatus(t, h, "/v2/account", old.AccessToken, http.StatusUnauthorized)
	wantStatus(t, h, "/v2/account", fresh.AccessToken, http.StatusOK)

	_, err = h.conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: old.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_grant") // reused refresh token

	// The new refresh token works once, even after the access token expired.
	h.clock.Advance(time.Hour)
	wantStatus(t, h, "/v2/account", fresh.AccessToken, http.StatusUnauthorized)
	if _, err := h.conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); err != nil {
		t.Fatalf("second refresh: %v", err)
	}
	if st := h.sb.Stats(); st.Refreshes != 2 || st.LiveAccessTokens != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRefreshScope(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.login(t, "read", "write")

	resp, body := h.postForm(t, "/v1/oauth/token", clientForm("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "scope", "read write droplet:delete"))
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Fatalf("widening refresh: %d %v", resp.StatusCode, body)
	}
	resp, body = h.postForm(t, "/v1/oauth/token", clientForm("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "scope", "read"))
	if resp.StatusCode != http.StatusOK || body["scope"] != "read" {
		t.Fatalf("narrowing refresh: %d %v", resp.StatusCode, body)
	}
}

func TestAccessTokenExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.TokenTTL = 5 * time.Minute }))
	tok := h.login(t)
	if got := tok.Extra("expires_in"); got != float64(300) {
		t.Errorf("expires_in = %v, want 300", got)
	}
	h.clock.Advance(5*time.Minute - time.Second)
	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)
	h.clock.Advance(time.Second)
	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusUnauthorized)
	if st := h.sb.Stats(); st.LiveAccessTokens != 0 {
		t.Errorf("LiveAccessTokens = %d, want 0", st.LiveAccessTokens)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()

	revokeWith := map[string]func(h *harness, tok *oauth2.Token) (form url.Values, hdr http.Header){
		"access token, credentials in body": func(_ *harness, tok *oauth2.Token) (url.Values, http.Header) {
			return clientForm("token", tok.AccessToken), nil
		},
		"refresh token, Basic credentials": func(_ *harness, tok *oauth2.Token) (url.Values, http.Header) {
			return url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}},
				http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(testClientID+":"+testSecret))}}
		},
		"access token as Bearer (doctl's way)": func(_ *harness, tok *oauth2.Token) (url.Values, http.Header) {
			return url.Values{"token": {tok.AccessToken}}, http.Header{"Authorization": {"Bearer " + tok.AccessToken}}
		},
		"refresh token as its own Bearer": func(_ *harness, tok *oauth2.Token) (url.Values, http.Header) {
			return url.Values{"token": {tok.RefreshToken}}, http.Header{"Authorization": {"Bearer " + tok.RefreshToken}}
		},
		"expired access token, credentials in body": func(h *harness, tok *oauth2.Token) (url.Values, http.Header) {
			h.clock.Advance(3 * time.Minute) // past the access token's 2 minutes
			return clientForm("token", tok.AccessToken), nil
		},
	}
	for name, req := range revokeWith {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tok := h.login(t)
			other := h.login(t)
			form, hdr := req(h, tok)
			resp, body := do(t, h.srv.Client(), http.MethodPost, h.base+"/v1/oauth/revoke", form, hdr)
			if resp.StatusCode != http.StatusOK || body != "" {
				t.Fatalf("revoke: %d %q", resp.StatusCode, body)
			}
			wantStatus(t, h, "/v2/droplets", tok.AccessToken, http.StatusUnauthorized)
			_, err := h.conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			wantOAuthError(t, err, "invalid_grant")
			if _, err := h.conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: other.RefreshToken}).Token(); err != nil {
				t.Errorf("another grant was revoked too: %v", err)
			}
			if st := h.sb.Stats(); st.Revocations != 1 {
				t.Errorf("Revocations = %d, want 1", st.Revocations)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		tok := h.login(t)
		other := h.login(t)
		tests := []struct {
			name string
			form url.Values
			hdr  http.Header
			want int
		}{
			{"unknown token", clientForm("token", "doo_v1_"+strings.Repeat("ab", 32)), nil, http.StatusOK},
			{"no token", clientForm(), nil, http.StatusBadRequest},
			{"no credentials", url.Values{"token": {tok.AccessToken}}, nil, http.StatusUnauthorized},
			{"wrong secret", url.Values{"token": {tok.AccessToken}, "client_id": {testClientID}, "client_secret": {"x"}}, nil, http.StatusUnauthorized},
			{"invalid bearer", url.Values{"token": {tok.AccessToken}}, http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
			{"bearer of another grant", url.Values{"token": {tok.AccessToken}}, http.Header{"Authorization": {"Bearer " + other.AccessToken}}, http.StatusOK},
			{"another grant's refresh token as bearer", url.Values{"token": {tok.AccessToken}}, http.Header{"Authorization": {"Bearer " + other.RefreshToken}}, http.StatusUnauthorized},
		}
		for _, tt := range tests {
			resp, _ := do(t, h.srv.Client(), http.MethodPost, h.base+"/v1/oauth/revoke", tt.form, tt.hdr)
			if resp.StatusCode != tt.want {
				t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
			}
		}
		wantStatus(t, h, "/v2/droplets", tok.AccessToken, http.StatusOK) // nothing above revoked it

		h.clock.Advance(3 * time.Minute)
		resp, _ := do(t, h.srv.Client(), http.MethodPost, h.base+"/v1/oauth/revoke", url.Values{"token": {tok.AccessToken}}, http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("expired access token as bearer: status %d, want 401", resp.StatusCode)
		}
	})
}
