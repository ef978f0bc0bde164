package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

// These tests flood the sandbox as one anonymous party could, and check
// that everyone else still signs in. Requests go straight to the handler
// with the sender's address set, as if each came over its own connection:
// that is how one test plays a flooder, a botnet and honest users at once.

// fromAddress is a transport that serves requests with a handler, as if
// they came from addr.
type fromAddress struct {
	h    http.Handler
	addr string
	hdr  http.Header // added to every request (X-Forwarded-For from a proxy)
}

func (f fromAddress) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RemoteAddr = f.addr
	r.RequestURI = req.URL.RequestURI()
	for k, vs := range f.hdr {
		r.Header[k] = vs
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// visitor is a browser, a CLI or a server at one address.
type visitor struct {
	c *http.Client
}

// from returns a visitor at addr ("203.0.113.7:4242") with its own
// cookies, that does not follow redirects.
func (h *harness) from(t testing.TB, addr string, hdr http.Header) *visitor {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &visitor{c: &http.Client{
		Jar:           jar,
		Transport:     fromAddress{h: h.sb, addr: addr, hdr: hdr},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (v *visitor) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, v.c)
}

// errRefused is a sign-in stopped at the consent form.
type errRefused struct {
	status     int
	retryAfter string
	page       string
}

func (e *errRefused) Error() string { return fmt.Sprintf("consent form answered %d", e.status) }

// consent opens the consent page for conf (with PKCE) and returns its form.
func (v *visitor) consent(t testing.TB, conf *oauth2.Config, verifier string) consentForm {
	t.Helper()
	_, form := openConsent(t, v.c, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	return form
}

// approve presses Authorize on form and returns the code, or an
// *errRefused (the error page) or the OAuth error on the redirect.
func (v *visitor) approve(t testing.TB, conf *oauth2.Config, form consentForm) (string, error) {
	t.Helper()
	resp, page := form.submit(t, v.c, "approve")
	if resp.StatusCode != http.StatusFound {
		return "", &errRefused{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), page: page}
	}
	q := redirectTarget(t, resp, conf.RedirectURL)
	if q.Get("code") == "" {
		return "", errors.New("redirected with " + q.Get("error"))
	}
	return q.Get("code"), nil
}

// signIn walks the whole flow for conf from v and returns the tokens, or
// why it failed.
func (v *visitor) signIn(t testing.TB, conf *oauth2.Config) (*oauth2.Token, error) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code, err := v.approve(t, conf, v.consent(t, conf, verifier))
	if err != nil {
		return nil, err
	}
	return conf.Exchange(v.ctx(), code, oauth2.VerifierOption(verifier))
}

// registerFrom POSTs client metadata to the registration endpoint from v
// and returns the status and the decoded answer.
func (h *harness) registerFrom(t testing.TB, v *visitor, metadata string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/v1/oauth/register", strings.NewReader(metadata))
	req.Header.Set("Content-Type", "application/json")
	r, err := v.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var out map[string]any
	json.NewDecoder(r.Body).Decode(&out)
	return r, out
}

// registerPublic registers a public client (a CLI) from v.
func (h *harness) registerPublic(t testing.TB, v *visitor, callback string) *oauth2.Config {
	t.Helper()
	resp, reg := h.registerFrom(t, v, `{"client_name":"CLI","redirect_uris":["`+callback+`"],"token_endpoint_auth_method":"none"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %v", resp.StatusCode, reg)
	}
	return h.clientConf(reg["client_id"].(string), "", callback)
}

// registerConfidential registers a confidential client from v and returns
// its ID and secret.
func (h *harness) registerConfidential(t testing.TB, v *visitor) (id, secret string) {
	t.Helper()
	resp, reg := h.registerFrom(t, v, `{"redirect_uris":["https://example.com/cb"]}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %v", resp.StatusCode, reg)
	}
	return reg["client_id"].(string), reg["client_secret"].(string)
}

func (h *harness) clientConf(id, secret, callback string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: id, ClientSecret: secret, RedirectURL: callback, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: h.base + "/v1/oauth/authorize", TokenURL: h.base + "/v1/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
	}
}

// addr returns the i-th address of a botnet, each its own subscriber.
func addr(i int) string {
	return fmt.Sprintf("10.%d.%d.%d:5000", i>>16&255, i>>8&255, i&255)
}

