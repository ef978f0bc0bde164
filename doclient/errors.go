package doclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"
)

// APIError is a non-2xx answer of the DigitalOcean API. It keeps the fields of
// the API's error body, {"id": ..., "message": ..., "request_id": ...}.
type APIError struct {
	// StatusCode is the HTTP status, e.g. 401.
	StatusCode int
	// ID is DigitalOcean's short error identifier, e.g. "unauthorized" or
	// "not_found"; branch on it (or on StatusCode), not on Message.
	ID string
	// Message is DigitalOcean's human-readable explanation; "" when the body
	// was not DigitalOcean's JSON (e.g. an HTML page from a proxy).
	Message string
	// RequestID identifies the request for DigitalOcean support.
	RequestID string
	// RetryAfter is how long to wait before trying again, from the
	// retry-after header of a 429 (rate limited) answer; 0 if absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("DigitalOcean API answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.ID != "" {
		s += " (" + e.ID + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " [request_id " + e.RequestID + "]"
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %v", e.RetryAfter)
	}
	return s
}

// OAuthError is an error answer of DigitalOcean's OAuth server (the token or
// revoke endpoint), as RFC 6749 §5.2 defines it.
type OAuthError struct {
	// StatusCode is the HTTP status, e.g. 400.
	StatusCode int
	// Code is the "error" field, e.g. "invalid_grant" or "invalid_client";
	// "" when the body was not an OAuth error (e.g. a 502 page from a proxy).
	Code string
	// Description is the "error_description" field, meant for developers.
	Description string
	// RetryAfter is the retry-after of a 429 (rate limited) answer; 0 if
	// absent. A token request is never retried for the caller: its code or
	// refresh token may already be spent.
	RetryAfter time.Duration `json:",omitempty"`
}

func (e *OAuthError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("DigitalOcean OAuth server answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	s := fmt.Sprintf("DigitalOcean OAuth server answered %d %s", e.StatusCode, e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// ErrNoRefreshToken is returned by [Client.Refresh] and [TokenSource.Token]
// when a token has expired and there is no refresh token to renew it with.
// Like invalid_grant, it means the user has to connect again.
var ErrNoRefreshToken = errors.New("doclient: token expired and there is no refresh token")

// ErrMalformedAnswer is wrapped by the error of a call that DigitalOcean
// answered with success (2xx) in a body that is not the call's result: not
// JSON, cut short, or without the object asked for, as "{}" is. Like a 5xx,
// it is DigitalOcean's (or a proxy's) failure: [IsUnavailable] is true for
// it, and [IsMalformed] tells it apart. After [Client.DropletAction] it
// means that the action may have started.
var ErrMalformedAnswer = errors.New("DigitalOcean's answer could not be read")

// IsMalformed reports whether DigitalOcean answered with success but the
// answer could not be read ([ErrMalformedAnswer]).
func IsMalformed(err error) bool {
	return errors.Is(err, ErrMalformedAnswer)
}

// malformed is the error of op for a success answer that lacks what.
func malformed(op, what string) error {
	return fmt.Errorf("doclient: %s: %w: %s", op, ErrMalformedAnswer, what)
}

// IsInvalidGrant reports whether err means the grant is dead and the user has
// to connect again: the authorization code was bad, expired or already used,
// or the refresh token was revoked, expired or already used (OAuth error
// "invalid_grant"), or there was no refresh token at all ([ErrNoRefreshToken]).
func IsInvalidGrant(err error) bool {
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe.Code == "invalid_grant"
	}
	return errors.Is(err, ErrNoRefreshToken)
}

// IsInvalidToken reports whether the OAuth server refused a token as
// invalid_token: at the revoke endpoint, one already revoked or expired.
func IsInvalidToken(err error) bool {
	var oe *OAuthError
	return errors.As(err, &oe) && oe.Code == "invalid_token"
}

// IsUnauthorized reports whether the API refused the access token (HTTP 401):
// it was revoked (e.g. by the user on DigitalOcean), or it expired.
func IsUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized
}

// IsUnavailable reports whether err means DigitalOcean could not be reached or
// failed on its side: a network error, a timeout, or a 5xx answer of the OAuth
// server or the API, or a success answer that could not be read
// ([ErrMalformedAnswer]). Trying again later may work. The caller's own
// cancellation (context.Canceled) does not count.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if IsMalformed(err) {
		return true
	}
	// A typed answer decides first: a url.Error around an OAuthError (a
	// failed refresh inside Droplets) is not a network error.
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe.StatusCode >= 500
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode >= 500
	}
	if errors.Is(err, ErrNoRefreshToken) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error // includes *url.Error, which every failed HTTP call returns
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

