package sandbox_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// registerService registers a confidential client for the
// client-credentials grant, with scope (if not empty), and returns its
// credentials.
func (h *harness) registerService(t testing.TB, scope string) (id, secret string) {
	t.Helper()
	md := map[string]any{"client_name": "Nightly report", "token_endpoint_auth_method": "client_secret_post", "grant_types": []string{"client_credentials"}}
	if scope != "" {
		md["scope"] = scope
	}
	resp, reg := h.register(t, md)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register a service: %d %v", resp.StatusCode, reg)
	}
	return reg["client_id"].(string), reg["client_secret"].(string)
}

// A confidential client gets a token for itself: no refresh token, no
// info, a scope, DigitalOcean's token shape otherwise.
func TestClientCredentialsGrant(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id, secret := h.registerService(t, "")
	resp, out := h.postForm(t, "/v1/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("client credentials: %d %v", resp.StatusCode, out)
	}
	access, _ := out["access_token"].(string)
	if !regexp.MustCompile(`^doo_v1_[0-9a-f]{64}$`).MatchString(access) || out["token_type"] != "bearer" || out["expires_in"] != float64(120) || out["scope"] != "read" {
		t.Errorf("token response = %v", out)
	}
	for _, k := range []string{"refresh_token", "info"} {
		if _, ok := out[k]; ok {
			t.Errorf("the token response has %s: %v", k, out)
		}
	}

	// HTTP Basic works too (RFC 6749 §2.3.1), and scopes narrow.
	req, _ := http.NewRequest(http.MethodPost, h.base+"/v1/oauth/token", strings.NewReader("grant_type=client_credentials&scope=droplet:read"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	if resp, err := h.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("with Basic: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The token is revocable and expires, like any access token.
	wantStatus(t, h, "/v2/droplets", access, http.StatusOK)
	if resp, _ := h.postForm(t, "/v1/oauth/revoke", url.Values{"client_id": {id}, "client_secret": {secret}, "token": {access}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	wantStatus(t, h, "/v2/droplets", access, http.StatusUnauthorized)
	resp, out = h.postForm(t, "/v1/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	second, _ := out["access_token"].(string)
	if resp.StatusCode != http.StatusOK || second == access {
		t.Fatalf("a second token: %d %v", resp.StatusCode, out)
	}
	h.clock.Advance(2 * time.Minute)
	wantStatus(t, h, "/v2/droplets", second, http.StatusUnauthorized)
	if st := h.sb.Stats(); st.LiveAccessTokens != 0 {
		t.Errorf("live tokens after expiry: %d", st.LiveAccessTokens)
	}
}

// The token acts for no user: /v2/account has no account to show (403),
// lists are empty, single resources are not found, and nothing can be
// changed (403), each with DigitalOcean's error shape.
func TestClientCredentialsTokenOnTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id, secret := h.registerService(t, "read write")
	_, out := h.postForm(t, "/v1/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	token, _ := out["access_token"].(string)
	if out["scope"] != "read write" {
		t.Fatalf("token response = %v", out)
	}

	resp, raw := h.call(t, http.MethodGet, "/v2/account", token, nil, nil)
	wantAPIError(t, "GET /v2/account", resp, raw, http.StatusForbidden, "forbidden")
	if !strings.Contains(raw, "acts for no user") {
		t.Errorf("GET /v2/account: %s", raw)
	}
	for _, path := range []string{"/v2/droplets", "/v2/droplets?tag_name=web", "/v2/actions"} {
		resp, raw := h.call(t, http.MethodGet, path, token, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(raw, `"total":0`) || !strings.Contains(raw, `[]`) || resp.Header.Get("Ratelimit-Remaining") == "" {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, raw)
		}
	}
	resp, raw = h.call(t, http.MethodGet, dropletPath(web01), token, nil, nil)
	wantAPIError(t, "GET a droplet", resp, raw, http.StatusNotFound, "not_found")
	resp, raw = h.call(t, http.MethodPost, dropletPath(web01)+"/actions", token, map[string]string{"type": "reboot"}, nil)
	wantAPIError(t, "POST an action", resp, raw, http.StatusForbidden, "forbidden")
	if !strings.Contains(raw, "cannot change anything") {
		t.Errorf("POST an action: %s", raw)
	}
	if st := h.sb.Stats(); st.Actions != 0 {
		t.Errorf("%d actions started", st.Actions)
	}

	// A read-only one gets the usual scope refusal first.
	readID, readSecret := h.registerService(t, "")
	_, out = h.postForm(t, "/v1/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {readID}, "client_secret": {readSecret}})
	resp, raw = h.call(t, http.MethodPost, dropletPath(web01)+"/actions", out["access_token"].(string), map[string]string{"type": "reboot"}, nil)
	wantAPIError(t, "POST an action with read", resp, raw, http.StatusForbidden, "forbidden")
	if !strings.Contains(raw, "droplet:update") {
		t.Errorf("POST an action with read: %s", raw)
	}

	// The responses conform to DigitalOcean's description.
	doc := openAPISpec(t)
	for _, path := range []string{"/v2/account", "/v2/droplets", "/v2/actions"} {
		resp, raw := h.call(t, http.MethodGet, path, token, nil, nil)
		validateOperation(t, doc, http.MethodGet, path, resp, raw)
	}
	resp, raw = h.call(t, http.MethodPost, dropletPath(web01)+"/actions", token, map[string]string{"type": "reboot"}, nil)
	validateOperation(t, doc, http.MethodPost, "/v2/droplets/{droplet_id}/actions", resp, raw)
}

// Who may use the grant: a confidential client that registered for it, or
// the app's own client; a public client never (RFC 6749 §4.4).
func TestClientCredentialsRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, public := h.register(t, map[string]any{"redirect_uris": []string{"http://localhost:7000/cb"}, "token_endpoint_auth_method": "none"})
	_, web := h.register(t, map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "token_endpoint_auth_method": "client_secret_post"})
	device := h.registerDevice(t, "A device")
	id, secret := h.registerService(t, "droplet:read")
	cc := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"a public client", cc("client_id", public["client_id"].(string)), http.StatusBadRequest, "unauthorized_client"},
		{"a public device client", cc("client_id", device), http.StatusBadRequest, "unauthorized_client"},
		{"a confidential client not registered for it", cc("client_id", web["client_id"].(string), "client_secret", web["client_secret"].(string)), http.StatusBadRequest, "unauthorized_client"},
		{"a wrong secret", cc("client_id", id, "client_secret", "guess"), http.StatusUnauthorized, "invalid_client"},
		{"no secret", cc("client_id", id), http.StatusUnauthorized, "invalid_client"},
		{"no client", cc(), http.StatusUnauthorized, "invalid_client"},
		{"beyond the registered scope", cc("client_id", id, "client_secret", secret, "scope", "read"), http.StatusBadRequest, "invalid_scope"},
		{"an unknown scope", cc("client_id", id, "client_secret", secret, "scope", "admin"), http.StatusBadRequest, "invalid_scope"},
	}
	for _, tt := range tests {
		resp, out := h.postForm(t, "/v1/oauth/token", tt.form)
		if resp.StatusCode != tt.wantStatus || out["error"] != tt.wantError || out["error_description"] == "" || out["access_token"] != nil {
			t.Errorf("%s: %d %v, want %d %s", tt.name, resp.StatusCode, out, tt.wantStatus, tt.wantError)
		}
		// A public client is told why, whatever it registered for.
		if strings.HasPrefix(tt.name, "a public") && !strings.Contains(out["error_description"].(string), "confidential clients") {
			t.Errorf("%s: %v", tt.name, out)
		}
	}
	if st := h.sb.Stats(); st.LiveAccessTokens != 0 {
		t.Errorf("%d tokens issued", st.LiveAccessTokens)
	}

	// Asking for no scope gets the registered one; the app's own client,
	// with no registered scope, gets read.
	if resp, out := h.postForm(t, "/v1/oauth/token", cc("client_id", id, "client_secret", secret)); resp.StatusCode != http.StatusOK || out["scope"] != "droplet:read" {
		t.Errorf("the registered scope: %d %v", resp.StatusCode, out)
	}
	if resp, out := h.postForm(t, "/v1/oauth/token", clientForm("grant_type", "client_credentials")); resp.StatusCode != http.StatusOK || out["scope"] != "read" {
		t.Errorf("the app's own client: %d %v", resp.StatusCode, out)
	}
}
