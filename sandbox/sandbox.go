// Package sandbox is an in-memory emulation of DigitalOcean's OAuth server
// (https://cloud.digitalocean.com/v1/oauth) and of the part of its API that
// lists, creates, acts on and destroys droplets
// (https://api.digitalocean.com/v2/...): a local, offline DigitalOcean that
// the app, a developer's own OAuth client, a CLI or an API library such as
// godo can all be pointed at.
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
//	GET  /.well-known/oauth-authorization-server  server metadata (RFC 8414)
//	GET  /v1/oauth/authorize  consent page (RFC 6749 §4.1.1, PKCE per RFC 7636; prompt=select_account)
//	POST /v1/oauth/authorize  the user's decision; redirects back with a code or an error
//	POST /v1/oauth/token      authorization_code and refresh_token grants; in the sandbox only, client_credentials and the device grant
//	POST /v1/oauth/revoke     token revocation (RFC 7009)
//	POST /v1/oauth/register   dynamic client registration (RFC 7591)
//	POST /v1/oauth/device_authorization  in the sandbox only: a device's codes (RFC 8628 §3.1)
//	GET  /device              in the sandbox only: the user-code page, where the user approves a device
//	POST /device              the user's decision on it
//	GET  /v2/account          the token's account
//	GET  /v2/account/keys     the account's SSH keys
//	GET  /v2/regions, /v2/sizes  where droplets can be created, and how big (available, regions, prices)
//	GET  /v2/images           distribution and 1-Click images, the account's snapshot (type, private, tag_name)
//	GET  /v2/droplets         paginated, deterministic droplets (tag_name, name filters)
//	POST /v2/droplets         create one droplet (name) or several (names): 202, "new", active after the action delay
//	DELETE /v2/droplets?tag_name=...  destroy the droplets with a tag
//	GET  /v2/droplets/{id}    one droplet
//	DELETE /v2/droplets/{id}  destroy it: 204
//	POST /v2/droplets/{id}/actions  reboot, power_cycle, shutdown, power_off, power_on, rename
//	GET  /v2/droplets/{id}/actions[/{action_id}], /v2/actions[/{action_id}]
//	GET  /developer           the Developer page: the personal access token, endpoints, examples
//	GET  /static/sandbox.css  the pages' stylesheet (and favicon.svg, their icon)
//
// It follows DigitalOcean's documented rules and, where DigitalOcean is
// silent, the OAuth RFCs: authorization codes are single-use, short-lived
// and bound to the client, redirect URI, scope, account and PKCE challenge;
// refresh tokens are single-use and rotate; public clients must use PKCE;
// scopes are enforced per endpoint as DigitalOcean's OpenAPI description
// lists them; the API and token endpoints allow cross-origin calls, as
// DigitalOcean's do; responses have DigitalOcean's shapes and conform to
// that description. All state (grants, registered clients, actions and what
// they changed, droplets created and destroyed) is kept in memory, bounded
// in size, and disappears with the process. It may be served publicly as a
// demo: approvals, token requests and registrations are limited per
// address and per registered client (429 with Retry-After), and a client
// past its share of codes and grants loses its own oldest, so one party's
// flood never keeps others from signing in (see Config.MaxGrants and
// Config.TrustedProxies). Never use it as a real OAuth server: it has two
// hard-coded users and approves whatever is clicked, and its personal
// access token is shown to anyone who opens the Developer page.
//
// For teaching, it also offers the two grants the OAuth articles describe
// and DigitalOcean does not, each labelled as sandbox-only wherever it
// appears: the device authorization grant (RFC 8628; device.go explains
// it, with examples) and the client-credentials grant (RFC 6749 §4.4;
// clientcredentials.go says what its tokens may see). The implicit grant
// is not offered: response_type=token gets unsupported_response_type.
package sandbox

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults and limits. The limits keep memory bounded however the sandbox is
// (mis)used: past them it evicts old grants (see shares) instead of growing.
const (
	defaultTokenTTL  = 2 * time.Minute // short, so that refreshing can be watched
	defaultDroplets  = 8
	maxDroplets      = 100_000
	defaultRateLimit = 5000 // DigitalOcean's hourly budget per token

	codeTTL    = 10 * time.Minute   // RFC 6749 §4.1.2 recommends at most 10 minutes
	refreshTTL = 7 * 24 * time.Hour // how long an unused grant is kept

	defaultMaxGrants = 10_000 // live token pairs, and outstanding codes
	minMaxGrants     = 100    // so that every share and budget derived from it holds at least one
)

