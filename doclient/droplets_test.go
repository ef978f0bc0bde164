package doclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/doclient"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"
)

// dropletAPI serves GET {prefix}/v2/droplets for an account with droplets
// 1..total, paginated like DigitalOcean: page and per_page (default 20, at
// most 200), absolute links.pages.next/last (first/prev on later pages) and
// meta.total. The fields adjust it for a test; it is not a full emulator.
type dropletAPI struct {
	total    int
	prefix   string
	maxPer   int                  // the server's page size cap; 0 = 200
	delay    time.Duration        // per request, to make requests overlap
	fail     map[int]int          // page -> HTTP status to answer instead
	noMeta   bool                 // omit meta (links only)
	noLinks  bool                 // omit links.pages (meta only)
	metaLies int                  // if set, meta.total reports this instead
	ids      func(page int) []int // if set, the droplet IDs of each page
	pad      int                  // bytes of filler per droplet, as the real API's size and region catalogues
	full     bool                 // describe droplets as DigitalOcean does (realisticDroplet), pad ignored

	rec         recorder
	inFlight    atomic.Int32
	maxInFlight atomic.Int32
}

func (a *dropletAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := a.rec.record(r)
	now := a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	for {
		peak := a.maxInFlight.Load()
		if now <= peak || a.maxInFlight.CompareAndSwap(peak, now) {
			break
		}
	}
	if a.delay > 0 {
		time.Sleep(a.delay)
	}

	if r.Method != http.MethodGet || req.Path != a.prefix+"/v2/droplets" {
		writeJSON(w, http.StatusNotFound, map[string]string{"id": "not_found", "message": "The resource you requested could not be found."})
		return
	}
	page, _ := strconv.Atoi(req.Query.Get("page"))
	page = max(page, 1)
	per, _ := strconv.Atoi(req.Query.Get("per_page"))
	if per <= 0 {
		per = 20
	}
	maxPer := a.maxPer
	if maxPer == 0 {
		maxPer = 200
	}
	per = min(per, maxPer)
	if status, ok := a.fail[page]; ok {
		writeJSON(w, status, map[string]string{"id": "server_error", "message": "Server was unable to give you a response.", "request_id": "req-fail"})
		return
	}

	var ids []int
	if a.ids != nil {
		ids = a.ids(page)
	} else {
		for id := (page-1)*per + 1; id <= min(page*per, a.total); id++ {
			ids = append(ids, id)
		}
	}
	droplets := make([]any, 0, len(ids))
	for _, id := range ids {
		if a.full {
			droplets = append(droplets, realisticDroplet(id))
			continue
		}
		droplets = append(droplets, map[string]any{
			"id": id, "name": fmt.Sprintf("droplet-%d", id), "memory": 1024, "vcpus": 1, "disk": 25,
			"status": "active", "created_at": "2024-01-02T03:04:05Z",
			"region": map[string]any{"slug": "nyc3", "name": "New York 3"},
			"size":   map[string]any{"description": strings.Repeat("x", a.pad)},
		})
	}

	link := func(p int) string {
		return fmt.Sprintf("http://%s%s/v2/droplets?page=%d&per_page=%d", r.Host, a.prefix, p, per)
	}
	last := max((a.total+per-1)/per, 1)
	pages := map[string]string{}
	if page < last {
		pages["next"], pages["last"] = link(page+1), link(last)
	}
	if page > 1 {
		pages["first"], pages["prev"] = link(1), link(page-1)
	}
	body := map[string]any{"droplets": droplets, "links": map[string]any{}}
	if !a.noLinks {
		body["links"] = map[string]any{"pages": pages}
	}
	if !a.noMeta {
		total := a.total
		if a.metaLies != 0 {
			total = a.metaLies
		}
		body["meta"] = map[string]any{"total": total}
	}
	writeJSON(w, http.StatusOK, body)
}

