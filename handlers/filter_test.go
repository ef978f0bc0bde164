package handlers

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"dosignin/sandbox"
)

var (
	rowStatusRE  = regexp.MustCompile(`<span class="status status-([a-z]+)">`)
	rowRegionRE  = regexp.MustCompile(`<td data-label="Region" class="nowrap">([^<]*)</td>`)
	rowCreatedRE = regexp.MustCompile(`<time datetime="([^"]+)">`)
	rowSizeRE    = regexp.MustCompile(`<td data-label="Size">(\d+)\x{a0}vCPUs? · (\d+)\x{a0}GB`)
	// "Showing 14 of 1000", "Showing 1–100 of 1000", "Showing 1–100 of 781 matching, out of 1000"
	showingRE = regexp.MustCompile(`Showing (?:(\d+) of (\d+)|\d+–\d+ of (\d+)(?: matching, out of (\d+))?)[ <]`)
)

// showing returns how many droplets match the filters (x) and how many
// were listed (n), from the line above the table.
func showing(t *testing.T, p page) (x, n int) {
	t.Helper()
	m := showingRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no \"Showing X of N\" on the page (status %d):\n%.2000s", p.Status, p.Body)
	}
	switch {
	case m[1] != "":
		x, _ = strconv.Atoi(m[1])
		n, _ = strconv.Atoi(m[2])
	case m[4] != "":
		x, _ = strconv.Atoi(m[3])
		n, _ = strconv.Atoi(m[4])
	default:
		x, _ = strconv.Atoi(m[3])
		n = x
	}
	return x, n
}

func column(re *regexp.Regexp, body string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestDropletFiltersAndSort(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 60 })
	all := a.connect(a.Browser, "approve")
	if x, n := showing(t, all); x != 60 || n != 60 {
		t.Fatalf("unfiltered: showing %d of %d, want 60 of 60", x, n)
	}
	// Counts per status cover every droplet, and each links to its filter.
	sum := 0
	for _, st := range []string{"active", "new", "off", "archive"} {
		m := regexp.MustCompile(`<a href="/digitalocean\?status=` + st + `">(\d+) ` + st + `</a>`).FindStringSubmatch(all.Body)
		if m == nil {
			t.Fatalf("no count for %s", st)
		}
		n, _ := strconv.Atoi(m[1])
		sum += n
		p := a.get(a.Browser, a.URL+"/digitalocean?status="+st)
		if x, _ := showing(t, p); x != n {
			t.Errorf("status=%s shows %d droplets, the count said %d", st, x, n)
		}
		for _, got := range column(rowStatusRE, p.Body) {
			if got != st {
				t.Errorf("status=%s shows a droplet that is %s", st, got)
			}
		}
		mustContain(t, p, `<option value="`+st+`" selected>`+st+`</option>`) // the form shows the choice
	}
	if sum != 60 {
		t.Errorf("status counts add up to %d, want 60", sum)
	}

	t.Run("the form as a browser sends it, every field empty", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?name=&tag=&region=&status=&sort=name&dir=asc")
		if x, n := showing(t, p); p.Status != http.StatusOK || x != 60 || n != 60 {
			t.Errorf("status %d, showing %d of %d; want every droplet", p.Status, x, n)
		}
	})
	t.Run("name contains, any case", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?name=WEB")
		names := column(rowNameRE, p.Body)
		if len(names) == 0 {
			t.Fatal("no droplet matches WEB")
		}
		for _, n := range names {
			if !strings.Contains(n, "web") {
				t.Errorf("name=WEB shows %s", n)
			}
		}
		mustContain(t, p, `name="name" value="WEB"`)
	})
	t.Run("region", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?region=nyc3")
		regions := column(rowRegionRE, p.Body)
		if len(regions) == 0 || slices.ContainsFunc(regions, func(r string) bool { return r != "New York 3" }) {
			t.Errorf("region=nyc3 shows regions %v", regions)
		}
		mustContain(t, p, `<option value="nyc3" selected>New York 3</option>`)
	})
	t.Run("tag narrows the listing itself", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?tag=staging")
		x, n := showing(t, p)
		if x == 0 || x != n {
			t.Errorf("tag=staging: showing %d of %d, want every staging droplet of the tagged listing", x, n)
		}
		for _, name := range column(rowNameRE, p.Body) {
			if !strings.HasPrefix(name, "staging-web") {
				t.Errorf("tag=staging shows %s", name)
			}
		}
		mustContain(t, p, "droplets tagged staging")
	})
	t.Run("filters combine", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?tag=production&status=active&name=db")
		for _, name := range column(rowNameRE, p.Body) {
			if !strings.HasPrefix(name, "db-") {
				t.Errorf("shows %s", name)
			}
		}
		if st := column(rowStatusRE, p.Body); slices.ContainsFunc(st, func(s string) bool { return s != "active" }) {
			t.Errorf("statuses %v", st)
		}
	})
	t.Run("sort by created, newest first", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?sort=created&dir=desc")
		created := column(rowCreatedRE, p.Body)
		if len(created) != 60 || !slices.IsSortedFunc(created, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Errorf("created column is not newest first: %v", created)
		}
	})
	t.Run("sort by size", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?sort=size")
		var mem []int
		for _, m := range rowSizeRE.FindAllStringSubmatch(p.Body, -1) {
			gb, _ := strconv.Atoi(m[2])
			mem = append(mem, gb)
		}
		if len(mem) != 60 || !slices.IsSorted(mem) || mem[0] == mem[len(mem)-1] {
			t.Errorf("memory column is not smallest first: %v", mem)
		}
	})
	t.Run("sort by name, then status and region", func(t *testing.T) {
		names := column(rowNameRE, all.Body)
		if !slices.IsSortedFunc(names, naturalCompare) {
			t.Errorf("default order is not by name: %v", names)
		}
		p := a.get(a.Browser, a.URL+"/digitalocean?sort=region")
		if r := column(rowRegionRE, p.Body); !slices.IsSorted(r) {
			t.Errorf("region column not sorted: %v", r)
		}
		p = a.get(a.Browser, a.URL+"/digitalocean?sort=status")
		if st := column(rowStatusRE, p.Body); len(st) == 0 || st[0] != "active" || st[len(st)-1] != "archive" {
			t.Errorf("status column not in active, new, off, archive order: %v", st)
		}
	})
	t.Run("nothing matches", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?name=no-such-droplet")
		if p.Status != http.StatusOK {
			t.Fatalf("status %d", p.Status)
		}
		mustContain(t, p, "No droplet matches", "Showing 0 of 60")
	})
	t.Run("a tag no droplet has", func(t *testing.T) {
		p := a.get(a.Browser, a.URL+"/digitalocean?tag=nothing-here")
		mustContain(t, p, "No droplet has this tag")
	})
}

