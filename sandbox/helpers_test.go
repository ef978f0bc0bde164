package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"dosignin/internal/testclock"
	"dosignin/sandbox"
)

// The registered client of every test sandbox. The redirect URI's host is
// never contacted: tests stop at the redirect and read its Location.
const (
	testClientID    = "sandbox-client-id"
	testSecret      = "sandbox-client-secret"
	testRedirectURI = "http://app.test/digitalocean"
	testAppName     = "Sign in with DigitalOcean (Go)"
)

// harness is a sandbox served by httptest, plus what a client of it needs.
type harness struct {
	sb    *sandbox.Server
	srv   *httptest.Server
	base  string // OAuth base is base+"/v1/oauth", API base is base
	clock *testclock.Clock
	conf  *oauth2.Config
}

type option func(*sandbox.Config, *harnessOptions)

type harnessOptions struct{ prefix string }

// withPrefix mounts the sandbox under prefix with http.StripPrefix, as the
// app does.
func withPrefix(prefix string) option {
	return func(_ *sandbox.Config, o *harnessOptions) { o.prefix = prefix }
}

func withConfig(f func(*sandbox.Config)) option {
	return func(c *sandbox.Config, _ *harnessOptions) { f(c) }
}

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	clock := testclock.New(time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC))
	cfg := sandbox.Config{
		ClientID:     testClientID,
		ClientSecret: testSecret,
		RedirectURIs: []string{testRedirectURI},
		AppName:      testAppName,
		Now:          clock.Now,
	}
	var ho harnessOptions
	for _, o := range opts {
		o(&cfg, &ho)
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	var h http.Handler = sb
	if ho.prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(ho.prefix+"/", http.StripPrefix(ho.prefix, sb))
		h = mux
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	base := srv.URL + ho.prefix
	return &harness{
		sb:    sb,
		srv:   srv,
		base:  base,
		clock: clock,
		conf: &oauth2.Config{
			ClientID:     testClientID,
			ClientSecret: testSecret,
			RedirectURL:  cfg.RedirectURIs[0],
			Scopes:       []string{"read"},
			Endpoint: oauth2.Endpoint{
				AuthURL:   base + "/v1/oauth/authorize",
				TokenURL:  base + "/v1/oauth/token",
				AuthStyle: oauth2.AuthStyleInParams, // DigitalOcean wants credentials in the body
			},
		},
	}
}

// ctx makes x/oauth2 use the test server's client.
func (h *harness) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, h.srv.Client())
}

// browser returns an HTTP client with a cookie jar that does not follow
// redirects, so a test can see where the sandbox sends the user.
func (h *harness) browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:       jar,
		Transport: h.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// consentForm is the consent page's form, as a browser would submit it.
type consentForm struct {
	action string     // absolute URL the form posts to
	fields url.Values // hidden inputs
}

// openConsent GETs an authorization URL with c and parses the consent form.
func openConsent(t testing.TB, c *http.Client, authURL string) (*http.Response, consentForm) {
	t.Helper()
	resp, body := do(t, c, http.MethodGet, authURL, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET consent page: status %d, body:\n%s", resp.StatusCode, body)
	}
	return resp, parseConsentForm(t, resp.Request.URL, body)
}

// parseConsentForm finds the form and its hidden inputs in a page.
func parseConsentForm(t testing.TB, pageURL *url.URL, page string) consentForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parsing consent page: %v", err)
	}
	f := consentForm{fields: url.Values{}}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "form":
			action, err := pageURL.Parse(attr(n, "action"))
			if err != nil {
				t.Fatalf("form action: %v", err)
			}
			f.action = action.String()
		case "input":
			if attr(n, "type") == "hidden" {
				f.fields.Set(attr(n, "name"), attr(n, "value"))
			}
		}
	}
	if f.action == "" {
		t.Fatalf("no form on the consent page:\n%s", page)
	}
	return f
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// submit POSTs the consent form with the decision, as pressing its button
// would, and returns the response.
func (f consentForm) submit(t testing.TB, c *http.Client, decision string) (*http.Response, string) {
	t.Helper()
	v := url.Values{}
	for k, vs := range f.fields {
		v[k] = vs
	}
	v.Set("decision", decision)
	return do(t, c, http.MethodPost, f.action, v, nil)
}

