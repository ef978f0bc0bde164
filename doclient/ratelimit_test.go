package doclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

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
			droplets, err := listAll(context.Background(), c, staticToken("doo_v1_x"))
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
