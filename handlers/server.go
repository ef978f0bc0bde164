// Package handlers is the web app: its routes, the pages they render, the
// cookie session and the one place where errors become pages.
//
// Every route is registered in [Server.routes]; each handler is a handleX
// method whose doc comment names its route. Handlers reach DigitalOcean only
// through package doclient.
package handlers

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/doclient"
	"dosignin/handlers/learn"
)

// Options is what the web app needs. main builds it from the configuration.
type Options struct {
	Client      *doclient.Client // DigitalOcean (or the sandbox)
	RedirectURL *url.URL         // the registered callback; its scheme decides Secure cookies and HSTS
	Scopes      []string         // scopes asked for by default
	PKCE        bool             // send a PKCE challenge (always, unless the provider refuses it)

	SessionSecrets [][]byte      // newest first; at least one
	IdleTimeout    time.Duration // a session unused this long ends
	MaxAge         time.Duration // a session ends this long after login, used or not

	Views  fs.FS // the html/template pages (views/)
	Static fs.FS // the stylesheet and images (static/)

	// StoreState, when set, reports the shared store's state ("up" or
	// "down") for /healthz; nil means there is none (in-process only).
	StoreState func(context.Context) string

	Sandbox bool         // show the sandbox banner on every page
	Logger  *slog.Logger // nil discards
	Now     func() time.Time

	// Learn, in sandbox mode only, says where the sandbox is for the
	// learn pages' own client (package learn); nil, with DigitalOcean,
	// makes the learn pages explain without acting.
	Learn *learn.Config
}

// Server holds exactly what the handlers use.
type Server struct {
	do          *doclient.Client
	sessions    *sessionStore
	pages       *renderer
	static      fs.FS
	log         *slog.Logger
	redirect    *url.URL
	scopes      []string
	pkce        bool
	sandbox     bool
	secure      bool // served over https: Secure cookies, __Host- names, HSTS
	crossOrigin *http.CrossOriginProtection
	csp         string // the Content-Security-Policy header
	storeState  func(context.Context) string
	now         func() time.Time
	// anonymousIndex is the index of a visitor who sends no cookie,
	// rendered at start: the same bytes for everyone, and the page
	// monitors and first visits ask for most (see handleIndex; the
	// measurement that keeps it is in docs/PERFORMANCE.md).
	anonymousIndex []byte
	learn          *learn.Client // the learn pages' client of the sandbox; nil with DigitalOcean
}

