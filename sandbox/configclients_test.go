package sandbox_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

// Clients of the configuration (Config.Clients) beside the app's own: the
// app's learn pages use a confidential one, a public one, and one whose
// codes expire quickly.
const (
	extraID       = "extra-client"
	extraSecret   = "extra-secret"
	extraPublicID = "extra-public"
	extraQuickID  = "extra-quick"
	extraRedirect = "http://app.test/learn/callback"
	quickCodeTTL  = 20 * time.Second
)

func withExtraClients() option {
	return withConfig(func(c *sandbox.Config) {
		c.Clients = []sandbox.ClientConfig{
			{ID: extraID, Secret: extraSecret, Name: "Extra", RedirectURIs: []string{extraRedirect}},
			{ID: extraPublicID, Name: "Extra public"},
			{ID: extraQuickID, Secret: extraSecret, Name: "Extra quick", RedirectURIs: []string{extraRedirect}, CodeTTL: quickCodeTTL},
		}
	})
}

func TestConfiguredClientsAreChecked(t *testing.T) {
	t.Parallel()
	good := sandbox.ClientConfig{ID: "c", Secret: "s", Name: "C", RedirectURIs: []string{"http://localhost:5000/learn/callback"}}
	tests := []struct {
		name    string
		clients []sandbox.ClientConfig
		want    string
	}{
		{"no ID", []sandbox.ClientConfig{{Name: "C"}}, "Clients[0] has no ID"},
		{"the app's ID", []sandbox.ClientConfig{{ID: testClientID, Name: "C"}}, `the client ID "sandbox-client-id" is used twice`},
		{"an ID twice", []sandbox.ClientConfig{good, good}, `Clients[1]: the client ID "c" is used twice`},
		{"no name", []sandbox.ClientConfig{{ID: "c"}}, "Clients[0] (c) has no Name"},
		{"a relative redirect URI", []sandbox.ClientConfig{{ID: "c", Name: "C", RedirectURIs: []string{"/learn/callback"}}}, "must use http or https"},
		{"codes longer than ten minutes", []sandbox.ClientConfig{{ID: "c", Name: "C", CodeTTL: 11 * time.Minute}}, "CodeTTL must be between 0 and 10m0s"},
		{"a negative code lifetime", []sandbox.ClientConfig{{ID: "c", Name: "C", CodeTTL: -time.Second}}, "CodeTTL must be between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sandbox.New(sandbox.Config{ClientID: testClientID, ClientSecret: testSecret, RedirectURIs: []string{testRedirectURI}, AppName: testAppName, Clients: tt.clients})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tt.want)
			}
		})
	}
	if _, err := sandbox.New(sandbox.Config{Clients: []sandbox.ClientConfig{good}}); err != nil {
		t.Fatalf("a sandbox with only a configured client: %v", err)
	}
}

// extraConf is x/oauth2's configuration for one of the extra clients.
func (h *harness) extraConf(id, secret string) *oauth2.Config {
	conf := *h.conf
	conf.ClientID, conf.ClientSecret, conf.RedirectURL = id, secret, extraRedirect
	return &conf
}

// authorizeExtra runs the browser part of the flow for an extra client.
func (h *harness) authorizeExtra(t *testing.T, conf *oauth2.Config) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	c := h.browser(t)
	_, form := openConsent(t, c, conf.AuthCodeURL("state-extra", oauth2.S256ChallengeOption(verifier)))
	resp, _ := form.submit(t, c, "approve")
	q := redirectTarget(t, resp, extraRedirect)
	if q.Get("code") == "" || q.Get("state") != "state-extra" {
		t.Fatalf("the redirect carries %v, want a code and the state", q)
	}
	return q.Get("code"), verifier
}

func TestConfiguredClientSignsInLikeTheAppsOwn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withExtraClients())
	conf := h.extraConf(extraID, extraSecret)
	code, verifier := h.authorizeExtra(t, conf)
	tok, err := conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if resp := h.api(t, "/v2/account", tok.AccessToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/account with its token: %d", resp.StatusCode)
	}
	// Its codes are its own: the app's client cannot redeem one.
	code, verifier = h.authorizeExtra(t, conf)
	resp, body := h.postForm(t, "/v1/oauth/token", clientForm("grant_type", "authorization_code", "code", code, "code_verifier", verifier, "redirect_uri", extraRedirect))
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("the app's client redeeming the extra client's code: %d %v, want 400 invalid_grant", resp.StatusCode, body)
	}
}

func TestConfiguredPublicClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withExtraClients())
	// No secret to prove who it is, so no client credentials grant.
	resp, body := h.postForm(t, "/v1/oauth/token", map[string][]string{"grant_type": {"client_credentials"}, "client_id": {extraPublicID}})
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "unauthorized_client" {
		t.Errorf("client_credentials for the public client: %d %v, want 400 unauthorized_client", resp.StatusCode, body)
	}
	// A secret it does not have is refused.
	resp, body = h.postForm(t, "/v1/oauth/device_authorization", map[string][]string{"client_id": {extraPublicID}, "client_secret": {"guess"}})
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("the public client with a secret: %d %v, want 401 invalid_client", resp.StatusCode, body)
	}
	// The device grant needs none.
	resp, body = h.postForm(t, "/v1/oauth/device_authorization", map[string][]string{"client_id": {extraPublicID}})
	if resp.StatusCode != http.StatusOK || body["user_code"] == nil {
		t.Errorf("device authorization for the public client: %d %v", resp.StatusCode, body)
	}
}

func TestConfiguredClientCodeLifetime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withExtraClients())
	quick := h.extraConf(extraQuickID, extraSecret)
	exchange := func(code, verifier string) (int, any) {
		resp, body := h.postForm(t, "/v1/oauth/token", map[string][]string{
			"grant_type": {"authorization_code"}, "client_id": {extraQuickID}, "client_secret": {extraSecret},
			"code": {code}, "code_verifier": {verifier}, "redirect_uri": {extraRedirect},
		})
		return resp.StatusCode, body["error"]
	}

	code, verifier := h.authorizeExtra(t, quick)
	h.clock.Advance(quickCodeTTL - time.Second)
	if status, e := exchange(code, verifier); status != http.StatusOK {
		t.Fatalf("a second before it expires: %d %v, want 200", status, e)
	}

	code, verifier = h.authorizeExtra(t, quick)
	h.clock.Advance(quickCodeTTL)
	before := h.sb.Stats()
	if status, e := exchange(code, verifier); status != http.StatusBadRequest || e != "invalid_grant" {
		t.Fatalf("at its expiry: %d %v, want 400 invalid_grant", status, e)
	}
	if after := h.sb.Stats(); after.CodeExchanges != before.CodeExchanges || after.LiveAccessTokens != before.LiveAccessTokens {
		t.Errorf("the expired code was exchanged: %+v, then %+v", before, after)
	}

	// The other clients' codes keep the usual ten minutes.
	conf := h.extraConf(extraID, extraSecret)
	code, verifier = h.authorizeExtra(t, conf)
	h.clock.Advance(9 * time.Minute)
	if _, err := conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Errorf("a 9-minute-old code of a client without CodeTTL: %v", err)
	}
}
