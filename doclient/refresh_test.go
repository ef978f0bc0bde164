package doclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"dosignin/doclient"

	"dosignin/internal/testclock"
	"golang.org/x/oauth2"
)

// rotatingTokenServer is a token endpoint that rotates like DigitalOcean's:
// refresh token "dor_v1_N" is answered with access token "doo_v1_N+1" and
// refresh token "dor_v1_N+1". Each refresh token works once; a reused one
// gets invalid_grant. Requests wait for release, if set.
type rotatingTokenServer struct {
	rec       recorder
	expiresIn int
	release   chan struct{} // nil: answer at once

	mu   sync.Mutex
	used map[string]bool
}

func (s *rotatingTokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := s.rec.record(r)
	if s.release != nil {
		select {
		case <-s.release:
		case <-r.Context().Done():
			return
		}
	}
	old := req.Form.Get("refresh_token")
	var n int
	if _, err := fmt.Sscanf(old, "dor_v1_%d", &n); err != nil || req.Form.Get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	s.mu.Lock()
	reused := s.used[old]
	if s.used == nil {
		s.used = make(map[string]bool)
	}
	s.used[old] = true
	s.mu.Unlock()
	if reused {
		writeJSON(w, http.StatusBadRequest, map[string]string{
			"error":             "invalid_grant",
			"error_description": "The provided authorization grant is invalid, expired, revoked, or was issued to another client.",
		})
		return
	}
	expiresIn := s.expiresIn
	if expiresIn == 0 {
		expiresIn = 2592000
	}
	writeJSON(w, http.StatusOK, tokenResponse(fmt.Sprintf("doo_v1_%d", n+1), fmt.Sprintf("dor_v1_%d", n+1), expiresIn))
}

func TestRefreshRequest(t *testing.T) {
	t.Parallel()
	ts := &rotatingTokenServer{}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)

	tok, err := c.Refresh(context.Background(), "dor_v1_1")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if tok.AccessToken != "doo_v1_2" || tok.RefreshToken != "dor_v1_2" {
		t.Errorf("token = %s / %s, want doo_v1_2 / dor_v1_2", tok.AccessToken, tok.RefreshToken)
	}
	if acct := doclient.AccountFromToken(tok); acct.Email != "sammy@example.com" {
		t.Errorf("account of the refreshed token = %+v", acct)
	}

	r := ts.rec.all()[0]
	if r.Method != http.MethodPost || r.Path != "/v1/oauth/token" {
		t.Errorf("request = %s %s, want POST /v1/oauth/token", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none: credentials go in the body", got)
	}
	checkForm(t, r.Form, map[string]string{
		"grant_type":    "refresh_token",
		"refresh_token": "dor_v1_1",
		"client_id":     testClientID,
		"client_secret": testClientSecret,
	})
}

func TestRefreshDeduplicates(t *testing.T) {
	t.Parallel()
	ts := &rotatingTokenServer{release: make(chan struct{})}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	clock := testclock.New(time.Now())
	c := newClient(t, srv.URL, srv.URL, func(cfg *doclient.Config) { cfg.Now = clock.Now })

	// 20 requests of one browser arrive with the same refresh token. The
	// server holds the first refresh until all have started; callers that
	// come after it finished must get its result from memory.
	const n = 20
	var wg sync.WaitGroup
	toks := make([]*oauth2.Token, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = c.Refresh(context.Background(), "dor_v1_1") })
	}
	waitFor(t, func() bool { return ts.rec.count() > 0 })
	close(ts.release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if toks[i].AccessToken != "doo_v1_2" || toks[i].RefreshToken != "dor_v1_2" {
			t.Errorf("call %d got %s / %s, want doo_v1_2 / dor_v1_2", i, toks[i].AccessToken, toks[i].RefreshToken)
		}
	}
	if got := ts.rec.count(); got != 1 {
		t.Fatalf("token endpoint saw %d requests, want 1", got)
	}

	// A straggler within the window: same pair, no request.
	clock.Advance(50 * time.Second)
	tok, err := c.Refresh(context.Background(), "dor_v1_1")
	if err != nil || tok.RefreshToken != "dor_v1_2" {
		t.Errorf("Refresh within the window = %v, %v; want dor_v1_2", tok, err)
	}
	if got := ts.rec.count(); got != 1 {
		t.Errorf("token endpoint saw %d requests after a call within the window, want 1", got)
	}

	// Another refresh token is another refresh.
	if tok, err := c.Refresh(context.Background(), "dor_v1_7"); err != nil || tok.RefreshToken != "dor_v1_8" {
		t.Errorf("Refresh(dor_v1_7) = %v, %v; want dor_v1_8", tok, err)
	}
	if got := ts.rec.count(); got != 2 {
		t.Errorf("token endpoint saw %d requests after a different refresh token, want 2", got)
	}

	// After the window, the old refresh token goes to DigitalOcean again,
	// which refuses it: it was used.
	clock.Advance(time.Minute)
	_, err = c.Refresh(context.Background(), "dor_v1_1")
	if !doclient.IsInvalidGrant(err) {
		t.Errorf("Refresh after the window = %v, want invalid_grant", err)
	}
	if got := ts.rec.count(); got != 3 {
		t.Errorf("token endpoint saw %d requests after the window, want 3", got)
	}
}

