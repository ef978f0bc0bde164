package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"dosignin/doclient"
	"dosignin/sandbox"
)

// minSecretLen is the shortest SESSION_SECRET we accept. Length is only a
// floor: the keys are as strong as the secret is random, so make it with
// openssl rand (32 random bytes give HKDF a full 256 bits to derive from).
const minSecretLen = 32

// Config is everything the app reads from the environment, loaded once and
// validated up front so a bad value stops the program at start, never at the
// first request. Its LogValue and String methods redact secrets, so a Config
// can be logged or printed without leaking anything.
type Config struct {
	Port int // PORT; 0 lets the OS pick one (tests)

	ClientID     string // DIGITALOCEAN_CLIENT_ID
	ClientSecret string // DIGITALOCEAN_CLIENT_SECRET

	// RedirectURL is the callback registered with DigitalOcean. It is never
	// derived from request headers; its scheme decides Secure cookies and HSTS.
	RedirectURL *url.URL
	Scopes      []string // DIGITALOCEAN_SCOPES, default "read" (least privilege)
	OAuthURL    string   // DIGITALOCEAN_OAUTH_URL
	APIURL      string   // DIGITALOCEAN_API_URL
	PKCE        bool     // DIGITALOCEAN_PKCE; off only for a provider that refuses it

	// SessionSecrets are the SESSION_SECRET values, newest first. The first
	// signs and encrypts new cookies; all of them decode (key rotation).
	SessionSecrets [][]byte
	// SessionSecretGenerated reports that SESSION_SECRET was empty and a
	// random secret was made up: sessions then end when the process does.
	SessionSecretGenerated bool
	SessionIdleTimeout     time.Duration // SESSION_IDLE_TIMEOUT
	SessionMaxAge          time.Duration // SESSION_MAX_AGE (absolute lifetime)

	// Sandbox is true when no client credentials are set: the app then talks
	// to the embedded emulation of DigitalOcean mounted at /sandbox/.
	Sandbox            bool
	SandboxTokenTTL    time.Duration // SANDBOX_TOKEN_TTL
	SandboxDroplets    int           // SANDBOX_DROPLETS
	SandboxActionDelay time.Duration // SANDBOX_ACTION_DELAY: how long a droplet action is in progress
	SandboxRateLimit   int           // SANDBOX_RATE_LIMIT: requests per hour per token; -1 is off
	SandboxBurstLimit  int           // SANDBOX_BURST_LIMIT: requests per minute per token; -1 is off
	SandboxPort        int           // SANDBOX_PORT: where `dosignin sandbox` (the standalone sandbox) listens
	// SandboxTrustedProxies is SANDBOX_TRUSTED_PROXIES: how many proxies
	// in front of the app append to X-Forwarded-For, so that the sandbox
	// counts sign-ins per visitor rather than per proxy (0: trust none).
	SandboxTrustedProxies int

	// RedisURL is REDIS_URL: the optional shared store (Valkey or Redis)
	// through which instances coordinate refreshes and code exchanges; nil
	// means in-process only. It may hold a password: LogValue redacts it.
	RedisURL *url.URL

	LogFormat string     // LOG_FORMAT: "text" or "json"
	LogLevel  slog.Level // LOG_LEVEL
}

// Defaults for the values DESIGN.md leaves to us.
const (
	defaultPort            = 5000
	defaultIdleTimeout     = 24 * time.Hour
	defaultMaxAge          = 7 * 24 * time.Hour
	defaultSandboxTokenTTL = 2 * time.Minute
	defaultSandboxDroplets = 8
	defaultActionDelay     = 3 * time.Second
	defaultRateLimit       = 5000 // DigitalOcean's, per hour
	defaultBurstLimit      = sandbox.DigitalOceanBurstLimit
	defaultSandboxPort     = 5050
	sandboxPrefix          = "/sandbox"
)

// LoadConfig reads the configuration through getenv (os.Getenv in main, a map
// in tests). The returned error joins one line per problem, so a user can fix
// everything in one go.
func LoadConfig(getenv func(string) string) (Config, error) {
	l := &loader{getenv: getenv}
	cfg := Config{Port: l.port("PORT", defaultPort)}
	l.client(&cfg)
	l.redirect(&cfg)
	l.session(&cfg)
	l.sandbox(&cfg)
	l.mode(&cfg)
	l.upstream(&cfg)
	l.sharedStore(&cfg)
	l.logging(&cfg)
	return cfg, errors.Join(l.problems...)
}

// loader reads variables and collects a problem for each bad one instead
// of stopping at the first.
type loader struct {
	getenv   func(string) string
	problems []error
}

func (l *loader) env(key string) string { return strings.TrimSpace(l.getenv(key)) }

