package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

// The sandbox as a public demo (SANDBOX=1 on a server) is reachable by
// anyone, who may register clients and press Authorize as often as they
// like. These tests play flooders and honest visitors at once: requests go
// straight to the sandbox's handler with the sender's address set, as if
// each came over its own connection. The sandbox's bound is 1,000 here
// (Config.MaxGrants), so every budget derived from it is small:
//
//	approvals: 2 a minute per address, 20 per registered client
//	token requests: 10 a minute per address, 100 per registered client
//	registrations: 1 an hour per address
//	grants and codes: 500 for the app's client; 500 for registered
//	clients, 50 each

const sbAppRedirect = "http://localhost:5000/digitalocean"

// sbWorld is a sandbox configured as the app configures it, with a clock
// that moves only when told.
type sbWorld struct {
	sb  *sandbox.Server
	app *oauth2.Config

	mu  sync.Mutex
	now time.Time
}

func newSBWorld(t *testing.T, edit func(*sandbox.Config)) *sbWorld {
	t.Helper()
	w := &sbWorld{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	cfg := sandbox.Config{
		ClientID: "app-client", ClientSecret: "app-secret", AppName: "Sign in with DigitalOcean (Go)",
		RedirectURIs: []string{sbAppRedirect},
		TokenTTL:     24 * time.Hour, // so that a live grant's access token is counted live
		MaxGrants:    1_000,
		Now:          w.clock,
	}
	if edit != nil {
		edit(&cfg)
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.sb = sb
	w.app = w.conf("app-client", "app-secret", sbAppRedirect)
	return w
}

func (w *sbWorld) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *sbWorld) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

func (w *sbWorld) conf(id, secret, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: "http://sandbox.test/v1/oauth/authorize", TokenURL: "http://sandbox.test/v1/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
	}
}

// sbAt is a transport that hands requests to the sandbox as if they came
// from addr, with extra headers (X-Forwarded-For) when set.
type sbAt struct {
	h    http.Handler
	addr string
	hdr  http.Header
}

