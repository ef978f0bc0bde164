package sharedstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"dosignin/internal/redistest"
	"dosignin/sharedstore"
)

// Goroutines (go-redis's pool, lease renewers) are back to their baseline
// after every test, Redis faults included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef0123456789abcdef-store-test")

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func open(t *testing.T, url string, secret []byte, log *logBuffer) *sharedstore.Store {
	t.Helper()
	opts := sharedstore.Options{URL: url, Secret: secret, Timeout: 200 * time.Millisecond}
	if log != nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	s, err := sharedstore.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenRefusesABadURL(t *testing.T) {
	for _, u := range []string{"", "http://localhost:6379", "redis://user:hunter2@host:notaport"} {
		_, err := sharedstore.Open(sharedstore.Options{URL: u, Secret: secret})
		if err == nil {
			t.Errorf("Open(%q) succeeded", u)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// A dump of Redis shows neither the names doclient uses (hashes of
// credentials) nor the values (tokens); only the same secret reads them.
func TestValuesAreSealedAndKeysHashed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, srv.URL, secret, nil)
	ctx := context.Background()
	const name, value = "refresh token:5eba57ab1e", `{"access_token":"doo_v1_secret","refresh_token":"dor_v1_secret"}`
	if err := s.Set(ctx, name, []byte(value), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, name)
	if err != nil || string(got) != value {
		t.Fatalf("Get = %q, %v", got, err)
	}
	dump := srv.Dump()
	if len(dump) != 1 {
		t.Fatalf("%d keys, want 1: %v", len(dump), dump)
	}
	for k, v := range dump {
		for _, leak := range []string{"5eba57ab1e", "refresh", "doo_v1", "dor_v1", "secret"} {
			if strings.Contains(k, leak) || strings.Contains(v, leak) {
				t.Errorf("Redis holds %q in %q = %q", leak, k, v)
			}
		}
		if ttl := srv.Do("PTTL", k); ttl == "-1" {
			t.Errorf("%s never expires", k)
		}
	}
	// Another secret (another app, or a rotated SESSION_SECRET) reads nothing.
	other := open(t, srv.URL, []byte("another-secret-another-secret-another-secret"), nil)
	if got, err := other.Get(ctx, name); err != nil || got != nil {
		t.Errorf("with another secret Get = %q, %v; want nothing", got, err)
	}
	// A value moved under another key does not open.
	for k, v := range dump {
		s.Set(ctx, "elsewhere", []byte("x"), time.Minute)
		for k2 := range srv.Dump() {
			if k2 != k {
				srv.Do("SET", k2, v)
				if got, _ := s.Get(ctx, "elsewhere"); got != nil {
					t.Errorf("a value copied to another key opened: %q", got)
				}
			}
		}
	}
}

// Only the holder's token releases a lock, and a lease that ran out frees
// the lock for someone else.
func TestLocksAreTheHoldersOnly(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, srv.URL, secret, nil)
	ctx := context.Background()
	mustLock := func(token string, want bool) {
		t.Helper()
		ok, err := s.Lock(ctx, "l", token, time.Minute)
		if err != nil || ok != want {
			t.Fatalf("Lock(%s) = %v, %v; want %v", token, ok, err, want)
		}
	}
	mustLock("a", true)
	mustLock("b", false)
	if err := s.Unlock(ctx, "l", "b"); err != nil {
		t.Fatal(err)
	}
	mustLock("b", false) // b's Unlock left a's lock alone
	if err := s.Unlock(ctx, "l", "a"); err != nil {
		t.Fatal(err)
	}
	mustLock("b", true)

	if ok, _ := s.Lock(ctx, "short", "a", 50*time.Millisecond); !ok {
		t.Fatal("no lock")
	}
	time.Sleep(150 * time.Millisecond)
	if ok, _ := s.Lock(ctx, "short", "b", time.Minute); !ok {
		t.Error("an expired lease still holds the lock")
	}
	if err := s.Unlock(ctx, "short", "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Lock(ctx, "short", "c", time.Minute); ok {
		t.Error("the old holder released a lock it had lost")
	}
}

// Redis going away is logged once, not per call; the store answers at
// once while down, says so in Check, and logs once when it is back.
func TestOutageIsLoggedOncePerEpisode(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var log logBuffer
	s := open(t, srv.URL, secret, &log)
	ctx := context.Background()
	if got := s.Check(ctx); got != "up" {
		t.Fatalf("Check = %q, want up", got)
	}
	srv.Stop()
	for range 50 {
		if _, err := s.Get(ctx, "x"); err == nil {
			t.Fatal("Get succeeded with Redis stopped")
		}
	}
	if got := s.Check(ctx); got != "down" {
		t.Errorf("Check = %q, want down", got)
	}
	if n := strings.Count(log.String(), "shared store unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, log.String())
	}

	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for s.Check(ctx) != "up" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := s.Check(ctx); got != "up" {
		t.Fatalf("after Redis restarted Check = %q", got)
	}
	if n := strings.Count(log.String(), "shared store is back"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once:\n%s", n, log.String())
	}
	if err := s.Set(ctx, "x", []byte("y"), time.Minute); err != nil {
		t.Errorf("Set after the restart: %v", err)
	}
}

// blackHole accepts connections and never answers: a Redis that hangs.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "redis://" + ln.Addr().String()
}

