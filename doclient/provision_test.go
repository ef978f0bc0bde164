package doclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"dosignin/doclient"
)

// catalogAPI serves the create form's lists in pages of its own size
// (DigitalOcean's is at most 200, the client asks for 200), with
// DigitalOcean's links.pages.next, and records the queries it got.
type catalogAPI struct {
	perPage int // the page size the server uses, whatever is asked
	total   int // items in each list

	mu      sync.Mutex
	queries []string
}

func (a *catalogAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.queries = append(a.queries, r.URL.Path+"?"+r.URL.RawQuery)
	a.mu.Unlock()
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	var key string
	var item func(i int) map[string]any
	switch r.URL.Path {
	case "/v2/regions":
		key, item = "regions", func(i int) map[string]any {
			return map[string]any{"slug": fmt.Sprintf("r%d", i), "name": fmt.Sprintf("Region %d", i), "available": i != 2, "sizes": []string{"s-1"}}
		}
	case "/v2/sizes":
		key, item = "sizes", func(i int) map[string]any {
			return map[string]any{"slug": fmt.Sprintf("s-%d", i), "price_monthly": float64(i * 6), "price_hourly": float64(i*6) / 672, "regions": []string{"r1"}, "available": true}
		}
	case "/v2/images":
		if r.URL.Query().Get("type") != "distribution" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"id": "bad_request", "message": "want type=distribution"})
			return
		}
		key, item = "images", func(i int) map[string]any {
			return map[string]any{"id": 1000 + i, "name": fmt.Sprintf("%d x64", i), "distribution": "Ubuntu", "slug": fmt.Sprintf("ubuntu-%d-x64", i)}
		}
	case "/v2/account/keys":
		key, item = "ssh_keys", func(i int) map[string]any {
			return map[string]any{"id": 500 + i, "name": fmt.Sprintf("key %d", i), "fingerprint": "aa:bb"}
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"id": "not_found", "message": "The resource you were accessing could not be found."})
		return
	}
	items := []map[string]any{}
	for i := (page-1)*a.perPage + 1; i <= min(page*a.perPage, a.total); i++ {
		items = append(items, item(i))
	}
	pages := map[string]string{}
	if page*a.perPage < a.total {
		pages["next"] = fmt.Sprintf("http://%s%s?page=%d&per_page=%d", r.Host, r.URL.Path, page+1, a.perPage)
	}
	writeJSON(w, http.StatusOK, map[string]any{key: items, "links": map[string]any{"pages": pages}, "meta": map[string]int{"total": a.total}})
}

// Every list comes back whole, page after page, asked for 200 at a time.
func TestCatalogListsEveryPage(t *testing.T) {
	t.Parallel()
	api := &catalogAPI{perPage: 3, total: 7} // a server that pages by 3: three pages each
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	ctx, ts := context.Background(), staticToken("doo_v1_x")

	regions, err := c.Regions(ctx, ts)
	if err != nil || len(regions) != 7 || regions[6].Slug != "r7" || regions[1].Available {
		t.Fatalf("Regions: %d, %v (%+v)", len(regions), err, regions)
	}
	sizes, err := c.Sizes(ctx, ts)
	if err != nil || len(sizes) != 7 || sizes[0].PriceMonthly != 6 || sizes[0].Regions[0] != "r1" {
		t.Fatalf("Sizes: %d, %v", len(sizes), err)
	}
	images, err := c.Images(ctx, ts)
	if err != nil || len(images) != 7 || images[0].Slug != "ubuntu-1-x64" {
		t.Fatalf("Images: %d, %v", len(images), err)
	}
	keys, err := c.Keys(ctx, ts)
	if err != nil || len(keys) != 7 || keys[0].ID != 501 {
		t.Fatalf("Keys: %d, %v", len(keys), err)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.queries) != 12 {
		t.Errorf("%d requests for four lists of three pages: %v", len(api.queries), api.queries)
	}
	for _, q := range []string{"/v2/regions?page=3&per_page=200", "/v2/sizes?page=1&per_page=200", "/v2/images?page=2&per_page=200&type=distribution", "/v2/account/keys?page=3&per_page=200"} {
		found := false
		for _, got := range api.queries {
			found = found || got == q
		}
		if !found {
			t.Errorf("no request %s among %v", q, api.queries)
		}
	}

	// An account with no SSH keys: an empty list, not an error.
	empty := &catalogAPI{perPage: 200, total: 0}
	srv2 := httptest.NewServer(empty)
	defer srv2.Close()
	if keys, err := newClient(t, srv2.URL+"/v1/oauth", srv2.URL).Keys(ctx, ts); err != nil || keys == nil || len(keys) != 0 {
		t.Errorf("no keys: %v, %v", keys, err)
	}
}

