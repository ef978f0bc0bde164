package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

type listResponse struct {
	Droplets []struct {
		ID       int
		Name     string
		Status   string
		Tags     []string
		Networks struct {
			V4 []struct {
				IPAddress string `json:"ip_address"`
			}
		}
	}
	Links struct {
		Pages *struct{ First, Prev, Next, Last string }
	}
	Meta struct{ Total int }
}

func withDroplets(n int) option {
	return withConfig(func(c *sandbox.Config) { c.Droplets = n })
}

func TestDropletPagination(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(450))
	tok := h.login(t)
	link := func(page int) string {
		return h.srv.URL + "/v2/droplets?page=" + strconv.Itoa(page) + "&per_page=200"
	}

	tests := []struct {
		query                   string
		wantLen                 int
		first, prev, next, last string
	}{
		{"?per_page=200", 200, "", "", link(2), link(3)},
		{"?page=2&per_page=200", 200, link(1), link(1), link(3), link(3)},
		{"?page=3&per_page=200", 50, link(1), link(2), "", ""},
		{"?page=4&per_page=200", 0, link(1), link(3), "", ""},
		// DigitalOcean caps per_page at 200 instead of failing.
		{"?page=1&per_page=500", 200, "", "", link(2), link(3)},
	}
	seen := map[int]bool{}
	for _, tt := range tests {
		var got listResponse
		if resp := h.api(t, "/v2/droplets"+tt.query, tok.AccessToken, &got); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tt.query, resp.StatusCode)
		}
		if len(got.Droplets) != tt.wantLen || got.Meta.Total != 450 || got.Links.Pages == nil {
			t.Fatalf("%s: %d droplets, total %d, pages %v", tt.query, len(got.Droplets), got.Meta.Total, got.Links.Pages)
		}
		p := got.Links.Pages
		if p.First != tt.first || p.Prev != tt.prev || p.Next != tt.next || p.Last != tt.last {
			t.Errorf("%s: links = %+v\nwant first=%q prev=%q next=%q last=%q", tt.query, *p, tt.first, tt.prev, tt.next, tt.last)
		}
		if tt.query != "?page=1&per_page=500" {
			for _, d := range got.Droplets {
				if seen[d.ID] {
					t.Errorf("droplet %d on two pages", d.ID)
				}
				seen[d.ID] = true
			}
		}
	}
	if len(seen) != 450 {
		t.Errorf("saw %d distinct droplets, want 450", len(seen))
	}

	// Defaults: page 1 of 20, links without per_page, as DigitalOcean.
	var got listResponse
	h.api(t, "/v2/droplets", tok.AccessToken, &got)
	if len(got.Droplets) != 20 || got.Links.Pages.Next != h.srv.URL+"/v2/droplets?page=2" || got.Links.Pages.Last != h.srv.URL+"/v2/droplets?page=23" {
		t.Errorf("default page: %d droplets, links %+v", len(got.Droplets), got.Links.Pages)
	}

	for _, q := range []string{"?per_page=0", "?per_page=abc", "?page=0", "?page=-1"} {
		var e map[string]string
		if resp := h.api(t, "/v2/droplets"+q, tok.AccessToken, &e); resp.StatusCode != http.StatusBadRequest || e["id"] != "bad_request" || e["request_id"] == "" {
			t.Errorf("%s: status %d, body %v; want 400 bad_request", q, resp.StatusCode, e)
		}
	}
}

func TestSinglePageHasNoLinks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.login(t)
	resp, body := do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/droplets", nil, http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode, err)
	}
	if string(raw["links"]) != "{}" || string(raw["meta"]) != `{"total":8}` {
		t.Errorf("links = %s, meta = %s; want {} and total 8", raw["links"], raw["meta"])
	}
}

func TestNoDroplets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(-1))
	tok := h.login(t)
	var got listResponse
	h.api(t, "/v2/droplets", tok.AccessToken, &got)
	if got.Droplets == nil || len(got.Droplets) != 0 || got.Meta.Total != 0 || got.Links.Pages != nil {
		t.Errorf("got %+v, want an empty list", got)
	}
}

