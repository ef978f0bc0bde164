package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/doclient"
	"dosignin/handlers/flow"
	"dosignin/sandbox"
)

// flowBenchDroplets is a droplet list of three, as a fake API serves it.
const flowBenchDroplets = `{"droplets":[` +
	`{"id":1,"name":"web-1","memory":1024,"vcpus":1,"disk":25,"status":"active","created_at":"2024-01-01T00:00:00Z","size_slug":"s-1vcpu-1gb","region":{"slug":"nyc3","name":"New York 3"},"image":{"name":"24.04 (LTS) x64","distribution":"Ubuntu"},"networks":{"v4":[{"ip_address":"203.0.113.1","type":"public"}]},"tags":["web"]},` +
	`{"id":2,"name":"web-2","memory":2048,"vcpus":2,"disk":50,"status":"off","created_at":"2024-01-02T00:00:00Z","size_slug":"s-2vcpu-2gb","region":{"slug":"ams3","name":"Amsterdam 3"},"image":{"name":"24.04 (LTS) x64","distribution":"Ubuntu"},"networks":{"v4":[{"ip_address":"203.0.113.2","type":"public"}]},"tags":["web"]},` +
	`{"id":3,"name":"db-1","memory":4096,"vcpus":2,"disk":80,"status":"active","created_at":"2024-01-03T00:00:00Z","size_slug":"s-2vcpu-4gb","region":{"slug":"fra1","name":"Frankfurt 1"},"image":{"name":"24.04 (LTS) x64","distribution":"Ubuntu"},"networks":{"v4":[{"ip_address":"203.0.113.3","type":"public"}]},"tags":["db"]}` +
	`],"links":{},"meta":{"total":3}}`

// BenchmarkDropletPageFlowRecord is a droplet page view of a connected
// user, without a flow record and with one at its usual size (the login's
// steps and as many events as its cookie holds): the difference is what
// the record costs a view, which adds its calls to it and writes it.
// "reload" is the view after that one, with the record it wrote, which
// it leaves as it is (recordEvents).
func BenchmarkDropletPageFlowRecord(b *testing.B) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Ratelimit-Remaining", "4999")
		_, _ = w.Write([]byte(flowBenchDroplets))
	}))
	b.Cleanup(api.Close)
	redirect, _ := url.Parse("http://app.test/digitalocean")
	client, err := doclient.New(doclient.Config{ClientID: "bench-client", ClientSecret: "bench-secret", RedirectURL: redirect.String(),
		OAuthURL: api.URL + "/v1/oauth", APIURL: api.URL, Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Client: client, RedirectURL: redirect, Scopes: []string{"read"}, PKCE: true,
		SessionSecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef-bench")}, IdleTimeout: time.Hour, MaxAge: 24 * time.Hour,
		Views: os.DirFS("../views"), Static: os.DirFS("../static")})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	sess := &Session{AccessToken: "doo_v1_bench_access", RefreshToken: "dor_v1_bench_refresh", Expiry: now.Add(30 * 24 * time.Hour),
		Scope: "read", Account: doclient.Account{Name: "Sammy", Email: "sammy@example.com"}, Created: now, LastSeen: now}
	w := httptest.NewRecorder()
	if err := s.sessions.save(w, sess); err != nil {
		b.Fatal(err)
	}
	if err := s.sessions.saveRecord(w, benchRecord()); err != nil {
		b.Fatal(err)
	}
	cookies := w.Result().Cookies()
	h := s.Handler()
	view := func(b *testing.B, cookies []*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/digitalocean", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		return rec
	}
	var session []*http.Cookie
	for _, c := range cookies {
		if c.Name != flowCookie {
			session = append(session, c)
		}
	}
	// "reload" starts with one view, so that the record ends with what
	// every later view does; it is made in the sub-benchmark, within
	// recordKeepAlive of the views that follow it.
	for _, bc := range []struct {
		name    string
		cookies func(b *testing.B) []*http.Cookie
		writes  bool
	}{
		{"without", func(*testing.B) []*http.Cookie { return session }, false},
		{"with", func(*testing.B) []*http.Cookie { return cookies }, true},
		{"reload", func(b *testing.B) []*http.Cookie {
			for _, c := range view(b, cookies).Result().Cookies() {
				if c.Name == flowCookie {
					return append(slices.Clip(session), c)
				}
			}
			b.Fatal("the first view wrote no record")
			return nil
		}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cookies := bc.cookies(b)
			b.ReportAllocs()
			for b.Loop() {
				rec := view(b, cookies)
				if wrote := strings.Contains(rec.Header().Get("Set-Cookie"), flowCookie+"="); wrote != bc.writes {
					b.Fatalf("record written: %v, want %v", wrote, bc.writes)
				}
			}
		})
	}
}

