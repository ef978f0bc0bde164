package doclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

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
	// pageConcurrency bounds the pages fetched at once: faster than one by
	// one, gentle on the API's burst limit (250 requests a minute).
	pageConcurrency = 4
)

// Droplets lists every droplet of the account that ts's token belongs to, in
// the API's order. This is what the flow is for: using the access token.
//
// It fetches page 1 (200 droplets a page, the API's maximum), learns the
// number of pages from meta.total (or links.pages.last), then fetches the
// other pages, at most four at a time, and joins them in page order. The
// first failure cancels the rest and is returned alone, never a partial list.
// A list fetched page by page is not a snapshot: a droplet created or deleted
// meanwhile can shift the pages, so droplets already seen (same ID) are
// skipped.
//
// ts is usually a [*TokenSource], so that an expired token is refreshed once
// for all pages; a refresh failure comes back as an [*OAuthError]. Each page
// is bounded by Config.Timeout (plus, for the call that refreshes, the
// refresh's own Timeout).
func (c *Client) Droplets(ctx context.Context, ts oauth2.TokenSource) ([]godo.Droplet, error) {
	if ts == nil {
		return nil, errors.New("doclient: list droplets: no token source")
	}
	api, err := c.api(ts)
	if err != nil {
		return nil, err
	}

	first, resp, err := c.dropletPage(ctx, api, 1)
	if err != nil {
		return nil, err
	}
	pages, err := pageCount(len(first), resp)
	if err != nil {
		return nil, err
	}

	byPage := make([][]godo.Droplet, pages)
	byPage[0] = first
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pageConcurrency)
	for page := 2; page <= pages; page++ {
		// Once a page failed, the remaining ones fail at once, unsent.
		g.Go(func() error {
			droplets, _, err := c.dropletPage(gctx, api, page)
			byPage[page-1] = droplets // each goroutine writes its own element
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	n := 0
	for _, droplets := range byPage {
		n += len(droplets)
	}
	all := make([]godo.Droplet, 0, n)
	seen := make(map[int]bool, n)
	for _, droplets := range byPage {
		for _, d := range droplets {
			if !seen[d.ID] {
				seen[d.ID] = true
				all = append(all, d)
			}
		}
	}
	return all, nil
}

// api returns a godo client that authenticates with ts. godo is given an
// http.Client whose oauth2.Transport adds "Authorization: Bearer <token>" to
// every request, asking ts for the token each time.
func (c *Client) api(ts oauth2.TokenSource) (*godo.Client, error) {
	hc := &http.Client{
		Transport: &oauth2.Transport{
			Source: ts,
			Base:   errorBodyTransport{base: rateLimitRetry{base: c.transport}},
		},
		CheckRedirect: refuseRedirects,
	}
	// godo resolves "v2/droplets" against the base URL, so the base keeps
	// its path prefix (e.g. /sandbox/) thanks to the trailing slash.
	// godo's retries stay off (its default with godo.New): a user is
	// waiting, and a failure shows a "try again" page.
	api, err := godo.New(hc, godo.SetBaseURL(c.apiURL), godo.SetUserAgent(c.userAgent))
	if err != nil {
		return nil, fmt.Errorf("doclient: list droplets: %w", err)
	}
	return api, nil
}

// dropletPage fetches one page of droplets, within c.timeout.
func (c *Client) dropletPage(ctx context.Context, api *godo.Client, page int) ([]godo.Droplet, *godo.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	droplets, resp, err := api.Droplets.List(ctx, &godo.ListOptions{Page: page, PerPage: dropletsPerPage})
	if err != nil {
		return nil, nil, wrapError(ctx, fmt.Sprintf("list droplets (page %d)", page), err)
	}
	return droplets, resp, nil
}

// pageCount returns how many pages to fetch, given the first page's size and
// its meta and links. It takes the larger of the two estimates: an extra page
// costs one request that returns nothing, a missing one loses droplets. The
// page size is the first page's, which is the one the server really used if
// it returned fewer than the 200 asked for.
func pageCount(firstLen int, resp *godo.Response) (int, error) {
	pages := 1
	if resp.Meta != nil && firstLen > 0 && resp.Meta.Total > firstLen {
		total := resp.Meta.Total
		pages = total / firstLen
		if total%firstLen != 0 {
			pages++
		}
	}
	if resp.Links != nil && resp.Links.Pages != nil && resp.Links.Pages.Last != "" {
		if last, err := pageInURL(resp.Links.Pages.Last); err == nil && last > pages {
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
