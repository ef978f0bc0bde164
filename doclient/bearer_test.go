package doclient

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// roundTripFunc is a RoundTripper from a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAPICallWithoutTokenSourceIsNotSent: the one godo client serves every
// user, so a request whose context carries no token source must fail
// before it leaves, not go out without (or with someone else's) token.
func TestAPICallWithoutTokenSourceIsNotSent(t *testing.T) {
	var sent atomic.Int32
	base := roundTripFunc(func(*http.Request) (*http.Response, error) {
		sent.Add(1)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}}, nil
	})
	req := httptest.NewRequest(http.MethodGet, "https://api.example.test/v2/droplets", nil)
	if _, err := (bearerTransport{base: base}).RoundTrip(req); err == nil {
		t.Error("a request without a token source went through")
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("%d requests sent without a token source", n)
	}
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "doo_v1_mine"})
	var auth string
	base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		auth = r.Header.Get("Authorization")
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}}, nil
	})
	req = req.WithContext(withTokenSource(req.Context(), ts))
	if _, err := (bearerTransport{base: base}).RoundTrip(req); err != nil || auth != "Bearer doo_v1_mine" {
		t.Errorf("with a token source: err %v, Authorization %q", err, auth)
	}
}
