package doclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"
	"golang.org/x/sync/errgroup"
)

const (
	// dropletsPerPage is the most the API returns per page: fewest calls.
	dropletsPerPage = 200
	// maxDropletPages guards against an absurd page count (100,000
	// droplets), which would otherwise turn into that many requests.
	maxDropletPages = 500
	// pageConcurrency bounds the pages fetched at once: enough for 1,600
	// droplets in one round trip, and still gentle on the API's burst limit
	// (250 requests a minute): a listing makes as many requests whatever
	// the bound, it only decides how fast they go out.
	pageConcurrency = 8
)

// ListOptions narrows and speeds up [Client.Droplets]. The zero value lists
// every droplet.
type ListOptions struct {
	// Tag lists only the droplets with this tag (the API's tag_name), so
	// a large account's tagged subset costs fewer pages.
	Tag string

	// PagesHint is the number of pages the previous listing of the same
	// account and Tag had ([DropletList.Pages]); 0 means unknown. With it,
	// every page is asked for at once, one round trip instead of two; if
	// page 1 then says there are more, the rest follow. A hint that is too
	// large costs requests that return nothing, never wrong results.
	PagesHint int
}

// DropletList is what [Client.Droplets] found.
type DropletList struct {
	// Droplets are every listed droplet, in the API's order, as godo
	// decodes them.
	Droplets []godo.Droplet
	// Total is the API's count of droplets (meta.total of page 1).
	Total int
	// Pages is the number of pages the list has: the next PagesHint.
	Pages int
	// Requests is the number of API responses this listing got.
	Requests int
	// Rate is the rate-limit state of the last response that arrived:
	// how many requests the token has left this hour, and when that resets.
	Rate godo.Rate
}