// redirectTarget checks that resp redirects to the app's redirect URI and
// returns the query it carries.
func redirectTarget(t testing.TB, resp *http.Response, wantPrefix string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status = %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != wantPrefix {
		t.Fatalf("redirected to %s, want %s", got, wantPrefix)
	}
	return loc.Query()
}

// authorize runs the browser part of the flow with PKCE and returns the
// code and the verifier.
func (h *harness) authorize(t testing.TB, scopes ...string) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	conf := *h.conf
	if len(scopes) > 0 {
		conf.Scopes = scopes
	}
	c := h.browser(t)
	_, form := openConsent(t, c, conf.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier)))
	resp, _ := form.submit(t, c, "approve")
	q := redirectTarget(t, resp, testRedirectURI)
	if q.Get("state") != "state-123" {
		t.Fatalf("state = %q, want state-123", q.Get("state"))
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in redirect: %v", q)
	}
	return q.Get("code"), verifier
}

// login runs the whole flow and returns the tokens.
func (h *harness) login(t testing.TB, scopes ...string) *oauth2.Token {
	t.Helper()
	code, verifier := h.authorize(t, scopes...)
	tok, err := h.conf.Exchange(h.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok
}

// api GETs an API path with an access token and decodes the JSON body
// into out (if not nil).
func (h *harness) api(t testing.TB, path, accessToken string, out any) *http.Response {
	t.Helper()
	hdr := http.Header{}
	if accessToken != "" {
		hdr.Set("Authorization", "Bearer "+accessToken)
	}
	resp, body := do(t, h.srv.Client(), http.MethodGet, h.base+path, nil, hdr)
	if out != nil {
		if err := json.Unmarshal([]byte(body), out); err != nil {
			t.Fatalf("GET %s: decoding %q: %v", path, body, err)
		}
	}
	return resp
}

// postForm POSTs a form to an OAuth endpoint and decodes a JSON answer.
func (h *harness) postForm(t testing.TB, path string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	resp, body := do(t, h.srv.Client(), http.MethodPost, h.base+path, form, nil)
	var out map[string]any
	if body != "" {
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("POST %s: decoding %q: %v", path, body, err)
		}
	}
	return resp, out
}

// do sends a request (a form body when form is not nil) and reads the body.
func do(t testing.TB, c *http.Client, method, target string, form url.Values, hdr http.Header) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// clientForm returns the client credentials as form fields plus extra
// key/value pairs.
func clientForm(kv ...string) url.Values {
	v := url.Values{"client_id": {testClientID}, "client_secret": {testSecret}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// call sends an API request with a bearer token (if not empty) and a JSON
// body (if body is not nil), and decodes the JSON answer into out (if not
// nil). It returns the response and its raw body.
func (h *harness) call(t testing.TB, method, path, token string, body, out any) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	return resp, string(raw)
}

// apiErr is DigitalOcean's error body.
type apiErr struct {
	ID        string `json:"id"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// wantAPIError checks a response is a DigitalOcean error with status and id.
func wantAPIError(t testing.TB, what string, resp *http.Response, raw string, status int, id string) {
	t.Helper()
	var e apiErr
	json.Unmarshal([]byte(raw), &e)
	if resp.StatusCode != status || e.ID != id || e.Message == "" || e.RequestID == "" {
		t.Errorf("%s: %d %s, want %d with id %s, a message and a request_id", what, resp.StatusCode, raw, status, id)
	}
}

// loginAs runs the whole flow with prompt=select_account, choosing the
// sandbox account with index k (0 is the default one), and returns the
// tokens.
func (h *harness) loginAs(t testing.TB, k int, scopes ...string) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	conf := *h.conf
	if len(scopes) > 0 {
		conf.Scopes = scopes
	}
	c := h.browser(t)
	_, form := openConsent(t, c, conf.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "select_account")))
	form.fields.Set("account", h.sb.Accounts()[k].UUID)
	resp, _ := form.submit(t, c, "approve")
	q := redirectTarget(t, resp, testRedirectURI)
	tok, err := h.conf.Exchange(h.ctx(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok
}
