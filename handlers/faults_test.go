package handlers

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"dosignin/doclient"
)

// faultTimeout is doclient's Timeout in the fault tests, short so that a
// DigitalOcean that never answers costs the test little, yet long enough
// for the healthy calls that set each case up on a busy machine.
const faultTimeout = time.Second

// useTimeout gives the app a doclient with Timeout d (the harness uses 5 s).
func useTimeout(t *testing.T, a *testApp, d time.Duration) {
	t.Helper()
	c, err := doclient.New(doclient.Config{
		ClientID: "test-client", ClientSecret: "test-secret-that-is-long-enough",
		RedirectURL: a.URL + "/digitalocean", Scopes: []string{"read"},
		OAuthURL: a.SBURL + "/v1/oauth", APIURL: a.SBURL,
		Timeout: d, Now: a.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Server.do = c // before any request, so nothing reads it concurrently
}

// The endpoints a fault can hit.
type endpoint string

const (
	atToken   endpoint = "token"   // POST /v1/oauth/token, grant_type=authorization_code (the callback)
	atRefresh endpoint = "refresh" // POST /v1/oauth/token, grant_type=refresh_token (an expired token)
	atAPI     endpoint = "API"     // GET /v2/droplets (the droplet page)
	atRevoke  endpoint = "revoke"  // POST /v1/oauth/revoke (Disconnect)
)

func endpointOf(r *http.Request) endpoint {
	switch r.URL.Path {
	case "/v1/oauth/token":
		_ = r.ParseForm() // the sandbox reads the parsed form again
		if r.PostForm.Get("grant_type") == "refresh_token" {
			return atRefresh
		}
		return atToken
	case "/v2/droplets":
		return atAPI
	case "/v1/oauth/revoke":
		return atRevoke
	}
	return ""
}

// A fault is how DigitalOcean misbehaves. first is the attempt number
// (from 1); next passes the request on to the sandbox.
type fault struct {
	name  string
	serve func(w http.ResponseWriter, r *http.Request, attempt int64, next http.Handler)
}

func status(code int, header, body string) func(http.ResponseWriter, *http.Request, int64, http.Handler) {
	return func(w http.ResponseWriter, r *http.Request, _ int64, _ http.Handler) {
		if header != "" {
			k, v, _ := strings.Cut(header, ": ")
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

var faults = []fault{
	{"timeout", func(w http.ResponseWriter, r *http.Request, _ int64, _ http.Handler) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * faultTimeout):
		}
	}},
	{"500", status(500, "", `{"id":"server_error","message":"Server Error"}`)},
	{"502", status(502, "", `<html>Bad Gateway</html>`)},
	{"503", status(503, "", `{"id":"service_unavailable","message":"Service Unavailable"}`)},
	{"429 short", func(w http.ResponseWriter, r *http.Request, attempt int64, next http.Handler) {
		if attempt > 1 {
			next.ServeHTTP(w, r)
			return
		}
		status(429, "Retry-After: 1", `{"id":"too_many_requests","message":"API Rate limit exceeded."}`)(w, r, attempt, next)
	}},
	{"429 long", status(429, "Retry-After: 60", `{"id":"too_many_requests","message":"API Rate limit exceeded."}`)},
	{"401", status(401, "", `{"id":"unauthorized","message":"Unable to authenticate you","error":"invalid_client"}`)},
	{"connection reset", func(w http.ResponseWriter, _ *http.Request, _ int64, _ http.Handler) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		conn.Close()
	}},
	{"malformed JSON", status(200, "", `{"access_token": "doo_v1_trunc`)},
}

// expectation is what the user sees for one fault at one endpoint.
type expectation struct {
	status     int    // of the page the browser ends on (after redirects)
	shows      string // text on it
	retryAfter string // the Retry-After header, when one is due
	attempts   int64  // requests that reached the faulty endpoint
	orOneMore  bool   // Go's transport resends a GET whose kept-alive connection was reset
	session    bool   // still connected afterwards (with DigitalOcean healthy again)
}

// The fault matrix: every fault at every endpoint, as docs/SECURITY.md's
// failure-behaviour table lists it. The worst case time of any cell is
// bounded by faultBudget: a page never hangs on DigitalOcean.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	const faultBudget = 4 * time.Second // 1 s of Retry-After or a 1 s timeout, and slack for -race
	signInFailed := expectation{status: 502, shows: "Sign-in failed", attempts: 1}
	refused := expectation{status: 502, shows: "DigitalOcean refused the request", attempts: 1, session: true}
	unreachable := expectation{status: 502, shows: "could not be reached", attempts: 1, session: true}
	unreadable := expectation{status: 502, shows: "could not be read", attempts: 1, session: true}
	notConfirmed := expectation{status: 200, shows: "did not confirm", attempts: 1}
	want := map[endpoint]map[string]expectation{
		atToken: {
			"timeout":          {status: 504, shows: "took too long", attempts: 1},
			"500":              {status: 502, shows: "could not be reached", attempts: 1},
			"502":              {status: 502, shows: "could not be reached", attempts: 1},
			"503":              {status: 502, shows: "could not be reached", attempts: 1},
			"429 short":        {status: 503, shows: "connect again in a second", retryAfter: "1", attempts: 1}, // never retried: the code is single-use
			"429 long":         {status: 503, shows: "connect again in 60 seconds", retryAfter: "60", attempts: 1},
			"401":              signInFailed,
			"connection reset": {status: 502, shows: "could not be reached", attempts: 1},
			"malformed JSON":   {status: 502, shows: "could not be read", attempts: 1},
		},
		atRefresh: {
			"timeout":          {status: 504, shows: "took too long", attempts: 1, session: true},
			"500":              unreachable,
			"502":              unreachable,
			"503":              unreachable,
			"429 short":        {status: 503, shows: "Try again in a second", retryAfter: "1", attempts: 1, session: true}, // never retried: the refresh token is single-use
			"429 long":         {status: 503, shows: "Try again in 60 seconds", retryAfter: "60", attempts: 1, session: true},
			"401":              refused,
			"connection reset": unreachable,
			"malformed JSON":   unreadable,
		},
		atAPI: {
			"timeout":          {status: 504, shows: "took too long", attempts: 1, session: true},
			"500":              unreachable,
			"502":              unreachable,
			"503":              unreachable,
			"429 short":        {status: 200, shows: "3 droplets", attempts: 2, session: true}, // waited out once
			"429 long":         {status: 503, shows: "Try again in 60 seconds", retryAfter: "60", attempts: 1, session: true},
			"401":              {status: 200, shows: "no longer accepts", attempts: 2}, // renewed once (a parallel rotation?), refused again: signed out, on the index
			"connection reset": {status: 502, shows: "could not be reached", attempts: 1, orOneMore: true, session: true},
			"malformed JSON":   unreadable,
		},
		atRevoke: {
			"timeout": notConfirmed, "500": notConfirmed, "502": notConfirmed, "503": notConfirmed,
			"429 short": notConfirmed, "429 long": notConfirmed, "401": notConfirmed,
			"connection reset": notConfirmed, "malformed JSON": {status: 200, shows: "access to your DigitalOcean account was revoked", attempts: 1},
		},
	}
	for _, at := range []endpoint{atToken, atRefresh, atAPI, atRevoke} {
		for _, f := range faults {
			w := want[at][f.name]
			t.Run(string(at)+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				a := newTestApp(t)
				timeout := faultTimeout
				if f.name == "429 short" {
					timeout = 2 * time.Second // the wait counts against the call's timeout
				}
				useTimeout(t, a, timeout)
				var attempts atomic.Int64
				var armed atomic.Bool
				a.SetUpstream(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					if armed.Load() && endpointOf(r) == at {
						f.serve(rw, r, attempts.Add(1), a.Sandbox)
						return
					}
					a.Sandbox.ServeHTTP(rw, r)
				}))

				var p page
				start := time.Now()
				switch at {
				case atToken:
					cb := a.callbackURL(a.Browser)
					armed.Store(true)
					start = time.Now()
					p = a.get(a.Browser, cb)
				case atRefresh, atAPI:
					mustConnect(t, a)
					if at == atRefresh {
						a.Clock.Advance(10 * time.Minute) // past the 5-minute access token
					}
					armed.Store(true)
					start = time.Now()
					p = a.get(a.Browser, a.URL+"/digitalocean")
				case atRevoke:
					mustConnect(t, a)
					armed.Store(true)
					start = time.Now()
					p = a.post(a.Browser, a.URL+"/logout", nil, http.Header{"Origin": {a.URL}})
				}
				took := time.Since(start)
				armed.Store(false)

				if p.Status != w.status {
					t.Errorf("status %d, want %d", p.Status, w.status)
				}
				mustContain(t, p, w.shows)
				if got := p.Header.Get("Retry-After"); got != w.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, w.retryAfter)
				}
				if n := attempts.Load(); n != w.attempts && !(w.orOneMore && n == w.attempts+1) {
					t.Errorf("%d requests reached the %s endpoint, want %d", n, at, w.attempts)
				}
				if took > faultBudget {
					t.Errorf("the answer took %v, more than %v", took, faultBudget)
				}
				after := a.get(a.Browser, a.URL+"/digitalocean")
				if survived := strings.Contains(after.Body, "3 droplets"); survived != w.session {
					t.Errorf("connected afterwards: %v, want %v (%d at %s)", survived, w.session, after.Status, after.URL.Path)
				}
				t.Logf("%-8s %-17s -> %d, %d attempt(s), %v, session kept: %v", at, f.name, p.Status, attempts.Load(), took.Round(10*time.Millisecond), w.session)
			})
		}
	}
}

func mustConnect(t *testing.T, a *testApp) {
	t.Helper()
	if p := a.connect(a.Browser, "approve"); p.Status != http.StatusOK || !strings.Contains(p.Body, "3 droplets") {
		t.Fatalf("setup: connecting ended at %s with %d", p.URL.Path, p.Status)
	}
}

// Goroutines return to their baseline once every test is done, the fault
// matrix included: no request, timer or retry is left running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
