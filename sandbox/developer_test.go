package sandbox_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"dosignin/sandbox"
)

// The Developer page shows the personal access token, which works, the
// endpoints on the host the browser used, and how to register; its
// stylesheet link resolves.
func TestDeveloperPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"), withConfig(func(c *sandbox.Config) { c.ActionDelay = 7 * time.Second; c.BurstLimit = -1 }))
	resp, page := do(t, h.srv.Client(), http.MethodGet, h.base+"/developer", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("developer page: %d %v", resp.StatusCode, resp.Header)
	}
	pat := h.sb.PersonalAccessToken()
	for _, want := range []string{
		`<code class="token" id="pat">` + pat + `</code>`,
		`curl -H "Authorization: Bearer ` + pat + `" ` + h.base + "/v2/droplets",
		h.base + "/v1/oauth/register",
		h.base + "/.well-known/oauth-authorization-server",
		"Sammy the Shark", "Octavia the Octopus",
		"in progress for 7s",
		"5000 requests an hour, no per-minute limit",
		"gone when the sandbox restarts",
		"8 droplets of a limit of 33", "5 droplets of a limit of 10",
		`curl -X DELETE -H "Authorization: Bearer ` + pat + `" ` + h.base + "/v2/droplets/DROPLET_ID",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("developer page lacks %q", want)
		}
	}
	wantStatus(t, h, "/v2/droplets", pat, http.StatusOK)
	h.create(t, pat, newDroplet("shown"))
	if _, page := do(t, h.srv.Client(), http.MethodGet, h.base+"/developer", nil, nil); !strings.Contains(page, "9 droplets of a limit of 33") {
		t.Error("the Developer page doesn't count the created droplet")
	}

	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	pageURL, _ := url.Parse(h.base + "/developer")
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "link" && attr(n, "rel") == "stylesheet" {
			css, _ := pageURL.Parse(attr(n, "href"))
			if resp, _ := do(t, h.srv.Client(), http.MethodGet, css.String(), nil, nil); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
				t.Errorf("stylesheet %s: %d", css, resp.StatusCode)
			}
		}
	}

	resp, _ = do(t, h.srv.Client(), http.MethodPost, h.base+"/developer", url.Values{}, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /developer: %d", resp.StatusCode)
	}
}
