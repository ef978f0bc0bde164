package main

import (
	"fmt"
	"log/slog"
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
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d = %q, want it to say %q", i+1, lines[i], w)
				}
			}
		})
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