func (a sbAt) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RemoteAddr, r.RequestURI = a.addr, req.URL.RequestURI()
	for k, vs := range a.hdr {
		r.Header[k] = vs
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// sbVisitor is a browser, a CLI or a server. Its address can change
// between requests (a botnet), its cookies stay.
type sbVisitor struct {
	w *sbWorld
	c *http.Client
}

func (w *sbWorld) visitor(addr string) *sbVisitor {
	jar, _ := cookiejar.New(nil)
	return &sbVisitor{w: w, c: &http.Client{
		Jar:           jar,
		Transport:     sbAt{h: w.sb, addr: addr},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (v *sbVisitor) at(addr string, hdr http.Header) *sbVisitor {
	v.c.Transport = sbAt{h: v.w.sb, addr: addr, hdr: hdr}
	return v
}

func (v *sbVisitor) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, v.c)
}

// sbAnswer is an HTTP answer, read.
type sbAnswer struct {
	status int
	header http.Header
	body   string
}

func (v *sbVisitor) send(t *testing.T, method, target, contentType, body string) sbAnswer {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := v.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return sbAnswer{resp.StatusCode, resp.Header, string(b)}
}

// sbConsent is a consent page's form, ready to be pressed again and again,
// with the PKCE verifier of its challenge.
type sbConsent struct {
	conf     *oauth2.Config
	form     url.Values
	verifier string
}

func (v *sbVisitor) consent(t *testing.T, conf *oauth2.Config) sbConsent {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	page := v.send(t, http.MethodGet, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "", "")
	if page.status != http.StatusOK {
		t.Fatalf("consent page: %d\n%.300s", page.status, page.body)
	}
	form := hiddenFields(page.body)
	form.Set("decision", "approve")
	return sbConsent{conf: conf, form: form, verifier: verifier}
}

// approve presses Authorize and returns the code, or the refusal.
func (v *sbVisitor) approve(t *testing.T, c sbConsent) (string, sbAnswer) {
	t.Helper()
	a := v.send(t, http.MethodPost, c.conf.Endpoint.AuthURL, "application/x-www-form-urlencoded", c.form.Encode())
	if a.status != http.StatusFound {
		return "", a
	}
	loc, _ := url.Parse(a.header.Get("Location"))
	if loc.Query().Get("code") == "" {
		t.Fatalf("redirected without a code: %s", loc)
	}
	return loc.Query().Get("code"), a
}

// signIn presses Authorize and exchanges the code.
func (v *sbVisitor) signIn(t *testing.T, c sbConsent) (*oauth2.Token, error) {
	t.Helper()
	code, a := v.approve(t, c)
	if code == "" {
		return nil, fmt.Errorf("consent form: %d %.200s", a.status, a.body)
	}
	return c.conf.Exchange(v.ctx(), code, oauth2.VerifierOption(c.verifier))
}

// live reports whether a grant still works, by refreshing it.
func (v *sbVisitor) live(conf *oauth2.Config, tok *oauth2.Token) bool {
	_, err := conf.TokenSource(v.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	return err == nil
}

// register registers a client from v: public without a secret.
func (v *sbVisitor) register(t *testing.T, public bool, redirect string) (*oauth2.Config, sbAnswer) {
	t.Helper()
	method := "client_secret_post"
	if public {
		method = "none"
	}
	body, _ := json.Marshal(map[string]any{"redirect_uris": []string{redirect}, "token_endpoint_auth_method": method})
	a := v.send(t, http.MethodPost, "http://sandbox.test/v1/oauth/register", "application/json", string(body))
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	json.Unmarshal([]byte(a.body), &reg)
	if a.status != http.StatusCreated {
		return nil, a
	}
	return v.w.conf(reg.ClientID, reg.ClientSecret, redirect), a
}

func (v *sbVisitor) mustRegister(t *testing.T, public bool, redirect string) *oauth2.Config {
	t.Helper()
	conf, a := v.register(t, public, redirect)
	if conf == nil {
		t.Fatalf("register: %d %s", a.status, a.body)
	}
	return conf
}

// tokenRequest is an authenticated token request that keeps nothing (a
// refresh with an unknown token): 400, or 429 past a limit.
func (v *sbVisitor) tokenRequest(t *testing.T, conf *oauth2.Config) sbAnswer {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"unknown"}, "client_id": {conf.ClientID}}
	if conf.ClientSecret != "" {
		form.Set("client_secret", conf.ClientSecret)
	}
	return v.send(t, http.MethodPost, conf.Endpoint.TokenURL, "application/x-www-form-urlencoded", form.Encode())
}

// sbBot returns the i-th address of a botnet, each its own subscriber.
func sbBot(i int) string { return fmt.Sprintf("10.%d.%d.%d:4000", i>>16&255, i>>8&255, i&255) }

// want429 checks a refusal: 429 with Retry-After, and the body's words.
func want429(t *testing.T, what string, a sbAnswer, words ...string) {
	t.Helper()
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Errorf("%s: %d Retry-After=%q, want 429 with Retry-After\n%.300s", what, a.status, a.header.Get("Retry-After"), a.body)
		return
	}
	for _, w := range words {
		if !strings.Contains(a.body, w) {
			t.Errorf("%s: the answer lacks %q:\n%.300s", what, w, a.body)
		}
	}
}

