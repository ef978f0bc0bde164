package handlers

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/doclient"
)

// stuckStore is a shared store in which, while stuck, another instance
// holds every lock and never publishes: it hangs mid-request. Unstuck, the
// locks are free and nothing is published.
type stuckStore struct{ stuck atomic.Bool }

func (*stuckStore) Get(context.Context, string) ([]byte, error)              { return nil, nil }
func (*stuckStore) Set(context.Context, string, []byte, time.Duration) error { return nil }
func (*stuckStore) Unlock(context.Context, string, string) error             { return nil }
func (s *stuckStore) Lock(context.Context, string, string, time.Duration) (bool, error) {
	return !s.stuck.Load(), nil
}

// useStuckStore gives the app a doclient coordinating through stuckStore,
// with the fault tests' short timeout, so that the bounded wait is short too.
func useStuckStore(t *testing.T, a *testApp) *stuckStore {
	t.Helper()
	store := &stuckStore{}
	store.stuck.Store(true)
	c, err := doclient.New(doclient.Config{
		ClientID: "test-client", ClientSecret: "test-secret-that-is-long-enough",
		RedirectURL: a.URL + "/digitalocean", Scopes: []string{"read"},
		OAuthURL: a.SBURL + "/v1/oauth", APIURL: a.SBURL,
		Timeout: faultTimeout, Now: a.Clock.Now, Shared: store,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Server.do = c // before any request, so nothing reads it concurrently
	return store
}

// A wait for another instance that runs out is not reported as
// DigitalOcean's timeout (504): it gets its own 503 page with Retry-After
// that names the app, the session is kept, and nothing reached
// DigitalOcean.
func TestWaitForAnotherInstanceHasItsOwnPage(t *testing.T) {
	t.Parallel()
	t.Run("refresh", func(t *testing.T) {
		t.Parallel()
		a := newTestApp(t)
		store := useStuckStore(t, a)
		store.stuck.Store(false)
		a.connect(a.Browser, "approve")
		session := a.cookie(a.Browser, sessionCookie)
		refreshes := a.Sandbox.Stats().Refreshes
		store.stuck.Store(true)
		a.Clock.Advance(10 * time.Minute) // the access token needs a refresh
		p := a.get(a.Browser, a.URL+"/digitalocean")
		if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") != "1" {
			t.Errorf("status %d, Retry-After %q; want 503 and 1", p.Status, p.Header.Get("Retry-After"))
		}
		mustContain(t, p, "Another instance of this app")
		if strings.Contains(p.Body, "DigitalOcean did not answer in time") {
			t.Error("the page blames DigitalOcean")
		}
		if n := a.Sandbox.Stats().Refreshes; n != refreshes {
			t.Errorf("%d refreshes reached DigitalOcean during the wait", n-refreshes)
		}
		if a.cookie(a.Browser, sessionCookie) != session {
			t.Error("the session cookie changed: the user was signed out")
		}
		store.stuck.Store(false) // the other instance is gone: the next page refreshes
		if p := a.get(a.Browser, a.URL+"/digitalocean"); p.Status != http.StatusOK {
			t.Errorf("after the wait, the droplet page is %d", p.Status)
		}
	})
	t.Run("exchange", func(t *testing.T) {
		t.Parallel()
		a := newTestApp(t)
		useStuckStore(t, a)
		p := a.get(a.Browser, a.callbackURL(a.Browser))
		if p.Status != http.StatusServiceUnavailable {
			t.Errorf("callback: status %d, want 503", p.Status)
		}
		mustContain(t, p, "Another instance of this app")
		if n := a.Sandbox.Stats().CodeExchanges; n != 0 {
			t.Errorf("%d exchanges reached DigitalOcean during the wait", n)
		}
	})
}
