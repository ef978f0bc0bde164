package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/doclient"
)

// Problem is an error that knows the page the user should see. Handlers
// return one; handleError renders it. Err, the cause, goes to the log only.
type Problem struct {
	Status     int
	Title      string
	Message    string
	Retry      bool          // offer a "Try again" link to the same page
	RetryAfter time.Duration // sent as Retry-After when set
	// Link, when set, is a page of this app to go on to (LinkText names it),
	// where "Try again" would be wrong (resending a POST).
	Link, LinkText string
	Err            error
}

func (p *Problem) Error() string {
	if p.Err != nil {
		return fmt.Sprintf("%d %s: %v", p.Status, p.Title, p.Err)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Title)
}

func (p *Problem) Unwrap() error { return p.Err }

// errorPage is the data of the error page.
type errorPage struct {
	Status   int
	Message  string
	Retry    bool
	Link     string
	LinkText string
}

// handleError is Echo's HTTPErrorHandler: the one place where an error
// becomes a response. The page shows the Problem's words, never err's text.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if s.redirectToIndex(c, err) {
		return
	}
	p := problemFor(err)
	level := slog.LevelInfo
	if p.Status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.Request().Context(), level, "request failed",
		slog.Int("status", p.Status),
		slog.String("path", trim(c.Request().URL.Path, maxLoggedPath)),
		slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		slog.String("error", errorText(err)),
	)
	if p.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(p.RetryAfter.Seconds()))))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	data := errorPage{Status: p.Status, Message: p.Message, Retry: p.Retry, Link: p.Link, LinkText: p.LinkText}
	// The header names who is signed in, as on every page, from the
	// cookie alone: no call to DigitalOcean, and no cookie written.
	sess, _ := s.sessions.peek(c.Request())
	if rerr := s.render(c, p.Status, "error", p.Title, sess, data); rerr != nil {
		s.log.Error("rendering the error page", "error", rerr)
		_ = c.String(http.StatusInternalServerError, "Internal Server Error")
	}
}

// redirectToIndex answers the errors that send the browser to the index
// with a message: no session (errNotConnected), or a session whose grant
// DigitalOcean no longer honours (errSignedOut), which it deletes.
func (s *Server) redirectToIndex(c echo.Context, err error) bool {
	var notConnected *errNotConnected
	var signedOut *errSignedOut
	switch {
	case errors.As(err, &notConnected):
		s.sessions.setFlash(c.Response(), "info", notConnected.why)
	case errors.As(err, &signedOut):
		s.log.Info("signed out", "path", trim(c.Request().URL.Path, maxLoggedPath), "error", errorText(signedOut.err))
		s.sessions.end(c.Response())
		s.sessions.setFlash(c.Response(), "info", signedOut.why+". Connect again whenever you like.")
	default:
		return false
	}
	if err := c.Redirect(http.StatusSeeOther, "/"); err != nil {
		s.log.Error("redirecting to the index", "error", err)
	}
	return true
}

// problemFor maps any error to the page to show.
func problemFor(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return &Problem{Status: he.Code, Title: "Page not found", Message: "There is nothing at this address.", Err: err}
		case http.StatusMethodNotAllowed:
			return &Problem{Status: he.Code, Title: "Method not allowed", Message: "This address does not accept that kind of request.", Err: err}
		case http.StatusRequestEntityTooLarge:
			return &Problem{Status: he.Code, Title: "Request too large", Message: "The request was larger than this app accepts.", Err: err}
		}
		if he.Code >= 400 && he.Code < 500 {
			return &Problem{Status: he.Code, Title: http.StatusText(he.Code), Message: "The request could not be handled.", Err: err}
		}
	}
	return &Problem{Status: http.StatusInternalServerError, Title: "Something went wrong",
		Message: "The app ran into a problem. It has been logged; please try again.", Retry: true, Err: err}
}

// upstreamProblem maps a failed call to DigitalOcean to its page. A
// session that has ended (errSignedOut, from withToken) passes through,
// for handleError to sign out.
func upstreamProblem(err error) error {
	var signedOut *errSignedOut
	if errors.As(err, &signedOut) {
		return err
	}
	if after, ok := doclient.IsRateLimited(err); ok {
		return &Problem{Status: http.StatusServiceUnavailable, Title: "DigitalOcean is busy",
			Message:    "DigitalOcean is limiting how fast this account may call its API. Try again in " + waitWords(after) + ".",
			Retry:      true,
			RetryAfter: max(after, time.Second), Err: err}
	}
	if errors.Is(err, context.Canceled) {
		// The browser went away; nobody will read this page.
		return &Problem{Status: http.StatusServiceUnavailable, Title: "Request cancelled", Message: "The request was cancelled.", Err: err}
	}
	if errors.Is(err, doclient.ErrWaitedForAnotherInstance) {
		// 503, not 504: DigitalOcean is not to blame. Another instance of
		// this app holds the lock on this refresh token and published no
		// result in time (it hangs, or the shared store failed).
		return &Problem{Status: http.StatusServiceUnavailable, Title: "Your access is still being renewed",
			Message:    "Another instance of this app is renewing your access to DigitalOcean and did not finish in time. Your session is kept: try again in a moment.",
			Retry:      true,
			RetryAfter: time.Second, Err: err}
	}
	if doclient.IsMalformed(err) {
		return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean's answer could not be read",
			Message: "DigitalOcean answered, but not with what the app asked for. Your session is kept: try again in a moment.",
			Retry:   true, Err: err}
	}
	if doclient.IsTimeout(err) {
		// 504, not 502: an operator can tell a slow DigitalOcean (or
		// network) from one that answered with an error.
		return &Problem{Status: http.StatusGatewayTimeout, Title: "DigitalOcean took too long",
			Message: "DigitalOcean did not answer in time. Your session is kept: try again in a moment.",
			Retry:   true, Err: err}
	}
	if doclient.IsUnavailable(err) {
		return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean could not be reached",
			Message: "DigitalOcean did not answer properly. Your session is kept: try again in a moment.",
			Retry:   true, Err: err}
	}
	return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean refused the request",
		Message: "DigitalOcean answered with an error this app did not expect. Try again, or disconnect and connect again.",
		Retry:   true, Err: err}
}

// waitWords says how long to wait, rounded up to whole seconds or minutes.
func waitWords(d time.Duration) string {
	secs := int(math.Ceil(max(d, time.Second).Seconds()))
	switch {
	case secs == 1:
		return "a second"
	case secs < 120:
		return strconv.Itoa(secs) + " seconds"
	}
	return strconv.Itoa((secs+59)/60) + " minutes"
}

// errorText is what the log gets: the error's own text, which doclient and
// this package keep free of tokens, codes and secrets.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