// An answer that always says "next" stops at the bound, with an error.
func TestCatalogBoundsThePages(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		writeJSON(w, http.StatusOK, map[string]any{"regions": []map[string]any{{"slug": "nyc1"}}, "links": map[string]any{"pages": map[string]string{"next": "http://" + r.Host + "/v2/regions?page=2"}}})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	if _, err := c.Regions(context.Background(), staticToken("doo_v1_x")); err == nil || requests.Load() != 50 {
		t.Errorf("an endless list: %v after %d requests, want an error after 50", err, requests.Load())
	}
}

// createAPI answers POST /v2/droplets as DigitalOcean does (202, the
// droplet "new", links.actions), or with fail, and DELETE
// /v2/droplets/{id} with 204 (404 once gone); it counts both.
type createAPI struct {
	posts, deletes atomic.Int64
	fail           func(w http.ResponseWriter, attempt int64)
	gate           chan struct{} // when set, a POST or DELETE waits for it

	mu     sync.Mutex
	bodies []map[string]any
	gone   map[string]bool
}

func (a *createAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/droplets":
		n := a.posts.Add(1)
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		a.mu.Lock()
		a.bodies = append(a.bodies, body)
		a.mu.Unlock()
		if a.gate != nil {
			<-a.gate
		}
		if a.fail != nil {
			a.fail(w, n)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{
			"droplet": map[string]any{"id": 3164444, "name": body["name"], "status": "new", "networks": map[string]any{"v4": []any{}, "v6": []any{}}},
			"links":   map[string]any{"actions": []map[string]any{{"id": 7515, "rel": "create", "href": "https://api.digitalocean.com/v2/actions/7515"}}},
		})
	case r.Method == http.MethodDelete:
		a.deletes.Add(1)
		if a.gate != nil {
			<-a.gate
		}
		if a.fail != nil {
			a.fail(w, a.deletes.Load())
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.gone == nil {
			a.gone = map[string]bool{}
		}
		if a.gone[r.URL.Path] {
			writeJSON(w, http.StatusNotFound, map[string]string{"id": "not_found", "message": "The resource you were accessing could not be found."})
			return
		}
		a.gone[r.URL.Path] = true
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"id": "not_found", "message": "The resource you were accessing could not be found."})
	}
}

func createRequest() *godo.DropletCreateRequest {
	return &godo.DropletCreateRequest{
		Name: "web-1", Region: "nyc3", Size: "s-1vcpu-1gb",
		Image:   godo.DropletCreateImage{Slug: "ubuntu-24-04-x64"},
		SSHKeys: []godo.DropletCreateSSHKey{{ID: 41520173}},
		Tags:    []string{"web"},
	}
}