// realisticDroplet is droplet id as DigitalOcean describes it, with its
// size, region and image catalogues: about 1.5 KB, nearly all of it
// fields the app does not show.
func realisticDroplet(id int) godo.Droplet {
	regions := []string{"nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "sgp1", "tor1", "blr1", "syd1"}
	sizes := []string{"s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb",
		"c-2", "c-4", "c-8", "g-2vcpu-8gb", "gd-2vcpu-8gb", "m-2vcpu-16gb", "m-4vcpu-32gb", "so-2vcpu-16gb"}
	region := regions[id%len(regions)]
	return godo.Droplet{
		ID: id, Name: fmt.Sprintf("web-%04d", id), Memory: 2048, Vcpus: 1, Disk: 50,
		Status: "active", Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Hour).Format(time.RFC3339),
		SizeSlug: "s-1vcpu-2gb", Tags: []string{"web", "env:prod"}, Features: []string{"backups", "monitoring", "droplet_agent", "private_networking"},
		BackupIDs: []int{180002000 + id}, SnapshotIDs: []int{}, VolumeIDs: []string{},
		Size: &godo.Size{Slug: "s-1vcpu-2gb", Memory: 2048, Vcpus: 1, Disk: 50, PriceMonthly: 12, PriceHourly: 0.01786, Regions: regions,
			Available: true, Transfer: 2, Description: "Basic"},
		Region: &godo.Region{Slug: region, Name: "Region " + region, Sizes: sizes, Available: true,
			Features: []string{"backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"}},
		Image: &godo.Image{ID: 160232537, Name: "24.04 (LTS) x64", Type: "base", Distribution: "Ubuntu", Slug: "ubuntu-24-04-x64",
			Public: true, Regions: regions, MinDiskSize: 7, SizeGigaBytes: 2.44, Created: "2024-07-22T16:10:52Z",
			Description: "Ubuntu 24.04 (LTS) x64", Status: "available"},
		Networks: &godo.Networks{
			V4: []godo.NetworkV4{
				{IPAddress: fmt.Sprintf("203.0.%d.%d", id/250%250, id%250+1), Netmask: "255.255.240.0", Gateway: "203.0.0.1", Type: "public"},
				{IPAddress: fmt.Sprintf("10.10.%d.%d", id/250%250, id%250+1), Netmask: "255.255.0.0", Type: "private"},
			},
			V6: []godo.NetworkV6{{IPAddress: fmt.Sprintf("2001:db8:1::%x", id+2), Netmask: 64, Gateway: "2001:db8:1::1", Type: "public"}},
		},
		VPCUUID: "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
	}
}

// pagesSeen returns the page numbers requested, and fails the test if a
// request did not ask for 200 per page or lacked the bearer token.
func (a *dropletAPI) pagesSeen(t *testing.T, wantToken string) map[int]int {
	t.Helper()
	seen := map[int]int{}
	for _, r := range a.rec.all() {
		if got := r.Query.Get("per_page"); got != "200" {
			t.Errorf("request for page %s asked for per_page=%q, want 200", r.Query.Get("page"), got)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+wantToken {
			t.Errorf("Authorization = %q, want Bearer %s", got, wantToken)
		}
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, doclient.DefaultUserAgent+" godo/") {
			t.Errorf("User-Agent = %q, want the app's, then godo's", ua)
		}
		p, _ := strconv.Atoi(r.Query.Get("page"))
		seen[p]++
	}
	return seen
}

func staticToken(access string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access})
}

// listAll lists every droplet without options, as most tests need.
func listAll(ctx context.Context, c *doclient.Client, ts oauth2.TokenSource) ([]godo.Droplet, error) {
	list, err := c.Droplets(ctx, ts, doclient.ListOptions{})
	if err != nil {
		return nil, err
	}
	return list.Droplets, nil
}

func checkIDs(t *testing.T, droplets []godo.Droplet, n int) {
	t.Helper()
	if len(droplets) != n {
		t.Fatalf("got %d droplets, want %d", len(droplets), n)
	}
	for i, d := range droplets {
		if d.ID != i+1 {
			t.Fatalf("droplet %d has ID %d, want %d (API order, no duplicates)", i, d.ID, i+1)
		}
	}
}

