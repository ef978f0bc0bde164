package flow

import (
	"context"
	"sync"

	"dosignin/doclient"
)

// Calls collects what doclient reports during one request. Reports may
// arrive from several goroutines at once (the pages of a listing).
type Calls struct {
	mu       sync.Mutex
	links    []doclient.AuthorizeLink
	tokens   []doclient.TokenRequest
	revokes  []doclient.RevokeRequest
	api      []doclient.APICall
	listings []doclient.DropletListing
}

// Collect returns ctx carrying a doclient.Trace that reports into the
// returned Calls: pass ctx to the doclient calls of the request.
func Collect(ctx context.Context) (context.Context, *Calls) {
	c := &Calls{}
	add := func(f func()) {
		c.mu.Lock()
		defer c.mu.Unlock()
		f()
	}
	return doclient.WithTrace(ctx, &doclient.Trace{
		AuthorizeLink:  func(l doclient.AuthorizeLink) { add(func() { c.links = append(c.links, l) }) },
		TokenRequest:   func(t doclient.TokenRequest) { add(func() { c.tokens = append(c.tokens, t) }) },
		Revoke:         func(rv doclient.RevokeRequest) { add(func() { c.revokes = append(c.revokes, rv) }) },
		APICall:        func(a doclient.APICall) { add(func() { c.api = append(c.api, a) }) },
		DropletsListed: func(l doclient.DropletListing) { add(func() { c.listings = append(c.listings, l) }) },
	}), c
}

// Link is the authorization link the request built (step 1), if it built
// exactly one.
func (c *Calls) Link() (doclient.AuthorizeLink, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.links) != 1 {
		return doclient.AuthorizeLink{}, false
	}
	return c.links[0], true
}

// Exchange is the code exchange of steps 4 and 5, if the request made one.
func (c *Calls) Exchange() (doclient.TokenRequest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tokens {
		if t.GrantType == doclient.GrantAuthorizationCode {
			return t, true
		}
	}
	return doclient.TokenRequest{}, false
}

// Events is what the request did after the login, as a record keeps it
// (see [Record.Add]): refreshes, API calls, listings and revokes. It is
// empty when the request called nothing.
func (c *Calls) Events() []Step {
	c.mu.Lock()
	defer c.mu.Unlock()
	return events(c.tokens, c.api, c.listings, c.revokes)
}