func TestSecurity31SandboxFloodLeavesOthersSignedIn(t *testing.T) {
	t.Parallel()

	t.Run("approvals from one address", func(t *testing.T) {
		w := newSBWorld(t, nil)
		flooder := w.visitor("203.0.113.66:40000")
		c := flooder.consent(t, w.app)
		refused := 0
		var last sbAnswer
		for range 50 {
			if code, a := flooder.approve(t, c); code == "" {
				refused, last = refused+1, a
			}
		}
		if refused != 48 {
			t.Errorf("%d of 50 approvals from one address refused, want 48", refused)
		}
		want429(t, "a flooded consent form", last, "Too many sign-ins", "from your address")
		other := w.visitor("198.51.100.1:1")
		if _, err := other.signIn(t, other.consent(t, w.app)); err != nil {
			t.Errorf("the app's client from another address: %v", err)
		}
		// At the flooder's own address, a registered client has a budget
		// of its own: it never spends the app's, nor the app's it.
		cli := w.visitor("192.0.2.1:1").mustRegister(t, true, "http://127.0.0.1:8085/cb")
		if _, err := flooder.signIn(t, flooder.consent(t, cli)); err != nil {
			t.Errorf("a registered client at the flooder's address: %v", err)
		}
	})

	t.Run("approvals for one registered client from many addresses", func(t *testing.T) {
		w := newSBWorld(t, nil)
		flood := w.visitor("192.0.2.1:1").mustRegister(t, true, "http://127.0.0.1:8085/cb")
		bot := w.visitor(sbBot(0))
		c := bot.consent(t, flood)
		refused := 0
		var last sbAnswer
		for i := range 30 {
			if code, a := bot.at(sbBot(i), nil).approve(t, c); code == "" {
				refused, last = refused+1, a
			}
		}
		if refused != 10 {
			t.Errorf("%d of 30 approvals for one client refused, want 10", refused)
		}
		want429(t, "a flooded client", last, "for this application")
		other := w.visitor("192.0.2.2:1").mustRegister(t, true, "http://127.0.0.1:8086/cb")
		v := w.visitor("198.51.100.1:1")
		if _, err := v.signIn(t, v.consent(t, other)); err != nil {
			t.Errorf("another registered client: %v", err)
		}
		if _, err := v.signIn(t, v.consent(t, w.app)); err != nil {
			t.Errorf("the app's client: %v", err)
		}
	})

	t.Run("token requests", func(t *testing.T) {
		w := newSBWorld(t, nil)
		server := w.visitor("192.0.2.10:443")
		conf := server.mustRegister(t, false, "https://example.com/cb")
		var last sbAnswer
		for range 11 {
			last = server.tokenRequest(t, conf)
		}
		want429(t, "the 11th token request from one address", last, `"error":"temporarily_unavailable"`, "from this address")
		// From many addresses, the client's own budget (100) runs out.
		for i := range 100 {
			last = server.at(sbBot(i/10), nil).tokenRequest(t, conf)
		}
		want429(t, "the 101st token request of one client", last, `"error":"temporarily_unavailable"`, "for this client")
		// The app's server asks for every visitor: never limited.
		app := w.visitor("127.0.0.1:50000")
		for i := range 300 {
			if a := app.tokenRequest(t, w.app); a.status != http.StatusBadRequest {
				t.Fatalf("the app's token request %d: %d %s", i+1, a.status, a.body)
			}
		}
	})

	t.Run("registrations", func(t *testing.T) {
		w := newSBWorld(t, nil)
		v := w.visitor("192.0.2.30:1")
		v.mustRegister(t, true, "http://127.0.0.1:8085/cb")
		_, a := v.register(t, true, "http://127.0.0.1:8085/cb")
		want429(t, "a second registration within the hour", a, `"error":"temporarily_unavailable"`, "registrations")
		w.visitor("192.0.2.31:1").mustRegister(t, true, "http://127.0.0.1:8085/cb")
	})

	t.Run("the sender's address, not what it writes", func(t *testing.T) {
		w := newSBWorld(t, nil)
		v := w.visitor("203.0.113.5:1")
		c := v.consent(t, w.app)
		approved := 0
		for i := range 10 { // a new X-Forwarded-For each time, and a new IPv6 address in one /64
			if code, _ := v.at("203.0.113.5:1", http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i)}}).approve(t, c); code != "" {
				approved++
			}
			if code, _ := v.at(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1), nil).approve(t, c); code != "" {
				approved++
			}
		}
		if approved != 4 {
			t.Errorf("%d approvals from one address writing X-Forwarded-For and one IPv6 /64, want 2 each", approved)
		}
	})

	t.Run("a registered client past its share loses its own oldest grant", func(t *testing.T) {
		w := newSBWorld(t, nil)
		flood := w.visitor("192.0.2.1:1").mustRegister(t, true, "http://127.0.0.1:8085/cb")
		other := w.visitor("192.0.2.2:1").mustRegister(t, true, "http://127.0.0.1:8086/cb")
		honest := w.visitor("198.51.100.1:1")
		otherTok, err := honest.signIn(t, honest.consent(t, other))
		if err != nil {
			t.Fatal(err)
		}
		appTok, err := honest.signIn(t, honest.consent(t, w.app))
		if err != nil {
			t.Fatal(err)
		}
		bot := w.visitor(sbBot(0))
		c := bot.consent(t, flood)
		var toks []*oauth2.Token
		for i := range 51 {
			if i%20 == 19 {
				w.advance(time.Minute) // within the client's 20 approvals a minute
			}
			tok, err := bot.at(sbBot(i), nil).signIn(t, c)
			if err != nil {
				t.Fatalf("flood sign-in %d: %v", i+1, err)
			}
			toks = append(toks, tok)
		}
		if bot.live(flood, toks[0]) || !bot.live(flood, toks[50]) {
			t.Error("after 51 grants, want the client's first evicted (its share is 50) and its latest live")
		}
		if !honest.live(other, otherTok) || !honest.live(w.app, appTok) {
			t.Error("another client's grant or the app's was evicted")
		}
	})

	t.Run("the app's half is its own and the bound holds", func(t *testing.T) {
		w := newSBWorld(t, nil)
		var appToks []*oauth2.Token
		for i := range 100 { // a hundred visitors sign in with the app
			v := w.visitor(fmt.Sprintf("198.51.100.%d:1", i))
			tok, err := v.signIn(t, v.consent(t, w.app))
			if err != nil {
				t.Fatalf("visitor %d: %v", i+1, err)
			}
			appToks = append(appToks, tok)
		}
		// Eleven registered clients of 50 grants each: one more client
		// than the registered half (500) holds.
		for k := range 11 {
			conf := w.visitor(fmt.Sprintf("192.0.2.%d:1", k)).mustRegister(t, true, "http://127.0.0.1:8085/cb")
			bot := w.visitor(sbBot(0))
			c := bot.consent(t, conf)
			for i := range 50 {
				if i%20 == 19 {
					w.advance(time.Minute)
				}
				if _, err := bot.at(sbBot(k*50+i), nil).signIn(t, c); err != nil {
					t.Fatalf("client %d, sign-in %d: %v", k+1, i+1, err)
				}
			}
		}
		if live := w.sb.Stats().LiveAccessTokens; live != 600 {
			t.Errorf("%d live grants, want 600: the app's 100 and the registered clients' 500", live)
		}
		check := w.visitor("198.51.100.250:1")
		for i, tok := range appToks {
			if !check.live(w.app, tok) {
				t.Errorf("the app's grant %d was evicted by registered clients", i+1)
				break
			}
		}
	})
}

