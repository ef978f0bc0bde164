package doclient

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// MaxRateLimitWait is the longest retry-after that an API call waits out
// before trying once more: short enough to fit in a page a user is waiting
// for. A longer one is returned as an [*APIError] whose RetryAfter says how
// long, and the page asks the user to come back then.
const MaxRateLimitWait = 2 * time.Second

// rateLimitRetry is the API transport's answer to a short burst limit
// (DigitalOcean's 250 requests a minute): a GET answered 429 with a
// retry-after of at most MaxRateLimitWait is sent again, once, after that
// wait. Only GET and HEAD, which change nothing: a repeated POST might act
// twice. Token requests never pass here: their credentials are single-use.
type rateLimitRetry struct {
	base http.RoundTripper
}

func (t rateLimitRetry) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return resp, err
	}
	secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")) // DigitalOcean sends whole seconds
	wait := time.Duration(secs) * time.Second
	if perr != nil || secs < 0 || wait > MaxRateLimitWait {
		return resp, nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-req.Context().Done():
		return resp, nil // the 429 is the answer the caller gets
	case <-timer.C:
	}
	// Read the first answer to its end so its connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	return t.base.RoundTrip(req)
}
