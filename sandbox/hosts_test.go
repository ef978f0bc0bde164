package sandbox_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"dosignin/sandbox"
)

// oddRedirectURIs are redirect URIs whose host is no host a browser can
// reach or a Content Security Policy can name; url.Parse accepts most.
var oddRedirectURIs = map[string]string{
	"wildcard":               "https://*/cb",
	"wildcard label":         "https://*.example.com/cb",
	"double quote":           `https://a"b.example/cb`,
	"single quote":           "https://a'b.example/cb",
	"angle brackets":         "https://<x>/cb",
	"greater-than":           "https://a>b/cb",
	"space":                  "https://a b/cb",
	"semicolon":              "https://a;b/cb",
	"comma":                  "https://a,b/cb",
	"parentheses":            "https://a(b)/cb",
	"dollar":                 "https://a$b/cb",
	"underscore":             "https://exa_mple.com/cb",
	"empty label":            "https://a..b/cb",
	"leading dot":            "https://.example.com/cb",
	"trailing dot":           "https://example.com./cb",
	"leading hyphen":         "https://-a.example/cb",
	"trailing hyphen":        "https://a-.example/cb",
	"label of 64":            "https://" + strings.Repeat("a", 64) + ".example/cb",
	"name of 254":            "https://" + strings.Repeat("a.", 125) + "abcd/cb",
	"not punycode":           "https://bücher.example/cb",
	"user info":              "https://user@example.com/cb",
	"numeric last label":     "https://1.2.3/cb",
	"hex last label":         "https://0x7f.1/cb",
	"bad IPv4":               "https://999.1.1.1/cb",
	"port 0":                 "https://example.com:0/cb",
	"port 65536":             "https://example.com:65536/cb",
	"empty port":             "https://example.com:/cb",
	"port with a leading 0":  "https://example.com:080/cb",
	"IPv6 zone":              "http://[::1%25lo]:8080/cb",
	"IPv4-mapped IPv6":       "https://[::ffff:192.0.2.1]/cb",
	"IPv6 not as a browser":  "https://[2001:DB8:0::1]/cb",
	"IPv4 in brackets":       "https://[192.0.2.1]/cb",
	"no host, only the port": "https://:443/cb",
}

// Registration refuses each odd host with invalid_redirect_uri, and
// accepts names, punycode, IP literals and ports as browsers write them.
func TestRegistrationRefusesOddRedirectHosts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.DisableSignInLimits = true }))
	for name, uri := range oddRedirectURIs {
		resp, out := h.register(t, map[string]any{"redirect_uris": []string{uri}})
		if resp.StatusCode != http.StatusBadRequest || out["error"] != "invalid_redirect_uri" || out["error_description"] == "" {
			t.Errorf("%s (%s): %d %v, want 400 invalid_redirect_uri", name, uri, resp.StatusCode, out)
		}
	}
	for _, uri := range []string{
		"https://example.com/cb",
		"https://App.Example.COM/cb",
		"https://xn--bcher-kva.example/cb",
		"https://a-b.example.com:8443/cb",
		"https://my-app/cb",
		"https://123.example/cb",
		"https://" + strings.Repeat("a", 63) + ".example/cb",
		"https://192.0.2.1/cb",
		"https://[2001:db8::1]:8443/cb",
		"http://127.0.0.1:8085/cb",
		"http://[::1]:9000/cb",
		"http://localhost:65535/cb",
	} {
		if resp, out := h.register(t, map[string]any{"redirect_uris": []string{uri}}); resp.StatusCode != http.StatusCreated {
			t.Errorf("%s: %d %v, want 201", uri, resp.StatusCode, out)
		}
	}
}

// The app's own redirect URIs, from Config, are held to the same rules.
func TestNewRefusesOddRedirectHosts(t *testing.T) {
	t.Parallel()
	for name, uri := range oddRedirectURIs {
		_, err := sandbox.New(sandbox.Config{ClientID: "id", ClientSecret: "secret", AppName: "App", RedirectURIs: []string{uri}})
		if err == nil {
			t.Errorf("%s (%s): New accepted it", name, uri)
		}
	}
}

// The consent page's form-action names exactly the client's origin:
// scheme, host and port of its redirect URI, nothing more.
func TestConsentCSPNamesExactlyTheClientsOrigin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for uri, origin := range map[string]string{
		"https://xn--bcher-kva.example:8443/oauth/cb?x=1": "https://xn--bcher-kva.example:8443",
		"https://[2001:db8::1]/cb":                        "https://[2001:db8::1]",
	} {
		_, reg := h.register(t, map[string]any{"redirect_uris": []string{uri}})
		q := url.Values{"client_id": {reg["client_id"].(string)}, "redirect_uri": {uri}, "response_type": {"code"}}
		resp, page := do(t, h.browser(t), http.MethodGet, h.base+"/v1/oauth/authorize?"+q.Encode(), nil, nil)
		want := "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self' " + origin
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != want {
			t.Errorf("%s: %d CSP %q, want %q\n%.300s", uri, resp.StatusCode, resp.Header.Get("Content-Security-Policy"), want, page)
		}
	}
}