func TestDropletsPagination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		total     int
		prefix    string
		wantPages int
	}{
		{"no droplets", 0, "", 1},
		{"one page", 3, "", 1},
		{"exactly one full page", 200, "", 1},
		{"one more than a page", 201, "", 2},
		{"three pages", 450, "", 3},
		{"three pages behind a path prefix", 450, "/sandbox", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &dropletAPI{total: tt.total, prefix: tt.prefix}
			srv := httptest.NewServer(api)
			defer srv.Close()
			c := newClient(t, srv.URL, srv.URL+tt.prefix)

			droplets, err := listAll(context.Background(), c, staticToken("doo_v1_access"))
			if err != nil {
				t.Fatalf("Droplets: %v", err)
			}
			checkIDs(t, droplets, tt.total)
			if droplets := droplets; len(droplets) > 0 && (droplets[0].Name != "droplet-1" || droplets[0].Region.Slug != "nyc3") {
				t.Errorf("first droplet = %+v", droplets[0])
			}
			seen := api.pagesSeen(t, "doo_v1_access")
			for p := 1; p <= tt.wantPages; p++ {
				if seen[p] != 1 {
					t.Errorf("page %d requested %d times, want once", p, seen[p])
				}
			}
			if len(seen) != tt.wantPages {
				t.Errorf("requested pages %v, want 1..%d", seen, tt.wantPages)
			}
		})
	}
}

func TestDropletsPageCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		api       *dropletAPI
		wantIDs   int // droplets 1..wantIDs, in order
		wantPages int
	}{
		{"links only, no meta", &dropletAPI{total: 450, noMeta: true}, 450, 3},
		{"server caps pages at 25", &dropletAPI{total: 60, maxPer: 25}, 60, 3},
		{"server caps pages at 25, meta only", &dropletAPI{total: 60, maxPer: 25, noLinks: true}, 60, 3},
		{"meta claims more than there is", &dropletAPI{total: 250, metaLies: 450}, 250, 3},
		{"a droplet shifts onto the next page", &dropletAPI{total: 201, ids: func(page int) []int {
			if page == 1 {
				return seq(1, 200)
			}
			return seq(200, 201) // 200 again: a droplet before it was deleted meanwhile
		}}, 201, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.api)
			defer srv.Close()
			c := newClient(t, srv.URL, srv.URL)

			droplets, err := listAll(context.Background(), c, staticToken("doo_v1_access"))
			if err != nil {
				t.Fatalf("Droplets: %v", err)
			}
			checkIDs(t, droplets, tt.wantIDs)
			if got := tt.api.rec.count(); got != tt.wantPages {
				t.Errorf("API saw %d requests, want %d", got, tt.wantPages)
			}
		})
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestDropletsRefusesAbsurdTotal(t *testing.T) {
	t.Parallel()
	// 3 droplets a page and 1503 in total: 501 pages, one more than the cap.
	api := &dropletAPI{total: 3, metaLies: 3 * 501}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	droplets, err := listAll(context.Background(), c, staticToken("doo_v1_access"))
	if err == nil || droplets != nil {
		t.Fatalf("Droplets = %d droplets, %v; want an error", len(droplets), err)
	}
	if got := api.rec.count(); got != 1 {
		t.Errorf("API saw %d requests, want 1", got)
	}
}

func TestDropletsConcurrencyBound(t *testing.T) {
	t.Parallel()
	api := &dropletAPI{total: 2000, delay: 20 * time.Millisecond} // 10 pages
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	droplets, err := listAll(context.Background(), c, staticToken("doo_v1_access"))
	if err != nil {
		t.Fatalf("Droplets: %v", err)
	}
	checkIDs(t, droplets, 2000)
	peak := api.maxInFlight.Load()
	if peak > 8 {
		t.Errorf("%d requests in flight at once, want at most 8", peak)
	}
	if peak < 2 {
		t.Errorf("at most %d request in flight, want pages fetched concurrently", peak)
	}
}

