package main

import (
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"
)

const goodSecret = "an-example-session-secret-of-48-bytes-0123456789"

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaultsToTheSandbox(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Sandbox || cfg.Port != 5000 || cfg.RedirectURL.String() != "http://localhost:5000/digitalocean" {
		t.Errorf("got sandbox=%v port=%d redirect=%s", cfg.Sandbox, cfg.Port, cfg.RedirectURL)
	}
	if cfg.OAuthURL != "http://localhost:5000/sandbox/v1/oauth" || cfg.APIURL != "http://localhost:5000/sandbox" {
		t.Errorf("sandbox URLs %s %s", cfg.OAuthURL, cfg.APIURL)
	}
	if strings.Join(cfg.Scopes, " ") != "read" || !cfg.PKCE || !cfg.SessionSecretGenerated || len(cfg.SessionSecrets[0]) < 32 {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.SessionIdleTimeout != 24*time.Hour || cfg.SessionMaxAge != 7*24*time.Hour {
		t.Errorf("session lifetimes %s %s", cfg.SessionIdleTimeout, cfg.SessionMaxAge)
	}
}

func TestLoadConfigWithCredentials(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(envOf(map[string]string{
		"PORT":                       "8080",
		"DIGITALOCEAN_CLIENT_ID":     "id",
		"DIGITALOCEAN_CLIENT_SECRET": "secret",
		"DIGITALOCEAN_REDIRECT_URL":  "https://app.example.com/digitalocean",
		"DIGITALOCEAN_SCOPES":        "read write",
		"SESSION_SECRET":             goodSecret + ", " + goodSecret + "-old",
		"DIGITALOCEAN_PKCE":          "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sandbox || cfg.Port != 8080 || cfg.OAuthURL != "https://cloud.digitalocean.com/v1/oauth" || cfg.APIURL != "https://api.digitalocean.com" {
		t.Errorf("got %+v", cfg)
	}
	if len(cfg.SessionSecrets) != 2 || string(cfg.SessionSecrets[1]) != goodSecret+"-old" || cfg.PKCE {
		t.Errorf("secrets %d, pkce %v", len(cfg.SessionSecrets), cfg.PKCE)
	}
}

func TestSecurity14StartupRefusesWeakConfigOneLineEach(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string // one line per problem, in this order
	}{
		{"only client id", map[string]string{"DIGITALOCEAN_CLIENT_ID": "id"}, []string{"DIGITALOCEAN_CLIENT_SECRET is missing"}},
		{"only client secret", map[string]string{"DIGITALOCEAN_CLIENT_SECRET": "s"}, []string{"DIGITALOCEAN_CLIENT_ID is missing"}},
		{"short secret", map[string]string{"SESSION_SECRET": "short"}, []string{"secret #1 is 5 bytes, it must be at least 32"}},
		{"second secret short", map[string]string{"SESSION_SECRET": goodSecret + ",tiny"}, []string{"secret #2 is 4 bytes"}},
		{"redirect not a URL", map[string]string{"DIGITALOCEAN_REDIRECT_URL": "://x"}, []string{"does not parse"}},
		{"redirect not http", map[string]string{"DIGITALOCEAN_REDIRECT_URL": "ftp://localhost/digitalocean"}, []string{"must start with http"}},
		{"redirect wrong path", map[string]string{"DIGITALOCEAN_REDIRECT_URL": "http://localhost:5000/callback"}, []string{"must end in /digitalocean"}},
		{"https without credentials", map[string]string{"DIGITALOCEAN_REDIRECT_URL": "https://app.example.com/digitalocean"}, []string{"SANDBOX=1 to run the sandbox on purpose"}},
		{"https without session secret", map[string]string{"DIGITALOCEAN_CLIENT_ID": "i", "DIGITALOCEAN_CLIENT_SECRET": "s", "DIGITALOCEAN_REDIRECT_URL": "https://app.example.com/digitalocean"}, []string{"SESSION_SECRET is not set but DIGITALOCEAN_REDIRECT_URL is https"}},
		{"sandbox with credentials", map[string]string{"SANDBOX": "1", "DIGITALOCEAN_CLIENT_ID": "i", "DIGITALOCEAN_CLIENT_SECRET": "s"}, []string{"never runs with real credentials"}},
		{"bad port and log format", map[string]string{"PORT": "http", "LOG_FORMAT": "xml"}, []string{"PORT=\"http\"", "LOG_FORMAT=\"xml\""}},
		{"idle longer than max age", map[string]string{"SESSION_IDLE_TIMEOUT": "48h", "SESSION_MAX_AGE": "24h"}, []string{"must not be longer"}},
		{"bad durations", map[string]string{"SESSION_IDLE_TIMEOUT": "soon", "SANDBOX_TOKEN_TTL": "-1m"}, []string{"SESSION_IDLE_TIMEOUT=\"soon\"", "SANDBOX_TOKEN_TTL=\"-1m\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(envOf(tt.env))
			wantProblems(t, err, tt.want)
		})
	}
}

// wantProblems checks that err has one line per problem, each saying its
// want, in this order.
func wantProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to say %q", i+1, lines[i], w)
		}
	}
}