func TestCreateAndDeleteDroplet(t *testing.T) {
	t.Parallel()
	api := &createAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	ctx, ts := context.Background(), staticToken("doo_v1_x")

	created, err := c.CreateDroplet(ctx, ts, createRequest(), "")
	if err != nil || created.Droplet.ID != 3164444 || created.Droplet.Status != "new" {
		t.Fatalf("CreateDroplet: %+v, %v", created, err)
	}
	if len(created.Actions) != 1 || created.Actions[0].ID != 7515 || created.Actions[0].Rel != "create" {
		t.Errorf("the create action: %+v", created.Actions)
	}
	// The request godo sent: the image as its slug, the keys as IDs.
	body := api.bodies[0]
	if body["name"] != "web-1" || body["region"] != "nyc3" || body["size"] != "s-1vcpu-1gb" || body["image"] != "ubuntu-24-04-x64" ||
		fmt.Sprint(body["ssh_keys"]) != "[4.1520173e+07]" || fmt.Sprint(body["tags"]) != "[web]" {
		t.Errorf("the request body: %v", body)
	}

	if err := c.DeleteDroplet(ctx, ts, 3164444, ""); err != nil {
		t.Fatalf("DeleteDroplet: %v", err)
	}
	if err := c.DeleteDroplet(ctx, ts, 3164444, ""); !doclient.IsNotFound(err) {
		t.Errorf("deleting it again: %v, want a 404", err)
	}
	if _, err := c.CreateDroplet(ctx, ts, nil, ""); err == nil {
		t.Error("a nil request was accepted")
	}
}