// About 10,000 consent POSTs from one address, with the app's client_id
// and one CSRF cookie, used to mint codes until every login got
// temporarily_unavailable. Now the flooder is told to wait, and a
// registered client and the app's client, from other addresses, sign in.
func TestConsentFloodFromOneAddressLeavesOthersSignedIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	flooder := h.from(t, "203.0.113.66:40000", nil)
	form := flooder.consent(t, h.conf, oauth2.GenerateVerifier())
	refused := 0
	var last *errRefused
	for range 10_001 {
		if _, err := flooder.approve(t, h.conf, form); errors.As(err, &last) && last.status == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused < 9_900 || last == nil || last.retryAfter == "" || !strings.Contains(last.page, "Too many sign-ins") {
		t.Errorf("the flooder was refused %d times of 10,001 (last: %+v); want nearly all, with Retry-After and the error page", refused, last)
	}

	cli := h.registerPublic(t, h.from(t, "198.51.100.1:1234", nil), "http://127.0.0.1:8085/callback")
	if _, err := h.from(t, "198.51.100.2:1234", nil).signIn(t, cli); err != nil {
		t.Errorf("a registered client, after the flood: %v", err)
	}
	tok, err := h.from(t, "198.51.100.3:1234", nil).signIn(t, h.conf)
	if err != nil {
		t.Fatalf("the app's client, after the flood: %v", err)
	}
	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)
}

// About 10,000 code exchanges by one self-registered public client used to
// fill the grants table, kept for a week, so every later login failed at
// the token step. The flood comes from a botnet (an address per login,
// past any limit per address) and lasts long enough (by the sandbox's
// clock) to stay within the client's own budget: it then only evicts its
// own oldest grants, and others still sign in.
func TestTokenFloodByOnePublicClientLeavesRoomForOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	flood := h.registerPublic(t, h.from(t, "203.0.113.66:1", nil), "http://127.0.0.1:9999/cb")
	bot := h.from(t, addr(0), nil)
	verifier := oauth2.GenerateVerifier()
	form := bot.consent(t, flood, verifier)
	var first, latest *oauth2.Token
	for i := range 10_000 {
		if i%100 == 99 {
			h.clock.Advance(time.Minute) // 100 logins a minute
		}
		bot.c.Transport = fromAddress{h: h.sb, addr: addr(i)}
		code, err := bot.approve(t, flood, form)
		if err != nil {
			t.Fatalf("flood login %d: %v", i, err)
		}
		latest, err = flood.Exchange(bot.ctx(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("flood exchange %d: %v", i, err)
		}
		if first == nil {
			first = latest
		}
	}

	cli := h.registerPublic(t, h.from(t, "198.51.100.1:1234", nil), "http://127.0.0.1:8085/callback")
	other, err := h.from(t, "198.51.100.2:1234", nil).signIn(t, cli)
	if err != nil {
		t.Fatalf("another registered client, after the flood: %v", err)
	}
	app, err := h.from(t, "198.51.100.3:1234", nil).signIn(t, h.conf)
	if err != nil {
		t.Fatalf("the app's client, after the flood: %v", err)
	}
	for _, tok := range []*oauth2.Token{other, app, latest} {
		wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)
	}
	_, err = flood.TokenSource(bot.ctx(), &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_grant") // the flooder's oldest grant made room
}

