package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
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
	env := func(key string) string { return strings.TrimSpace(getenv(key)) }
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	cfg := Config{
		Port:         defaultPort,
		ClientID:     env("DIGITALOCEAN_CLIENT_ID"),
		ClientSecret: env("DIGITALOCEAN_CLIENT_SECRET"),
		OAuthURL:     env("DIGITALOCEAN_OAUTH_URL"),
		APIURL:       env("DIGITALOCEAN_API_URL"),
		PKCE:         true,
		LogFormat:    "text",
	}

	if v := env("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			bad("PORT=%q is not a port number (0-65535)", v)
		} else {
			cfg.Port = p
		}
	}

	switch {
	case cfg.ClientID != "" && cfg.ClientSecret == "":
		bad("DIGITALOCEAN_CLIENT_SECRET is missing: DIGITALOCEAN_CLIENT_ID is set, set both or neither (neither starts the sandbox)")
	case cfg.ClientID == "" && cfg.ClientSecret != "":
		bad("DIGITALOCEAN_CLIENT_ID is missing: DIGITALOCEAN_CLIENT_SECRET is set, set both or neither (neither starts the sandbox)")
	}
	cfg.Sandbox = cfg.ClientID == "" && cfg.ClientSecret == ""

	redirect := env("DIGITALOCEAN_REDIRECT_URL")
	if redirect == "" {
		redirect = fmt.Sprintf("http://localhost:%d/digitalocean", cfg.Port)
	}
	if u, err := parseRedirectURL(redirect); err != nil {
		bad("DIGITALOCEAN_REDIRECT_URL=%q %v", redirect, err)
	} else {
		cfg.RedirectURL = u
	}

	cfg.Scopes = strings.Fields(env("DIGITALOCEAN_SCOPES"))
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"read"}
	}

	if v := env("DIGITALOCEAN_PKCE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("DIGITALOCEAN_PKCE=%q must be true or false", v)
		} else {
			cfg.PKCE = b
		}
	}

	cfg.SessionSecrets, cfg.SessionSecretGenerated = parseSecrets(env("SESSION_SECRET"), bad)
	if cfg.SessionSecretGenerated && !cfg.Sandbox && cfg.RedirectURL != nil && cfg.RedirectURL.Scheme == "https" {
		// A deployment. A random secret per process would sign everyone
		// out at each restart, and with several instances a callback that
		// lands on another instance than /connect could not read its login
		// cookie. (The sandbox keeps its grants in memory anyway.)
		bad("SESSION_SECRET is not set but DIGITALOCEAN_REDIRECT_URL is https (a deployment): every instance and restart must share one (make one with: openssl rand -base64 48)")
	}
	cfg.SessionIdleTimeout = durationVar(env, "SESSION_IDLE_TIMEOUT", defaultIdleTimeout, bad)
	cfg.SessionMaxAge = durationVar(env, "SESSION_MAX_AGE", defaultMaxAge, bad)
	if cfg.SessionIdleTimeout > cfg.SessionMaxAge {
		bad("SESSION_IDLE_TIMEOUT (%s) must not be longer than SESSION_MAX_AGE (%s)", cfg.SessionIdleTimeout, cfg.SessionMaxAge)
	}

	cfg.SandboxTokenTTL = durationVar(env, "SANDBOX_TOKEN_TTL", defaultSandboxTokenTTL, bad)
	cfg.SandboxDroplets = defaultSandboxDroplets
	if v := env("SANDBOX_DROPLETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100_000 {
			bad("SANDBOX_DROPLETS=%q must be a number from 0 to 100000", v)
		} else {
			cfg.SandboxDroplets = n
		}
	}
	cfg.SandboxActionDelay = durationVar(env, "SANDBOX_ACTION_DELAY", defaultActionDelay, bad)
	cfg.SandboxRateLimit = limitVar(env, "SANDBOX_RATE_LIMIT", defaultRateLimit, bad)
	cfg.SandboxBurstLimit = limitVar(env, "SANDBOX_BURST_LIMIT", defaultBurstLimit, bad)
	cfg.SandboxPort = defaultSandboxPort
	if v := env("SANDBOX_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			bad("SANDBOX_PORT=%q is not a port number (0-65535)", v)
		} else {
			cfg.SandboxPort = p
		}
	}

	sandboxForced := false
	if v := env("SANDBOX"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("SANDBOX=%q must be 1 or 0 (or true or false)", v)
		}
		sandboxForced = b
	}
	switch {
	case sandboxForced && !cfg.Sandbox:
		bad("SANDBOX=1 but DigitalOcean credentials are set: the sandbox never runs with real credentials; unset one or the other")
	case cfg.Sandbox && !sandboxForced && cfg.RedirectURL != nil && cfg.RedirectURL.Scheme == "https":
		// An https redirect URL means a deployment. Falling back to the
		// sandbox there because a secret was forgotten would hide the mistake.
		bad("DIGITALOCEAN_CLIENT_ID and DIGITALOCEAN_CLIENT_SECRET are not set but DIGITALOCEAN_REDIRECT_URL is https (a deployment): set the credentials, or SANDBOX=1 to run the sandbox on purpose")
	}
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
		if u, err := url.Parse(v.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s=%q must be an http(s) URL", v.name, v.value)
		}
	}

	if v := env("REDIS_URL"); v != "" {
		u, err := url.Parse(v)
		switch {
		case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
			// Never echo the value: it may hold the database's password.
			bad("REDIS_URL must look like redis://host:6379 or rediss://user:password@host:25061 (rediss for TLS)")
		case u.Port() != "" && !validPort(u.Port()):
			bad("REDIS_URL has a bad port %q", u.Port())
		default:
			cfg.RedisURL = u
		}
	}

	switch f := strings.ToLower(env("LOG_FORMAT")); f {
	case "", "text":
	case "json":
		cfg.LogFormat = "json"
	default:
		bad("LOG_FORMAT=%q must be text or json", f)
	}
	if v := env("LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("LOG_LEVEL=%q must be debug, info, warn or error", v)
		}
	}

	return cfg, errors.Join(problems...)
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

// limitVar reads a request budget: a positive number, or "off" (-1).
func limitVar(env func(string) string, key string, def int, bad func(string, ...any)) int {
	v := env(key)
	switch {
	case v == "":
		return def
	case strings.EqualFold(v, "off"):
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > 1_000_000_000 {
		bad("%s=%q must be a positive number of requests, or off", key, v)
		return def
	}
	return n
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

func validPort(s string) bool {
	p, err := strconv.Atoi(s)
	return err == nil && p > 0 && p <= 65535
}

func durationVar(env func(string) string, key string, def time.Duration, bad func(string, ...any)) time.Duration {
	v := env(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		bad("%s=%q must be a positive duration such as 30m or 12h", key, v)
		return def
	}
	return d
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