func (l *loader) bad(format string, args ...any) {
	l.problems = append(l.problems, fmt.Errorf(format, args...))
}

// client reads the OAuth application's credentials. Neither set means
// sandbox mode; one alone is a mistake, not a hint to pick a mode.
func (l *loader) client(cfg *Config) {
	cfg.ClientID, cfg.ClientSecret = l.env("DIGITALOCEAN_CLIENT_ID"), l.env("DIGITALOCEAN_CLIENT_SECRET")
	switch {
	case cfg.ClientID != "" && cfg.ClientSecret == "":
		l.bad("DIGITALOCEAN_CLIENT_SECRET is missing: DIGITALOCEAN_CLIENT_ID is set, set both or neither (neither starts the sandbox)")
	case cfg.ClientID == "" && cfg.ClientSecret != "":
		l.bad("DIGITALOCEAN_CLIENT_ID is missing: DIGITALOCEAN_CLIENT_SECRET is set, set both or neither (neither starts the sandbox)")
	}
	cfg.Sandbox = cfg.ClientID == "" && cfg.ClientSecret == ""
}

// redirect reads what the app asks DigitalOcean for: the callback, the
// scopes and whether to use PKCE.
func (l *loader) redirect(cfg *Config) {
	redirect := l.env("DIGITALOCEAN_REDIRECT_URL")
	if redirect == "" {
		redirect = fmt.Sprintf("http://localhost:%d/digitalocean", cfg.Port)
	}
	if u, err := parseRedirectURL(redirect); err != nil {
		l.bad("DIGITALOCEAN_REDIRECT_URL=%q %v", redirect, err)
	} else {
		cfg.RedirectURL = u
	}

	cfg.Scopes = strings.Fields(l.env("DIGITALOCEAN_SCOPES"))
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"read"}
	}

	cfg.PKCE = true
	if v := l.env("DIGITALOCEAN_PKCE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.bad("DIGITALOCEAN_PKCE=%q must be true or false", v)
		} else {
			cfg.PKCE = b
		}
	}
}

// session reads the cookie keys and lifetimes.
func (l *loader) session(cfg *Config) {
	cfg.SessionSecrets, cfg.SessionSecretGenerated = parseSecrets(l.env("SESSION_SECRET"), l.bad)
	if cfg.SessionSecretGenerated && !cfg.Sandbox && deployed(cfg) {
		// A random secret per process would sign everyone out at each
		// restart, and with several instances a callback that lands on
		// another instance than /connect could not read its login cookie.
		// (The sandbox keeps its grants in memory anyway.)
		l.bad("SESSION_SECRET is not set but DIGITALOCEAN_REDIRECT_URL is https (a deployment): every instance and restart must share one (make one with: openssl rand -base64 48)")
	}
	cfg.SessionIdleTimeout = l.duration("SESSION_IDLE_TIMEOUT", defaultIdleTimeout)
	cfg.SessionMaxAge = l.duration("SESSION_MAX_AGE", defaultMaxAge)
	if cfg.SessionIdleTimeout > cfg.SessionMaxAge {
		l.bad("SESSION_IDLE_TIMEOUT (%s) must not be longer than SESSION_MAX_AGE (%s)", cfg.SessionIdleTimeout, cfg.SessionMaxAge)
	}
}

// sandbox reads the SANDBOX_* settings, used in sandbox mode and by the
// standalone sandbox.
func (l *loader) sandbox(cfg *Config) {
	cfg.SandboxTokenTTL = l.duration("SANDBOX_TOKEN_TTL", defaultSandboxTokenTTL)
	cfg.SandboxDroplets = defaultSandboxDroplets
	if v := l.env("SANDBOX_DROPLETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100_000 {
			l.bad("SANDBOX_DROPLETS=%q must be a number from 0 to 100000", v)
		} else {
			cfg.SandboxDroplets = n
		}
	}
	cfg.SandboxActionDelay = l.duration("SANDBOX_ACTION_DELAY", defaultActionDelay)
	cfg.SandboxRateLimit = l.limit("SANDBOX_RATE_LIMIT", defaultRateLimit)
	cfg.SandboxBurstLimit = l.limit("SANDBOX_BURST_LIMIT", defaultBurstLimit)
	cfg.SandboxPort = l.port("SANDBOX_PORT", defaultSandboxPort)
	if v := l.env("SANDBOX_TRUSTED_PROXIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10 {
			l.bad("SANDBOX_TRUSTED_PROXIES=%q must be a number from 0 to 10: the proxies in front of the app that append to X-Forwarded-For", v)
		} else {
			cfg.SandboxTrustedProxies = n
		}
	}
}