// IsTimeout reports whether DigitalOcean did not answer within
// Config.Timeout (or the caller's deadline): a handler shows 504, which an
// operator tells apart from DigitalOcean's own failures (502).
func IsTimeout(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var oe *OAuthError
	var ae *APIError
	if errors.As(err, &oe) || errors.As(err, &ae) {
		return false // DigitalOcean answered
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// IsRateLimited reports whether the API or the OAuth server refused the
// request for exceeding a rate limit (HTTP 429), and how long it asked to
// wait (0 if it did not say).
func IsRateLimited(err error) (retryAfter time.Duration, ok bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests {
		return ae.RetryAfter, true
	}
	var oe *OAuthError
	if errors.As(err, &oe) && oe.StatusCode == http.StatusTooManyRequests {
		return oe.RetryAfter, true
	}
	return 0, false
}

// wrapError turns the error of one call to DigitalOcean into the error
// doclient returns: op says what failed; x/oauth2's and godo's error types
// become *OAuthError and *APIError; everything else stays in the chain
// (%w), so errors.Is(err, context.DeadlineExceeded) and net.Error checks work.
//
// x/oauth2's RetrieveError is dropped on purpose: its Error() includes the
// response body, which could hold a token.
func wrapError(ctx context.Context, op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("doclient: %s: %w", op, oauthErrorFromRetrieve(re))
	}
	var er *godo.ErrorResponse
	if errors.As(err, &er) {
		return fmt.Errorf("doclient: %s: %w", op, apiErrorFromGodo(er))
	}
	// x/oauth2 flattens an error while reading the response body with %v,
	// losing a deadline; put it back so callers can still recognise it.
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("doclient: %s: %w: %w", op, ctxErr, err)
	}
	// godo decodes a 2xx body itself and returns encoding/json's error, as
	// it is, when the body is not the JSON it expects, or is empty or cut
	// short. (A failure to send or to get an answer is a *url.Error.)
	var ue *url.Error
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if !errors.As(err, &ue) && (errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return malformed(op, err.Error())
	}
	return fmt.Errorf("doclient: %s: %w", op, err)
}

// tokenError is wrapError for a token request. x/oauth2 reports an answer
// it could not read (a 2xx without access_token, a body that is not JSON,
// one cut short) as a plain error: neither a refusal (*RetrieveError), nor
// a failure to get an answer (*url.Error), nor a deadline.
func tokenError(ctx context.Context, op string, err error) error {
	var re *oauth2.RetrieveError
	var ue *url.Error
	if errors.As(err, &re) || errors.As(err, &ue) || ctx.Err() != nil {
		return wrapError(ctx, op, err)
	}
	return malformed(op, err.Error())
}

func oauthErrorFromRetrieve(re *oauth2.RetrieveError) *OAuthError {
	oe := &OAuthError{Code: re.ErrorCode, Description: re.ErrorDescription}
	if re.Response != nil {
		oe.StatusCode = re.Response.StatusCode
		oe.RetryAfter = retryAfter(re.Response)
	}
	return oe
}

// retryAfter reads the retry-after header of a 429 answer, in the whole
// seconds DigitalOcean sends; 0 when absent or not a 429.
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests {
		return 0
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return 0
}

// oauthErrorFromResponse reads an RFC 6749 §5.2 error body, if there is one.
func oauthErrorFromResponse(resp *http.Response) *OAuthError {
	var body struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&body)
	return &OAuthError{StatusCode: resp.StatusCode, Code: body.Error, Description: body.ErrorDescription, RetryAfter: retryAfter(resp)}
}

// apiErrorFromGodo converts godo's error, which has no field for
// DigitalOcean's "id", reading the id from the body errorBodyTransport kept.
func apiErrorFromGodo(er *godo.ErrorResponse) *APIError {
	ae := &APIError{RequestID: er.RequestID}
	resp := er.Response
	if resp == nil {
		return ae
	}
	ae.StatusCode = resp.StatusCode
	if kept, ok := resp.Body.(*keptBody); ok {
		var body struct {
			ID        string `json:"id"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(kept.data, &body) == nil {
			ae.ID, ae.Message = body.ID, body.Message
		}
	}
	ae.RetryAfter = retryAfter(resp)
	return ae
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// errorBodyTransport keeps a copy of the body of every non-2xx API answer.
// godo decodes such a body into its ErrorResponse, which keeps "message" and
// "request_id" but drops DigitalOcean's machine-readable "id"; the copy lets
// apiErrorFromGodo read it. godo's ErrorResponse.Response is the
// *http.Response returned here, so the copy travels with it.
type errorBodyTransport struct {
	base http.RoundTripper
}

func (t errorBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || (resp.StatusCode >= 200 && resp.StatusCode <= 299) {
		return resp, err
	}
	// A failed read leaves a truncated copy; the status code still counts.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = &keptBody{data: data}
	return resp, nil
}

// keptBody is an error answer's body, read in full but readable again.
type keptBody struct {
	data []byte
	off  int
}

func (b *keptBody) Read(p []byte) (int, error) {
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

func (b *keptBody) Close() error { return nil }
