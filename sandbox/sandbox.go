// Package sandbox is an in-memory emulation of DigitalOcean's OAuth server
// (https://cloud.digitalocean.com/v1/oauth) and of the two API endpoints this
// app calls (https://api.digitalocean.com/v2/account and /v2/droplets).
//
// A Server is an http.Handler that knows nothing of the app using it: the app
// talks to it over HTTP exactly as it talks to DigitalOcean, and only the two
// base URLs differ. Paths are relative to the handler's own root, so it can be
// served on its own or mounted under a prefix:
//
//	sb, err := sandbox.New(sandbox.Config{ClientID: ..., ...})
//	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb))
//	// OAuth base URL: http://localhost:5000/sandbox/v1/oauth
//	// API base URL:   http://localhost:5000/sandbox
//
// Endpoints, relative to that root:
//
//	GET  /v1/oauth/authorize  consent page (RFC 6749 §4.1.1, PKCE per RFC 7636)
//	POST /v1/oauth/authorize  the user's decision; redirects back with a code or an error
//	POST /v1/oauth/token      authorization_code and refresh_token grants
//	POST /v1/oauth/revoke     token revocation (RFC 7009)
//	GET  /v2/account          the sandbox account
//	GET  /v2/droplets         paginated, deterministic droplets
//	GET  /static/sandbox.css  the consent page's stylesheet (and favicon.svg, its icon)
//
// It follows DigitalOcean's documented rules and, where DigitalOcean is
// silent, the OAuth RFCs: authorization codes are single-use, short-lived
// and bound to the client, redirect URI, scope and PKCE challenge; refresh
// tokens are single-use and rotate; responses have DigitalOcean's shapes and
// conform to its OpenAPI description. All state is kept in memory, bounded in
// size, and disappears with the process. Never use it as a real OAuth server:
// it has one hard-coded user and approves whatever that user clicks.
package sandbox

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Defaults and limits. The limits keep memory bounded however the sandbox is
// (mis)used: past them it refuses new grants instead of growing.
const (
	defaultTokenTTL  = 2 * time.Minute // short, so that refreshing can be watched
	defaultDroplets  = 8
	maxDroplets      = 100_000
	defaultRateLimit = 5000 // DigitalOcean's hourly budget per token

	codeTTL    = 10 * time.Minute   // RFC 6749 §4.1.2 recommends at most 10 minutes
	refreshTTL = 7 * 24 * time.Hour // how long an unused grant is kept

	maxCodes  = 10_000 // outstanding authorization codes
	maxGrants = 10_000 // live access/refresh token pairs
)

// Config configures a Server. ClientID, ClientSecret, RedirectURIs and
// AppName are required; the other fields have defaults.
type Config struct {
	// ClientID and ClientSecret identify the only OAuth client the sandbox
	// knows, like the credentials of an application registered with
	// DigitalOcean.
	ClientID, ClientSecret string

	// RedirectURIs are the registered callback URLs. A redirect_uri must
	// equal one of them exactly, as DigitalOcean requires.
	RedirectURIs []string

	// AppName is the application's name shown on the consent page.
	AppName string

	// TokenTTL is the lifetime of access tokens. Zero means 2 minutes.
	TokenTTL time.Duration

	// Droplets is how many droplets the sandbox account has. Zero means 8;
	// a negative number means none.
	Droplets int

	// RateLimit is the number of API requests one grant may make per hour.
	// Zero means 5000, DigitalOcean's limit.
	RateLimit int

	// Now is the sandbox's clock; nil means time.Now. Tokens and codes
	// expire by this clock, so tests can make them stale without sleeping.
	Now func() time.Time

	// Logger receives one line per OAuth event (never a token, code or
	// secret). Nil means discard.
	Logger *slog.Logger
}

// Server is the emulated DigitalOcean. Create it with New; it is safe for
// concurrent use and needs no Close (expired state is swept lazily).
type Server struct {
	clientID     string
	clientSecret string
	redirectURIs map[string]bool
	appName      string
	tokenTTL     time.Duration
	rateLimit    int
	now          func() time.Time
	log          *slog.Logger

	account Account
	catalog *catalog
	store   *store
	csrf    csrfGuard
	pages   map[string]*template.Template
	mux     *http.ServeMux
}

