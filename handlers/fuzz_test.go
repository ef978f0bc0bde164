package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseCallback checks the callback's query parser: whatever arrives,
// it never panics, and what it accepts is one value per parameter, each of
// bounded size.
func FuzzParseCallback(f *testing.F) {
	f.Add("code=abc&state=def")
	f.Add("error=access_denied&error_description=The+user+denied&state=x")
	f.Add("code=a&code=b")
	f.Add("state=%zz")
	f.Add(";;&&==")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseCallback(raw)
		if err != nil {
			if _, ok := err.(*Problem); !ok {
				t.Fatalf("error %T is not a *Problem page", err)
			}
			return
		}
		if len(raw) > maxCallbackQuery {
			t.Fatalf("accepted a %d-byte query", len(raw))
		}
		for k, v := range q {
			if len(v) != 1 || len(v[0]) > maxCallbackValue {
				t.Fatalf("accepted %q = %d values", k, len(v))
			}
		}
	})
}

// FuzzCallbackQuery sends arbitrary queries to the real router's callback
// route. With no login started, every answer must be a clean refusal or
// the redirect of the droplet page, never a 5xx, and no page may carry a
// script.
func FuzzCallbackQuery(f *testing.F) {
	s := newBareServer(f, "http://localhost:5000/digitalocean", nil)
	h := s.Handler()
	f.Add("code=abc&state=def")
	f.Add("error=access_denied&state=x&error_description=%3Cscript%3E")
	f.Add("state=&code=")
	f.Add("code=" + strings.Repeat("A", 17<<10))
	f.Add("foo=bar")
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest(http.MethodGet, "http://localhost:5000/digitalocean", nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusSeeOther, http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Fatalf("?%.80q answered %d", raw, rec.Code)
		}
		if strings.Contains(strings.ToLower(rec.Body.String()), "<script") {
			t.Fatalf("?%.80q produced a page with a script", raw)
		}
	})
}

// FuzzSessionCookie feeds arbitrary session cookies to the cookie decoder
// and to the index page: nothing but a cookie this app wrote decodes, and
// every other value is shown as "not connected" and cleared, never a 5xx.
func FuzzSessionCookie(f *testing.F) {
	s := newBareServer(f, "http://localhost:5000/digitalocean", nil)
	h := s.Handler()
	// A real cookie as a seed, so the fuzzer mutates something that almost
	// decodes.
	rec := httptest.NewRecorder()
	good := &Session{AccessToken: "doo_v1_x", RefreshToken: "dor_v1_y", Created: s.now(), LastSeen: s.now()}
	if err := s.sessions.save(rec, good); err != nil {
		f.Fatal(err)
	}
	valid := strings.TrimPrefix(strings.SplitN(rec.Header().Get("Set-Cookie"), ";", 2)[0], sessionCookie+"=")
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid + "A")
	f.Add("")
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest(http.MethodGet, "http://localhost:5000/", nil)
		req.Header.Set("Cookie", sessionCookie+"="+value)
		rec := httptest.NewRecorder()
		// Only a cookie sealed with this app's keys can decode, and the one
		// sealed here holds good. (Fuzz workers each seal their own, so the
		// check is on content, not on the exact seed value.)
		sess, ok := s.sessions.load(rec, req)
		if ok && sess.AccessToken != good.AccessToken {
			t.Fatalf("a forged cookie decoded: %q", value)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("cookie %.80q: index answered %d", value, rec.Code)
		}
		if connected := strings.Contains(rec.Body.String(), `action="/logout"`); connected != ok {
			t.Fatalf("cookie %.80q: decoded=%v but the index shows connected=%v", value, ok, connected)
		}
	})
}
