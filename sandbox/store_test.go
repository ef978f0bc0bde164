package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// These tests look inside the package to shrink the bound: filling the
// real one (10,000 entries) takes the HTTP tests in limits_test.go longer.

// login issues a code to clientID and exchanges it, returning the tokens.
func storeLogin(t *testing.T, st *store, now time.Time, clientID string) tokens {
	t.Helper()
	code := st.newCode(now, authCode{clientID: clientID, redirectURI: "http://app.test/cb", scope: "read"})
	tok, err := st.exchangeCode(now, code, time.Minute, func(*authCode) error { return nil })
	if err != nil {
		t.Fatalf("exchange for %s: %v", clientID, err)
	}
	return tok
}

// live reports whether a refresh token still works (and rotates it away).
func live(st *store, now time.Time, tok tokens, clientID string) bool {
	_, err := st.refreshGrant(now, tok.refresh, clientID, nil, time.Minute)
	return err == nil
}

// A client at its share that gets one more code loses its oldest, never
// another client's; nothing is refused.
func TestStoreEvictsTheOldestCodeOfTheSameClient(t *testing.T) {
	t.Parallel()
	st := newStore(100, "app") // the app's client: 50 codes; registered: 50, 5 each
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	code := func(clientID string) string {
		return st.newCode(now, authCode{clientID: clientID, redirectURI: "http://app.test/cb", scope: "read"})
	}
	redeem := func(c string) error {
		_, err := st.exchangeCode(now, c, time.Minute, func(*authCode) error { return nil })
		return err
	}
	other := code("other")
	appFirst := code("app")
	var flood []string
	for range 6 {
		flood = append(flood, code("flooder"))
	}
	if err := redeem(flood[0]); !errors.Is(err, errInvalidGrant) {
		t.Errorf("the flooder's oldest code: %v, want it evicted", err)
	}
	for i, c := range append(flood[1:], other, appFirst) {
		if err := redeem(c); err != nil {
			t.Errorf("code %d: %v", i, err)
		}
	}
	var appCodes []string
	for range 51 {
		appCodes = append(appCodes, code("app"))
	}
	if err := redeem(appCodes[0]); !errors.Is(err, errInvalidGrant) {
		t.Errorf("the app's oldest code past its 50: %v, want it evicted", err)
	}
	if err := redeem(appCodes[50]); err != nil {
		t.Errorf("the app's newest code: %v", err)
	}
	// Spent codes count too (they are kept for replay detection): the app's
	// first, spent code went before its 51 new ones' oldest.
	if got := st.stats(now).Evictions; got != 3 {
		t.Errorf("Evictions = %d, want 3", got)
	}
}

// When the registered clients' half is full, the client holding the most
// pays, and the app's half is never touched.
func TestStoreEvictsFromTheLargestHolderWhenThePoolIsFull(t *testing.T) {
	t.Parallel()
	st := newStore(100, "app")
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	appTok := storeLogin(t, st, now, "app")
	first := map[string]tokens{}
	for i := range 10 { // 10 clients of 5 grants fill the pool of 50
		id := fmt.Sprintf("client-%d", i)
		for j := range 5 {
			tok := storeLogin(t, st, now, id)
			if j == 0 {
				first[id] = tok
			}
		}
	}
	// All ten hold 5, so the newcomer's grant takes one oldest grant from
	// one of them, whichever.
	newcomer := storeLogin(t, st, now, "newcomer")
	lost := 0
	for id, tok := range first {
		if !live(st, now, tok, id) {
			lost++
		}
	}
	if lost != 1 || !live(st, now, newcomer, "newcomer") || !live(st, now, appTok, "app") {
		t.Errorf("after a newcomer joined a full pool: %d oldest grants lost (want 1), newcomer or app grant gone", lost)
	}
	if got := len(st.refresh); got != 51 {
		t.Errorf("%d grants kept, want 51 (50 registered, 1 app)", got)
	}
}

// A refreshed grant counts as new: eviction takes the grant unused for
// longest, not the first one issued.
func TestStoreEvictsTheLeastRecentlyRefreshedGrant(t *testing.T) {
	t.Parallel()
	st := newStore(100, "app")
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var toks []tokens
	for range 50 {
		toks = append(toks, storeLogin(t, st, now, "app"))
		now = now.Add(time.Minute)
	}
	refreshed, err := st.refreshGrant(now, toks[0].refresh, "app", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	storeLogin(t, st, now, "app")
	if !live(st, now, refreshed, "app") || live(st, now, toks[1], "app") || !live(st, now, toks[2], "app") {
		t.Error("want the refreshed first grant kept and the second (unused for longest) evicted")
	}
}

// Expired grants and spent codes are dropped, so memory stays bounded by
// what is live.
func TestStoreSweeps(t *testing.T) {
	t.Parallel()
	st := newStore(100, "")
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	c := authCode{clientID: "c", redirectURI: "http://app.test/cb", scope: "read"}
	for range 5 {
		code := st.newCode(now, c)
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

// The policy is built only from origins that pass validation: anything
// else is left out, even if a caller passed it (the redirect back is then
// blocked, which fails closed).
func TestPageHeadersLeaveOutInvalidOrigins(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"https://*", `https://a"b`, "https://a b", "https://example.com/cb", "https://example.com;script-src *", "javascript://x"} {
		h := http.Header{}
		pageHeaders(h, target)
		if got := h.Get("Content-Security-Policy"); !strings.HasSuffix(got, "form-action 'self'") {
			t.Errorf("pageHeaders(%q): CSP %q", target, got)
		}
	}
	for _, uri := range []string{"https://*/cb", `https://a"b/cb`, "https://u@example.com/cb", "ftp://example.com/cb", "https://a..b/cb"} {
		if got := origin(uri); got != "" {
			t.Errorf("origin(%q) = %q, want none", uri, got)
		}
	}
	h := http.Header{}
	pageHeaders(h, origin("https://Example.com:8443/cb?x"))
	if got := h.Get("Content-Security-Policy"); !strings.HasSuffix(got, "form-action 'self' https://Example.com:8443") {
		t.Errorf("a valid origin: CSP %q", got)
	}
}
