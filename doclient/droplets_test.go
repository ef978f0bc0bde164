package doclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
	droplets := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		droplets = append(droplets, map[string]any{
			"id": id, "name": fmt.Sprintf("droplet-%d", id), "memory": 1024, "vcpus": 1, "disk": 25,
			"status": "active", "created_at": "2024-01-02T03:04:05Z",
			"region": map[string]any{"slug": "nyc3", "name": "New York 3"},
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

			droplets, err := c.Droplets(context.Background(), staticToken("doo_v1_access"))
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

			droplets, err := c.Droplets(context.Background(), staticToken("doo_v1_access"))
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

	droplets, err := c.Droplets(context.Background(), staticToken("doo_v1_access"))
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

	droplets, err := c.Droplets(context.Background(), staticToken("doo_v1_access"))
	if err != nil {
		t.Fatalf("Droplets: %v", err)
	}
	checkIDs(t, droplets, 2000)
	peak := api.maxInFlight.Load()
	if peak > 4 {
		t.Errorf("%d requests in flight at once, want at most 4", peak)
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

	droplets, err := c.Droplets(context.Background(), staticToken("doo_v1_access"))
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
	droplets, err := c.Droplets(context.Background(), src)
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
	_, err := c.Droplets(context.Background(), src)
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
		droplets, err := c.Droplets(ctx, ts)
		if err != nil || len(droplets) != 450 {
			b.Fatalf("Droplets = %d, %v", len(droplets), err)
		}
	}
}