// mode checks SANDBOX against the credentials: a deployment runs the
// sandbox only when asked to, and never beside real credentials.
func (l *loader) mode(cfg *Config) {
	forced := l.flag("SANDBOX")
	switch {
	case forced && !cfg.Sandbox:
		l.bad("SANDBOX=1 but DigitalOcean credentials are set: the sandbox never runs with real credentials; unset one or the other")
	case cfg.Sandbox && !forced && deployed(cfg):
		// Falling back to the sandbox because a secret was forgotten
		// would hide the mistake.
		l.bad("DIGITALOCEAN_CLIENT_ID and DIGITALOCEAN_CLIENT_SECRET are not set but DIGITALOCEAN_REDIRECT_URL is https (a deployment): set the credentials, or SANDBOX=1 to run the sandbox on purpose")
	}
}

// upstream sets where the OAuth server and the API are: DigitalOcean, the
// DIGITALOCEAN_*_URL variables (tests, another server), or the sandbox.
func (l *loader) upstream(cfg *Config) {
	cfg.OAuthURL, cfg.APIURL = l.env("DIGITALOCEAN_OAUTH_URL"), l.env("DIGITALOCEAN_API_URL")
	if cfg.Sandbox && cfg.RedirectURL != nil {
		// The app reaches the sandbox over HTTP exactly as it reaches
		// DigitalOcean; only the base URLs differ. They are on the redirect
		// URL's origin because the browser must reach the consent page too.
		origin := cfg.RedirectURL.Scheme + "://" + cfg.RedirectURL.Host + sandboxPrefix
		cfg.ClientID, cfg.ClientSecret = "sandbox-client", "sandbox-secret-"+randomHex(16)
		cfg.OAuthURL, cfg.APIURL = origin+"/v1/oauth", origin
	}
	if cfg.OAuthURL == "" {
		cfg.OAuthURL = doclient.DefaultOAuthURL
	}
	if cfg.APIURL == "" {
		cfg.APIURL = doclient.DefaultAPIURL
	}
	for _, v := range []struct{ name, value string }{{"DIGITALOCEAN_OAUTH_URL", cfg.OAuthURL}, {"DIGITALOCEAN_API_URL", cfg.APIURL}} {
		u, err := url.Parse(v.value)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			l.bad("%s=%q must be an http(s) URL", v.name, v.value)
		case u.Scheme == "http" && deployed(cfg) && !loopback(u.Hostname()):
			// The client secret, codes and tokens go to these URLs.
			l.bad("%s=%q is plain http but DIGITALOCEAN_REDIRECT_URL is https (a deployment): the client secret, codes and tokens would cross the network unencrypted; use https (http only to localhost)", v.name, v.value)
		}
	}
}

// sharedStore reads REDIS_URL. Plain redis:// is for this machine only
// (or a private network the operator vouches for with REDIS_ALLOW_PLAINTEXT):
// elsewhere its password could be read on the way, and whoever can answer
// in Redis's place decides whether an instance waits for another's result.
func (l *loader) sharedStore(cfg *Config) {
	v := l.env("REDIS_URL")
	if v == "" {
		return
	}
	allowPlaintext := l.flag("REDIS_ALLOW_PLAINTEXT")
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		// Never echo the value: it may hold the database's password.
		l.bad("REDIS_URL must look like redis://host:6379 or rediss://user:password@host:25061 (rediss for TLS)")
		return
	}
	if p := u.Port(); p != "" {
		if n, ok := parsePort(p); !ok || n == 0 {
			l.bad("REDIS_URL has a bad port %q", p)
			return
		}
	}
	if u.Scheme == "redis" && !loopback(u.Hostname()) && !allowPlaintext {
		l.bad("REDIS_URL is redis:// (no TLS) to %s, another machine: its password and what the instances share would cross the network in the clear, and anyone on the way could answer in Redis's place; use rediss:// (DigitalOcean's Managed Caching gives one), or set REDIS_ALLOW_PLAINTEXT=1 on a private network you trust (Docker Compose's)", u.Hostname())
		return
	}
	cfg.RedisURL = u
}

// flag reads a yes-or-no variable that is off when unset.
func (l *loader) flag(key string) bool {
	v := l.env(key)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.bad("%s=%q must be 1 or 0 (or true or false)", key, v)
	}
	return b
}

// logging reads the log's format and level.
func (l *loader) logging(cfg *Config) {
	cfg.LogFormat = "text"
	switch f := strings.ToLower(l.env("LOG_FORMAT")); f {
	case "", "text":
	case "json":
		cfg.LogFormat = "json"
	default:
		l.bad("LOG_FORMAT=%q must be text or json", f)
	}
	if v := l.env("LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			l.bad("LOG_LEVEL=%q must be debug, info, warn or error", v)
		}
	}
}

