package sandbox_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// With prompt=select_account the consent page offers both accounts, and
// the grant belongs to the one chosen: the token response's info,
// /v2/account, the droplets and the actions all follow it.
func TestSelectAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	accounts := h.sb.Accounts()
	if len(accounts) != 2 || accounts[0] != h.sb.Account() || accounts[1].UUID == accounts[0].UUID || accounts[1].TeamUUID == accounts[0].TeamUUID {
		t.Fatalf("Accounts() = %+v", accounts)
	}

	c := h.browser(t)
	authURL := h.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "select_account"))
	_, page := do(t, c, http.MethodGet, authURL, nil, nil)
	for _, a := range accounts {
		radio := `<input type="radio" name="account" value="` + a.UUID + `"`
		if !strings.Contains(page, radio) || !strings.Contains(page, a.Name) {
			t.Errorf("the page offers no choice of %s:\n%s", a.Name, page)
		}
	}
	if strings.Count(page, " checked>") != 1 {
		t.Errorf("want exactly one account checked by default")
	}

	tok := h.loginAs(t, 1)
	info, _ := tok.Extra("info").(map[string]any)
	if info["email"] != "octavia@example.com" || info["uuid"] != accounts[1].UUID || info["team_name"] != accounts[1].TeamName {
		t.Errorf("info = %v, want the second account", info)
	}
	var acct struct {
		Account struct {
			Email string
			Team  struct{ UUID string }
		}
	}
	h.call(t, http.MethodGet, "/v2/account", tok.AccessToken, nil, &acct)
	if acct.Account.Email != "octavia@example.com" || acct.Account.Team.UUID != accounts[1].TeamUUID {
		t.Errorf("/v2/account = %+v", acct)
	}
	var mine listResponse
	h.call(t, http.MethodGet, "/v2/droplets", tok.AccessToken, nil, &mine)
	var sammys listResponse
	h.call(t, http.MethodGet, "/v2/droplets", h.sb.PersonalAccessToken(), nil, &sammys)
	if mine.Meta.Total != 5 || sammys.Meta.Total != 8 {
		t.Fatalf("droplets: second account %d, default %d; want 5 and 8", mine.Meta.Total, sammys.Meta.Total)
	}
	theirs := map[int]bool{}
	for _, d := range sammys.Droplets {
		theirs[d.ID] = true
	}
	var off int
	for _, d := range mine.Droplets {
		if theirs[d.ID] {
			t.Errorf("droplet %d belongs to both accounts", d.ID)
		}
		if d.Status == "off" {
			off = d.ID
		}
	}
	if off == 0 {
		t.Fatal("the second account has no droplet that is off")
	}
	resp, raw := h.call(t, http.MethodGet, dropletPath(web01), tok.AccessToken, nil, nil)
	wantAPIError(t, "the default account's droplet", resp, raw, http.StatusNotFound, "not_found")

	// Her action changes only her droplet, and the refreshed grant is still hers.
	if resp, raw, _ := h.act(t, tok.AccessToken, off, map[string]string{"type": "power_on"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read token powers on: %d %s", resp.StatusCode, raw)
	}
	rw := h.loginAs(t, 1, "read", "write")
	if resp, raw, _ := h.act(t, rw.AccessToken, off, map[string]string{"type": "power_on"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("power_on: %d %s", resp.StatusCode, raw)
	}
	h.clock.Advance(3 * time.Second)
	fresh, err := h.conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: rw.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := fresh.Extra("info").(map[string]any); info["email"] != "octavia@example.com" {
		t.Errorf("refreshed info = %v", info)
	}
	if d := h.droplet(t, fresh.AccessToken, off); d.Droplet.Status != "active" {
		t.Errorf("after power_on: %+v", d.Droplet)
	}
	var all actionsBody
	h.call(t, http.MethodGet, "/v2/actions", h.sb.PersonalAccessToken(), nil, &all)
	if all.Meta.Total != 0 {
		t.Errorf("the default account sees %d actions, want 0", all.Meta.Total)
	}

	// Choosing the default account on the page works too.
	def := h.loginAs(t, 0)
	if info, _ := def.Extra("info").(map[string]any); info["email"] != "sammy@example.com" {
		t.Errorf("info = %v, want the default account", info)
	}
}

// Without prompt the default account signs in, as before; the page shows
// it and offers no choice.
func TestDefaultAccountWithoutPrompt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, page := do(t, h.browser(t), http.MethodGet, h.conf.AuthCodeURL("s"), nil, nil)
	if strings.Contains(page, `type="radio"`) || !strings.Contains(page, "Sammy the Shark") {
		t.Errorf("consent page without prompt:\n%s", page)
	}
	tok := h.login(t)
	if info, _ := tok.Extra("info").(map[string]any); info["email"] != "sammy@example.com" {
		t.Errorf("info = %v", info)
	}
}

// The account field is validated like the rest of the form.
func TestAccountChoiceIsValidated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	second := h.sb.Accounts()[1].UUID
	tests := []struct {
		name   string
		prompt bool
		edit   func(url.Values)
	}{
		{"unknown account", true, func(v url.Values) { v.Set("account", "0000000000000000000000000000000000000000") }},
		{"two accounts", true, func(v url.Values) { v["account"] = []string{second, second} }},
		{"a choice nobody offered", false, func(v url.Values) { v.Set("account", second) }},
	}
	for _, tt := range tests {
		c := h.browser(t)
		var opts []oauth2.AuthCodeOption
		if tt.prompt {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", "select_account"))
		}
		_, form := openConsent(t, c, h.conf.AuthCodeURL("s", opts...))
		tt.edit(form.fields)
		resp, body := form.submit(t, c, "approve")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "account") {
			t.Errorf("%s: %d, Location %q", tt.name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Without prompt, the default account may still be named; with it, a
	// form without the field is the page's default (its checked button).
	c := h.browser(t)
	_, form := openConsent(t, c, h.conf.AuthCodeURL("s"))
	form.fields.Set("account", h.sb.Account().UUID)
	if resp, _ := form.submit(t, c, "approve"); resp.StatusCode != http.StatusFound {
		t.Errorf("naming the default account: %d", resp.StatusCode)
	}
	verifier := oauth2.GenerateVerifier()
	_, form = openConsent(t, c, h.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "select_account")))
	resp, _ := form.submit(t, c, "approve")
	tok, err := h.conf.Exchange(h.ctx(), redirectTarget(t, resp, testRedirectURI).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := tok.Extra("info").(map[string]any); info["email"] != "sammy@example.com" {
		t.Errorf("no choice in the form: info = %v, want the default account", info)
	}
}