func TestDropletTagFilter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(100))
	tok := h.login(t)

	var all []string
	for page := 1; ; page++ {
		var got listResponse
		h.api(t, "/v2/droplets?tag_name=production&per_page=15&page="+strconv.Itoa(page), tok.AccessToken, &got)
		for _, d := range got.Droplets {
			all = append(all, d.Name)
			if !contains(d.Tags, "production") {
				t.Errorf("%s has tags %v", d.Name, d.Tags)
			}
		}
		if got.Links.Pages == nil || got.Links.Pages.Next == "" {
			if got.Meta.Total != len(all) {
				t.Errorf("total = %d, listed %d", got.Meta.Total, len(all))
			}
			break
		}
		if want := h.srv.URL + "/v2/droplets?page=" + strconv.Itoa(page+1) + "&per_page=15&tag_name=production"; got.Links.Pages.Next != want {
			t.Errorf("next = %q, want %q", got.Links.Pages.Next, want)
		}
	}
	if len(all) == 0 || len(all) == 100 {
		t.Errorf("tag filter kept %d of 100 droplets", len(all))
	}

	var none listResponse
	h.api(t, "/v2/droplets?tag_name=no-such-tag", tok.AccessToken, &none)
	if len(none.Droplets) != 0 || none.Meta.Total != 0 {
		t.Errorf("unknown tag: %+v", none)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The app lists droplets with godo, following links.pages.next; the
// sandbox must be walkable that way, page size 200 over 450 droplets.
func TestGodoWalksEveryPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(450), withPrefix("/sandbox"))
	tok := h.login(t)

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, h.srv.Client())
	httpClient := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok))
	client, err := godo.New(httpClient, godo.SetBaseURL(h.base+"/"))
	if err != nil {
		t.Fatal(err)
	}

	var droplets []godo.Droplet
	opt := &godo.ListOptions{PerPage: 200}
	requests := 0
	for {
		page, resp, err := client.Droplets.List(ctx, opt)
		if err != nil {
			t.Fatalf("List page %d: %v", opt.Page, err)
		}
		requests++
		droplets = append(droplets, page...)
		if resp.Rate.Limit != 5000 || resp.Rate.Remaining != 5000-requests || resp.Rate.Reset.IsZero() {
			t.Errorf("godo rate = %+v", resp.Rate)
		}
		if resp.Links == nil || resp.Links.IsLastPage() {
			break
		}
		current, err := resp.Links.CurrentPage()
		if err != nil {
			t.Fatal(err)
		}
		opt.Page = current + 1
	}
	if requests != 3 || len(droplets) != 450 {
		t.Fatalf("walked %d pages, %d droplets; want 3 and 450", requests, len(droplets))
	}
	ids := map[int]bool{}
	for _, d := range droplets {
		ids[d.ID] = true
		if d.Region == nil || d.Size == nil || d.Image == nil || d.Name == "" {
			t.Fatalf("incomplete droplet: %+v", d)
		}
	}
	if len(ids) != 450 {
		t.Errorf("%d distinct IDs, want 450", len(ids))
	}

	acct, _, err := client.Account.Get(ctx)
	if err != nil || acct.Email != "sammy@example.com" || acct.Team == nil || acct.Team.Name != "My Team" {
		t.Errorf("Account.Get = %+v, %v", acct, err)
	}
}

func TestDropletsAreDeterministic(t *testing.T) {
	t.Parallel()
	get := func() string {
		h := newHarness(t, withDroplets(60))
		tok := h.login(t)
		_, body := do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/droplets?per_page=200", nil, http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
		return body
	}
	a, b := get(), get()
	// Links carry the test server's address, which differs; compare droplets.
	var da, db struct{ Droplets []any }
	json.Unmarshal([]byte(a), &da)
	json.Unmarshal([]byte(b), &db)
	if len(da.Droplets) != 60 || !reflect.DeepEqual(da, db) {
		t.Fatal("two sandboxes returned different droplets")
	}

	var got listResponse
	json.Unmarshal([]byte(a), &got)
	statuses, names, ips := map[string]int{}, map[string]bool{}, map[string]bool{}
	for _, d := range got.Droplets {
		statuses[d.Status]++
		if names[d.Name] {
			t.Errorf("duplicate name %s", d.Name)
		}
		names[d.Name] = true
		for _, n := range d.Networks.V4 {
			if ips[n.IPAddress] {
				t.Errorf("duplicate address %s", n.IPAddress)
			}
			ips[n.IPAddress] = true
		}
	}
	for _, s := range []string{"active", "off", "new", "archive"} {
		if statuses[s] == 0 {
			t.Errorf("no %q droplet among 60: %v", s, statuses)
		}
	}
	if statuses["active"] < 40 {
		t.Errorf("most droplets should be active: %v", statuses)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.login(t)
	requestID := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

	tests := []struct {
		name, path, token string
		wantStatus        int
		wantID            string
	}{
		{"no token", "/v2/droplets", "", 401, "unauthorized"},
		{"unknown token", "/v2/account", "doo_v1_nope", 401, "unauthorized"},
		{"unknown path", "/v2/volumes", tok.AccessToken, 404, "not_found"},
		{"unknown path without token", "/v2/nothing/here", "", 404, "not_found"},
	}
	for _, tt := range tests {
		var e map[string]string
		resp := h.api(t, tt.path, tt.token, &e)
		if resp.StatusCode != tt.wantStatus || e["id"] != tt.wantID || e["message"] == "" {
			t.Errorf("%s: %d %v; want %d %s", tt.name, resp.StatusCode, e, tt.wantStatus, tt.wantID)
		}
		if !requestID.MatchString(e["request_id"]) || resp.Header.Get("X-Request-Id") != e["request_id"] {
			t.Errorf("%s: request_id %q, header %q", tt.name, e["request_id"], resp.Header.Get("X-Request-Id"))
		}
		if resp.Header.Get("Ratelimit-Limit") == "" || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: headers %v", tt.name, resp.Header)
		}
	}
	var e map[string]string
	h.api(t, "/v2/droplets", "", &e)
	if e["message"] != "Unable to authenticate you" {
		t.Errorf("401 message = %q", e["message"])
	}

	resp, _ := do(t, h.srv.Client(), http.MethodPut, h.base+"/v2/droplets", nil, http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, POST, DELETE" {
		t.Errorf("PUT: status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// Granular scopes limit what a token can read.
func TestGranularScopes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.login(t, "account:read")
	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)
	var e map[string]string
	if resp := h.api(t, "/v2/droplets", tok.AccessToken, &e); resp.StatusCode != http.StatusForbidden || e["id"] != "forbidden" {
		t.Errorf("droplets with account:read: %d %v", resp.StatusCode, e)
	}
	tok = h.login(t, "droplet:read")
	wantStatus(t, h, "/v2/droplets", tok.AccessToken, http.StatusOK)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.RateLimit = 3; c.TokenTTL = 3 * time.Hour }))
	tok := h.login(t)
	reset := strconv.FormatInt(h.clock.Now().Add(time.Hour).Unix(), 10)

	for i := 1; i <= 3; i++ {
		resp := h.api(t, "/v2/account", tok.AccessToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		if resp.Header.Get("Ratelimit-Limit") != "3" || resp.Header.Get("Ratelimit-Remaining") != strconv.Itoa(3-i) || resp.Header.Get("Ratelimit-Reset") != reset {
			t.Errorf("request %d: rate headers %v", i, resp.Header)
		}
	}
	h.clock.Advance(15 * time.Minute)
	var e map[string]string
	resp := h.api(t, "/v2/droplets", tok.AccessToken, &e)
	if resp.StatusCode != http.StatusTooManyRequests || e["id"] != "too_many_requests" || e["message"] != "API Rate limit exceeded." {
		t.Fatalf("over budget: %d %v", resp.StatusCode, e)
	}
	if resp.Header.Get("Retry-After") != "2700" || resp.Header.Get("Ratelimit-Remaining") != "0" {
		t.Errorf("429 headers: Retry-After %q, remaining %q", resp.Header.Get("Retry-After"), resp.Header.Get("Ratelimit-Remaining"))
	}

	// Another grant has its own budget; refreshing doesn't reset this one.
	wantStatus(t, h, "/v2/account", h.login(t).AccessToken, http.StatusOK)
	fresh, err := h.conf.TokenSource(h.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, h, "/v2/account", fresh.AccessToken, http.StatusTooManyRequests)

	h.clock.Advance(45 * time.Minute)
	wantStatus(t, h, "/v2/account", fresh.AccessToken, http.StatusOK)
}