func TestRefreshSurvivesCallerCancel(t *testing.T) {
	t.Parallel()
	ts := &rotatingTokenServer{release: make(chan struct{})}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	// The browser goes away while its refresh is in flight...
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Refresh(ctx, "dor_v1_1")
		done <- err
	}()
	waitFor(t, func() bool { return ts.rec.count() > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh with a cancelled context = %v, want context.Canceled", err)
	}
	// ...but DigitalOcean has consumed the refresh token. The refresh is
	// seen through, so the browser's next request still gets the new pair.
	close(ts.release)
	var tok *oauth2.Token
	waitFor(t, func() bool {
		var err error
		tok, err = c.Refresh(context.Background(), "dor_v1_1")
		return err == nil
	})
	if tok.RefreshToken != "dor_v1_2" {
		t.Errorf("token after retry = %s, want dor_v1_2", tok.RefreshToken)
	}
	if got := ts.rec.count(); got != 1 {
		t.Errorf("token endpoint saw %d requests, want 1", got)
	}
}

func TestRefreshFailureIsNotRemembered(t *testing.T) {
	t.Parallel()
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	for range 2 {
		if _, err := c.Refresh(context.Background(), "dor_v1_dead"); !doclient.IsInvalidGrant(err) {
			t.Errorf("Refresh = %v, want invalid_grant", err)
		}
	}
	if got := rec.count(); got != 2 {
		t.Errorf("token endpoint saw %d requests, want 2: failures are not remembered", got)
	}
	if _, err := c.Refresh(context.Background(), ""); !errors.Is(err, doclient.ErrNoRefreshToken) || !doclient.IsInvalidGrant(err) {
		t.Errorf(`Refresh("") = %v, want ErrNoRefreshToken`, err)
	}
}

func TestTokenSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		expiresIn     time.Duration // of the session's token; 0 = no expiry
		refreshToken  string
		wantRefreshed bool
		wantErr       error
	}{
		{"fresh", time.Hour, "dor_v1_1", false, nil},
		{"no expiry", 0, "dor_v1_1", false, nil},
		{"expires within the margin", 30 * time.Second, "dor_v1_1", true, nil},
		{"expired", -time.Hour, "dor_v1_1", true, nil},
		{"expiring, no refresh token, still valid", 30 * time.Second, "", false, nil},
		{"expired, no refresh token", -time.Second, "", false, doclient.ErrNoRefreshToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := &rotatingTokenServer{}
			srv := httptest.NewServer(ts)
			defer srv.Close()
			clock := testclock.New(time.Now())
			c := newClient(t, srv.URL, srv.URL, func(cfg *doclient.Config) { cfg.Now = clock.Now })

			session := &oauth2.Token{AccessToken: "doo_v1_1", RefreshToken: tt.refreshToken}
			if tt.expiresIn != 0 {
				session.Expiry = clock.Now().Add(tt.expiresIn)
			}
			src := c.TokenSource(context.Background(), session)
			tok, err := src.Token()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Token() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			wantAccess := "doo_v1_1"
			if tt.wantRefreshed {
				wantAccess = "doo_v1_2"
			}
			if tok.AccessToken != wantAccess {
				t.Errorf("Token() = %s, want %s", tok.AccessToken, wantAccess)
			}
			newTok, refreshed := src.Refreshed()
			if refreshed != tt.wantRefreshed {
				t.Errorf("Refreshed() = %v, want %v", refreshed, tt.wantRefreshed)
			}
			if refreshed && (newTok.AccessToken != "doo_v1_2" || newTok.RefreshToken != "dor_v1_2") {
				t.Errorf("Refreshed() token = %s / %s, want doo_v1_2 / dor_v1_2", newTok.AccessToken, newTok.RefreshToken)
			}
			wantRequests := 0
			if tt.wantRefreshed {
				wantRequests = 1
			}
			if got := ts.rec.count(); got != wantRequests {
				t.Errorf("token endpoint saw %d requests, want %d", got, wantRequests)
			}
		})
	}
}

func TestTokenSourceConcurrent(t *testing.T) {
	t.Parallel()
	// DigitalOcean issues a token that lives less than RefreshMargin: the
	// TokenSource must still refresh only once, not on every call.
	ts := &rotatingTokenServer{expiresIn: 30}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)
	src := c.TokenSource(context.Background(), &oauth2.Token{
		AccessToken: "doo_v1_1", RefreshToken: "dor_v1_1", Expiry: time.Now().Add(-time.Minute),
	})

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			tok, err := src.Token()
			if err != nil || tok.AccessToken != "doo_v1_2" {
				t.Errorf("Token() = %v, %v; want doo_v1_2", tok, err)
			}
		})
	}
	wg.Wait()
	if got := ts.rec.count(); got != 1 {
		t.Errorf("token endpoint saw %d requests, want 1", got)
	}
	if tok, ok := src.Refreshed(); !ok || tok.RefreshToken != "dor_v1_2" {
		t.Errorf("Refreshed() = %v, %v; want dor_v1_2", tok, ok)
	}
}

func TestTokenSourceRemembersFailure(t *testing.T) {
	t.Parallel()
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)
	src := c.TokenSource(context.Background(), &oauth2.Token{
		AccessToken: "doo_v1_1", RefreshToken: "dor_v1_1", Expiry: time.Now().Add(-time.Minute),
	})
	for range 3 {
		if _, err := src.Token(); !doclient.IsInvalidGrant(err) {
			t.Errorf("Token() = %v, want invalid_grant", err)
		}
	}
	if got := rec.count(); got != 1 {
		t.Errorf("token endpoint saw %d requests, want 1", got)
	}
	if _, ok := src.Refreshed(); ok {
		t.Error("Refreshed() = true after a failed refresh")
	}
}

// waitFor polls cond until it holds, failing the test after 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