// Honest use reached the same wall: 10,000 sign-ins in a week, none
// followed by Disconnect, and the next one failed. Now the app's oldest
// grants are evicted to make room for new ones.
func TestHonestUseOverAWeekEvictsTheOldestGrants(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	user := h.from(t, "198.51.100.7:1234", nil)
	verifier := oauth2.GenerateVerifier()
	form := user.consent(t, h.conf, verifier) // one page, pressed again and again: the test is about what is kept
	var toks []*oauth2.Token
	for i := range 10_001 { // one a minute: the 10,001st is a day before the first expires
		code, err := user.approve(t, h.conf, form)
		if err != nil {
			t.Fatalf("sign-in %d: %v", i+1, err)
		}
		tok, err := h.conf.Exchange(user.ctx(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("sign-in %d: %v", i+1, err)
		}
		toks = append(toks, tok)
		h.clock.Advance(time.Minute)
	}
	refresh := func(tok *oauth2.Token) error {
		_, err := h.conf.TokenSource(user.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		return err
	}
	// The app's client keeps half the bound, 5,000 grants: the newest.
	wantOAuthError(t, refresh(toks[0]), "invalid_grant")
	wantOAuthError(t, refresh(toks[5_000]), "invalid_grant")
	for _, k := range []int{5_001, 10_000} {
		if err := refresh(toks[k]); err != nil {
			t.Errorf("sign-in %d, among the newest 5,000: %v", k+1, err)
		}
	}
}

// tokenRequest POSTs a refresh with an unknown token for a client: an
// authenticated token request that keeps nothing, answered 400 (or 429).
func (v *visitor) tokenRequest(t testing.TB, h *harness, id, secret string) (*http.Response, map[string]string) {
	t.Helper()
	form := map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {"unknown"}, "client_id": {id}}
	if secret != "" {
		form["client_secret"] = []string{secret}
	}
	resp, body := do(t, v.c, http.MethodPost, h.base+"/v1/oauth/token", form, nil)
	var out map[string]string
	json.Unmarshal([]byte(body), &out)
	return resp, out
}

// Past a budget, each endpoint answers 429 with Retry-After in its own
// format: the error page on the consent form, an OAuth error JSON at the
// token and registration endpoints. The wait is what is left of the window.
func TestSignInLimitsAnswer429(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // MaxGrants 10,000: 20 approvals a minute per address
	user := h.from(t, "198.51.100.7:1234", nil)
	form := user.consent(t, h.conf, oauth2.GenerateVerifier())
	for i := range 20 {
		if _, err := user.approve(t, h.conf, form); err != nil {
			t.Fatalf("approval %d: %v", i+1, err)
		}
	}
	h.clock.Advance(15 * time.Second)
	resp, page := form.submit(t, user.c, "approve")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "45" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		!strings.Contains(page, "too many sign-ins from your address in the last minute. Try again in 45 seconds.") {
		t.Errorf("approval 21: %d Retry-After=%q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
	}
	if _, err := h.from(t, "198.51.100.8:1234", nil).signIn(t, h.conf); err != nil {
		t.Errorf("another address: %v", err)
	}
	cli := h.registerPublic(t, user, "http://127.0.0.1:8085/cb")
	if _, err := user.signIn(t, cli); err != nil {
		t.Errorf("a registered client at the same address, counted apart from the app's: %v", err)
	}
	h.clock.Advance(45 * time.Second)
	if _, err := user.approve(t, h.conf, form); err != nil {
		t.Errorf("after the window: %v", err)
	}

	// Token requests of a registered client: 100 a minute per address.
	server := h.from(t, "192.0.2.10:443", nil)
	id, secret := h.registerConfidential(t, server)
	for i := range 100 {
		if resp, out := server.tokenRequest(t, h, id, secret); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("token request %d: %d %v", i+1, resp.StatusCode, out)
		}
	}
	resp, out := server.tokenRequest(t, h, id, secret)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" || resp.Header.Get("Cache-Control") != "no-store" ||
		out["error"] != "temporarily_unavailable" || out["error_description"] != "Too many token requests from this address: try again in 60 seconds." {
		t.Errorf("token request 101: %d Retry-After=%q %v", resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}

	// Registrations: 10 an hour per address.
	reg := h.from(t, "192.0.2.20:1", nil)
	for range 10 {
		h.registerConfidential(t, reg)
	}
	r, body := h.registerFrom(t, reg, `{"redirect_uris":["https://example.com/cb"]}`)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "3600" ||
		body["error"] != "temporarily_unavailable" || body["error_description"] != "Too many registrations from this address: try again in 3600 seconds." {
		t.Errorf("registration 11: %d Retry-After=%q %v", r.StatusCode, r.Header.Get("Retry-After"), body)
	}
	if st := h.sb.Stats(); st.Throttled != 3 {
		t.Errorf("Stats().Throttled = %d, want 3", st.Throttled)
	}
}

// A registered client has budgets of its own, ten times an address's, so
// that flooding it from many addresses is bounded too; the app's client,
// which every visitor uses and whose token requests all come from the
// app's server, has none.
func TestSignInLimitsPerClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cli := h.registerPublic(t, h.from(t, "192.0.2.1:1", nil), "http://127.0.0.1:8085/cb")
	bot := h.from(t, addr(0), nil)
	form := bot.consent(t, cli, oauth2.GenerateVerifier())
	for i := range 200 {
		bot.c.Transport = fromAddress{h: h.sb, addr: addr(i)}
		if _, err := bot.approve(t, cli, form); err != nil {
			t.Fatalf("approval %d: %v", i+1, err)
		}
	}
	bot.c.Transport = fromAddress{h: h.sb, addr: addr(200)}
	var refused *errRefused
	if _, err := bot.approve(t, cli, form); !errors.As(err, &refused) || refused.status != http.StatusTooManyRequests ||
		!strings.Contains(refused.page, "too many sign-ins for this application") {
		t.Errorf("approval 201, from a fresh address: %v", err)
	}
	if _, err := h.from(t, addr(201), nil).signIn(t, h.conf); err != nil {
		t.Errorf("the app's client: %v", err)
	}

	id, secret := h.registerConfidential(t, h.from(t, "192.0.2.2:1", nil))
	for i := range 1000 {
		if resp, out := h.from(t, addr(i/100), nil).tokenRequest(t, h, id, secret); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("token request %d: %d %v", i+1, resp.StatusCode, out)
		}
	}
	resp, out := h.from(t, addr(999), nil).tokenRequest(t, h, id, secret)
	if resp.StatusCode != http.StatusTooManyRequests || out["error_description"] != "Too many token requests for this client: try again in 60 seconds." {
		t.Errorf("token request 1001: %d %v", resp.StatusCode, out)
	}

	app := h.from(t, "127.0.0.1:50000", nil) // the app's server, for every visitor
	for i := range 2000 {
		if resp, out := app.tokenRequest(t, h, testClientID, testSecret); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("the app's token request %d: %d %v", i+1, resp.StatusCode, out)
		}
	}
}