func TestDropletsErrorOnPage2(t *testing.T) {
	t.Parallel()
	api := &dropletAPI{total: 1000, fail: map[int]int{2: http.StatusInternalServerError}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	droplets, err := listAll(context.Background(), c, staticToken("doo_v1_access"))
	if droplets != nil {
		t.Errorf("got %d droplets with the error, want none", len(droplets))
	}
	var ae *doclient.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusInternalServerError || ae.ID != "server_error" || ae.RequestID != "req-fail" {
		t.Fatalf("error = %v, want the APIError of page 2", err)
	}
	if !doclient.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false, want true", err)
	}
}

func TestDropletsRefreshesOnceForAllPages(t *testing.T) {
	t.Parallel()
	tokens := &rotatingTokenServer{}
	oauthSrv := httptest.NewServer(tokens)
	defer oauthSrv.Close()
	api := &dropletAPI{total: 450}
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	c := newClient(t, oauthSrv.URL, apiSrv.URL)

	src := c.TokenSource(context.Background(), &oauth2.Token{
		AccessToken: "doo_v1_1", RefreshToken: "dor_v1_1", Expiry: time.Now().Add(-time.Hour),
	})
	droplets, err := listAll(context.Background(), c, src)
	if err != nil {
		t.Fatalf("Droplets: %v", err)
	}
	checkIDs(t, droplets, 450)
	api.pagesSeen(t, "doo_v1_2") // every page with the new access token
	if got := tokens.rec.count(); got != 1 {
		t.Errorf("token endpoint saw %d requests, want 1", got)
	}
	if tok, ok := src.Refreshed(); !ok || tok.RefreshToken != "dor_v1_2" {
		t.Errorf("Refreshed() = %v, %v; want the rotated pair", tok, ok)
	}
}

// One Client serves every user: listings of two accounts made at the same
// time each get their own account's droplets, every page asked for with
// their own token.
func TestDropletsKeepUsersApart(t *testing.T) {
	t.Parallel()
	alice := &dropletAPI{total: 450, delay: 5 * time.Millisecond}
	bob := &dropletAPI{total: 450, delay: 5 * time.Millisecond, ids: func(page int) []int {
		var ids []int
		for id := (page-1)*200 + 1; id <= min(page*200, 450); id++ {
			ids = append(ids, 10000+id)
		}
		return ids
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer doo_v1_alice":
			alice.ServeHTTP(w, r)
		case "Bearer doo_v1_bob":
			bob.ServeHTTP(w, r)
		default:
			writeJSON(w, http.StatusUnauthorized, map[string]string{"id": "unauthorized", "message": "Unable to authenticate you."})
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	users := []struct {
		token   string
		firstID int
	}{{"doo_v1_alice", 1}, {"doo_v1_bob", 10001}, {"doo_v1_alice", 1}, {"doo_v1_bob", 10001}}
	lists := make([][]godo.Droplet, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() { lists[i], errs[i] = listAll(context.Background(), c, staticToken(u.token)) })
	}
	wg.Wait()
	for i, u := range users {
		if errs[i] != nil {
			t.Errorf("listing %d (%s): %v", i, u.token, errs[i])
			continue
		}
		if got := lists[i]; len(got) != 450 || got[0].ID != u.firstID || got[449].ID != u.firstID+449 {
			t.Errorf("listing %d (%s): %d droplets, want 450 with IDs %d to %d", i, u.token, len(got), u.firstID, u.firstID+449)
		}
	}
	alice.pagesSeen(t, "doo_v1_alice")
	bob.pagesSeen(t, "doo_v1_bob")
}

func TestDropletsRefreshFailure(t *testing.T) {
	t.Parallel()
	oauthSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "refresh token already used"})
	}))
	defer oauthSrv.Close()
	api := &dropletAPI{total: 450}
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	c := newClient(t, oauthSrv.URL, apiSrv.URL)

	src := c.TokenSource(context.Background(), &oauth2.Token{
		AccessToken: "doo_v1_1", RefreshToken: "dor_v1_1", Expiry: time.Now().Add(-time.Hour),
	})
	_, err := listAll(context.Background(), c, src)
	var oe *doclient.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" || oe.StatusCode != http.StatusBadRequest {
		t.Fatalf("error = %v, want an OAuthError invalid_grant", err)
	}
	if !doclient.IsInvalidGrant(err) || doclient.IsUnavailable(err) {
		t.Errorf("IsInvalidGrant = %v, IsUnavailable = %v; want true, false", doclient.IsInvalidGrant(err), doclient.IsUnavailable(err))
	}
	if got := api.rec.count(); got != 0 {
		t.Errorf("API saw %d requests, want none without a token", got)
	}
}