// Stats are counters of what the sandbox has done since it started, for
// tests and for the app's startup and debug logs.
type Stats struct {
	Authorizations int // the user approved and an authorization code was issued
	Denials        int // the user pressed Deny
	CodeExchanges  int // an authorization code was exchanged for tokens
	Refreshes      int // a refresh token was exchanged for a new pair
	Revocations    int // a live grant was revoked (revoke endpoint, or its code was replayed)
	APIRequests    int // requests to the API or an unknown path, successful or not

	LiveAccessTokens int // access tokens neither expired nor revoked, now
	OutstandingCodes int // codes neither used nor expired, now
}

// New validates cfg and returns a ready Server. The error lists every
// problem, one per line.
func New(cfg Config) (*Server, error) {
	var problems []error
	if cfg.ClientID == "" {
		problems = append(problems, errors.New("sandbox: ClientID is required"))
	}
	if cfg.ClientSecret == "" {
		problems = append(problems, errors.New("sandbox: ClientSecret is required"))
	}
	if cfg.AppName == "" {
		problems = append(problems, errors.New("sandbox: AppName is required"))
	}
	if len(cfg.RedirectURIs) == 0 {
		problems = append(problems, errors.New("sandbox: at least one redirect URI is required"))
	}
	redirects := make(map[string]bool, len(cfg.RedirectURIs))
	for _, raw := range cfg.RedirectURIs {
		if err := checkRedirectURI(raw); err != nil {
			problems = append(problems, err)
			continue
		}
		redirects[raw] = true
	}
	if cfg.TokenTTL < 0 {
		problems = append(problems, fmt.Errorf("sandbox: TokenTTL must not be negative, got %v", cfg.TokenTTL))
	}
	if cfg.Droplets > maxDroplets {
		problems = append(problems, fmt.Errorf("sandbox: Droplets must be at most %d, got %d", maxDroplets, cfg.Droplets))
	}
	if cfg.RateLimit < 0 {
		problems = append(problems, fmt.Errorf("sandbox: RateLimit must not be negative, got %d", cfg.RateLimit))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	pages, err := parsePages()
	if err != nil {
		return nil, err // a broken embedded template is a bug in this package
	}

	s := &Server{
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		redirectURIs: redirects,
		appName:      cfg.AppName,
		tokenTTL:     orDefault(cfg.TokenTTL, defaultTokenTTL),
		rateLimit:    orDefault(cfg.RateLimit, defaultRateLimit),
		now:          cfg.Now,
		log:          cfg.Logger,
		account:      sandboxAccount(),
		store:        newStore(maxCodes, maxGrants),
		csrf:         newCSRFGuard(),
		pages:        pages,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	droplets := orDefault(cfg.Droplets, defaultDroplets)
	if droplets < 0 {
		droplets = 0
	}
	s.catalog = newCatalog(droplets)
	s.account.DropletLimit = max(s.account.DropletLimit, droplets)
	s.mux = s.routes()
	return s, nil
}

// orDefault returns v, or def when v is the zero value ("unset").
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// checkRedirectURI rejects registered redirect URIs that RFC 6749 §3.1.2
// forbids (relative, or with a fragment) and schemes a browser app can't use.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("sandbox: redirect URI %q: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("sandbox: redirect URI %q must use http or https", raw)
	case u.Host == "":
		return fmt.Errorf("sandbox: redirect URI %q must be absolute", raw)
	case u.Fragment != "" || u.User != nil:
		return fmt.Errorf("sandbox: redirect URI %q must not have a fragment or user info", raw)
	}
	return nil
}

// routes maps every path the sandbox serves to its handler. Handlers check
// the method themselves so that a wrong method gets an answer in the
// endpoint's own format (JSON for the API, an OAuth error for the token
// endpoint) rather than ServeMux's plain-text 405.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("/v1/oauth/token", s.handleToken)
	mux.HandleFunc("/v1/oauth/revoke", s.handleRevoke)
	mux.HandleFunc("/v2/account", s.api("account:read", s.handleAccount))
	mux.HandleFunc("/v2/droplets", s.api("droplet:read", s.handleDroplets))
	mux.HandleFunc("/static/{name}", s.handleStatic)
	mux.HandleFunc("/", s.api("", s.handleNotFound))
	return mux
}

// ServeHTTP serves the sandbox's endpoints; see the package documentation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Stats returns the sandbox's counters.
func (s *Server) Stats() Stats {
	return s.store.stats(s.now())
}

// Account returns the sandbox's only user, as the API and the token
// response's info object describe it.
func (s *Server) Account() Account {
	return s.account
}
