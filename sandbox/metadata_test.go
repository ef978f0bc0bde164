package sandbox_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
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
		"device_authorization_endpoint":         h.base + "/v1/oauth/device_authorization",
		"code_challenge_methods_supported":      "[S256]",
		"response_types_supported":              "[code]",
		"grant_types_supported":                 "[authorization_code refresh_token client_credentials urn:ietf:params:oauth:grant-type:device_code]",
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