func TestLoadConfigHTTPSSandboxNeedsSANDBOX1(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(envOf(map[string]string{"SANDBOX": "1", "DIGITALOCEAN_REDIRECT_URL": "https://demo.example.com/digitalocean"}))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Sandbox || cfg.OAuthURL != "https://demo.example.com/sandbox/v1/oauth" {
		t.Errorf("got %+v", cfg)
	}
}

func TestLoadConfigSandboxVariables(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SandboxActionDelay != 3*time.Second || cfg.SandboxRateLimit != 5000 || cfg.SandboxBurstLimit != 250 || cfg.SandboxPort != 5050 {
		t.Errorf("sandbox defaults: delay %s, limits %d %d, port %d", cfg.SandboxActionDelay, cfg.SandboxRateLimit, cfg.SandboxBurstLimit, cfg.SandboxPort)
	}
	cfg, err = LoadConfig(envOf(map[string]string{"SANDBOX_ACTION_DELAY": "250ms", "SANDBOX_RATE_LIMIT": "off", "SANDBOX_BURST_LIMIT": "5", "SANDBOX_PORT": "6060"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SandboxActionDelay != 250*time.Millisecond || cfg.SandboxRateLimit != -1 || cfg.SandboxBurstLimit != 5 || cfg.SandboxPort != 6060 {
		t.Errorf("sandbox settings: %+v", cfg)
	}

	_, err = LoadConfig(envOf(map[string]string{"SANDBOX_ACTION_DELAY": "0s", "SANDBOX_RATE_LIMIT": "0", "SANDBOX_BURST_LIMIT": "lots", "SANDBOX_PORT": "99999"}))
	for _, want := range []string{`SANDBOX_ACTION_DELAY="0s" must be a positive duration`, `SANDBOX_RATE_LIMIT="0" must be a positive number of requests, or off`, `SANDBOX_BURST_LIMIT="lots"`, `SANDBOX_PORT="99999"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %s", err, want)
		}
	}
}

// The standalone sandbox reads only its own variables: an .env made for
// the app (credentials, an https redirect URL without SESSION_SECRET)
// doesn't stop it.
func TestLoadSandboxConfigIgnoresTheApp(t *testing.T) {
	t.Parallel()
	cfg, err := LoadSandboxConfig(envOf(map[string]string{
		"DIGITALOCEAN_CLIENT_ID": "id", "DIGITALOCEAN_CLIENT_SECRET": "s", "DIGITALOCEAN_REDIRECT_URL": "https://app.example.com/digitalocean",
		"SANDBOX_PORT": "7070", "SANDBOX_DROPLETS": "40", "LOG_FORMAT": "json",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SandboxPort != 7070 || cfg.SandboxDroplets != 40 || cfg.LogFormat != "json" || cfg.SandboxTokenTTL != 2*time.Minute {
		t.Errorf("got %+v", cfg)
	}
	if _, err := LoadSandboxConfig(envOf(map[string]string{"SANDBOX_DROPLETS": "-3", "LOG_LEVEL": "loud"})); err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two problems, err = %v", err)
	}
}

func TestSecurity12ConfigRedactsItself(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(envOf(map[string]string{
		"DIGITALOCEAN_CLIENT_ID":     "public-id",
		"DIGITALOCEAN_CLIENT_SECRET": "very-secret-client-secret",
		"SESSION_SECRET":             goodSecret,
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "cfg", cfg)
	fmt.Fprintf(&b, "%v %+v %#v %s", cfg, cfg, cfg, cfg)
	out := b.String()
	for _, secret := range []string{"very-secret-client-secret", goodSecret} {
		if strings.Contains(out, secret) {
			t.Fatalf("a secret was printed:\n%s", out)
		}
	}
	if !strings.Contains(out, "public-id") || !strings.Contains(out, "[redacted]") {
		t.Errorf("the config print is not useful:\n%s", out)
	}
}

func TestLoadConfigRedisURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		value string
		ok    bool
	}{
		{"", true},
		{"redis://localhost:6379", true},
		{"rediss://default:hunter2@db-valkey-nyc1-1.db.ondigitalocean.com:25061", true},
		{"redis://localhost:6379/2", true},
		{"redis://127.0.0.1:6379", true},
		{"redis://[::1]:6379", true},
		{"redis://valkey:6379", false}, // plaintext to another machine: see TestSecurity32
		{"http://localhost:6379", false},
		{"localhost:6379", false},
		{"redis://", false},
		{"rediss://default:hunter2@host:99999", false},
	} {
		cfg, err := LoadConfig(envOf(map[string]string{"REDIS_URL": tt.value}))
		if (err == nil) != tt.ok {
			t.Errorf("REDIS_URL=%q: err %v, want ok=%v", tt.value, err, tt.ok)
			continue
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("REDIS_URL=%q: the error shows the password: %v", tt.value, err)
		}
		if err == nil && tt.value != "" {
			if cfg.RedisURL == nil || cfg.RedisURL.String() != tt.value {
				t.Errorf("REDIS_URL=%q: got %v", tt.value, cfg.RedisURL)
			}
			if logged := cfg.String(); strings.Contains(logged, "hunter2") || !strings.Contains(logged, cfg.RedisURL.Host) {
				t.Errorf("the logged config shows the password or hides the host: %s", logged)
			}
		}
	}
}

// Security test 39: an https deployment sends the client secret, codes and
// tokens only over https; plain http stays allowed to this machine (tests,
// a standalone sandbox) and for a local http app.
func TestSecurity37DeploymentTalksToDigitalOceanOverHTTPS(t *testing.T) {
	t.Parallel()
	deployment := map[string]string{
		"DIGITALOCEAN_CLIENT_ID": "id", "DIGITALOCEAN_CLIENT_SECRET": "secret", "SESSION_SECRET": goodSecret,
		"DIGITALOCEAN_REDIRECT_URL": "https://app.example.com/digitalocean",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		env := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		want []string // one line per refused URL; none: accepted
	}{
		{"http OAuth server", with(deployment, "DIGITALOCEAN_OAUTH_URL", "http://oauth.example.com/v1/oauth"),
			[]string{`DIGITALOCEAN_OAUTH_URL="http://oauth.example.com/v1/oauth" is plain http but DIGITALOCEAN_REDIRECT_URL is https`}},
		{"http API", with(deployment, "DIGITALOCEAN_API_URL", "http://10.0.0.7:8080"),
			[]string{`DIGITALOCEAN_API_URL="http://10.0.0.7:8080" is plain http`}},
		{"both", with(deployment, "DIGITALOCEAN_OAUTH_URL", "http://cloud.digitalocean.com/v1/oauth", "DIGITALOCEAN_API_URL", "http://api.digitalocean.com"),
			[]string{"DIGITALOCEAN_OAUTH_URL=", "DIGITALOCEAN_API_URL="}},
		{"localhost", with(deployment, "DIGITALOCEAN_OAUTH_URL", "http://localhost:5050/v1/oauth", "DIGITALOCEAN_API_URL", "http://LOCALHOST:5050"), nil},
		{"loopback addresses", with(deployment, "DIGITALOCEAN_OAUTH_URL", "http://127.0.0.2:5050/v1/oauth", "DIGITALOCEAN_API_URL", "http://[::1]:5050"), nil},
		{"https", with(deployment, "DIGITALOCEAN_OAUTH_URL", "https://oauth.example.com/v1/oauth", "DIGITALOCEAN_API_URL", "https://api.example.com"), nil},
		{"an http app", with(deployment, "DIGITALOCEAN_REDIRECT_URL", "http://app.example.com/digitalocean", "DIGITALOCEAN_OAUTH_URL", "http://oauth.example.com/v1/oauth"), nil},
		{"https sandbox", map[string]string{"SANDBOX": "1", "DIGITALOCEAN_REDIRECT_URL": "https://demo.example.com/digitalocean"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(envOf(tt.env))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantProblems(t, err, tt.want)
			if n := strings.Count(err.Error(), "use https"); n != len(tt.want) {
				t.Errorf("%d of %d lines say what to do: %v", n, len(tt.want), err)
			}
		})
	}
}

// Security test 32, the configuration half (the other is in
// hostile_redis_test.go): plain redis:// only to this machine, or to a
// network the operator vouches for; never the password in the message.
func TestSecurity32PlaintextRedisOnlyOnThisMachine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		want string // "": accepted
	}{
		{map[string]string{"REDIS_URL": "redis://default:hunter2@db-valkey-nyc1-1.db.ondigitalocean.com:25061"}, "REDIS_URL is redis:// (no TLS) to db-valkey-nyc1-1.db.ondigitalocean.com, another machine"},
		{map[string]string{"REDIS_URL": "redis://10.0.0.5:6379"}, "use rediss://"},
		{map[string]string{"REDIS_URL": "redis://valkey:6379", "REDIS_ALLOW_PLAINTEXT": "0"}, "REDIS_ALLOW_PLAINTEXT=1"},
		{map[string]string{"REDIS_URL": "redis://valkey:6379", "REDIS_ALLOW_PLAINTEXT": "1"}, ""},
		{map[string]string{"REDIS_URL": "rediss://default:hunter2@db-valkey-nyc1-1.db.ondigitalocean.com:25061"}, ""},
		{map[string]string{"REDIS_URL": "redis://localhost:6379"}, ""},
		{map[string]string{"REDIS_URL": "redis://127.0.0.1:6379"}, ""},
		{map[string]string{"REDIS_URL": "redis://[::1]:6379"}, ""},
	} {
		cfg, err := LoadConfig(envOf(tt.env))
		switch {
		case tt.want == "" && (err != nil || cfg.RedisURL == nil):
			t.Errorf("%v refused: %v", tt.env, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || cfg.RedisURL != nil):
			t.Errorf("%v: err %v, want it to say %q", tt.env, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("the error shows the password: %v", err)
		}
	}
	// A mistyped opt-in is a problem of its own, not a silent no.
	_, err := LoadConfig(envOf(map[string]string{"REDIS_URL": "redis://valkey:6379", "REDIS_ALLOW_PLAINTEXT": "yes"}))
	if err == nil || !strings.Contains(err.Error(), `REDIS_ALLOW_PLAINTEXT="yes" must be 1 or 0`) {
		t.Errorf("REDIS_ALLOW_PLAINTEXT=yes: %v", err)
	}
}

func TestLoadConfigSandboxTrustedProxies(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{"SANDBOX_TRUSTED_PROXIES": "1"}))
	if err != nil || cfg.SandboxTrustedProxies != 1 {
		t.Errorf("SANDBOX_TRUSTED_PROXIES=1: %d, %v", cfg.SandboxTrustedProxies, err)
	}
	for _, bad := range []string{"-1", "x", "11"} {
		if _, err := LoadConfig(envOf(map[string]string{"SANDBOX_TRUSTED_PROXIES": bad})); err == nil || !strings.Contains(err.Error(), "SANDBOX_TRUSTED_PROXIES") {
			t.Errorf("SANDBOX_TRUSTED_PROXIES=%s: %v", bad, err)
		}
	}
}