// The burst limit: 429 too_many_requests with retry-after past the
// per-minute budget, and a fresh budget the next minute; a negative limit
// turns it off, and a negative hourly limit drops the ratelimit headers.
func TestBurstLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = 3 }))
	tok := h.login(t)
	for range 3 {
		wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)
		h.clock.Advance(10 * time.Second)
	}
	resp, raw := h.call(t, http.MethodGet, "/v2/droplets", tok.AccessToken, nil, nil)
	wantAPIError(t, "fourth request in a minute", resp, raw, http.StatusTooManyRequests, "too_many_requests")
	if resp.Header.Get("Retry-After") != "30" || resp.Header.Get("Ratelimit-Remaining") != "4997" {
		t.Errorf("429 headers: Retry-After %q, remaining %q", resp.Header.Get("Retry-After"), resp.Header.Get("Ratelimit-Remaining"))
	}
	wantStatus(t, h, "/v2/account", h.sb.PersonalAccessToken(), http.StatusOK) // another token, another budget
	h.clock.Advance(30 * time.Second)
	wantStatus(t, h, "/v2/account", tok.AccessToken, http.StatusOK)

	// Without limits, past both defaults within one minute (in process:
	// 6000 requests over HTTP would only slow the test down).
	off := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = -1; c.RateLimit = -1 }))
	get := func(sb http.Handler, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v2/account", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		return rec
	}
	pat := off.sb.PersonalAccessToken()
	for i := range 6000 {
		rec := get(off.sb, pat)
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d without limits: %d", i, rec.Code)
		}
		if i == 0 && rec.Header().Get("Ratelimit-Limit") != "" {
			t.Errorf("ratelimit headers with the hourly limit off: %v", rec.Header())
		}
	}

	// Zero means off too, so that a Config from before the burst limit
	// keeps working; DigitalOcean's 250 a minute is there to be asked for.
	zero := newHarness(t)
	pat = zero.sb.PersonalAccessToken()
	for i := range 300 {
		if rec := get(zero.sb, pat); rec.Code != http.StatusOK {
			t.Fatalf("request %d with BurstLimit 0: %d", i+1, rec.Code)
		}
	}
	def := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = sandbox.DigitalOceanBurstLimit }))
	pat = def.sb.PersonalAccessToken()
	for i := range 250 {
		if rec := get(def.sb, pat); rec.Code != http.StatusOK {
			t.Fatalf("request %d of 250: %d", i+1, rec.Code)
		}
	}
	rec := get(def.sb, pat)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != strconv.Itoa(60) {
		t.Errorf("request 251: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}
