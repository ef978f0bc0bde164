package doclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"dosignin/doclient"
)

// rateLimited answers 429 with retry-after for the first `times` requests,
// then lists one droplet.
func rateLimited(retryAfter string, times int64) (http.Handler, *atomic.Int64) {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= times {
			w.Header().Set("Retry-After", retryAfter)
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"id": "too_many_requests", "message": "API Rate limit exceeded."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"droplets": []map[string]any{{"id": 1, "name": "web-1"}}, "links": map[string]any{}, "meta": map[string]any{"total": 1}})
	}), &n
}

func TestRateLimitsOnAPICalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter string
		times      int64
		wantErr    bool
		wantAfter  time.Duration
		wantCalls  int64
	}{
		{"a short limit is waited out once", "1", 1, false, 0, 2},
		{"twice in a row: the second 429 is the answer", "1", 2, true, time.Second, 2},
		{"a long limit is not waited for", "3", 1, true, 3 * time.Second, 1},
		{"no retry-after: no guess", "", 1, true, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, calls := rateLimited(tt.retryAfter, tt.times)
			srv := httptest.NewServer(h)
			defer srv.Close()
			c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
			droplets, err := c.Droplets(context.Background(), staticToken("doo_v1_x"))
			after, limited := doclient.IsRateLimited(err)
			switch {
			case tt.wantErr && (!limited || after != tt.wantAfter):
				t.Errorf("err = %v (rate limited %v, after %v), want a 429 with retry after %v", err, limited, after, tt.wantAfter)
			case !tt.wantErr && (err != nil || len(droplets) != 1):
				t.Errorf("Droplets = %d, %v; want the droplet", len(droplets), err)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%d API requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

// A token request is never sent twice, however short the limit: its code
// or refresh token may already be spent.
func TestRateLimitedTokenRequestIsNotRetried(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too_many_requests"})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	_, err := c.Refresh(context.Background(), "dor_v1_once")
	if after, ok := doclient.IsRateLimited(err); !ok || after != time.Second {
		t.Errorf("Refresh: %v, want rate limited with retry after 1s", err)
	}
	_, _, err = c.Exchange(context.Background(), "code-once", "verifier")
	if _, ok := doclient.IsRateLimited(err); !ok {
		t.Errorf("Exchange: %v, want rate limited", err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("%d token requests for two calls, want 2", got)
	}
}

// memStore is a SharedStore in memory that counts lease renewals.
type memStore struct {
	mu      sync.Mutex
	vals    map[string][]byte
	locks   map[string]string
	extends int
}

func (m *memStore) Get(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vals[name], nil
}

func (m *memStore) Set(_ context.Context, name string, v []byte, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals[name] = v
	return nil
}

func (m *memStore) Lock(_ context.Context, name, token string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[name] != "" {
		return false, nil
	}
	m.locks[name] = token
	return true, nil
}

func (m *memStore) Extend(_ context.Context, name, token string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extends++
	return m.locks[name] == token, nil
}

func (m *memStore) Unlock(_ context.Context, name, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[name] == token {
		delete(m.locks, name)
	}
	return nil
}

// The shared lock outlives a slow refresh: its lease is renewed while the
// request is in flight (oauth2-proxy's fixed 2-second lock expired
// mid-refresh and signed users out), and a second Client sharing the store
// waits for the result instead of refreshing again.
func TestSharedLockIsRenewedWhileTheRefreshRuns(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		time.Sleep(1600 * time.Millisecond) // longer than a third of the lease (Timeout 2 s + 2 s)
		writeJSON(w, http.StatusOK, tokenResponse("doo_v1_new"+strconv.Itoa(int(n.Load())), "dor_v1_new", 3600))
	}))
	defer srv.Close()
	store := &memStore{vals: map[string][]byte{}, locks: map[string]string{}}
	shared := func(cfg *doclient.Config) { cfg.Shared, cfg.Timeout = store, 2*time.Second }
	a, b := newClient(t, srv.URL+"/v1/oauth", srv.URL, shared), newClient(t, srv.URL+"/v1/oauth", srv.URL, shared)

	var wg sync.WaitGroup
	toks := make([]*oauth2.Token, 2)
	errs := make([]error, 2)
	for i, c := range []*doclient.Client{a, b} {
		wg.Go(func() { toks[i], errs[i] = c.Refresh(context.Background(), "dor_v1_old") })
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || toks[i].AccessToken != "doo_v1_new1" {
			t.Errorf("instance %d: %v, %v; want doo_v1_new1", i, toks[i], errs[i])
		}
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d refresh requests from two instances, want 1", got)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.extends == 0 {
		t.Error("the lease was never renewed during a 1.6 s refresh")
	}
	if len(store.locks) != 0 {
		t.Errorf("locks left behind: %v", store.locks)
	}
}
