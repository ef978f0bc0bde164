package doclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"
)

// Creating droplets for the user and destroying them: the catalogue a
// create form offers (regions, sizes, distribution images, SSH keys), the
// create, and the destroy. Each catalogue call lists every page, 200 items
// a page; the create and the destroy are sent once, never retried, and
// once per one-time key (see CreateDroplet).

const (
	// listPerPage is the most the API returns per page: fewest calls.
	listPerPage = 200
	// maxListPages bounds a catalogue listing (10,000 items, far more
	// than DigitalOcean offers), so that an answer that always says
	// "next" cannot turn into endless requests.
	maxListPages = 50
)

// Regions returns every region (GET /v2/regions, every page), in the API's
// order, those closed to new droplets ("available": false) included: a
// create form offers only the available ones. A 2xx answer without the
// regions array, or with a region without a slug, is an error for which
// [IsMalformed] is true.
func (c *Client) Regions(ctx context.Context, ts oauth2.TokenSource) ([]godo.Region, error) {
	return listEvery(ctx, c, ts, "list regions", c.api.Regions.List, func(r godo.Region) bool { return r.Slug != "" })
}

// Sizes returns every droplet size (GET /v2/sizes, every page), each with
// its monthly and hourly price and the regions where it can be created
// (Regions), retired ones ("available": false) included. A size without a
// slug is malformed.
func (c *Client) Sizes(ctx context.Context, ts oauth2.TokenSource) ([]godo.Size, error) {
	return listEvery(ctx, c, ts, "list sizes", c.api.Sizes.List, func(z godo.Size) bool { return z.Slug != "" })
}

// Images returns the public distribution images (GET
// /v2/images?type=distribution, every page): Ubuntu, Debian, Fedora and
// the others, each version an image. An image without an ID is malformed.
func (c *Client) Images(ctx context.Context, ts oauth2.TokenSource) ([]godo.Image, error) {
	return listEvery(ctx, c, ts, "list images", c.api.Images.ListDistribution, func(img godo.Image) bool { return img.ID > 0 })
}

// Keys returns the account's SSH keys (GET /v2/account/keys, every page),
// which a new droplet can be given so that their holders can log in. An
// account may have none: that is an empty list, not an error. A key
// without an ID is malformed.
func (c *Client) Keys(ctx context.Context, ts oauth2.TokenSource) ([]godo.Key, error) {
	return listEvery(ctx, c, ts, "list SSH keys", c.api.Keys.List, func(k godo.Key) bool { return k.ID > 0 })
}

// listEvery fetches every page of a list with godo's list method, page
// after page (links.pages.next says whether there is another), each page
// within c.timeout. An item valid rejects makes the answer malformed.
func listEvery[T any](ctx context.Context, c *Client, ts oauth2.TokenSource, op string,
	list func(context.Context, *godo.ListOptions) ([]T, *godo.Response, error), valid func(T) bool) ([]T, error) {
	if ts == nil {
		return nil, errors.New("doclient: " + op + ": no token source")
	}
	ctx = withTokenSource(ctx, ts)
	all := []T{}
	for page := 1; ; page++ {
		items, resp, err := listPage(ctx, c, op, page, list)
		if err != nil {
			return nil, err
		}
		// godo reads a missing or null array as nil: an answer that
		// says nothing would otherwise pass for an empty list.
		if items == nil {
			return nil, malformed(op, "no list in the answer")
		}
		for _, item := range items {
			if !valid(item) {
				return nil, malformed(op, "an item without its id or slug")
			}
		}
		all = append(all, items...)
		if len(items) == 0 || resp.Links == nil || resp.Links.IsLastPage() {
			return all, nil
		}
		if page == maxListPages {
			return nil, fmt.Errorf("doclient: %s: the API reports more than %d pages", op, maxListPages)
		}
	}
}

// listPage fetches one page of a list within c.timeout.
func listPage[T any](ctx context.Context, c *Client, op string, page int,
	list func(context.Context, *godo.ListOptions) ([]T, *godo.Response, error)) ([]T, *godo.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	items, resp, err := list(ctx, &godo.ListOptions{Page: page, PerPage: listPerPage})
	if err != nil {
		return nil, nil, wrapError(ctx, fmt.Sprintf("%s (page %d)", op, page), err)
	}
	return items, resp, nil
}

