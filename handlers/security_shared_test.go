package handlers

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/doclient"
)

// Security tests 20 and 22 (21, nothing secret in the shared store, needs
// package main's wiring: see TestSecurity21 in security_test.go there).

// A callback replayed later than a double click, by another browser that
// captured the login cookie with it, gets no tokens: 400 "already used",
// no session, no token request. (Across instances: TestInstances... in
// package main.)
func TestSecurity20LateReplayIsRefused(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	cb := a.callbackURL(a.Browser)
	captured := a.cookie(a.Browser, loginCookie)
	if p := a.get(a.Browser, cb); p.Status != http.StatusOK {
		t.Fatalf("the user's own callback: %d", p.Status)
	}

	a.Clock.Advance(doclient.CodeShareWindow + time.Second)
	attacker := newBrowser(t)
	attacker.Jar.SetCookies(mustParse(t, a.URL), []*http.Cookie{{Name: loginCookie, Value: captured}})
	p := a.get(attacker, cb)
	if p.Status != http.StatusBadRequest {
		t.Errorf("late replay: status %d, want 400", p.Status)
	}
	mustContain(t, p, "already used")
	if a.cookie(attacker, sessionCookie) != "" {
		t.Error("the late replay got a session")
	}
	if n := a.Sandbox.Stats().CodeExchanges; n != 1 {
		t.Errorf("%d exchanges, want 1: the replay reached DigitalOcean", n)
	}
	// The user's own session is untouched (the sandbox, like
	// DigitalOcean may, would have revoked it on a replayed code).
	if p := a.get(a.Browser, a.URL+"/digitalocean"); p.Status != http.StatusOK {
		t.Errorf("after the replay the user's droplet page is %d", p.Status)
	}
}

// A rate-limited token request is reported, with its Retry-After, and not
// sent again: its code or refresh token may already be spent, and a second
// presentation can make DigitalOcean revoke the grant.
func TestSecurity22TokenRequestsAreNeverRetried(t *testing.T) {
	t.Parallel()
	for _, grant := range []string{"authorization_code", "refresh_token"} {
		t.Run(grant, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			var sent atomic.Int64
			var armed atomic.Bool
			a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if armed.Load() && r.URL.Path == "/v1/oauth/token" {
					_ = r.ParseForm()
					if r.PostForm.Get("grant_type") == grant {
						sent.Add(1)
						w.Header().Set("Retry-After", "1")
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusTooManyRequests)
						w.Write([]byte(`{"error":"too_many_requests"}`))
						return
					}
				}
				a.Sandbox.ServeHTTP(w, r)
			}))
			var p page
			if grant == "authorization_code" {
				cb := a.callbackURL(a.Browser)
				armed.Store(true)
				p = a.get(a.Browser, cb)
			} else {
				a.connect(a.Browser, "approve")
				a.Clock.Advance(10 * time.Minute)
				armed.Store(true)
				p = a.get(a.Browser, a.URL+"/digitalocean")
			}
			if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") != "1" {
				t.Errorf("status %d, Retry-After %q; want 503 and 1", p.Status, p.Header.Get("Retry-After"))
			}
			if n := sent.Load(); n != 1 {
				t.Errorf("the token request was sent %d times, want once", n)
			}
		})
	}
}