// DigitalOceanBurstLimit is DigitalOcean's per-minute request budget per
// token, for Config.BurstLimit.
const DigitalOceanBurstLimit = 250

// Config configures a Server. ClientID, ClientSecret, RedirectURIs and
// AppName describe the app's own client and go together: all set, or all
// empty for a sandbox that only knows the clients registered at run time
// (the standalone sandbox). The other fields have defaults.
type Config struct {
	// ClientID and ClientSecret identify the app's confidential OAuth
	// client, like the credentials of an application registered with
	// DigitalOcean. Other clients register themselves (RFC 7591).
	ClientID, ClientSecret string

	// RedirectURIs are the registered callback URLs. A redirect_uri must
	// equal one of them exactly, as DigitalOcean requires.
	RedirectURIs []string

	// AppName is the application's name shown on the consent page.
	AppName string

	// Clients are more clients the configuration vouches for, beside the
	// app's own: like it, each may use every grant, and a malformed
	// authorization request is answered on its redirect URI. (A client
	// that registered itself gets neither; see requestError.) The app's
	// learn pages use them, so that a learner's flow never involves the
	// app's own client.
	Clients []ClientConfig

	// TokenTTL is the lifetime of access tokens. Zero means 2 minutes.
	TokenTTL time.Duration

	// Droplets is how many droplets the default account has. Zero means
	// 8; a negative number means none. (The second account has 5.) The
	// account's droplet_limit is this plus 25, so that droplets can be
	// created however many there are.
	Droplets int

	// RateLimit is the number of API requests one grant may make per hour.
	// Zero means 5000, DigitalOcean's limit; a negative number turns the
	// limit off (and the ratelimit-* headers with it).
	RateLimit int

	// BurstLimit is the number of API requests one grant may make per
	// minute; DigitalOcean's is 250 (DigitalOceanBurstLimit). Zero or a
	// negative number means no per-minute limit, so that a Config written
	// before the sandbox had one (load tests and benchmarks that hammer it
	// with one token) keeps working; the app and the standalone sandbox set
	// DigitalOcean's.
	BurstLimit int

	// ActionDelay is how long a droplet action stays in progress before it
	// completes. Zero means 3 seconds.
	ActionDelay time.Duration

	// DeviceInterval is the device grant's polling interval (RFC 8628
	// §3.2's interval), a whole number of seconds. Zero means 5 seconds,
	// the RFC's default; tests make it shorter.
	DeviceInterval time.Duration

	// Now is the sandbox's clock; nil means time.Now. Tokens and codes
	// expire by this clock, so tests can make them stale without sleeping.
	Now func() time.Time

	// Logger receives one line per OAuth event (never a token, code or
	// secret). Nil means discard.
	Logger *slog.Logger

	// MaxGrants bounds the sandbox's memory: it keeps at most this many
	// grants (token pairs) and this many outstanding authorization codes,
	// half of each for the app's own client, and derives every limit on
	// signing in from it (see limits.go and shares.go). Zero means 10,000;
	// otherwise it must be at least 100.
	MaxGrants int

	// TrustedProxies is the number of reverse proxies in front of the
	// sandbox that append the sender's address to X-Forwarded-For. Zero
	// (the default) counts the sign-in limits by the connection's address
	// and ignores the header, which anyone can write; behind a proxy every
	// visitor then shares the proxy's address. See limits.go.
	TrustedProxies int

	// DisableSignInLimits turns off the per-address and per-client limits
	// on approvals, token requests and registrations, for benchmarks that
	// sign in thousands of times a minute from one address. MaxGrants
	// still bounds memory.
	DisableSignInLimits bool
}

// ClientConfig is an OAuth client known from the configuration rather
// than registered at run time.
type ClientConfig struct {
	// ID is its client_id, unique among the configured clients.
	ID string

	// Secret makes it a confidential client that authenticates with it;
	// empty makes it a public client, which must use PKCE, like a public
	// client that registered itself.
	Secret string

	// Name is shown on the consent page and the user-code page.
	Name string

	// RedirectURIs are its callback URLs; none for a client that never
	// uses the authorization endpoint (a device, a service).
	RedirectURIs []string

	// CodeTTL is the lifetime of the authorization codes issued to it;
	// zero means 10 minutes, the sandbox's usual lifetime and the most it
	// allows. A shorter one lets a learner watch a code expire without
	// waiting ten minutes, as the sandbox's short token lifetime lets one
	// watch a refresh.
	CodeTTL time.Duration
}