// A redirect URI's origin goes into the consent page's Content Security
// Policy (form-action). A host that is no host, such as "*", would make it
// "form-action 'self' https://*" and let the form go anywhere; quotes,
// brackets or spaces would break the policy. Registration and the
// sandbox's own configuration refuse them, and the policy of a valid
// client names exactly its origin.
func TestSecurity38RedirectHostsAreHostsAndTheCSPNamesOnlyThem(t *testing.T) {
	t.Parallel()
	w := newSBWorld(t, func(c *sandbox.Config) { c.DisableSignInLimits = true })
	v := w.visitor("192.0.2.1:1")
	for _, uri := range []string{
		"https://*/cb", "https://*.example.com/cb", `https://a"b.example/cb`, "https://a'b.example/cb",
		"https://<x>/cb", "https://a>b/cb", "https://a b/cb", "https://a;b/cb", "https://a,b/cb",
		"https://a..b/cb", "https://example.com./cb", "https://-a.example/cb", "https://exa_mple.com/cb",
		"https://" + strings.Repeat("a", 64) + ".example/cb", "https://bücher.example/cb", "https://user@example.com/cb",
		"https://1.2.3/cb", "https://0x7f.1/cb", "https://example.com:0/cb", "https://example.com:65536/cb",
		"https://example.com:/cb", "http://[::1%25lo]:8080/cb", "https://[::ffff:192.0.2.1]/cb", "https://[2001:DB8:0::1]/cb",
	} {
		_, a := v.register(t, false, uri)
		if a.status != http.StatusBadRequest || !strings.Contains(a.body, `"error":"invalid_redirect_uri"`) {
			t.Errorf("registering %s: %d %s, want 400 invalid_redirect_uri", uri, a.status, a.body)
		}
		if _, err := sandbox.New(sandbox.Config{ClientID: "id", ClientSecret: "secret", AppName: "App", RedirectURIs: []string{uri}}); err == nil {
			t.Errorf("sandbox.New accepted the redirect URI %s", uri)
		}
	}
	for uri, origin := range map[string]string{
		"https://xn--bcher-kva.example:8443/oauth/cb?x=1": "https://xn--bcher-kva.example:8443",
		"https://192.0.2.1/cb":                            "https://192.0.2.1",
		"http://[::1]:9000/cb":                            "http://[::1]:9000",
	} {
		conf := v.mustRegister(t, false, uri)
		page := v.send(t, http.MethodGet, conf.AuthCodeURL("st"), "", "")
		want := "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self' " + origin
		if page.status != http.StatusOK || page.header.Get("Content-Security-Policy") != want {
			t.Errorf("consent page of a client of %s: %d CSP %q, want %q", uri, page.status, page.header.Get("Content-Security-Policy"), want)
		}
	}
}
