package doclient_test

import (
	"context"
	"errors"
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

// memStore is a SharedStore in memory whose locks really expire when
// their lease runs out, as Redis's do. failing makes every call fail, as a
// store that timed out or marked itself down does.
type memStore struct {
	mu      sync.Mutex
	vals    map[string][]byte
	locks   map[string]memLock
	stuck   bool // another instance holds every lock and never publishes
	failing atomic.Bool

	gets    atomic.Int64 // Get calls that succeeded
	refused atomic.Int64 // Lock calls that found the lock held
	failed  atomic.Int64 // calls that failed
}

type memLock struct {
	token string
	until time.Time
}

func newMemStore() *memStore {
	return &memStore{vals: map[string][]byte{}, locks: map[string]memLock{}}
}

var errStoreDown = errors.New("memstore: down")

func (m *memStore) fail() error {
	if m.failing.Load() {
		m.failed.Add(1)
		return errStoreDown
	}
	return nil
}

func (m *memStore) Get(_ context.Context, name string) ([]byte, error) {
	if err := m.fail(); err != nil {
		return nil, err
	}
	m.gets.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vals[name], nil
}

func (m *memStore) Set(_ context.Context, name string, v []byte, _ time.Duration) error {
	if err := m.fail(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals[name] = v
	return nil
}

func (m *memStore) Lock(_ context.Context, name, token string, lease time.Duration) (bool, error) {
	if err := m.fail(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.locks[name]; m.stuck || (ok && time.Now().Before(l.until)) {
		m.refused.Add(1)
		return false, nil
	}
	m.locks[name] = memLock{token: token, until: time.Now().Add(lease)}
	return true, nil
}

func (m *memStore) Unlock(_ context.Context, name, token string) error {
	if err := m.fail(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[name].token == token {
		delete(m.locks, name)
	}
	return nil
}

// The shared lock outlives a refresh that takes nearly the whole timeout
// (oauth2-proxy's fixed 2-second lock expired mid-refresh and signed users
// out): a second Client sharing a store whose locks really expire waits
// for the result instead of refreshing again. DigitalOcean sees one
// refresh.
func TestSharedLockOutlivesASlowRefresh(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		time.Sleep(2200 * time.Millisecond) // past a 2 s lease, within the 2.5 s timeout
		writeJSON(w, http.StatusOK, tokenResponse("doo_v1_new"+strconv.Itoa(int(n.Load())), "dor_v1_new", 3600))
	}))
	defer srv.Close()
	store := newMemStore()
	shared := func(cfg *doclient.Config) { cfg.Shared, cfg.Timeout = store, 2500*time.Millisecond }
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
	if len(store.locks) != 0 {
		t.Errorf("locks left behind: %v", store.locks)
	}
}

// Once an instance has seen another holding the lock, a failing store
// (a slow call, or the store marking itself down), nor the lock vanishing
// (a restarted Redis), makes it present the credential itself while the
// other's request is in flight: it keeps waiting, and gets the other's
// result once the store answers again. DigitalOcean sees one refresh.
func TestStoreFailingWhileWaitingMakesNoSecondRequest(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	arrived, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			close(arrived)
			<-release
		}
		writeJSON(w, http.StatusOK, tokenResponse("doo_v1_new"+strconv.Itoa(int(n.Load())), "dor_v1_new", 3600))
	}))
	defer srv.Close()
	defer releaseOnce()
	store := newMemStore()
	shared := func(cfg *doclient.Config) { cfg.Shared = store }
	a, b := newClient(t, srv.URL+"/v1/oauth", srv.URL, shared), newClient(t, srv.URL+"/v1/oauth", srv.URL, shared)

	var wg sync.WaitGroup
	var tokA, tokB *oauth2.Token
	var errA, errB error
	wg.Go(func() { tokA, errA = a.Refresh(context.Background(), "dor_v1_old") })
	<-arrived // A holds the lock, its request is in flight
	wg.Go(func() { tokB, errB = b.Refresh(context.Background(), "dor_v1_old") })
	waitFor(t, func() bool { return store.refused.Load() > 0 })
	store.failing.Store(true)
	waitFor(t, func() bool { return store.failed.Load() >= 3 })
	store.mu.Lock()
	clear(store.locks) // and comes back empty, as a restarted Redis does
	store.mu.Unlock()
	store.failing.Store(false)
	polled := store.gets.Load()
	for deadline := time.Now().Add(5 * time.Second); store.gets.Load() < polled+3 && n.Load() == 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // B polls the store that is back (or, wrongly, asks DigitalOcean)
	}
	releaseOnce()
	wg.Wait()

	if got := n.Load(); got != 1 {
		t.Errorf("%d refresh requests reached DigitalOcean, want 1", got)
	}
	if errA != nil || errB != nil || tokA.AccessToken != "doo_v1_new1" || tokB.AccessToken != "doo_v1_new1" {
		t.Errorf("A: %v %v; B: %v %v; want doo_v1_new1 for both", tokA, errA, tokB, errB)
	}
}

// A store that fails before anyone was seen holding the lock is no single
// point of failure: the refresh is made in-process.
func TestFailingStoreFallsBackInProcess(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeJSON(w, http.StatusOK, tokenResponse("doo_v1_new", "dor_v1_new", 3600))
	}))
	defer srv.Close()
	store := newMemStore()
	store.failing.Store(true)
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL, func(cfg *doclient.Config) { cfg.Shared = store })
	tok, err := c.Refresh(context.Background(), "dor_v1_old")
	if err != nil || tok.AccessToken != "doo_v1_new" || n.Load() != 1 {
		t.Errorf("Refresh = %v, %v after %d requests; want doo_v1_new after 1", tok, err, n.Load())
	}
}

// When another instance holds the lock and never publishes (it hangs),
// the wait is bounded, and no request of our own is made, since the other
// instance may still present the credential. The error is our own, not a
// DigitalOcean timeout: an operator must not blame DigitalOcean for it.
func TestWaitingForAnotherInstanceIsBounded(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	store := newMemStore()
	store.stuck = true
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL, func(cfg *doclient.Config) { cfg.Shared, cfg.Timeout = store, 100*time.Millisecond })
	start := time.Now()
	_, err := c.Refresh(context.Background(), "dor_v1_elsewhere")
	if !errors.Is(err, doclient.ErrWaitedForAnotherInstance) || doclient.IsTimeout(err) || doclient.IsInvalidGrant(err) {
		t.Errorf("Refresh = %v, want ErrWaitedForAnotherInstance (and not a DigitalOcean timeout)", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("waited %v", took)
	}
	if n.Load() != 0 {
		t.Errorf("%d requests while another instance held the lock", n.Load())
	}
}