// New checks opts and builds the app.
func New(opts Options) (*Server, error) {
	if opts.Client == nil || opts.RedirectURL == nil || opts.Views == nil || opts.Static == nil {
		return nil, errors.New("handlers: Client, RedirectURL, Views and Static are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	secure := opts.RedirectURL.Scheme == "https"
	sessions, err := newSessionStore(opts.SessionSecrets, secure, opts.IdleTimeout, opts.MaxAge, opts.Now)
	if err != nil {
		return nil, err
	}
	pages, err := newRenderer(opts.Views, opts.Static)
	if err != nil {
		return nil, err
	}
	s := &Server{
		do:          opts.Client,
		sessions:    sessions,
		pages:       pages,
		static:      opts.Static,
		log:         opts.Logger,
		redirect:    opts.RedirectURL,
		scopes:      opts.Scopes,
		pkce:        opts.PKCE,
		sandbox:     opts.Sandbox,
		secure:      secure,
		crossOrigin: http.NewCrossOriginProtection(),
		csp:         contentSecurityPolicy(opts.Client.AuthorizeOrigin()),
		storeState:  opts.StoreState,
		now:         opts.Now,
	}
	s.anonymousIndex, err = pages.renderOnce("index", layoutData{Title: indexTitle, Sandbox: s.sandbox, Page: s.indexPage(false)})
	if err != nil {
		return nil, err
	}
	if opts.Learn != nil {
		cfg := *opts.Learn
		if cfg.Now == nil {
			cfg.Now = opts.Now
		}
		if s.learn, err = learn.New(cfg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Handler returns the app as an http.Handler: an Echo router with every
// route and middleware in place.
func (s *Server) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	s.middleware(e)
	s.routes(e)
	return e
}

// routes registers every route of the app, top to bottom.
//
// The read-only pages also answer HEAD, for uptime monitors and curl -I.
// /connect and /digitalocean do not: a HEAD from a link previewer would
// start a login, or spend a callback's one-time state and code.
func (s *Server) routes(e *echo.Echo) {
	getOrHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getOrHead, "/", s.handleIndex)
	e.GET("/connect", s.handleConnect)
	// DigitalOcean sends the browser back here; without callback parameters
	// the same URL is the droplet list, as in DigitalOcean's tutorial app.
	e.GET("/digitalocean", s.handleCallbackOrDropletList)
	e.POST("/logout", s.handleLogout)
	e.POST("/use-another-account", s.handleUseAnotherAccount)
	e.POST("/refresh", s.handleRefresh)
	// Droplet actions (handlers/actions.go): each GET only shows, each
	// POST is same-origin only and redirects to a GET.
	e.Match(getOrHead, "/droplets/:id", s.handleDroplet)
	e.GET("/droplets/:id/confirm", s.handleConfirm)
	e.POST("/droplets/:id/actions", s.handleActionButtonOrConfirmation)
	e.POST("/droplets/:id/step-up", s.handleStepUp)
	e.GET("/droplets/:id/actions/:action", s.handleProgress)
	// Creating and destroying droplets (handlers/provision.go, destroy.go),
	// on the same rules.
	e.Match(getOrHead, "/droplets/new", s.handleNewDroplet)
	e.POST("/droplets", s.handleCreateButtonOrConfirmation)
	e.GET("/droplets/new/confirm", s.handleCreateConfirm)
	e.POST("/droplets/new/step-up", s.handleCreateStepUp)
	e.GET("/droplets/:id/destroy", s.handleDestroyConfirm)
	e.POST("/droplets/:id/destroy", s.handleDestroy)
	e.Match(getOrHead, "/how-this-worked", s.handleHowThisWorked)
	// Learn by doing (handlers/learn.go): each GET shows (some make
	// read-only API calls), each POST does one thing and redirects to a
	// GET. With DigitalOcean they explain and never act.
	e.Match(getOrHead, "/learn", s.handleLearn)
	e.POST("/learn/start", s.handleLearnStart)
	e.GET("/learn/:step", s.handleLearnStep)
	e.GET(learn.CallbackPath, s.handleLearnCallback)
	e.POST("/learn/3/check", s.handleLearnCheck)
	e.POST("/learn/4/send", s.handleLearnSend)
	e.POST("/learn/4/quick-code", s.handleLearnQuickCode)
	e.POST("/learn/mistakes/:name", s.handleLearnMistake)
	e.GET("/learn/api", s.handleLearnAPI)
	e.GET("/learn/refresh", s.handleLearnRefreshPage)
	e.POST("/learn/refresh", s.handleLearnRefresh)
	e.GET("/learn/revoke", s.handleLearnRevokePage)
	e.POST("/learn/revoke", s.handleLearnRevoke)
	e.GET("/learn/device", s.handleLearnDevicePage)
	e.POST("/learn/device/start", s.handleLearnDeviceStart)
	e.POST("/learn/device/poll", s.handleLearnDevicePoll)
	e.GET("/learn/client-credentials", s.handleLearnAppPage)
	e.POST("/learn/client-credentials", s.handleLearnAppToken)
	e.POST("/learn/client-credentials/public", s.handleLearnAppPublic)
	e.GET("/learn/implicit", s.handleLearnImplicit)
	e.Match(getOrHead, "/healthz", s.handleHealthz)
	e.Match(getOrHead, "/static/*", s.handleStatic)
}