// A Redis that accepts connections but never answers costs a few
// timeouts (downAfter calls in a row), then the store fails at once until
// it tries again a second later.
func TestHangingRedisCostsAFewTimeouts(t *testing.T) {
	t.Parallel()
	var log logBuffer
	s := open(t, blackHole(t), secret, &log)
	ctx := context.Background()
	start := time.Now()
	for range 3 {
		if _, err := s.Get(ctx, "x"); err == nil || errors.Is(err, sharedstore.ErrDown) {
			t.Fatalf("Get against a Redis that never answers: %v, want a timeout", err)
		}
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("three calls took %v despite the 200 ms timeout", took)
	}
	for range 20 {
		if _, err := s.Get(ctx, "x"); !errors.Is(err, sharedstore.ErrDown) {
			t.Fatalf("while down: %v, want ErrDown at once", err)
		}
	}
	if got := s.Check(ctx); got != "down" {
		t.Errorf("Check = %q, want down", got)
	}
	if n := strings.Count(log.String(), "shared store unreachable"); n != 1 {
		t.Errorf("logged %d times, want once", n)
	}
}

// One slow call, or a caller that hangs up (a /healthz probe that gives
// up, a cancelled request), does not switch the process off Redis: the
// next call uses it, and no outage is logged.
func TestOneSlowCallOrAGoneCallerIsNoOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var log logBuffer
	s := open(t, srv.URL, secret, &log)
	ctx := context.Background()
	if err := s.Set(ctx, "x", []byte("y"), time.Minute); err != nil {
		t.Fatal(err)
	}

	gone, cancel := context.WithCancel(ctx)
	cancel()
	for range 5 {
		s.Check(gone)
		s.Get(gone, "x")
	}
	if got, err := s.Get(ctx, "x"); err != nil || string(got) != "y" {
		t.Errorf("after callers that hung up: Get = %q, %v; want y", got, err)
	}

	// Redis stalls for 300 ms: one call times out (the timeout is 200 ms).
	srv.Do("CLIENT", "PAUSE", "300", "ALL")
	if _, err := s.Get(ctx, "x"); err == nil {
		t.Fatal("Get succeeded while Redis was paused")
	}
	time.Sleep(200 * time.Millisecond) // the pause is over
	if got, err := s.Get(ctx, "x"); err != nil || string(got) != "y" {
		t.Errorf("after one slow call: Get = %q, %v; want y", got, err)
	}
	if got := s.Check(ctx); got != "up" {
		t.Errorf("Check = %q, want up", got)
	}
	if strings.Contains(log.String(), "unreachable") {
		t.Errorf("an outage was logged:\n%s", log.String())
	}
}