func BenchmarkDroplets450(b *testing.B) {
	srv := httptest.NewServer(&dropletAPI{total: 450})
	defer srv.Close()
	c := newClient(b, srv.URL, srv.URL)
	ts := staticToken("doo_v1_access")
	ctx := context.Background()
	for b.Loop() {
		droplets, err := listAll(ctx, c, ts)
		if err != nil || len(droplets) != 450 {
			b.Fatalf("Droplets = %d, %v", len(droplets), err)
		}
	}
}

// roundsAPI holds the requests to a dropletAPI back and answers them in
// rounds of the given sizes: a round is answered once all its requests have
// arrived. A client that waits for an answer before sending a request the
// round expects makes the round time out, which the test reports. This
// counts round trips without depending on timing.
type roundsAPI struct {
	api    *dropletAPI
	rounds []int

	mu      sync.Mutex
	round   int
	pending int
	release chan struct{}
	stalled []string
}

func (a *roundsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.release == nil {
		a.release = make(chan struct{})
	}
	release, round := a.release, a.round
	a.pending++
	if round < len(a.rounds) && a.pending == a.rounds[round] {
		close(release)
		a.round++
		a.pending = 0
		a.release = make(chan struct{})
	}
	a.mu.Unlock()

	select {
	case <-release:
	case <-time.After(3 * time.Second):
		a.mu.Lock()
		a.stalled = append(a.stalled, fmt.Sprintf("round %d: waited for %d requests sent together, the client sent page %s alone", round+1, a.rounds[min(round, len(a.rounds)-1)], r.URL.Query().Get("page")))
		a.mu.Unlock()
	}
	w.Header().Set("Ratelimit-Limit", "5000")
	w.Header().Set("Ratelimit-Remaining", "4321")
	w.Header().Set("Ratelimit-Reset", "1767225600")
	a.api.ServeHTTP(w, r)
}

func (a *roundsAPI) check(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.stalled {
		t.Error(s)
	}
	if a.round != len(a.rounds) {
		t.Errorf("%d rounds of requests, want %d (%v)", a.round, len(a.rounds), a.rounds)
	}
}

func TestDropletsRoundTrips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		total     int
		hint      int
		rounds    []int // requests sent together, round after round
		wantPages int
		pad       int // filler bytes per droplet
	}{
		{"first view of 1,000 droplets: page 1, then the other 4 together", 1000, 0, []int{1, 4}, 5, 0},
		{"later view of 1,000 droplets: all 5 pages at once", 1000, 5, []int{5}, 5, 0},
		{"the account grew: the pages beyond the hint follow page 1", 1000, 2, []int{2, 3}, 5, 0},
		{"the account shrank: extra pages cost requests, not droplets", 300, 5, []int{5}, 2, 0},
		{"10,000 droplets remembered: 50 pages, 8 at a time", 10000, 50, []int{8, 8, 8, 8, 8, 8, 2}, 50, 0},
		{"first view of 1,000 droplets as large as DigitalOcean's", 1000, 0, []int{1, 4}, 5, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &roundsAPI{api: &dropletAPI{total: tt.total, pad: tt.pad}, rounds: tt.rounds}
			srv := httptest.NewServer(api)
			defer srv.Close()
			c := newClient(t, srv.URL, srv.URL)

			list, err := c.Droplets(context.Background(), staticToken("doo_v1_access"), doclient.ListOptions{PagesHint: tt.hint})
			if err != nil {
				t.Fatalf("Droplets: %v", err)
			}
			api.check(t)
			checkIDs(t, list.Droplets, tt.total)
			wantRequests := 0
			for _, n := range tt.rounds {
				wantRequests += n
			}
			if list.Total != tt.total || list.Pages != tt.wantPages || list.Requests != wantRequests {
				t.Errorf("Total, Pages, Requests = %d, %d, %d, want %d, %d, %d", list.Total, list.Pages, list.Requests, tt.total, tt.wantPages, wantRequests)
			}
			if list.Rate.Limit != 5000 || list.Rate.Remaining != 4321 || list.Rate.Reset.Unix() != 1767225600 {
				t.Errorf("Rate = %+v, want the last response's rate-limit headers", list.Rate)
			}
		})
	}
}