// LoadSandboxConfig reads what the standalone sandbox (`dosignin sandbox`)
// needs: the SANDBOX_* and LOG_* variables. Everything else is hidden from
// LoadConfig, so that an .env made for the app (credentials, an https
// redirect URL) never stops the sandbox, which uses none of it.
func LoadSandboxConfig(getenv func(string) string) (Config, error) {
	return LoadConfig(func(key string) string {
		if strings.HasPrefix(key, "SANDBOX_") || strings.HasPrefix(key, "LOG_") {
			return getenv(key)
		}
		return ""
	})
}

// port reads a port number; 0 lets the OS pick one (tests).
func (l *loader) port(key string, def int) int {
	v := l.env(key)
	if v == "" {
		return def
	}
	p, ok := parsePort(v)
	if !ok {
		l.bad("%s=%q is not a port number (0-65535)", key, v)
		return def
	}
	return p
}

func parsePort(s string) (int, bool) {
	p, err := strconv.Atoi(s)
	return p, err == nil && p >= 0 && p <= 65535
}

// duration reads a positive duration.
func (l *loader) duration(key string, def time.Duration) time.Duration {
	v := l.env(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		l.bad("%s=%q must be a positive duration such as 30m or 12h", key, v)
		return def
	}
	return d
}

// limit reads a request budget: a positive number, or "off" (-1).
func (l *loader) limit(key string, def int) int {
	v := l.env(key)
	switch {
	case v == "":
		return def
	case strings.EqualFold(v, "off"):
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > 1_000_000_000 {
		l.bad("%s=%q must be a positive number of requests, or off", key, v)
		return def
	}
	return n
}

// deployed reports an https redirect URL: the app is on a public address,
// where the checks of a real deployment apply.
func deployed(cfg *Config) bool {
	return cfg.RedirectURL != nil && cfg.RedirectURL.Scheme == "https"
}

// loopback reports whether host is this machine: localhost or a loopback
// address (127.0.0.0/8, ::1), where plain connections never leave it.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// parseRedirectURL accepts an absolute http(s) URL whose path is
// /digitalocean, the route that handles the callback.
func parseRedirectURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, errors.New("does not parse as a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must start with http:// or https://")
	case u.Host == "":
		return nil, errors.New("has no host")
	case u.Path != "/digitalocean":
		return nil, errors.New("must end in /digitalocean, the app's callback route")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, errors.New("must not carry a query, fragment or user info")
	}
	return u, nil
}

// parseSecrets splits SESSION_SECRET (comma-separated, newest first). An
// empty value makes up a random secret, so the sandbox runs with no setup.
func parseSecrets(v string, bad func(string, ...any)) (secrets [][]byte, generated bool) {
	if v == "" {
		return [][]byte{[]byte(randomHex(32))}, true
	}
	for i, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if len(s) < minSecretLen {
			// Never echo the secret itself, only where it is and how long.
			bad("SESSION_SECRET: secret #%d is %d bytes, it must be at least %d (make one with: openssl rand -base64 48)", i+1, len(s), minSecretLen)
			continue
		}
		secrets = append(secrets, []byte(s))
	}
	return secrets, false
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return fmt.Sprintf("%x", b)
}

// Mode names where the app sends users: "sandbox" or "digitalocean".
func (c Config) Mode() string {
	if c.Sandbox {
		return "sandbox"
	}
	return "digitalocean"
}

// LogValue makes slog print the configuration with every secret redacted.
func (c Config) LogValue() slog.Value {
	redirect := ""
	if c.RedirectURL != nil {
		redirect = c.RedirectURL.String()
	}
	return slog.GroupValue(
		slog.String("mode", c.Mode()),
		slog.Int("port", c.Port),
		slog.String("client_id", c.ClientID), // public: it is in every authorize URL
		slog.String("client_secret", redact(c.ClientSecret)),
		slog.String("redirect_url", redirect),
		slog.String("scopes", strings.Join(c.Scopes, " ")),
		slog.String("oauth_url", c.OAuthURL),
		slog.String("api_url", c.APIURL),
		slog.Bool("pkce", c.PKCE),
		slog.Int("session_secrets", len(c.SessionSecrets)),
		slog.Duration("session_idle_timeout", c.SessionIdleTimeout),
		slog.Duration("session_max_age", c.SessionMaxAge),
		slog.String("redis_url", redisForLog(c.RedisURL)),
	)
}

// String is LogValue for fmt, so %v and %+v cannot leak secrets either.
func (c Config) String() string { return c.LogValue().String() }

// GoString covers %#v, which would otherwise print every field.
func (c Config) GoString() string { return c.String() }

// redisForLog shows where the shared store is, without its password.
func redisForLog(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Redacted()
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}
