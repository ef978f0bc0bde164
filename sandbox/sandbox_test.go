package sandbox_test

import (
	"strings"
	"testing"
	"time"

	"dosignin/sandbox"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	valid := func() sandbox.Config {
		return sandbox.Config{ClientID: "id", ClientSecret: "secret", AppName: "App", RedirectURIs: []string{"http://localhost:5000/digitalocean"}}
	}
	if _, err := sandbox.New(valid()); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := map[string]struct {
		edit func(*sandbox.Config)
		want string
	}{
		"no client id":      {func(c *sandbox.Config) { c.ClientID = "" }, "ClientID is required"},
		"no secret":         {func(c *sandbox.Config) { c.ClientSecret = "" }, "ClientSecret is required"},
		"no app name":       {func(c *sandbox.Config) { c.AppName = "" }, "AppName is required"},
		"no redirect":       {func(c *sandbox.Config) { c.RedirectURIs = nil }, "redirect URI is required"},
		"relative redirect": {func(c *sandbox.Config) { c.RedirectURIs = []string{"/digitalocean"} }, "must use http or https"},
		"redirect fragment": {func(c *sandbox.Config) { c.RedirectURIs = []string{"http://a.test/cb#x"} }, "fragment"},
		"custom scheme":     {func(c *sandbox.Config) { c.RedirectURIs = []string{"myapp://cb"} }, "http or https"},
		"negative TTL":      {func(c *sandbox.Config) { c.TokenTTL = -time.Second }, "TokenTTL"},
		"too many droplets": {func(c *sandbox.Config) { c.Droplets = 1_000_000 }, "Droplets"},
		"negative delay":    {func(c *sandbox.Config) { c.ActionDelay = -time.Second }, "ActionDelay"},
	}
	for name, tt := range tests {
		cfg := valid()
		tt.edit(&cfg)
		_, err := sandbox.New(cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tt.want)
		}
	}

	// Every problem is reported, one per line.
	_, err := sandbox.New(sandbox.Config{RedirectURIs: []string{"/cb"}, TokenTTL: -1})
	if err == nil || strings.Count(err.Error(), "\n") < 4 {
		t.Errorf("broken config: err = %v, want one line per problem", err)
	}

	// Without the app's client (the standalone sandbox), a sandbox knows
	// only registered clients; negative limits turn the limits off.
	if _, err := sandbox.New(sandbox.Config{RateLimit: -1, BurstLimit: -1}); err != nil {
		t.Errorf("config without a client: %v", err)
	}
}

func TestAccount(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Config{ClientID: "id", ClientSecret: "secret", AppName: "App", RedirectURIs: []string{"http://localhost:5000/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	a := sb.Account()
	if a.Name != "Sammy the Shark" || a.Email != "sammy@example.com" || a.TeamName != "My Team" || len(a.UUID) != 40 || len(a.TeamUUID) != 40 {
		t.Errorf("Account() = %+v", a)
	}
	if st := sb.Stats(); st != (sandbox.Stats{}) {
		t.Errorf("fresh Stats() = %+v, want zero", st)
	}
}
