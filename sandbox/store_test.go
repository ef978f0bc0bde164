package sandbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// These tests look inside the package to shrink the caps: filling the real
// ones (10,000 entries) through HTTP would only make the tests slow.

func TestStoreCapsOutstandingCodes(t *testing.T) {
	t.Parallel()
	st := newStore(2, 2)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	c := authCode{clientID: "c", redirectURI: "http://app.test/cb", scope: "read"}
	for i := range 2 {
		if _, err := st.newCode(now, c); err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
	}
	if _, err := st.newCode(now, c); !errors.Is(err, errFull) {
		t.Fatalf("third code: err = %v, want errFull", err)
	}
	// Expired codes make room again, without any background goroutine.
	now = now.Add(codeTTL)
	if _, err := st.newCode(now, c); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if got := st.stats(now); got.OutstandingCodes != 1 || got.Authorizations != 3 {
		t.Errorf("stats = %+v", got)
	}
}

func TestStoreCapsGrants(t *testing.T) {
	t.Parallel()
	st := newStore(10, 1)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	c := authCode{clientID: "c", redirectURI: "http://app.test/cb", scope: "read"}
	ok := func(*authCode) error { return nil }
	first, _ := st.newCode(now, c)
	second, _ := st.newCode(now, c)
	tokens, err := st.exchangeCode(now, first, time.Minute, ok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.exchangeCode(now, second, time.Minute, ok); !errors.Is(err, errFull) {
		t.Fatalf("second grant: err = %v, want errFull", err)
	}
	// Refused for lack of room, the code was not spent: once the first grant
	// is revoked it can be exchanged.
	if revoked, err := st.revoke(now, tokens.refresh, "c", ""); !revoked || err != nil {
		t.Fatalf("revoke = %v, %v", revoked, err)
	}
	if _, err := st.exchangeCode(now, second, time.Minute, ok); err != nil {
		t.Fatalf("after revoking the first grant: %v", err)
	}
}

// The caps surface as RFC 6749 errors: temporarily_unavailable on the
// redirect from the consent form and 503 from the token endpoint.
func TestCapsOverHTTP(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	s, err := New(Config{
		ClientID: "id", ClientSecret: "secret", AppName: "App",
		RedirectURIs: []string{"http://app.test/cb"},
		Now:          func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	s.store = newStore(1, 0)
	if _, err := s.store.newCode(now, authCode{clientID: "id", redirectURI: "http://app.test/cb", scope: "read"}); err != nil {
		t.Fatal(err)
	}

	// Consent form: no room for a code.
	const cookie = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	form := url.Values{
		"client_id": {"id"}, "redirect_uri": {"http://app.test/cb"}, "response_type": {"code"},
		"state": {"s"}, "decision": {"approve"}, "csrf_token": {s.csrf.tokenFor(cookie)},
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/oauth/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: csrfCookieName, Value: cookie})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || loc.Query().Get("error") != "temporarily_unavailable" || loc.Query().Get("state") != "s" {
		t.Errorf("authorize at the code cap: %d %s", rec.Code, loc)
	}

	// Token endpoint: no room for a grant.
	s.store = newStore(1, 0)
	code, _ := s.store.newCode(now, authCode{clientID: "id", redirectURI: "http://app.test/cb", scope: "read"})
	form = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://app.test/cb"}, "client_id": {"id"}, "client_secret": {"secret"}}
	req = httptest.NewRequest(http.MethodPost, "/v1/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var body map[string]string
	json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || rec.Header().Get("Retry-After") == "" {
		t.Errorf("token at the grant cap: %d %v", rec.Code, body)
	}
}

// Expired grants and spent codes are dropped, so memory stays bounded by
// what is live.
func TestStoreSweeps(t *testing.T) {
	t.Parallel()
	st := newStore(100, 100)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	c := authCode{clientID: "c", redirectURI: "http://app.test/cb", scope: "read"}
	for range 5 {
		code, _ := st.newCode(now, c)
		if _, err := st.exchangeCode(now, code, time.Minute, func(*authCode) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(refreshTTL + time.Second)
	st.newCode(now, c) // any write sweeps
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.codes) != 1 || len(st.access) != 0 || len(st.refresh) != 0 {
		t.Errorf("after sweep: %d codes, %d access, %d refresh; want 1, 0, 0", len(st.codes), len(st.access), len(st.refresh))
	}
}
