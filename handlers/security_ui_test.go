package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// "Use another account" signs the browser out, so like Disconnect it is a
// same-origin POST: no link, image or prefetch (a GET), and no other site
// (a cross-site POST) can sign anyone out with it. And it really
// disconnects: the grant of the account left behind is revoked at
// DigitalOcean before the new login starts.
func TestSecurity49UseAnotherAccountIsASameOriginPOSTThatRevokes(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	token := a.session(a.Browser).AccessToken
	index := a.get(a.Browser, a.URL+"/")
	mustContain(t, index, `<form method="post" action="/use-another-account">`)
	mustNotContain(t, index, `href="/use-another-account`)

	stillConnected := func(how string) {
		t.Helper()
		if p := a.get(a.Browser, a.URL+"/digitalocean"); p.Status != http.StatusOK || p.URL.Path != "/digitalocean" {
			t.Errorf("after %s the browser is signed out (%d at %s)", how, p.Status, p.URL.Path)
		}
		if n := a.Sandbox.Stats().Revocations; n != 0 {
			t.Errorf("after %s: %d revocations, want none", how, n)
		}
		if st := a.apiStatus(token); st != http.StatusOK {
			t.Errorf("after %s the token gets %d from the API, want 200", how, st)
		}
	}
	if p := a.get(a.Browser, a.URL+"/use-another-account"); p.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET /use-another-account: %d, want 405", p.Status)
	}
	stillConnected("a GET")
	cross := a.post(a.Browser, a.URL+"/use-another-account", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
	if cross.Status != http.StatusForbidden {
		t.Errorf("cross-site POST /use-another-account: %d, want 403", cross.Status)
	}
	stillConnected("a cross-site POST")

	// From the index: signed out and revoked, then DigitalOcean's page
	// that lets the user choose the account.
	consent := a.post(a.Browser, a.URL+"/use-another-account", nil, a.same())
	if !strings.HasPrefix(consent.URL.String(), a.SBURL+"/v1/oauth/authorize?") || consent.URL.Query().Get("prompt") != "select_account" {
		t.Fatalf("Use another account led to %s (%d), want the consent page with prompt=select_account", consent.URL.Redacted(), consent.Status)
	}
	if a.cookie(a.Browser, sessionCookie) != "" {
		t.Error("the session cookie is still there")
	}
	if st := a.apiStatus(token); st != http.StatusUnauthorized {
		t.Errorf("the old account's token gets %d from the API, want 401: the grant was not revoked", st)
	}
	if n := a.Sandbox.Stats().Revocations; n != 1 {
		t.Errorf("%d revocations, want 1", n)
	}
	// Choosing the second account connects it, and says what happened to
	// the first.
	second := a.Sandbox.Accounts()[1]
	action, fields := consentForm(t, consent)
	fields.Set("decision", "approve")
	fields.Set("account", second.UUID)
	list := a.post(a.Browser, action, fields, http.Header{"Origin": {a.SBURL}})
	mustContain(t, list, second.Email, "Before this login the app disconnected", a.Sandbox.Account().Email, "its access to that account has ended")
}