// The budgets follow the memory bound: a tenth of it, a tenth of them.
func TestSignInLimitsScaleWithMaxGrants(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ maxGrants, approvals int }{{1_000, 2}, {100_000, 200}} {
		h := newHarness(t, withConfig(func(c *sandbox.Config) { c.MaxGrants = tt.maxGrants }))
		user := h.from(t, "198.51.100.7:1234", nil)
		form := user.consent(t, h.conf, oauth2.GenerateVerifier())
		for i := range tt.approvals {
			if _, err := user.approve(t, h.conf, form); err != nil {
				t.Fatalf("MaxGrants %d: approval %d: %v", tt.maxGrants, i+1, err)
			}
		}
		if _, err := user.approve(t, h.conf, form); err == nil {
			t.Errorf("MaxGrants %d: approval %d was not refused", tt.maxGrants, tt.approvals+1)
		}
	}

	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.DisableSignInLimits = true }))
	user := h.from(t, "198.51.100.7:1234", nil)
	form := user.consent(t, h.conf, oauth2.GenerateVerifier())
	for i := range 100 {
		if _, err := user.approve(t, h.conf, form); err != nil {
			t.Fatalf("DisableSignInLimits: approval %d: %v", i+1, err)
		}
	}

	for _, cfg := range []sandbox.Config{{MaxGrants: 99}, {MaxGrants: -1}, {TrustedProxies: -1}} {
		if _, err := sandbox.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// The address a limit counts is the connection's: X-Forwarded-For, which
// any client can write, is read only with Config.TrustedProxies, and then
// only the entries the trusted proxies appended. IPv6 addresses count by
// their /64.
func TestSignInLimitsCountTheSendersAddress(t *testing.T) {
	t.Parallel()
	approvals := func(h *harness, addrOf func(i int) (string, string)) int {
		v := h.from(t, "192.0.2.1:1", nil)
		form := v.consent(t, h.conf, oauth2.GenerateVerifier())
		ok := 0
		for i := range 40 {
			remote, xff := addrOf(i)
			hdr := http.Header{}
			if xff != "" {
				hdr.Set("X-Forwarded-For", xff)
			}
			v.c.Transport = fromAddress{h: h.sb, addr: remote, hdr: hdr}
			resp, _ := form.submit(t, v.c, "approve")
			if resp.StatusCode == http.StatusFound {
				ok++
			}
		}
		return ok
	}
	direct := newHarness(t)
	if n := approvals(direct, func(i int) (string, string) { return "203.0.113.5:1", fmt.Sprintf("198.51.100.%d", i) }); n != 20 {
		t.Errorf("one connection address writing a new X-Forwarded-For each time: %d approvals, want 20", n)
	}
	if n := approvals(direct, func(i int) (string, string) { return fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1), "" }); n != 20 {
		t.Errorf("addresses of one IPv6 /64: %d approvals, want 20", n)
	}
	if n := approvals(direct, func(i int) (string, string) { return fmt.Sprintf("[2001:db8:2:%x::1]:1", i+1), "" }); n != 40 {
		t.Errorf("addresses of 40 IPv6 /64s: %d approvals, want 40", n)
	}
	proxied := newHarness(t, withConfig(func(c *sandbox.Config) { c.TrustedProxies = 1 }))
	if n := approvals(proxied, func(i int) (string, string) { return "10.0.0.1:1", fmt.Sprintf("198.51.100.%d, 203.0.113.9", i) }); n != 20 {
		t.Errorf("behind one proxy, one sender writing its own X-Forwarded-For entries: %d approvals, want 20", n)
	}
	if n := approvals(proxied, func(i int) (string, string) { return "10.0.0.1:1", fmt.Sprintf("198.18.0.%d", i) }); n != 40 {
		t.Errorf("behind one proxy, 40 senders: %d approvals, want 40", n)
	}
	if n := approvals(proxied, func(i int) (string, string) { return "10.0.0.1:1", fmt.Sprintf("[2001:db8:9:%x::1]:443", i) }); n != 40 {
		t.Errorf("behind one proxy, 40 senders written with a port: %d approvals, want 40", n)
	}
}
