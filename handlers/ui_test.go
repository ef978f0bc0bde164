package handlers

// What a newcomer reads on the pages (issue 22): where things are, what
// the pages say and link to.

import (
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
		for _, above := range []string{`id="token-status-title"`, `<details class="flow"`, `<form method="post" action="/refresh"`, `<nav class="pager" aria-label="Pages of the table">`, `rel="next"`} {
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
	// One page, no page links.
	one := a.get(a.Browser, a.URL+"/digitalocean?tag=ci")
	mustNotContain(t, one, `class="pager"`)
}