// Numbers in names sort as numbers, as in DigitalOcean's control panel:
// db-replica-99 before db-replica-100, not db-replica-10, -100, -101, ...
func TestDropletNamesSortNaturally(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 1000 })
	a.connect(a.Browser, "approve")
	var want []string
	for i := 1; i <= 124; i++ {
		want = append(want, fmt.Sprintf("db-replica-%02d", i))
	}
	first := a.get(a.Browser, a.URL+"/digitalocean?tag=db")
	second := a.get(a.Browser, a.URL+"/digitalocean?tag=db&page=2")
	got := append(column(rowNameRE, first.Body), column(rowNameRE, second.Body)...)
	if len(got) == 0 || got[0] != "db-primary" || !slices.Equal(got[1:], want) {
		t.Errorf("tag=db by name shows %v, want db-primary then %v", got, want)
	}
	// Descending is the same order backwards.
	desc := a.get(a.Browser, a.URL+"/digitalocean?tag=db&dir=desc")
	if got := column(rowNameRE, desc.Body); len(got) < 3 || got[0] != "db-replica-124" || got[1] != "db-replica-123" || got[99] != "db-replica-25" {
		t.Errorf("tag=db by name, descending, starts %v", got[:min(3, len(got))])
	}
}

var statusLinkRE = regexp.MustCompile(`<a href="(/digitalocean\?[^"]*status=[a-z]+[^"]*)">(\d+) ([a-z]+)</a>`)