func TestDropletsByTagAsksTheAPI(t *testing.T) {
	t.Parallel()
	api := &dropletAPI{total: 3}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	// A tag is one parameter, whatever its characters.
	for i, tag := range []string{"env:prod", "a&per_page=1#b"} {
		if _, err := c.Droplets(context.Background(), staticToken("doo_v1_access"), doclient.ListOptions{Tag: tag}); err != nil {
			t.Fatalf("Droplets: %v", err)
		}
		reqs := api.rec.all()
		if len(reqs) != i+1 || reqs[i].Query.Get("tag_name") != tag || reqs[i].Query.Get("per_page") != "200" {
			t.Fatalf("requests %+v, want one with tag_name=%s and per_page=200", reqs, tag)
		}
	}
}

func TestDropletsHintDoesNotHideAFailure(t *testing.T) {
	t.Parallel()
	api := &dropletAPI{total: 1000, fail: map[int]int{4: http.StatusInternalServerError}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	list, err := c.Droplets(context.Background(), staticToken("doo_v1_access"), doclient.ListOptions{PagesHint: 5})
	var ae *doclient.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusInternalServerError || list != nil {
		t.Fatalf("Droplets = %v, %v; want no list and the API's 500", list, err)
	}
}

// BenchmarkDropletsListAll lists 1,000 droplets (5 pages) from a local fake
// API, without and with the page-count hint; full/ with droplets described
// as DigitalOcean describes them (about 1.5 KB each).
func BenchmarkDropletsListAll(b *testing.B) {
	for _, full := range []bool{false, true} {
		srv := httptest.NewServer(&dropletAPI{total: 1000, full: full})
		b.Cleanup(srv.Close)
		c := newClient(b, srv.URL, srv.URL)
		name := ""
		if full {
			name = "full/"
		}
		for _, hint := range []int{0, 5} {
			b.Run(name+"hint="+strconv.Itoa(hint), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					list, err := c.Droplets(context.Background(), staticToken("doo_v1_access"), doclient.ListOptions{PagesHint: hint})
					if err != nil || len(list.Droplets) != 1000 {
						b.Fatalf("%v, %v", list, err)
					}
				}
			})
		}
	}
}

// The default transport keeps a connection for every page fetched at once:
// a second listing of 1,000 droplets (5 pages at once) opens none.
func TestDropletsReuseConnections(t *testing.T) {
	t.Parallel()
	api := &roundsAPI{api: &dropletAPI{total: 1000}, rounds: []int{5, 5}}
	srv := httptest.NewUnstartedServer(api)
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL, func(cfg *doclient.Config) { cfg.Transport = nil })

	for i := range 2 {
		if _, err := c.Droplets(context.Background(), staticToken("doo_v1_access"), doclient.ListOptions{PagesHint: 5}); err != nil {
			t.Fatalf("listing %d: %v", i+1, err)
		}
	}
	api.check(t)
	if n := conns.Load(); n != 5 {
		t.Errorf("two listings of 5 pages at once opened %d connections, want 5", n)
	}
}

// A later page that is a success without its droplets fails the whole
// listing, as an error page does: never a list with a page missing.
func TestDropletsMalformedPage(t *testing.T) {
	t.Parallel()
	api := &dropletAPI{total: 450}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{"total": 450}})
			return
		}
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)

	list, err := c.Droplets(context.Background(), staticToken("doo_v1_access"), doclient.ListOptions{})
	if list != nil || !doclient.IsMalformed(err) || !doclient.IsUnavailable(err) || !strings.Contains(err.Error(), "page 2") {
		t.Fatalf("Droplets = %v, %v; want no list and page 2's malformed answer", list, err)
	}
}
