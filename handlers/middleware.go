package handlers

import (
	"compress/gzip"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// contentSecurityPolicy allows nothing but this site's own stylesheet and
// images: no inline script or style, no framing (clickjacking), no plugins,
// no <base> rewriting, and forms that post only back to this site. Browsers
// apply form-action to the redirects that answer a form as well, so it also
// names the OAuth server's origin (authorizeOrigin): the step-up to read &
// write is a POST form whose answer redirects to DigitalOcean's authorize
// page.
//
// default-src 'self' also governs scripts: only this site's own files run
// (static/copy.js, the learn pages' Copy buttons, which the pages do
// without), never an inline script or another origin's, so markup that
// slipped into a page would run nothing. Keep it so: 'unsafe-inline' or
// a CDN's origin would undo that, for every page.
func contentSecurityPolicy(authorizeOrigin string) string {
	formAction := "'self'"
	if authorizeOrigin != "" {
		formAction += " " + authorizeOrigin
	}
	return "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action " + formAction
}

// middleware installs what runs around every handler, outermost first.
func (s *Server) middleware(e *echo.Echo) {
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		// A panic becomes a 500 page through handleError; the stack goes
		// to the log, never to the browser.
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic", "error", err, "path", trim(c.Request().URL.Path, maxLoggedPath), "stack", string(stack))
			return err
		},
	}))
	e.Use(requestID)
	e.Use(s.requestLogger())
	// Pages and the stylesheet shrink to a tenth or less. No page holds a
	// secret (no token, no CSRF token: see sameOriginWrites), so compressing
	// next to reflected input leaks nothing (BREACH). Small answers
	// (redirects, 304s) go as they are. BestSpeed: a large page costs a
	// third of the default level's CPU, for a gzipped page about a sixth
	// larger (docs/PERFORMANCE.md). The learn pages are the exception: they show
	// the sandbox's made-up tokens beside a callback query anyone can
	// write, so they go uncompressed, and the sizes of their answers tell
	// nothing about those tokens.
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{Level: gzip.BestSpeed, MinLength: 1024,
		Skipper: func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/learn") }}))
	e.Use(s.securityHeaders())
	e.Use(s.sameOriginWrites)
	// Nothing here takes a body beyond the empty Disconnect form.
	e.Use(middleware.BodyLimit("16K"))
}

// requestLogger writes one line per request. It logs the path and the
// route, never the query: the callback's query holds the code and state.
func (s *Server) requestLogger() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod:    true,
		LogURIPath:   true,
		LogRoutePath: true,
		LogStatus:    true,
		LogLatency:   true,
		HandleError:  true, // render the error first so the status is the one sent
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			switch {
			case v.Status >= 500:
				level = slog.LevelError
			case v.RoutePath == "/healthz":
				level = slog.LevelDebug // probes every few seconds would drown the log
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method),
				slog.String("path", trim(v.URIPath, maxLoggedPath)),
				slog.String("route", v.RoutePath),
				slog.Int("status", v.Status),
				slog.Duration("duration", v.Latency),
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			)
			return nil
		},
	})
}

// maxLoggedPath bounds the path a log line quotes: a request line may be
// up to 64 KB long (serve's MaxHeaderBytes), and no real path is near it.
const maxLoggedPath = 512

// requestID gives each request an ID, sent back as X-Request-Id and
// logged with every line about the request. An ID that arrives with the
// request is kept only when it looks like one (a proxy in front, such as
// App Platform's, sets its own): anything else, a long or strange value
// that would otherwise be echoed and logged as it is, is replaced.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !wellFormedRequestID(id) {
			id = rand.Text()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// wellFormedRequestID reports whether id is 8 to 64 letters, digits,
// dashes, dots or underscores, like the IDs proxies generate (UUIDs among
// them).
func wellFormedRequestID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_')
	})
}

// securityHeaders sets the headers every response carries. Pages show
// account data, so nothing may be cached; handleStatic relaxes that for
// assets.
//
// The values are built once, here, rather than set on every response:
// each response gets the same one-element slices (no spare capacity, so a
// later Header.Add copies rather than writes into them), which saves an
// allocation per header per request. Echo v4 builds its chain again for
// every request, so this is the one place they can be kept.
func (s *Server) securityHeaders() echo.MiddlewareFunc {
	h := http.Header{}
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the callback URL holds a code: never send it onward
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if s.secure {
		// Only when the configured URL is https: the scheme of the
		// request itself is http behind App Platform's TLS proxy.
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	for k, v := range h {
		h[k] = v[:1:1]
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			out := c.Response().Header()
			for k, v := range h {
				out[k] = v
			}
			return next(c)
		}
	}
}

// sameOriginWrites refuses state-changing requests sent by another site
// (CSRF), using the browser's Sec-Fetch-Site header with an Origin fallback
// (net/http's CrossOriginProtection). GET and HEAD pass untouched.
func (s *Server) sameOriginWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.crossOrigin.Check(c.Request()); err != nil {
			return &Problem{
				Status:  http.StatusForbidden,
				Title:   "Request refused",
				Message: "This form can only be sent from this site's own pages. Go back to the home page and try again.",
				Err:     err,
			}
		}
		return next(c)
	}
}