// Server is the emulated DigitalOcean. Create it with New; it is safe for
// concurrent use and needs no Close (expired state is swept lazily).
type Server struct {
	tokenTTL    time.Duration
	limits      limits
	actionDelay time.Duration
	now         func() time.Time
	log         *slog.Logger

	accounts []*accountState // [0] is the default account
	clients  *clientRegistry
	pat      string // the personal access token, read & write on accounts[0]
	store    *store
	throttle *throttle
	csrf     csrfGuard
	pages    map[string]*template.Template
	mux      *http.ServeMux

	lastActionID  atomic.Int64
	lastDropletID atomic.Int64 // the last created droplet's ID
	destroyed     atomic.Int64 // droplets destroyed, in every account

	// The grants only the sandbox offers.
	deviceInterval time.Duration
	devices        *deviceFlows  // device authorizations (device.go)
	noAccount      *accountState // what a token that acts for no user sees (clientcredentials.go)
}

// Stats are counters of what the sandbox has done since it started, for
// tests and for the app's startup and debug logs.
type Stats struct {
	Authorizations int // the user approved and an authorization code was issued
	Denials        int // the user pressed Deny, on the consent page or the user-code page
	CodeExchanges  int // an authorization code was exchanged for tokens
	Refreshes      int // a refresh token was exchanged for a new pair
	Revocations    int // a live grant was revoked (revoke endpoint, or its code was replayed)
	Evictions      int // a code or grant was dropped to make room for a newer one (see Config.MaxGrants)
	Throttled      int // a request was refused by a sign-in limit (429)
	APIRequests    int // requests to the API or an unknown path, successful or not
	Actions        int // droplet actions started, in every account (creating a droplet starts one)

	DropletsCreated   int // with POST /v2/droplets, in every account
	DropletsDestroyed int // with DELETE /v2/droplets[/{id}], in every account

	LiveAccessTokens  int // OAuth access tokens neither expired nor revoked, now (the personal access token is not counted)
	OutstandingCodes  int // codes neither used nor expired, now
	RegisteredClients int // clients registered at /v1/oauth/register
}

