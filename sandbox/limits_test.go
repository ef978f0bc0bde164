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

// registerPublic registers a public client (a CLI) from v.
func (h *harness) registerPublic(t testing.TB, v *visitor, callback string) *oauth2.Config {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/v1/oauth/register",
		strings.NewReader(`{"client_name":"CLI","redirect_uris":["`+callback+`"],"token_endpoint_auth_method":"none"}`))
	req.Header.Set("Content-Type", "application/json")
	r, err := v.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&reg); err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %v", r.StatusCode, err)
	}
	return h.clientConf(reg.ClientID, "", callback)
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