// Droplets lists the droplets of the account that ts's token belongs to (or
// those with opts.Tag), in the API's order, through godo's client (see
// dropletPage). This is what the flow is for: using the access token.
//
// Without a hint it fetches page 1 (200 droplets a page, the API's
// maximum), learns the number of pages from meta.total (or
// links.pages.last), then fetches the other pages. With opts.PagesHint it
// asks for that many pages at once and only fetches more if page 1 says so.
// At most eight pages are in flight at a time, and pages are joined in page
// order. The first failure cancels the rest and is returned alone, never a
// partial list. A list fetched page by page is not a snapshot: a droplet
// created or deleted meanwhile can shift the pages, so droplets already seen
// (same ID) are skipped. A 2xx page without its droplets array is an error
// for which [IsMalformed] is true.
//
// ts is usually a [*TokenSource], so that an expired token is refreshed once
// for all pages; a refresh failure comes back as an [*OAuthError]. Each page
// is bounded by Config.Timeout (plus, for the call that refreshes, the
// refresh's own Timeout).
func (c *Client) Droplets(ctx context.Context, ts oauth2.TokenSource, opts ListOptions) (*DropletList, error) {
	if ts == nil {
		return nil, errors.New("doclient: list droplets: no token source")
	}
	at, start := c.now(), time.Now()
	ctx = withTokenSource(ctx, ts)
	l := &lister{c: c, tag: opts.Tag, pages: map[int][]godo.Droplet{}}
	hint := min(max(opts.PagesHint, 1), maxDropletPages)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pageConcurrency)
	// Page 1 says how many pages there are; the hinted ones go out beside
	// it, the others once it is in.
	first := make(chan *pageHead, 1)
	g.Go(func() error {
		h, err := l.fetch(gctx, 1)
		first <- h // nil if page 1 failed
		return err
	})
	// Once a page failed, the remaining ones fail at once, unsent.
	for page := 2; page <= hint; page++ {
		g.Go(func() error { _, err := l.fetch(gctx, page); return err })
	}
	if h := <-first; h != nil {
		pages, err := pageCount(h)
		if err != nil {
			g.Go(func() error { return err })
		}
		l.total, l.count = h.total, pages
		for page := hint + 1; page <= pages; page++ {
			g.Go(func() error { _, err := l.fetch(gctx, page); return err })
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	list := l.result(max(hint, l.count))
	traceFrom(ctx).dropletsListed(DropletListing{Droplets: len(list.Droplets), Pages: list.Requests, At: at, Duration: time.Since(start)})
	return list, nil
}

// lister collects the pages of one listing, fetched concurrently.
type lister struct {
	c            *Client
	tag          string
	total, count int // meta.total and the page count, from page 1

	mu       sync.Mutex
	pages    map[int][]godo.Droplet
	requests int
	rate     godo.Rate
}

// pageHead is what a page says of the whole list: how many droplets it
// holds, meta.total, and links.pages.last ("" when absent).
type pageHead struct {
	droplets, total int
	last            string
}

// fetch gets one page, keeps it, and returns its head.
func (l *lister) fetch(ctx context.Context, page int) (*pageHead, error) {
	droplets, resp, err := l.c.dropletPage(ctx, l.tag, page)
	l.mu.Lock()
	defer l.mu.Unlock()
	if resp != nil {
		l.requests++
	}
	if err != nil {
		return nil, err
	}
	l.pages[page] = droplets
	l.rate = resp.Rate
	h := &pageHead{droplets: len(droplets)}
	if resp.Meta != nil {
		h.total = resp.Meta.Total
	}
	if resp.Links != nil && resp.Links.Pages != nil {
		h.last = resp.Links.Pages.Last
	}
	return h, nil
}

// result joins pages 1..last in order, skipping droplets already seen.
func (l *lister) result(last int) *DropletList {
	n := 0
	for _, droplets := range l.pages {
		n += len(droplets)
	}
	all := make([]godo.Droplet, 0, n)
	seen := make(map[int]bool, n)
	for page := 1; page <= last; page++ {
		for _, d := range l.pages[page] {
			if !seen[d.ID] {
				seen[d.ID] = true
				all = append(all, d)
			}
		}
	}
	return &DropletList{Droplets: all, Total: l.total, Pages: l.count, Requests: l.requests, Rate: l.rate}
}

// newAPI returns the godo client of all API calls. One client serves
// every user: each call brings its token source in its context
// (withTokenSource), and bearerTransport asks it for the token.
func newAPI(transport http.RoundTripper, apiURL, userAgent string) (*godo.Client, error) {
	hc := &http.Client{
		Transport:     bearerTransport{base: errorBodyTransport{base: rateLimitRetry{base: transport}}},
		CheckRedirect: refuseRedirects,
	}
	// godo resolves "v2/droplets" against the base URL, so the base keeps
	// its path prefix (e.g. /sandbox/) thanks to the trailing slash.
	// godo's retries stay off (its default with godo.New): a user is
	// waiting, and a failure shows a "try again" page.
	return godo.New(hc, godo.SetBaseURL(apiURL), godo.SetUserAgent(userAgent))
}

// tokenSourceKey is the context key of the token source an API call
// authenticates with.
type tokenSourceKey struct{}

// withTokenSource returns ctx carrying ts, for the API calls made with it.
func withTokenSource(ctx context.Context, ts oauth2.TokenSource) context.Context {
	return context.WithValue(ctx, tokenSourceKey{}, ts)
}

// bearerTransport adds "Authorization: Bearer <token>" to every API
// request, asking the token source in the request's context for the token
// each time, through an oauth2.Transport: so a [*TokenSource] refreshes an
// expired token once for all the pages of a listing. Without a token
// source the request fails unsent, with oauth2.Transport's error.
type bearerTransport struct {
	base http.RoundTripper
}

func (t bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ts, _ := req.Context().Value(tokenSourceKey{}).(oauth2.TokenSource)
	return (&oauth2.Transport{Source: ts, Base: t.base}).RoundTrip(req)
}

// dropletPage fetches one page of droplets (with tag, if not ""), within
// c.timeout, through godo's client: its request, the bearer token, its
// handling of the API's errors, and the page's links, meta and rate-limit
// headers.
//
// It decodes the page itself, into dropletFields, rather than calling
// godo's Droplets.List: that decodes every field of every droplet, each
// with its size's list of regions, its region's list of sizes and its
// image's list of regions, for a page that shows nine of them. With the
// droplets DigitalOcean sends (about 1.5 KB each), decoding them all
// costs more than twice as much (docs/PERFORMANCE.md has the figures);
// encoding/json skips what the struct does not name without keeping it.
func (c *Client) dropletPage(ctx context.Context, tag string, page int) ([]godo.Droplet, *godo.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	op := fmt.Sprintf("list droplets (page %d)", page)
	q := url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(dropletsPerPage)}}
	if tag != "" {
		q.Set("tag_name", tag)
	}
	req, err := c.api.NewRequest(ctx, http.MethodGet, "v2/droplets?"+q.Encode(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("doclient: %s: %w", op, err)
	}
	var body struct {
		Droplets []dropletFields `json:"droplets"`
		Links    *godo.Links     `json:"links"`
		Meta     *godo.Meta      `json:"meta"`
	}
	resp, err := c.api.Do(ctx, req, &body)
	if err != nil {
		return nil, resp, wrapError(ctx, op, err)
	}
	resp.Links, resp.Meta = body.Links, body.Meta // as godo's own list methods set them
	// A missing or null array would otherwise pass for an empty account.
	if body.Droplets == nil {
		return nil, resp, malformed(op, "no droplets array")
	}
	droplets := make([]godo.Droplet, len(body.Droplets))
	for i, f := range body.Droplets {
		if f.ID < 1 {
			return nil, resp, malformed(op, "a droplet without an id")
		}
		droplets[i] = f.droplet()
	}
	return droplets, resp, nil
}