func TestCreateDropletErrors(t *testing.T) {
	t.Parallel()
	answer := func(status int, header, body string) func(http.ResponseWriter, int64) {
		return func(w http.ResponseWriter, _ int64) {
			if k, v, ok := strings.Cut(header, ": "); ok {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	for _, tc := range []struct {
		name      string
		fail      func(http.ResponseWriter, int64)
		check     func(error) bool
		noDestroy bool // a DELETE reads no body: the answer is a success for it
	}{
		{"422", answer(422, "", `{"id":"unprocessable_entity","message":"Size is not available in this region."}`), func(err error) bool {
			ae, ok := doclient.IsUnprocessable(err)
			return ok && ae.Message == "Size is not available in this region." && ae.ID == "unprocessable_entity"
		}, false},
		{"403", answer(403, "", `{"id":"forbidden","message":"You do not have access for the attempted action."}`), doclient.IsForbidden, false},
		{"429 short", answer(429, "Retry-After: 1", `{"id":"too_many_requests","message":"API Rate limit exceeded."}`), func(err error) bool {
			after, ok := doclient.IsRateLimited(err)
			return ok && after == time.Second
		}, false},
		{"500", answer(500, "", `{"id":"server_error","message":"Server Error"}`), func(err error) bool {
			return doclient.IsUnavailable(err) && !doclient.IsMalformed(err)
		}, false},
		{"202 without the droplet", answer(202, "", `{"links":{}}`), doclient.IsMalformed, true},
		{"202 with an empty droplet", answer(202, "", `{"droplet":{}}`), doclient.IsMalformed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := &createAPI{fail: tc.fail}
			srv := httptest.NewServer(api)
			defer srv.Close()
			c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
			created, err := c.CreateDroplet(context.Background(), staticToken("doo_v1_x"), createRequest(), "key")
			if created != nil || !tc.check(err) {
				t.Errorf("%+v, %v", created, err)
			}
			err = c.DeleteDroplet(context.Background(), staticToken("doo_v1_x"), 7, "key")
			if (tc.noDestroy && err != nil) || (!tc.noDestroy && !tc.check(err)) {
				t.Errorf("DeleteDroplet: %v", err)
			}
			if p, d := api.posts.Load(), api.deletes.Load(); p != 1 || d != 1 {
				t.Errorf("%d POSTs and %d DELETEs, want one each (never retried)", p, d)
			}
		})
	}
}

func TestCreateDropletTimeout(t *testing.T) {
	t.Parallel()
	api := &createAPI{gate: make(chan struct{})}
	srv := httptest.NewServer(api)
	defer srv.Close()
	defer close(api.gate)
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL, func(cfg *doclient.Config) { cfg.Timeout = 100 * time.Millisecond })
	for range 2 { // the same confirmation again: the answer kept, no second POST
		if _, err := c.CreateDroplet(context.Background(), staticToken("doo_v1_x"), createRequest(), "key-1"); !doclient.IsTimeout(err) {
			t.Errorf("err = %v, want a timeout", err)
		}
	}
	if err := c.DeleteDroplet(context.Background(), staticToken("doo_v1_x"), 7, "key-1"); !doclient.IsTimeout(err) {
		t.Errorf("DeleteDroplet: %v, want a timeout", err)
	}
	if p, d := api.posts.Load(), api.deletes.Load(); p != 1 || d != 1 {
		t.Errorf("%d POSTs and %d DELETEs, want one each", p, d)
	}
}

// Calls with one key share one POST (or DELETE), overlapping or later;
// another key, or the same key with another request, makes its own.
func TestCreateAndDeleteOncePerKey(t *testing.T) {
	t.Parallel()
	api := &createAPI{gate: make(chan struct{})}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	ctx, ts := context.Background(), staticToken("doo_v1_x")

	var wg sync.WaitGroup
	ids := make([]int, 5)
	for i := range ids {
		wg.Go(func() {
			created, err := c.CreateDroplet(ctx, ts, createRequest(), "key-1")
			if err == nil {
				ids[i] = created.Droplet.ID
			}
		})
		wg.Go(func() { _ = c.DeleteDroplet(ctx, ts, 7, "key-1") })
	}
	for api.posts.Load() == 0 || api.deletes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others arrive while the first are in flight
	close(api.gate)
	wg.Wait()
	if p, d := api.posts.Load(), api.deletes.Load(); p != 1 || d != 1 {
		t.Fatalf("five calls with one key sent %d POSTs and %d DELETEs", p, d)
	}
	for _, id := range ids {
		if id != 3164444 {
			t.Errorf("a caller got droplet %d", id)
		}
	}
	if err := c.DeleteDroplet(ctx, ts, 7, "key-1"); err != nil || api.deletes.Load() != 1 {
		t.Errorf("a later DELETE with the key: %v, %d DELETEs", err, api.deletes.Load())
	}
	other := createRequest()
	other.Size = "s-2vcpu-4gb"
	if _, err := c.CreateDroplet(ctx, ts, other, "key-1"); err != nil || api.posts.Load() != 2 {
		t.Errorf("another request with the key: %v, %d POSTs", err, api.posts.Load())
	}
	if _, err := c.CreateDroplet(ctx, ts, createRequest(), "key-2"); err != nil || api.posts.Load() != 3 {
		t.Errorf("another key: %v, %d POSTs", err, api.posts.Load())
	}
	if err := c.DeleteDroplet(ctx, ts, 8, "key-1"); err != nil || api.deletes.Load() != 2 {
		t.Errorf("another droplet with the key: %v, %d DELETEs", err, api.deletes.Load())
	}
}

// A 401 is not kept for the key: the API refused the token before doing
// anything, so the same confirmation sent again with a renewed token (as
// the app's handlers do) reaches the API.
func TestCreateAfterA401IsSentWithTheRenewedToken(t *testing.T) {
	t.Parallel()
	api := &createAPI{fail: func(w http.ResponseWriter, attempt int64) {
		if attempt == 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"id": "unauthorized", "message": "Unable to authenticate you"})
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"droplet": map[string]any{"id": 9, "name": "web-1", "status": "new"}})
	}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	ctx := context.Background()
	if _, err := c.CreateDroplet(ctx, staticToken("doo_v1_old"), createRequest(), "key-1"); !doclient.IsUnauthorized(err) {
		t.Fatalf("the first try: %v, want a 401", err)
	}
	created, err := c.CreateDroplet(ctx, staticToken("doo_v1_new"), createRequest(), "key-1")
	if err != nil || created.Droplet.ID != 9 || api.posts.Load() != 2 {
		t.Errorf("after a renewal: %+v, %v, %d POSTs", created, err, api.posts.Load())
	}
	if _, err := c.CreateDroplet(ctx, staticToken("doo_v1_new"), createRequest(), "key-1"); err != nil || api.posts.Load() != 2 {
		t.Errorf("once created, the key still shares: %v, %d POSTs", err, api.posts.Load())
	}
}