// Created is DigitalOcean's answer to a create (202 Accepted): the
// droplet, in status "new" and without addresses yet, and the create
// action in progress (links.actions). The droplet becomes "active", with
// its IP addresses, when that action completes; follow it with
// [Client.Droplet] (or [Client.Action]).
type Created struct {
	Droplet godo.Droplet
	Actions []godo.LinkAction // links.actions: rel "create", and the action's ID and URL
}

// CreateDroplet creates a droplet (POST /v2/droplets) with godo's
// Droplets.Create. It needs a token with write access (the droplet:create
// scope, and image:read, with ssh_key:read for keys and tag:create for
// tags). A created droplet costs money from that moment until it is
// destroyed.
//
// DigitalOcean refuses what it cannot create with 422 (a name that is not
// a hostname, a size not offered in the region, an unknown image or SSH
// key, the account's droplet limit): [IsUnprocessable] gives its message,
// which says which. Nothing was created then, nor after a 403 or a 429.
//
// The POST is sent once and never retried, not even after a short 429: a
// second POST would create a second droplet. A timeout or a 5xx leaves
// the caller not knowing whether the droplet was created ([IsTimeout],
// [IsUnavailable]); so does a 2xx answer without the droplet
// ([IsMalformed]). Look for it by name in the droplet list before trying
// again.
//
// once is the one-time key of the user's confirmation, as for
// [Client.DropletAction]: calls with the same key and request share one
// POST, whether they overlap or come within [ActionOnceFor], so a form
// sent twice creates one droplet and both answers name it. An empty once
// turns the sharing off.
func (c *Client) CreateDroplet(ctx context.Context, ts oauth2.TokenSource, req *godo.DropletCreateRequest, once string) (*Created, error) {
	const op = "create droplet"
	if req == nil {
		return nil, errors.New("doclient: " + op + ": no request")
	}
	create := func(ctx context.Context) (*Created, error) {
		ctx, cancel := context.WithTimeout(withTokenSource(ctx, ts), c.timeout)
		defer cancel()
		d, resp, err := c.api.Droplets.Create(ctx, req)
		switch {
		case err != nil:
			return nil, wrapError(ctx, op, err)
		case d == nil || d.ID < 1:
			return nil, malformed(op, "no droplet")
		}
		created := &Created{Droplet: *d}
		if resp.Links != nil {
			created.Actions = resp.Links.Actions
		}
		return created, nil
	}
	if once == "" {
		return create(ctx)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("doclient: %s: %w", op, err)
	}
	created, err := c.creates.once(ctx, hashOf(op, once, string(body)), c.now, create)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("doclient: %s: %w", op, ctx.Err())
	}
	if created == nil {
		return nil, err
	}
	shared := *created // each caller gets its own copy of a shared result
	return &shared, err
}

// DeleteDroplet destroys droplet id (DELETE /v2/droplets/{id}, 204) with
// godo's Droplets.Delete: the droplet and its disk are gone, and billing
// stops. It needs write access (droplet:delete). A droplet that no longer
// exists, or is another account's, is a 404 ([IsNotFound]).
//
// Like [Client.CreateDroplet], the DELETE is never retried, and calls with
// the same one-time key once share one request: a confirmation sent twice
// deletes once. After a timeout or a 5xx the droplet may or may not be
// gone; the droplet list says.
func (c *Client) DeleteDroplet(ctx context.Context, ts oauth2.TokenSource, id int, once string) error {
	const op = "delete droplet"
	destroy := func(ctx context.Context) (struct{}, error) {
		ctx, cancel := context.WithTimeout(withTokenSource(ctx, ts), c.timeout)
		defer cancel()
		if _, err := c.api.Droplets.Delete(ctx, id); err != nil {
			return struct{}{}, wrapError(ctx, op, err)
		}
		return struct{}{}, nil
	}
	if once == "" {
		_, err := destroy(ctx)
		return err
	}
	_, err := c.deletes.once(ctx, hashOf(op, once, strconv.Itoa(id)), c.now, destroy)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("doclient: %s: %w", op, ctx.Err())
	}
	return err
}

// IsUnprocessable reports whether DigitalOcean refused a request as
// impossible (422 unprocessable_entity), having done nothing: a create
// with a bad name, a size not offered in the region, an unknown image or
// SSH key, or past the account's droplet limit; an action on a droplet
// already in that state. Message, DigitalOcean's words, says which.
func IsUnprocessable(err error) (*APIError, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == 422 {
		return ae, true
	}
	return nil, false
}