// dropletFields is the part of a droplet that the droplet page shows, in
// godo's names; [dropletFields.droplet] makes it a godo.Droplet.
type dropletFields struct {
	ID       int      `json:"id"`
	Name     string   `json:"name"`
	Memory   int      `json:"memory"`
	Vcpus    int      `json:"vcpus"`
	Disk     int      `json:"disk"`
	Status   string   `json:"status"`
	Created  string   `json:"created_at"`
	SizeSlug string   `json:"size_slug"`
	Tags     []string `json:"tags"`
	Networks *struct {
		V4 []godo.NetworkV4 `json:"v4"`
	} `json:"networks"`
	Region *struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	} `json:"region"`
	Image *struct {
		ID           int    `json:"id"`
		Name         string `json:"name"`
		Distribution string `json:"distribution"`
		Slug         string `json:"slug"`
	} `json:"image"`
}

func (f dropletFields) droplet() godo.Droplet {
	d := godo.Droplet{ID: f.ID, Name: f.Name, Memory: f.Memory, Vcpus: f.Vcpus, Disk: f.Disk, Status: f.Status,
		Created: f.Created, SizeSlug: f.SizeSlug, Tags: f.Tags}
	if f.Networks != nil {
		d.Networks = &godo.Networks{V4: f.Networks.V4}
	}
	if f.Region != nil {
		d.Region = &godo.Region{Slug: f.Region.Slug, Name: f.Region.Name}
	}
	if f.Image != nil {
		d.Image = &godo.Image{ID: f.Image.ID, Name: f.Image.Name, Distribution: f.Image.Distribution, Slug: f.Image.Slug}
	}
	return d
}

// pageCount returns how many pages to fetch, given the first page's head.
// It takes the larger of the two estimates, from meta.total and
// links.pages.last: an extra page costs one request that returns nothing,
// a missing one loses droplets. The page size is the first page's, which is
// the one the server really used if it returned fewer than the 200 asked
// for.
func pageCount(h *pageHead) (int, error) {
	pages := 1
	if h.droplets > 0 && h.total > h.droplets {
		pages = (h.total + h.droplets - 1) / h.droplets
	}
	if h.last != "" {
		if last, err := pageInURL(h.last); err == nil && last > pages {
			pages = last
		}
	}
	if pages > maxDropletPages {
		return 0, fmt.Errorf("doclient: list droplets: the API reports %d pages, more than the %d this client fetches", pages, maxDropletPages)
	}
	return pages, nil
}

// pageInURL returns the page query parameter of a pagination link such as
// "https://api.digitalocean.com/v2/droplets?page=3&per_page=200".
func pageInURL(link string) (int, error) {
	u, err := url.Parse(link)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Query().Get("page"))
}