// BenchmarkLogin is one whole login as a browser makes it, with a cookie
// jar of its own: /connect, the sandbox's consent page, Authorize, the
// callback with its token request, and the first droplet page with "How
// this worked" open. The sandbox runs in the same process (its sign-in
// limits off, or a loop of logins would meet them), so its share, the
// consent page and the token endpoint, is counted in.
func BenchmarkLogin(b *testing.B) {
	a := newTestApp(b, func(_ *Options, sb *sandbox.Config) { sb.DisableSignInLimits = true })
	b.ReportAllocs()
	for b.Loop() {
		p := a.connect(newBrowser(b), "approve")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "<details class=\"flow\" open>") {
			b.Fatalf("status %d: want the droplet page with the panel open", p.Status)
		}
	}
}

// benchRecord is a record as a sandbox login leaves it, after ten events.
func benchRecord() *flow.Record {
	at := time.Now()
	f := func(kv ...string) []doclient.Field {
		var fs []doclient.Field
		for i := 0; i < len(kv); i += 2 {
			fs = append(fs, doclient.Field{Name: kv[i], Value: kv[i+1]})
		}
		return fs
	}
	rec := flow.NewLogin(doclient.AuthorizeLink{Endpoint: "http://localhost:5000/sandbox/v1/oauth/authorize", At: at,
		Params: f("client_id", "sandbox-client", "code_challenge", "PPVB44F9…", "code_challenge_method", "S256", "redirect_uri", "http://localhost:5000/digitalocean",
			"response_type", "code", "scope", "read", "state", "GTXZQ5…")}, 176*time.Microsecond, "")
	rec.LoggedIn(at.Add(3*time.Second), 211*time.Microsecond, doclient.TokenRequest{
		GrantType: doclient.GrantAuthorizationCode, Endpoint: "http://localhost:5000/sandbox/v1/oauth/token", At: at.Add(3 * time.Second), Duration: 610 * time.Microsecond,
		Sent: f("grant_type", "authorization_code", "code", "4f21bd… (64 characters)", "redirect_uri", "http://localhost:5000/digitalocean",
			"code_verifier", "•••• (43 characters)", "client_id", "sandbox-client", "client_secret", "•••• (31 characters)"),
		Received: f("access_token", "doo_v1_ecea…", "token_type", "bearer", "expires_in", "300", "refresh_token", "dor_v1_1bb8…", "scope", "read",
			"info.name", "Sammy the Shark", "info.email", "sammy@example.com", "info.team_name", "My Team"),
		Expiry: at.Add(5 * time.Minute)})
	rec.Open = false
	for range flow.MaxEvents {
		rec.Add(flow.Step{Kind: flow.KindAPI, At: at, Took: 126 * time.Microsecond, Note: "200 OK",
			Fields: [][2]string{{"request", "GET /v2/droplets?page=1&per_page=200"}, {"ratelimit-remaining", "4991"}}})
	}
	return rec
}

// BenchmarkRenderFlowPanel executes the droplet page's template for one
// droplet, without the "How this worked" panel of benchRecord, with it as
// later views show it (one line), and open, as the first view after a
// login shows it.
// The panel's data is built in the loop, as every view builds it.
func BenchmarkRenderFlowPanel(b *testing.B) {
	s, err := New(Options{Client: &doclient.Client{}, RedirectURL: &url.URL{Scheme: "http", Host: "app.test"},
		SessionSecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef-bench")}, IdleTimeout: time.Hour, MaxAge: 24 * time.Hour,
		Views: os.DirFS("../views"), Static: os.DirFS("../static")})
	if err != nil {
		b.Fatal(err)
	}
	rows := []dropletRow{{Name: "web-1", Status: "active", Region: "New York 3", Size: "1 vCPU · 1 GB · 25 GB disk", Created: time.Now(), Actions: actionsFor("active")}}
	sess := &Session{Scope: "read", Expiry: time.Now().Add(time.Hour)}
	for _, bc := range []struct {
		name        string
		panel, open bool
	}{{"without", false, false}, {"with", true, false}, {"open", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			data := newDropletsPage(rows, dropletQuery{Sort: "name", Page: 1}, "Read")
			data.Token = flow.NewTokenStatus("Read", sess.Scope, sess.Expiry, sess.Refreshed, time.Now())
			rec := benchRecord()
			e := echo.New()
			b.ReportAllocs()
			for b.Loop() {
				if bc.panel {
					data.Flow = flow.NewPanel(rec, bc.open, true)
				}
				c := e.NewContext(httptest.NewRequest(http.MethodGet, "/digitalocean", nil), httptest.NewRecorder())
				if err := s.render(c, http.StatusOK, "droplets", "Your droplets", sess, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
