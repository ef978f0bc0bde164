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

// memStore is a SharedStore in memory that counts lease renewals.
type memStore struct {
	mu      sync.Mutex
	vals    map[string][]byte
	locks   map[string]string
	extends int
	stuck   bool // another instance holds every lock and never publishes
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
	if m.locks[name] != "" || m.stuck {
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

// When another instance holds the lock and never publishes (it hangs),
// the wait is bounded: a timeout error (a 504 page), and no request of our
// own, since the other instance may still present the credential.
func TestWaitingForAnotherInstanceIsBounded(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	store := &memStore{vals: map[string][]byte{}, locks: map[string]string{}, stuck: true}
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL, func(cfg *doclient.Config) { cfg.Shared, cfg.Timeout = store, 100*time.Millisecond })
	start := time.Now()
	_, err := c.Refresh(context.Background(), "dor_v1_elsewhere")
	if !doclient.IsTimeout(err) {
		t.Errorf("Refresh = %v, want a timeout", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("waited %v", took)
	}
	if n.Load() != 0 {
		t.Errorf("%d requests while another instance held the lock", n.Load())
	}
}