// The line above the table says the total once, and its status counts
// count the droplets the other filters match: each is what its link shows.
func TestDropletCountsSayWhatTheTableShows(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 1000 })
	a.connect(a.Browser, "approve")
	for _, tc := range []struct{ query, showing string }{
		{"", "Showing 1–100 of 1000 · "},
		{"?page=10", "Showing 901–1000 of 1000 · "},
		{"?tag=ci", "Showing 1–100 of 125 · "}, // the tag's listing is the total
		{"?name=web", "Showing 1–100 of 250 matching, out of 1000 · "},
		{"?name=db-replica-12", "Showing 6 of 1000 · "}, // -12 and -120 to -124
		{"?name=db-replica-12&tag=db", "Showing 6 of 125 · "},
	} {
		p := a.get(a.Browser, a.URL+"/digitalocean"+tc.query)
		mustContain(t, p, tc.showing)
		if strings.Contains(p.Body, " of 1000 of 1000") || strings.Contains(p.Body, " of 125 of 125") {
			t.Errorf("%s: the total is said twice", tc.query)
		}
	}

	for _, query := range []string{"?name=web", "?name=web&status=off", "?tag=production&region=nyc3"} {
		p := a.get(a.Browser, a.URL+"/digitalocean"+query)
		shown, _ := showing(t, p)
		links := statusLinkRE.FindAllStringSubmatch(p.Body, -1)
		sum := 0
		if m := regexp.MustCompile(`<strong aria-current="true">(\d+) ([a-z]+)</strong>`).FindStringSubmatch(p.Body); m != nil {
			// The status filter that is on: its count is what is shown.
			n, _ := strconv.Atoi(m[1])
			if n != shown {
				t.Errorf("%s: the current status says %d, the table shows %d", query, n, shown)
			}
			sum += n
		} else if strings.Contains(query, "status=") {
			t.Errorf("%s: the status filter that is on is not marked", query)
		}
		if len(links) == 0 {
			t.Fatalf("%s: no status counts", query)
		}
		for _, l := range links {
			n, _ := strconv.Atoi(l[2])
			sum += n
			if followed, _ := showing(t, a.get(a.Browser, a.URL+html.UnescapeString(l[1]))); followed != n {
				t.Errorf("%s: the link %q says %d %s but shows %d", query, l[1], n, l[3], followed)
			}
		}
		// Without the status filter, the same droplets as counted.
		wantSum := shown
		if strings.Contains(query, "status=") {
			m := regexp.MustCompile(`<a href="([^"]*)">any status</a>`).FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("%s: no link to any status", query)
			}
			wantSum, _ = showing(t, a.get(a.Browser, a.URL+html.UnescapeString(m[1])))
		}
		if sum != wantSum {
			t.Errorf("%s: the status counts add up to %d, want %d", query, sum, wantSum)
		}
	}
}

func TestDropletTableIsPagedAndPagesStayInRange(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 250 })
	a.connect(a.Browser, "approve")
	p := a.get(a.Browser, a.URL+"/digitalocean?page=3&sort=created")
	mustContain(t, p, "Showing 201–250 of 250 · ", "Page 3 of 3", `rel="prev"`, `href="/digitalocean?page=2&amp;sort=created"`)
	mustNotContain(t, p, `rel="next"`)
	if n := len(column(rowNameRE, p.Body)); n != 50 {
		t.Errorf("page 3 shows %d rows, want 50", n)
	}
	// A bookmark to a page that no longer exists shows the last one.
	p = a.get(a.Browser, a.URL+"/digitalocean?page=99")
	if p.Status != http.StatusOK {
		t.Fatalf("page=99: status %d", p.Status)
	}
	mustContain(t, p, "Page 3 of 3")
}

func TestLaterViewAsksForEveryPageAtOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 1000 })
	a.connect(a.Browser, "approve")
	if got := a.session(a.Browser).Pages; got != 5 {
		t.Fatalf("the session remembers %d pages, want 5", got)
	}
	before := a.Sandbox.Stats().APIRequests
	p := a.get(a.Browser, a.URL+"/digitalocean")
	if x, _ := showing(t, p); x != 1000 {
		t.Fatalf("showing %d", x)
	}
	if n := a.Sandbox.Stats().APIRequests - before; n != 5 {
		t.Errorf("a later view made %d API requests, want 5", n)
	}
	// A tagged view has its own size: it neither uses nor replaces the hint.
	a.get(a.Browser, a.URL+"/digitalocean?tag=ci")
	if got := a.session(a.Browser).Pages; got != 5 {
		t.Errorf("after a tagged view the session remembers %d pages, want 5", got)
	}
}

func TestDropletPageShowsTheRemainingQuota(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.RateLimit = 300 })
	quotaRE := regexp.MustCompile(`<dt>API requests left</dt><dd>(\d+) of 300 this hour</dd>`)
	left := func(p page) int {
		t.Helper()
		// In the token status box, with what else the token allows.
		box := p.Body[strings.Index(p.Body, `id="token-status-title"`):]
		box = box[:strings.Index(box, "</section>")]
		m := quotaRE.FindStringSubmatch(box)
		if m == nil {
			t.Fatalf("no remaining quota in the token status box:\n%s", box)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	first := left(a.connect(a.Browser, "approve"))
	if first >= 300 || first < 290 {
		t.Errorf("%d requests left after one view, want a little under 300", first)
	}
	if next := left(a.get(a.Browser, a.URL+"/digitalocean")); next != first-1 {
		t.Errorf("%d left after another view, want %d", next, first-1)
	}
}
