package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// A session cookie written by an earlier version (JSON inside
// gorilla/sessions' gob-encoded map) still signs the user in after an
// upgrade, and the next write uses the new encoding.
func TestSessionCookieOfAnEarlierVersionStillWorks(t *testing.T) {
	t.Parallel()
	now := time.Now()
	secrets := [][]byte{[]byte("0123456789abcdef0123456789abcdef-test")}
	st, err := newSessionStore(secrets, false, time.Hour, 24*time.Hour, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	want := Session{AccessToken: "doo_v1_old", RefreshToken: "dor_v1_old", Expiry: now.Add(time.Hour).UTC(), Created: now.UTC(), LastSeen: now.UTC()}

	// The earlier encoding, exactly as it was written: a CookieStore with
	// the same keys and its default (gob) serializer.
	keys, err := cookieKeys(secrets)
	if err != nil {
		t.Fatal(err)
	}
	old := sessions.NewCookieStore(keys...)
	old.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	raw, _ := json.Marshal(want)
	sess := sessions.NewSession(old, sessionCookie)
	sess.Values[valueKey] = raw
	rec := httptest.NewRecorder()
	if err := old.Save(httptest.NewRequest(http.MethodGet, "/", nil), rec, sess); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(rec.Result().Cookies()[0])

	got, ok := st.load(httptest.NewRecorder(), req)
	if !ok || got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken {
		t.Fatalf("load = %+v, %v; want the old cookie's session", got, ok)
	}
	rec = httptest.NewRecorder()
	if err := st.save(rec, req, got); err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	if again, ok := st.load(httptest.NewRecorder(), req); !ok || again.AccessToken != want.AccessToken {
		t.Fatalf("after a rewrite: %+v, %v", again, ok)
	}
}
