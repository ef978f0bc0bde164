package doclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/digitalocean/godo"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
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
	// maxPooledBody is the largest page buffer kept for reuse.
	maxPooledBody = 4 << 20
	// earlyHeadSize is the body size above which page 1's page count is
	// read before its droplets are decoded (see dropletPage): about 25
	// droplets as DigitalOcean describes them.
	earlyHeadSize = 64 << 10
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
	// Droplets are every listed droplet, in the API's order. Only the
	// fields this app shows are decoded (ID, Name, Memory, Vcpus, Disk,
	// Status, Created, SizeSlug, Tags, the IPv4 addresses and their types
	// in Networks, Region.Slug and .Name, Image.ID, .Name, .Distribution
	// and .Slug): the API sends a few
	// kilobytes per droplet, mostly the size and region catalogues.
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
// those with opts.Tag), in the API's order. This is what the flow is for:
// using the access token.
//
// Without a hint it fetches page 1 (200 droplets a page, the API's
// maximum), learns the number of pages from meta.total (or
// links.pages.last), then fetches the other pages. With opts.PagesHint it
// asks for that many pages at once and only fetches more if page 1 says so.
// At most eight pages are in flight at a time, and pages are joined in page
// order. The first failure cancels the rest and is returned alone, never a
// partial list. A list fetched page by page is not a snapshot: a droplet
// created or deleted meanwhile can shift the pages, so droplets already seen
// (same ID) are skipped.
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
	// Page 1 says how many pages there are as soon as its body is in,
	// before its droplets are decoded, so the other pages' round trip
	// overlaps that decoding.
	first := make(chan *pageHead, 1)
	g.Go(func() error {
		sent := false
		err := l.fetch(gctx, 1, func(h *pageHead) { first <- h; sent = true })
		if !sent {
			first <- nil // page 1 failed
		}
		return err
	})
	// Once a page failed, the remaining ones fail at once, unsent.
	for page := 2; page <= hint; page++ {
		g.Go(func() error { return l.fetch(gctx, page, nil) })
	}
	if h := <-first; h != nil {
		pages, err := pageCount(h)
		if err != nil {
			g.Go(func() error { return err })
		}
		l.total, l.count = h.Meta.Total, pages
		for page := hint + 1; page <= pages; page++ {
			g.Go(func() error { return l.fetch(gctx, page, nil) })
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
	c   *Client
	tag string

	mu           sync.Mutex
	pages        map[int][]godo.Droplet
	requests     int
	rate         godo.Rate
	total, count int // meta.total and the page count, from page 1
}

// pageHead is what a page's body says before its droplets are decoded:
// how many it holds, and what it says of the whole list.
type pageHead struct {
	droplets int
	listInfo
}

// fetch gets one page and keeps it. head, if not nil, is told the page's
// head as soon as its body is in.
func (l *lister) fetch(ctx context.Context, page int, head func(*pageHead)) error {
	droplets, resp, err := l.c.dropletPage(ctx, l.tag, page, head)
	l.mu.Lock()
	defer l.mu.Unlock()
	if resp != nil {
		l.requests++
	}
	if err != nil {
		return err
	}
	l.pages[page] = droplets
	l.rate = resp.Rate
	return nil
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
// c.timeout. It goes through godo's request and error handling, but decodes
// the body itself (decodePage).
//
// head, if not nil, is told the page's head as soon as it is known: for a
// large body, by a first scan that allocates next to nothing
// (decodePageHead), so that the caller can send the next requests
// meanwhile; for a small one, after the decoding, which is quicker than
// scanning twice.
func (c *Client) dropletPage(ctx context.Context, tag string, page int, head func(*pageHead)) ([]godo.Droplet, *godo.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	q := url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(dropletsPerPage)}}
	if tag != "" {
		q.Set("tag_name", tag)
	}
	op := fmt.Sprintf("list droplets (page %d)", page)
	req, err := c.api.NewRequest(ctx, http.MethodGet, "v2/droplets?"+q.Encode(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("doclient: %s: %w", op, err)
	}
	// godo copies the body into an io.Writer instead of decoding it: a
	// reused buffer spares the garbage of growing one per page (a page of
	// 200 droplets is about half a megabyte).
	body, _ := c.bodies.Get().(*bytes.Buffer)
	if body == nil {
		body = new(bytes.Buffer)
	}
	defer func() {
		if body.Cap() <= maxPooledBody {
			body.Reset()
			c.bodies.Put(body)
		}
	}()
	resp, err := c.api.Do(ctx, req, body)
	if err != nil {
		return nil, resp, wrapError(ctx, op, err)
	}
	if head != nil && body.Len() > earlyHeadSize {
		h, err := decodePageHead(body.Bytes())
		if err != nil {
			return nil, resp, fmt.Errorf("doclient: %s: decoding the response: %w", op, err)
		}
		head(h)
		head = nil
	}
	droplets, h, err := decodePage(body.Bytes())
	if err != nil {
		return nil, resp, fmt.Errorf("doclient: %s: decoding the response: %w", op, err)
	}
	if head != nil {
		head(h)
	}
	return droplets, resp, nil
}

// decodePage decodes a body of GET /v2/droplets into the droplets' shown
// fields (dropletFields), and its head.
func decodePage(data []byte) ([]godo.Droplet, *pageHead, error) {
	return decodePageWith(unmarshal, data)
}

// decodePageWith is decodePage with the JSON decoder given, so that tests
// can compare unmarshal with encoding/json on the same structs.
func decodePageWith(unmarshal func([]byte, any) error, data []byte) ([]godo.Droplet, *pageHead, error) {
	var root struct {
		Droplets []dropletFields `json:"droplets"`
		listInfo
	}
	if err := unmarshal(data, &root); err != nil {
		return nil, nil, err
	}
	droplets := make([]godo.Droplet, len(root.Droplets))
	for i, d := range root.Droplets {
		droplets[i] = d.droplet()
	}
	return droplets, &pageHead{droplets: len(root.Droplets), listInfo: root.listInfo}, nil
}

// decodePageHead decodes the head of a body of GET /v2/droplets: its
// droplets are counted, not decoded.
func decodePageHead(data []byte) (*pageHead, error) {
	return decodePageHeadWith(unmarshal, data)
}

// decodePageHeadWith is decodePageHead with the JSON decoder given.
func decodePageHeadWith(unmarshal func([]byte, any) error, data []byte) (*pageHead, error) {
	var h struct {
		Droplets []struct{} `json:"droplets"`
		listInfo
	}
	if err := unmarshal(data, &h); err != nil {
		return nil, err
	}
	return &pageHead{droplets: len(h.Droplets), listInfo: h.listInfo}, nil
}

// unmarshal decodes JSON data into v with github.com/go-json-experiment/json,
// the prototype of encoding/json/v2 by members of the Go team: about 2.4
// times as fast as encoding/json on a page of droplets, most of which it
// skips (BenchmarkDecodePage). The options make it decode as encoding/json
// did (TestDecodeAsEncodingJSON): names match regardless of case (but
// "createdat" is not "created_at"); a repeated name is allowed and the last
// one wins, merged into the earlier value; invalid UTF-8 becomes U+FFFD.
//
// The module says of itself that its API is unstable and that not every
// breaking change breaks the build. It is an app's dependency here, pinned
// in go.mod, used in this one function, and checked by
// TestDecodeAsEncodingJSON and FuzzDecodeAsEncodingJSON: read its changes
// before raising the version, and move to encoding/json/v2 when the
// standard library has it (an import change).
func unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v,
		json.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true),
		jsontext.AllowDuplicateNames(true), jsonv1.MergeWithLegacySemantics(true),
		jsontext.AllowInvalidUTF8(true))
}

