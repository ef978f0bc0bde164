package doclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dosignin/doclient"

	"golang.org/x/oauth2"
)

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		want        doclient.APIError
		unauth      bool
		unavailable bool
		rateLimited bool
	}{
		{
			name:   "401",
			status: http.StatusUnauthorized,
			body:   `{"id":"unauthorized","message":"Unable to authenticate you","request_id":"a1b2c3"}`,
			want:   doclient.APIError{StatusCode: 401, ID: "unauthorized", Message: "Unable to authenticate you", RequestID: "a1b2c3"},
			unauth: true,
		},
		{
			name:   "404",
			status: http.StatusNotFound,
			body:   `{"id":"not_found","message":"The resource you were accessing could not be found."}`,
			header: map[string]string{"X-Request-Id": "from-header"},
			want:   doclient.APIError{StatusCode: 404, ID: "not_found", Message: "The resource you were accessing could not be found.", RequestID: "from-header"},
		},
		{
			name:        "429 with retry-after",
			status:      http.StatusTooManyRequests,
			header:      map[string]string{"Retry-After": "29", "Ratelimit-Remaining": "0"},
			body:        `{"id":"too_many_requests","message":"API Rate limit exceeded.","request_id":"r-429"}`,
			want:        doclient.APIError{StatusCode: 429, ID: "too_many_requests", Message: "API Rate limit exceeded.", RequestID: "r-429", RetryAfter: 29 * time.Second},
			rateLimited: true,
		},
		{
			name:        "502 HTML from a proxy",
			status:      http.StatusBadGateway,
			header:      map[string]string{"Content-Type": "text/html"},
			body:        `<html><body><h1>502 Bad Gateway</h1></body></html>`,
			want:        doclient.APIError{StatusCode: 502},
			unavailable: true,
		},
		{
			name:   "redirect is not followed",
			status: http.StatusFound,
			header: map[string]string{"Location": "https://evil.example.com/steal"},
			want:   doclient.APIError{StatusCode: 302},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, ok := tt.header["Content-Type"]; !ok {
					w.Header().Set("Content-Type", "application/json")
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, srv.URL)

			_, err := listAll(context.Background(), c, staticToken("doo_v1_access"))
			var ae *doclient.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error = %v (%T), want an *APIError", err, err)
			}
			if *ae != tt.want {
				t.Errorf("APIError = %+v, want %+v", *ae, tt.want)
			}
			if got := doclient.IsUnauthorized(err); got != tt.unauth {
				t.Errorf("IsUnauthorized = %v, want %v", got, tt.unauth)
			}
			if got := doclient.IsUnavailable(err); got != tt.unavailable {
				t.Errorf("IsUnavailable = %v, want %v", got, tt.unavailable)
			}
			if wait, ok := doclient.IsRateLimited(err); ok != tt.rateLimited || wait != tt.want.RetryAfter {
				t.Errorf("IsRateLimited = %v, %v; want %v, %v", wait, ok, tt.want.RetryAfter, tt.rateLimited)
			}
			if doclient.IsInvalidGrant(err) {
				t.Error("IsInvalidGrant = true for an API error")
			}
			if strings.Contains(err.Error(), "<html>") {
				t.Errorf("error %q contains the HTML body", err)
			}
		})
	}
}

func TestOAuthErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		status       int
		contentType  string
		body         string
		want         doclient.OAuthError
		invalidGrant bool
		unavailable  bool
	}{
		{
			name:         "invalid_grant",
			status:       http.StatusBadRequest,
			contentType:  "application/json",
			body:         `{"error":"invalid_grant","error_description":"The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}`,
			want:         doclient.OAuthError{StatusCode: 400, Code: "invalid_grant", Description: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."},
			invalidGrant: true,
		},
		{
			name:        "invalid_client",
			status:      http.StatusUnauthorized,
			contentType: "application/json",
			body:        `{"error":"invalid_client","error_description":"Client authentication failed."}`,
			want:        doclient.OAuthError{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed."},
		},
		{
			name:        "500 HTML",
			status:      http.StatusInternalServerError,
			contentType: "text/html",
			body:        `<html><body>Internal Server Error</body></html>`,
			want:        doclient.OAuthError{StatusCode: 500},
			unavailable: true,
		},
		{
			name:        "502 from a proxy",
			status:      http.StatusBadGateway,
			contentType: "text/html",
			body:        `<html><body><h1>502 Bad Gateway</h1></body></html>`,
			want:        doclient.OAuthError{StatusCode: 502},
			unavailable: true,
		},
	}
	ops := []struct {
		name string
		call func(*doclient.Client) error
	}{
		{"Exchange", func(c *doclient.Client) error {
			_, _, err := c.Exchange(context.Background(), "the-code", "the-verifier")
			return err
		}},
		{"Refresh", func(c *doclient.Client) error {
			_, err := c.Refresh(context.Background(), "dor_v1_1")
			return err
		}},
	}
	for _, tt := range tests {
		for _, op := range ops {
			t.Run(tt.name+"/"+op.name, func(t *testing.T) {
				t.Parallel()
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", tt.contentType)
					w.WriteHeader(tt.status)
					_, _ = w.Write([]byte(tt.body))
				}))
				defer srv.Close()
				c := newClient(t, srv.URL, srv.URL)

				err := op.call(c)
				var oe *doclient.OAuthError
				if !errors.As(err, &oe) {
					t.Fatalf("error = %v (%T), want an *OAuthError", err, err)
				}
				if *oe != tt.want {
					t.Errorf("OAuthError = %+v, want %+v", *oe, tt.want)
				}
				if got := doclient.IsInvalidGrant(err); got != tt.invalidGrant {
					t.Errorf("IsInvalidGrant = %v, want %v", got, tt.invalidGrant)
				}
				if got := doclient.IsUnavailable(err); got != tt.unavailable {
					t.Errorf("IsUnavailable = %v, want %v", got, tt.unavailable)
				}
				if doclient.IsUnauthorized(err) {
					t.Error("IsUnauthorized = true for an OAuth error")
				}
				if strings.Contains(err.Error(), "<html>") {
					t.Errorf("error %q contains the HTML body", err)
				}
			})
		}
	}
}

func TestErrorHelpersOnOtherErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("boom"), false},
		{"deadline", context.DeadlineExceeded, true},
		{"caller cancelled", context.Canceled, false},
		{"network error", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := doclient.IsUnavailable(tt.err); got != tt.unavailable {
				t.Errorf("IsUnavailable = %v, want %v", got, tt.unavailable)
			}
			if doclient.IsInvalidGrant(tt.err) || doclient.IsUnauthorized(tt.err) {
				t.Error("IsInvalidGrant or IsUnauthorized = true")
			}
			if _, ok := doclient.IsRateLimited(tt.err); ok {
				t.Error("IsRateLimited = true")
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c := newClient(t, url, url)

	_, err := listAll(context.Background(), c, staticToken("doo_v1_access"))
	if !doclient.IsUnavailable(err) {
		t.Errorf("Droplets against a closed port: IsUnavailable(%v) = false", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Errorf("error %v is not a net.Error", err)
	}
}

// TestTimeouts checks that every call gives up on a server that never
// answers, after about Config.Timeout.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	ops := []struct {
		name string
		call func(context.Context, *doclient.Client) error
	}{
		{"Exchange", func(ctx context.Context, c *doclient.Client) error {
			_, _, err := c.Exchange(ctx, "the-code", "the-verifier")
			return err
		}},
		{"Refresh", func(ctx context.Context, c *doclient.Client) error {
			_, err := c.Refresh(ctx, "dor_v1_1")
			return err
		}},
		{"Revoke", func(ctx context.Context, c *doclient.Client) error {
			return c.Revoke(ctx, "doo_v1_access")
		}},
		{"Droplets", func(ctx context.Context, c *doclient.Client) error {
			_, err := listAll(ctx, c, staticToken("doo_v1_access"))
			return err
		}},
		{"Droplets refreshing", func(ctx context.Context, c *doclient.Client) error {
			ts := c.TokenSource(ctx, &oauth2.Token{AccessToken: "doo_v1_1", RefreshToken: "dor_v1_1", Expiry: time.Now()})
			_, err := listAll(ctx, c, ts)
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			hang := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-hang:
				}
			}))
			defer srv.Close()
			defer close(hang)
			c := newClient(t, srv.URL, srv.URL, func(cfg *doclient.Config) { cfg.Timeout = timeout })

			done := make(chan error, 1)
			go func() { done <- op.call(context.Background(), c) }()
			select {
			case err := <-done:
				if !doclient.IsUnavailable(err) {
					t.Errorf("IsUnavailable(%v) = false, want true", err)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false", err)
				}
			case <-time.After(5 * time.Second): // a safety net, not a timing assertion
				t.Fatal("no answer within 5s; the timeout is not applied")
			}
		})
	}
}

// TestErrorsKeepSecrets checks that error strings never repeat a token, a
// code or the client secret, even when the server echoes them back.
func TestErrorsKeepSecrets(t *testing.T) {
	t.Parallel()
	const (
		code    = "code-SECRET-4f6a"
		access  = "doo_v1_SECRET_access"
		refresh = "dor_v1_SECRET_refresh"
	)
	secrets := []string{testClientSecret, code, access, refresh, "SECRET"}
	echo := func(status int, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			// A misbehaving server that repeats what it got.
			_, _ = w.Write([]byte("<pre>" + r.Form.Encode() + " " + r.Header.Get("Authorization") + "</pre>"))
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		call    func(*doclient.Client) error
	}{
		{"Exchange 502", echo(http.StatusBadGateway, "text/html"), func(c *doclient.Client) error {
			_, _, err := c.Exchange(context.Background(), code, "verifier")
			return err
		}},
		{"Exchange 400 form-encoded", echo(http.StatusBadRequest, "text/plain"), func(c *doclient.Client) error {
			_, _, err := c.Exchange(context.Background(), code, "verifier")
			return err
		}},
		{"Refresh 500", echo(http.StatusInternalServerError, "text/html"), func(c *doclient.Client) error {
			_, err := c.Refresh(context.Background(), refresh)
			return err
		}},
		{"Refresh 200 with an error and tokens", func(w http.ResponseWriter, r *http.Request) {
			m := tokenResponse(access, refresh, 3600)
			m["error"] = "server_error"
			writeJSON(w, http.StatusOK, m)
		}, func(c *doclient.Client) error {
			_, err := c.Refresh(context.Background(), refresh)
			return err
		}},
		{"Revoke 401", echo(http.StatusUnauthorized, "text/html"), func(c *doclient.Client) error {
			return c.Revoke(context.Background(), access)
		}},
		{"Droplets 502", echo(http.StatusBadGateway, "text/html"), func(c *doclient.Client) error {
			_, err := listAll(context.Background(), c, staticToken(access))
			return err
		}},
		{"Droplets refresh fails", echo(http.StatusBadGateway, "text/html"), func(c *doclient.Client) error {
			ts := c.TokenSource(context.Background(), &oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: time.Now()})
			_, err := listAll(context.Background(), c, ts)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := newClient(t, srv.URL, srv.URL)

			err := tt.call(c)
			if err == nil {
				t.Fatal("call succeeded; want an error")
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains secret %q", err, s)
				}
			}
		})
	}
}
