package doclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"dosignin/doclient"

	"dosignin/internal/testclock"
	"golang.org/x/oauth2"
)

const (
	testClientID     = "client-id-0123"
	testClientSecret = "client-secret-do-not-leak"
	testRedirectURL  = "http://localhost:5000/digitalocean"
)

// newClient returns a Client whose OAuth server and API are test servers;
// tweak adjusts the Config before New.
func newClient(t testing.TB, oauthURL, apiURL string, tweak ...func(*doclient.Config)) *doclient.Client {
	t.Helper()
	cfg := doclient.Config{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		RedirectURL:  testRedirectURL,
		Scopes:       []string{"read"},
		OAuthURL:     oauthURL,
		APIURL:       apiURL,
		Timeout:      5 * time.Second,
		Transport:    http.DefaultTransport.(*http.Transport).Clone(),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := doclient.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// tokenResponse is a token response shaped like DigitalOcean's.
func tokenResponse(access, refresh string, expiresIn int) map[string]any {
	return map[string]any{
		"access_token":  access,
		"token_type":    "bearer",
		"expires_in":    expiresIn,
		"refresh_token": refresh,
		"scope":         "read",
		"info": map[string]any{
			"name":      "Sammy the Shark",
			"email":     "sammy@example.com",
			"uuid":      "4d2c5f1e-7c1a-4b5e-9d8c-1a2b3c4d5e6f",
			"team_uuid": "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f",
			"team_name": "Sammy's team",
		},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// seen is what a test server saw of one request.
type seen struct {
	Method, Path string
	Query, Form  url.Values
	Header       http.Header
}

// recorder keeps the requests a test server saw.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

// record parses r's query and form and keeps them.
func (rec *recorder) record(r *http.Request) seen {
	_ = r.ParseForm()
	s := seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Form: r.PostForm, Header: r.Header.Clone()}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = append(rec.reqs, s)
	return s
}

func (rec *recorder) all() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.reqs...)
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

// checkForm reports every field of got that differs from want, and fields
// in got that want does not list.
func checkForm(t *testing.T, got url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g := got.Get(k); g != v {
			t.Errorf("form field %s = %q, want %q", k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected form field %s = %q", k, got.Get(k))
		}
	}
}

func TestEndpointAt(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"https://cloud.digitalocean.com/v1/oauth", "https://cloud.digitalocean.com/v1/oauth/"} {
		ep := doclient.EndpointAt(base)
		if ep.AuthURL != "https://cloud.digitalocean.com/v1/oauth/authorize" ||
			ep.TokenURL != "https://cloud.digitalocean.com/v1/oauth/token" ||
			ep.AuthStyle != oauth2.AuthStyleInParams {
			t.Errorf("EndpointAt(%q) = %+v", base, ep)
		}
	}
	if doclient.Endpoint != doclient.EndpointAt(doclient.DefaultOAuthURL) {
		t.Errorf("Endpoint = %+v, want EndpointAt(DefaultOAuthURL)", doclient.Endpoint)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	valid := doclient.Config{ClientID: "id", ClientSecret: "secret", RedirectURL: testRedirectURL}
	tests := []struct {
		name    string
		tweak   func(*doclient.Config)
		wantErr []string // substrings of the error; nil means no error
	}{
		{"valid with defaults", func(*doclient.Config) {}, nil},
		{"API URL with path prefix", func(c *doclient.Config) { c.APIURL = "http://localhost:5000/sandbox" }, nil},
		{"everything missing", func(c *doclient.Config) { *c = doclient.Config{} },
			[]string{"ClientID is empty", "ClientSecret is empty", "RedirectURL: empty"}},
		{"relative redirect URL", func(c *doclient.Config) { c.RedirectURL = "/digitalocean" }, []string{"RedirectURL"}},
		{"ftp OAuth URL", func(c *doclient.Config) { c.OAuthURL = "ftp://example.com/oauth" }, []string{"OAuthURL"}},
		{"API URL without host", func(c *doclient.Config) { c.APIURL = "http://" }, []string{"APIURL"}},
		{"API URL unparsable", func(c *doclient.Config) { c.APIURL = "http://[::1" }, []string{"APIURL"}},
		{"negative timeout", func(c *doclient.Config) { c.Timeout = -time.Second }, []string{"Timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.tweak(&cfg)
			c, err := doclient.New(cfg)
			if tt.wantErr == nil {
				if err != nil || c == nil {
					t.Fatalf("New = %v, %v; want a client", c, err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded; want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "secret") && cfg.ClientSecret != "" && strings.Contains(err.Error(), cfg.ClientSecret) {
				t.Errorf("error %q contains the client secret", err)
			}
		})
	}
}

func TestAuthCodeURL(t *testing.T) {
	t.Parallel()
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if got := oauth2.S256ChallengeFromVerifier(verifier); got != challenge {
		t.Fatalf("S256(verifier) = %q, want the RFC's %q", got, challenge)
	}
	c := newClient(t, "https://cloud.example.com/v1/oauth/", "https://api.example.com")

	tests := []struct {
		name     string
		verifier string
		scopes   []string
		want     map[string]string // "" means the parameter must be absent
	}{
		{"PKCE with default scopes", verifier, nil, map[string]string{
			"scope": "read", "code_challenge": challenge, "code_challenge_method": "S256",
		}},
		{"PKCE off", "", nil, map[string]string{
			"scope": "read", "code_challenge": "", "code_challenge_method": "",
		}},
		{"scopes for this request", verifier, []string{"read", "write"}, map[string]string{
			"scope": "read write", "code_challenge": challenge,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(c.AuthCodeURL(context.Background(), "state-123", tt.verifier, tt.scopes))
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Scheme + "://" + u.Host + u.Path; got != "https://cloud.example.com/v1/oauth/authorize" {
				t.Errorf("authorize endpoint = %q", got)
			}
			q := u.Query()
			want := map[string]string{
				"client_id":     testClientID,
				"redirect_uri":  testRedirectURL,
				"response_type": "code",
				"state":         "state-123",
			}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				if _, present := q[k]; v == "" && present {
					t.Errorf("%s = %q, want it absent", k, q.Get(k))
				} else if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			if q.Has("client_secret") || q.Has("code_verifier") {
				t.Errorf("the authorize URL leaks a secret: %v", u)
			}
		})
	}
	// Per-request scopes must not change the defaults.
	if q := mustQuery(t, c.AuthCodeURL(context.Background(), "s", "", nil)); q.Get("scope") != "read" {
		t.Errorf("default scope after an override = %q, want read", q.Get("scope"))
	}
}

func mustQuery(t *testing.T, rawURL string) url.Values {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestExchange(t *testing.T) {
	t.Parallel()
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		writeJSON(w, http.StatusOK, tokenResponse("doo_v1_access", "dor_v1_refresh", 2592000))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)

	tok, acct, err := c.Exchange(context.Background(), "the-code", "the-verifier")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}

	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("token endpoint saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/v1/oauth/token" {
		t.Errorf("request = %s %s, want POST /v1/oauth/token", r.Method, r.Path)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := r.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none: credentials go in the body", got)
	}
	if len(r.Query) != 0 {
		t.Errorf("query = %v, want none: secrets must not be in the URL", r.Query)
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, doclient.DefaultUserAgent) {
		t.Errorf("User-Agent = %q", ua)
	}
	checkForm(t, r.Form, map[string]string{
		"grant_type":    "authorization_code",
		"code":          "the-code",
		"redirect_uri":  testRedirectURL,
		"client_id":     testClientID,
		"client_secret": testClientSecret,
		"code_verifier": "the-verifier",
	})

	if tok.AccessToken != "doo_v1_access" || tok.RefreshToken != "dor_v1_refresh" || tok.TokenType != "bearer" {
		t.Errorf("token = %+v", tok)
	}
	if left := time.Until(tok.Expiry); left < 29*24*time.Hour || left > 31*24*time.Hour {
		t.Errorf("token expires in %v, want about 30 days", left)
	}
	if got := tok.Extra("scope"); got != "read" {
		t.Errorf("scope = %v, want read", got)
	}
	want := doclient.Account{
		Name:     "Sammy the Shark",
		Email:    "sammy@example.com",
		UUID:     "4d2c5f1e-7c1a-4b5e-9d8c-1a2b3c4d5e6f",
		TeamUUID: "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f",
		TeamName: "Sammy's team",
	}
	if acct != want {
		t.Errorf("account = %+v, want %+v", acct, want)
	}
}

func TestExchangeWithoutPKCE(t *testing.T) {
	t.Parallel()
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		writeJSON(w, http.StatusOK, tokenResponse("doo_v1_a", "dor_v1_r", 3600))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	if _, _, err := c.Exchange(context.Background(), "the-code", ""); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if form := rec.all()[0].Form; form.Has("code_verifier") {
		t.Errorf("code_verifier = %q, want none when PKCE is off", form.Get("code_verifier"))
	}
}

func TestAccountFromToken(t *testing.T) {
	t.Parallel()
	base := &oauth2.Token{AccessToken: "a"}
	tests := []struct {
		name string
		tok  *oauth2.Token
		want doclient.Account
	}{
		{"nil token", nil, doclient.Account{}},
		{"no info", base, doclient.Account{}},
		{"info not an object", base.WithExtra(map[string]any{"info": "sammy"}), doclient.Account{}},
		{"partial info, wrong types ignored", base.WithExtra(map[string]any{"info": map[string]any{
			"email": "sammy@example.com", "uuid": 42.0,
		}}), doclient.Account{Email: "sammy@example.com"}},
		{"full info", base.WithExtra(map[string]any{"info": map[string]any{
			"name": "N", "email": "E", "uuid": "U", "team_uuid": "TU", "team_name": "TN",
		}}), doclient.Account{Name: "N", Email: "E", UUID: "U", TeamUUID: "TU", TeamName: "TN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := doclient.AccountFromToken(tt.tok); got != tt.want {
				t.Errorf("AccountFromToken = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := rec.record(r)
		if s.Form.Get("token") == "doo_v1_already_revoked" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error": "invalid_token", "error_description": "The access token is invalid",
			})
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth/", srv.URL)

	if err := c.Revoke(context.Background(), "doo_v1_access"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	r := rec.all()[0]
	if r.Method != http.MethodPost || r.Path != "/v1/oauth/revoke" {
		t.Errorf("request = %s %s, want POST /v1/oauth/revoke", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer doo_v1_access" {
		t.Errorf("Authorization = %q, want the bearer token", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	if len(r.Query) != 0 {
		t.Errorf("query = %v, want the token in the body only", r.Query)
	}
	checkForm(t, r.Form, map[string]string{"token": "doo_v1_access"})

	err := c.Revoke(context.Background(), "doo_v1_already_revoked")
	var oe *doclient.OAuthError
	if !errors.As(err, &oe) || oe.StatusCode != http.StatusUnauthorized || oe.Code != "invalid_token" {
		t.Errorf("Revoke of a dead token = %v, want an OAuthError 401 invalid_token", err)
	}
	if !doclient.IsInvalidToken(err) || doclient.IsUnavailable(err) {
		t.Errorf("Revoke of a dead token: IsInvalidToken %v, IsUnavailable %v; want true, false", doclient.IsInvalidToken(err), doclient.IsUnavailable(err))
	}

	if err := c.Revoke(context.Background(), ""); err == nil {
		t.Error("Revoke(\"\") succeeded; want an error")
	}
	if n := rec.count(); n != 2 {
		t.Errorf("revoke endpoint saw %d requests, want 2", n)
	}
}

// A callback sent twice (a double click) presents one code twice: one
// request to DigitalOcean, and both callers get its tokens; a different
// verifier is a request of its own; a call after the share window is
// refused as a replay, and one after the spent period is sent again.
func TestExchangeDeduplicates(t *testing.T) {
	t.Parallel()
	var rec recorder
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		<-release
		writeJSON(w, http.StatusOK, tokenResponse(fmt.Sprintf("doo_v1_%d", rec.count()), "dor_v1_x", 2592000))
	}))
	defer srv.Close()
	clock := testclock.New(time.Now())
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL, func(cfg *doclient.Config) { cfg.Now = clock.Now })

	const n = 5
	var wg sync.WaitGroup
	toks := make([]*oauth2.Token, n)
	accts := make([]doclient.Account, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { toks[i], accts[i], errs[i] = c.Exchange(context.Background(), "the-code", "the-verifier") })
	}
	waitFor(t, func() bool { return rec.count() > 0 })
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || toks[i].AccessToken != "doo_v1_1" || accts[i].Email == "" {
			t.Errorf("call %d: %v, %v, %+v; want doo_v1_1 and the account", i, toks[i], errs[i], accts[i])
		}
	}
	if got := rec.count(); got != 1 {
		t.Fatalf("token endpoint saw %d requests, want 1", got)
	}

	clock.Advance(3 * time.Second)
	if tok, _, err := c.Exchange(context.Background(), "the-code", "the-verifier"); err != nil || tok.AccessToken != "doo_v1_1" || rec.count() != 1 {
		t.Errorf("Exchange within the window = %v, %v after %d requests; want doo_v1_1 from memory", tok, err, rec.count())
	}
	// Later than a double click: a replay, refused without a request.
	clock.Advance(doclient.CodeShareWindow)
	if tok, _, err := c.Exchange(context.Background(), "the-code", "the-verifier"); !errors.Is(err, doclient.ErrCodeUsed) || tok != nil || rec.count() != 1 {
		t.Errorf("late replay = %v, %v after %d requests; want ErrCodeUsed and no request", tok, err, rec.count())
	}
	if _, _, err := c.Exchange(context.Background(), "the-code", "another-verifier"); err != nil || rec.count() != 2 {
		t.Errorf("Exchange with another verifier: %v after %d requests, want a request of its own", err, rec.count())
	}
	clock.Advance(doclient.CodeSpentFor)
	if _, _, err := c.Exchange(context.Background(), "the-code", "the-verifier"); err != nil || rec.count() != 3 {
		t.Errorf("Exchange after the window: %v after %d requests, want a new request", err, rec.count())
	}
}
