package handlers

// What a newcomer reads on the pages (issue 22): where things are, what
// the pages say and link to.

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"dosignin/sandbox"
)

// before reports whether the first of first comes before the first of
// then in the page, both present.
func before(p page, first, then string) bool {
	i, j := strings.Index(p.Body, first), strings.Index(p.Body, then)
	return i >= 0 && j >= 0 && i < j
}

// With a long list, the token status, the panel and the page links come
// before the table, not thousands of pixels and hundreds of tab stops
// under it; while the panel has just opened, a link skips to the table.
func TestDropletListPutsTheTokenAndThePagesAboveTheTable(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 250 })
	first := a.connect(a.Browser, "approve")
	later := a.get(a.Browser, a.URL+"/digitalocean")
	for _, p := range []page{first, later} {
		for _, above := range []string{`id="token-status-title"`, `How this worked`, `<form method="post" action="/refresh"`, `<nav class="pager" aria-label="Pages of the table">`, `rel="next"`} {
			if !before(p, above, `<table class="droplets">`) {
				t.Errorf("%s is not above the table", above)
			}
		}
		if !before(p, `</table>`, `<nav class="pager" aria-label="Pages of the table, below it">`) {
			t.Error("no page links below the table")
		}
	}
	mustContain(t, first, `<details class="flow" open>`, `<a href="#droplet-list">Skip to the droplets</a>`, `id="droplet-list"`)
	mustNotContain(t, later, `href="#droplet-list"`)
	mustContain(t, later, `class="card flow-summary"`)
	// One page, no page links.
	one := a.get(a.Browser, a.URL+"/digitalocean?tag=ci")
	mustNotContain(t, one, `class="pager"`)
}

// A 400 on the droplet page says to clear the filters and links it, and
// the header still names who is signed in: read from the cookie, with no
// call to DigitalOcean and no cookie written.
func TestErrorPageKeepsTheHeaderAndLinksTheWayOut(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	name := a.Sandbox.Account().Name
	a.Clock.Advance(2 * touchEvery) // a load would touch the session now
	calls := a.Sandbox.Stats().APIRequests

	resp, err := a.Browser.Get(a.URL + "/digitalocean?sort=bogus")
	if err != nil {
		t.Fatal(err)
	}
	p := readPage(t, resp)
	if p.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", p.Status)
	}
	mustContain(t, p, "clear the filters", `<a class="button" href="/digitalocean">Clear the filters</a>`, `<span class="who">`+html.EscapeString(name)+`</span>`)
	if n := a.Sandbox.Stats().APIRequests - calls; n != 0 {
		t.Errorf("the error page made %d API requests", n)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			t.Errorf("the error page wrote the session cookie (max-age %d)", c.MaxAge)
		}
	}
	if after := a.get(a.Browser, a.URL+"/digitalocean"); after.Status != http.StatusOK {
		t.Errorf("after the error the droplet page answers %d", after.Status)
	}

	// Nobody signed in: nobody named.
	stranger := a.get(newBrowser(t), a.URL+"/no-such-page")
	if stranger.Status != http.StatusNotFound || strings.Contains(stranger.Body, `class="who"`) {
		t.Errorf("a stranger's 404 (status %d) names an account", stranger.Status)
	}
}

var h1RE = regexp.MustCompile(`<h1>([^<]*)</h1>`)
var titleRE = regexp.MustCompile(`<title>([^<]*)</title>`)

// The progress page names the droplet from the first view to the last:
// its heading stays "Reboot web-01" rather than growing a name when done.
func TestProgressPageNamesTheDropletThroughout(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	c := a.Browser
	connectWrite(a, c)
	d := a.droplets(c)[0]
	want := "Reboot " + d.Name

	running := a.act(c, d.ID, "reboot")
	mustContain(t, running, "In progress", metaRefresh)
	a.Clock.Advance(actionDelay / 2)
	still := a.get(c, running.URL.String())
	a.Clock.Advance(actionDelay)
	done := a.get(c, running.URL.String())
	mustContain(t, done, "Completed")
	for _, p := range []page{running, still, done} {
		if m := h1RE.FindStringSubmatch(p.Body); m == nil || html.UnescapeString(m[1]) != want {
			t.Errorf("the progress page's heading is %q, want %q", m, want)
		}
		if m := titleRE.FindStringSubmatch(p.Body); m == nil || !strings.HasPrefix(html.UnescapeString(m[1]), want+": ") {
			t.Errorf("the progress page's title is %q, want it to start %q", m, want+": ")
		}
	}
}

var hintScopeRE = regexp.MustCompile(`<a class="button[^"]*" href="(/connect[^"]*)">[^<]*</a>\s*<p class="hint">Asks for <code>scope=([^<]*)</code>`)

// The index's hints quote the scopes each Connect link really asks for,
// whatever DIGITALOCEAN_SCOPES says (granular scopes included), and offer
// the read & write link only when the configured scopes cannot act.
func TestIndexHintsQuoteTheScopesTheLinksSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		configured []string
		links      int    // Connect links with a scope hint
		words      string // what the first hint says the access is
	}{
		{[]string{"read"}, 2, "read-only access"},
		{[]string{"droplet:read"}, 2, "read-only access"},
		{[]string{"droplet:read", "account:read"}, 2, "read-only access"},
		{[]string{"read", "write"}, 1, "read &amp; write access"},
		{[]string{"droplet:read", "droplet:update"}, 1, "read &amp; write access"},
	} {
		t.Run(strings.Join(tc.configured, "+"), func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t, func(o *Options, _ *sandbox.Config) { o.Scopes = tc.configured })
			index := a.get(newBrowser(t), a.URL+"/")
			mustContain(t, index, tc.words, "<code>DIGITALOCEAN_SCOPES</code>")
			hints := hintScopeRE.FindAllStringSubmatch(index.Body, -1)
			if len(hints) != tc.links {
				t.Fatalf("%d Connect links with a scope hint, want %d:\n%s", len(hints), tc.links, index.Body)
			}
			if got := html.UnescapeString(hints[0][2]); got != strings.Join(tc.configured, " ") {
				t.Errorf("the Connect hint says scope=%s, want the configured %q", got, strings.Join(tc.configured, " "))
			}
			for _, h := range hints {
				consent := a.get(newBrowser(t), a.URL+html.UnescapeString(h[1]))
				if sent, said := consent.URL.Query().Get("scope"), html.UnescapeString(h[2]); sent != said {
					t.Errorf("%s asks DigitalOcean for scope=%q, its hint says scope=%q", h[1], sent, said)
				}
			}
		})
	}
}

// Signed in, the index offers Use another account, a POST form whose hint
// says it disconnects this account first (TestSecurity49 checks what it
// does).
func TestIndexOffersAnotherAccountWhenConnected(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	p := a.get(a.Browser, a.URL+"/")
	mustContain(t, p, `<form method="post" action="/use-another-account">`, ">Use another account</button>",
		"disconnects "+a.Sandbox.Account().Email+" first", "<code>prompt=select_account</code>")
	// Not signed in, it is the plain link: there is nobody to disconnect.
	stranger := a.get(newBrowser(t), a.URL+"/")
	mustContain(t, stranger, `href="/connect?account=select"`)
	mustNotContain(t, stranger, `action="/use-another-account"`)
}