// New validates cfg and returns a ready Server. The error lists every
// problem, one per line.
func New(cfg Config) (*Server, error) {
	var problems []error
	withClient := cfg.ClientID != "" || cfg.ClientSecret != "" || cfg.AppName != "" || len(cfg.RedirectURIs) > 0
	if withClient {
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
	}
	for _, raw := range cfg.RedirectURIs {
		if err := checkRedirectURI(raw); err != nil {
			problems = append(problems, err)
		}
	}
	problems = append(problems, checkClients(cfg)...)
	if cfg.TokenTTL < 0 {
		problems = append(problems, fmt.Errorf("sandbox: TokenTTL must not be negative, got %v", cfg.TokenTTL))
	}
	if cfg.Droplets > maxDroplets {
		problems = append(problems, fmt.Errorf("sandbox: Droplets must be at most %d, got %d", maxDroplets, cfg.Droplets))
	}
	if cfg.ActionDelay < 0 {
		problems = append(problems, fmt.Errorf("sandbox: ActionDelay must not be negative, got %v", cfg.ActionDelay))
	}
	if cfg.DeviceInterval < 0 || cfg.DeviceInterval%time.Second != 0 {
		problems = append(problems, fmt.Errorf("sandbox: DeviceInterval must be a whole number of seconds, got %v", cfg.DeviceInterval))
	}
	if cfg.MaxGrants != 0 && cfg.MaxGrants < minMaxGrants {
		problems = append(problems, fmt.Errorf("sandbox: MaxGrants must be 0 (10,000) or at least %d, got %d", minMaxGrants, cfg.MaxGrants))
	}
	if cfg.TrustedProxies < 0 {
		problems = append(problems, fmt.Errorf("sandbox: TrustedProxies must not be negative, got %d", cfg.TrustedProxies))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	bound := orDefault(cfg.MaxGrants, defaultMaxGrants)
	pages, err := parsePages()
	if err != nil {
		return nil, err // a broken embedded template is a bug in this package
	}

	s := &Server{
		tokenTTL: orDefault(cfg.TokenTTL, defaultTokenTTL),
		limits: limits{
			hourly:    orDefault(cfg.RateLimit, defaultRateLimit),
			perMinute: cfg.BurstLimit,
		},
		actionDelay: orDefault(cfg.ActionDelay, defaultActionDelay),
		now:         cfg.Now,
		log:         cfg.Logger,
		clients:     newClientRegistry(),
		pat:         personalTokenPrefix + randomHex(32),
		store:       newStore(bound, cfg.ClientID),
		throttle:    newThrottle(bound, cfg.TrustedProxies, cfg.DisableSignInLimits),
		csrf:        newCSRFGuard(),
		pages:       pages,

		deviceInterval: orDefault(cfg.DeviceInterval, defaultDeviceInterval),
		devices:        newDeviceFlows(bound, cfg.ClientID),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.limits.hourly = max(s.limits.hourly, -1)
	if s.limits.perMinute <= 0 {
		s.limits.perMinute = -1 // off
	}
	s.lastActionID.Store(firstActionID - 1)
	s.lastDropletID.Store(firstCreatedID - 1)
	droplets := max(orDefault(cfg.Droplets, defaultDroplets), 0)
	sammy := sandboxAccount()
	sammy.DropletLimit = droplets + dropletRoom // room to create droplets however many were generated
	offer := newOfferings()
	s.noAccount = newAccountState(Account{}, newCatalog(offer, 0))
	s.accounts = []*accountState{
		newAccountState(sammy, newCatalog(offer, droplets)),
		newAccountState(secondAccount(), secondCatalog(offer)),
	}
	if withClient {
		s.clients.add(&client{
			id:           cfg.ClientID,
			secret:       keyOf(cfg.ClientSecret),
			name:         cfg.AppName,
			redirectURIs: slices.Clone(cfg.RedirectURIs),
		})
	}
	for _, cc := range cfg.Clients {
		c := &client{
			id:           cc.ID,
			public:       cc.Secret == "",
			name:         cc.Name,
			redirectURIs: slices.Clone(cc.RedirectURIs),
			codeTTL:      cc.CodeTTL,
		}
		if !c.public {
			c.secret = keyOf(cc.Secret)
		}
		s.clients.add(c)
	}
	s.store.addPersonal(s.now(), s.pat, "read write", 0)
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

// checkClients checks Config.Clients: each with an ID of its own and a
// name, valid redirect URIs, and codes that live at most as long as the
// sandbox's usual ones.
func checkClients(cfg Config) []error {
	var problems []error
	seen := map[string]bool{cfg.ClientID: cfg.ClientID != ""}
	for i, cc := range cfg.Clients {
		switch {
		case cc.ID == "":
			problems = append(problems, fmt.Errorf("sandbox: Clients[%d] has no ID", i))
		case seen[cc.ID]:
			problems = append(problems, fmt.Errorf("sandbox: Clients[%d]: the client ID %q is used twice", i, cc.ID))
		}
		seen[cc.ID] = true
		if cc.Name == "" {
			problems = append(problems, fmt.Errorf("sandbox: Clients[%d] (%s) has no Name", i, cc.ID))
		}
		for _, raw := range cc.RedirectURIs {
			if err := checkRedirectURI(raw); err != nil {
				problems = append(problems, err)
			}
		}
		if cc.CodeTTL < 0 || cc.CodeTTL > codeTTL {
			problems = append(problems, fmt.Errorf("sandbox: Clients[%d] (%s): CodeTTL must be between 0 and %v, got %v", i, cc.ID, codeTTL, cc.CodeTTL))
		}
	}
	return problems
}

// checkRedirectURI rejects registered redirect URIs that RFC 6749 §3.1.2
// forbids (relative, or with a fragment), schemes a browser app can't use,
// and hosts that are no hosts (see hostProblem).
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
	if problem := hostProblem(u); problem != "" {
		return fmt.Errorf("sandbox: redirect URI %q: %s", raw, problem)
	}
	return nil
}

// routes maps every path the sandbox serves to its handler. Handlers check
// the method themselves so that a wrong method gets an answer in the
// endpoint's own format (JSON for the API, an OAuth error for the token
// endpoint) rather than ServeMux's plain-text 405.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-authorization-server", s.handleMetadata)
	mux.HandleFunc("/v1/oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("/v1/oauth/token", s.handleToken)
	mux.HandleFunc("/v1/oauth/revoke", s.handleRevoke)
	mux.HandleFunc("/v1/oauth/register", s.handleRegister)
	mux.HandleFunc(deviceAuthorizationPath, s.handleDeviceAuthorization)
	mux.HandleFunc(devicePagePath, s.handleDevicePage)
	// Scopes as DigitalOcean's OpenAPI description lists them per operation.
	mux.HandleFunc("/v2/account", s.api(get("account:read", s.handleAccount)))
	mux.HandleFunc("/v2/account/keys", s.api(get("ssh_key:read", s.handleKeys)))
	mux.HandleFunc("/v2/regions", s.api(get("regions:read", s.handleRegions)))
	mux.HandleFunc("/v2/sizes", s.api(get("sizes:read regions:read", s.handleSizes)))
	mux.HandleFunc("/v2/images", s.api(get("image:read", s.handleImages)))
	mux.HandleFunc("/v2/droplets", s.api(get("droplet:read", s.handleDroplets), post("droplet:create", s.handleCreateDroplet), del("droplet:delete", s.handleDeleteTagged)))
	mux.HandleFunc("/v2/droplets/{id}", s.api(get("droplet:read", s.handleDroplet), del("droplet:delete", s.handleDeleteDroplet)))
	mux.HandleFunc("/v2/droplets/{id}/actions", s.api(get("droplet:read", s.handleDropletActions), post("droplet:update", s.handleNewAction)))
	mux.HandleFunc("/v2/droplets/{id}/actions/{action_id}", s.api(get("droplet:read", s.handleDropletAction)))
	mux.HandleFunc("/v2/actions", s.api(get("actions:read", s.handleActions)))
	mux.HandleFunc("/v2/actions/{action_id}", s.api(get("actions:read", s.handleAction)))
	mux.HandleFunc("/developer", s.handleDeveloper)
	mux.HandleFunc("/static/{name}", s.handleStatic)
	mux.HandleFunc("/", s.api())
	return mux
}

// ServeHTTP serves the sandbox's endpoints; see the package documentation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if crossOrigin(r.URL.Path) {
		// DigitalOcean's API and token endpoints allow any origin, so a
		// single-page app can call them with fetch(). That is safe because
		// they authenticate with bearer tokens and client credentials,
		// never with cookies: another site gains nothing it didn't have.
		// The consent page and the Developer page are not shared.
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Ratelimit-Limit, Ratelimit-Remaining, Ratelimit-Reset, Retry-After, X-Request-Id")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// crossOrigin reports whether a path is one other origins may call: the
// API, the token, revoke, registration and device authorization endpoints,
// and the metadata.
func crossOrigin(path string) bool {
	switch path {
	case "/v1/oauth/token", "/v1/oauth/revoke", "/v1/oauth/register", deviceAuthorizationPath, metadataPath:
		return true
	}
	return strings.HasPrefix(path, "/v2/")
}

// Stats returns the sandbox's counters.
func (s *Server) Stats() Stats {
	st := s.store.stats(s.now())
	st.Actions = int(s.lastActionID.Load() - (firstActionID - 1))
	st.DropletsCreated = int(s.lastDropletID.Load() - (firstCreatedID - 1))
	st.DropletsDestroyed = int(s.destroyed.Load())
	st.RegisteredClients = s.clients.registered()
	st.Throttled = int(s.throttle.refused.Load())
	return st
}

// Account returns the sandbox's default user (the one who signs in unless
// the client asks to choose), as the API and the token response's info
// object describe it.
func (s *Server) Account() Account {
	return s.accounts[0].Account
}

// Accounts returns every sandbox account, the default one first.
func (s *Server) Accounts() []Account {
	out := make([]Account, len(s.accounts))
	for k, a := range s.accounts {
		out[k] = a.Account
	}
	return out
}

// PersonalAccessToken returns the sandbox's personal access token: read &
// write on the default account until the process ends. It is not a secret
// (the sandbox holds no real data): the standalone sandbox prints it and the
// Developer page shows it, so any API client can be tried without OAuth.
func (s *Server) PersonalAccessToken() string {
	return s.pat
}

// accountByUUID returns the index of the account with that UUID, or -1.
func (s *Server) accountByUUID(uuid string) int {
	for k, a := range s.accounts {
		if a.UUID == uuid {
			return k
		}
	}
	return -1
}