// listInfo is what a page of droplets says of the whole list: the
// pagination links and meta.total, the part of godo's Links and Meta
// that pageCount reads.
type listInfo struct {
	Links struct {
		Pages struct {
			Last string `json:"last"`
		} `json:"pages"`
	} `json:"links"`
	Meta struct {
		Total int `json:"total"`
	} `json:"meta"`
}

// dropletFields is the part of a droplet the app shows; the decoder skips
// the rest without allocating it.
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
	Networks struct {
		V4 []struct {
			IPAddress string `json:"ip_address"`
			Type      string `json:"type"`
		} `json:"v4"`
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

func (f *dropletFields) droplet() godo.Droplet {
	d := godo.Droplet{ID: f.ID, Name: f.Name, Memory: f.Memory, Vcpus: f.Vcpus, Disk: f.Disk, Status: f.Status,
		Created: f.Created, SizeSlug: f.SizeSlug, Tags: f.Tags}
	if len(f.Networks.V4) > 0 {
		d.Networks = &godo.Networks{V4: make([]godo.NetworkV4, len(f.Networks.V4))}
		for i, n := range f.Networks.V4 {
			d.Networks.V4[i] = godo.NetworkV4{IPAddress: n.IPAddress, Type: n.Type}
		}
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
	if h.droplets > 0 && h.Meta.Total > h.droplets {
		total := h.Meta.Total
		pages = total / h.droplets
		if total%h.droplets != 0 {
			pages++
		}
	}
	if h.Links.Pages.Last != "" {
		if last, err := pageInURL(h.Links.Pages.Last); err == nil && last > pages {
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
