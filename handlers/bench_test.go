package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"github.com/labstack/echo/v4"

	"dosignin/doclient"
	"dosignin/handlers/flow"
)

// benchAPI serves GET /v2/droplets for an account of n droplets shaped like
// DigitalOcean's (size, region, image, networks, tags), 200 a page, from
// bodies encoded once, so the benchmarks measure the app, not the fake.
type benchAPI struct {
	pages [][]byte
}

func newBenchAPI(n int) *benchAPI {
	regions := []string{"nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1"}
	statuses := []string{"active", "active", "active", "off", "new"}
	all := make([]godo.Droplet, n)
	for i := range all {
		region := regions[i%len(regions)]
		all[i] = godo.Droplet{
			ID: 400000 + i, Name: fmt.Sprintf("web-%05d", i), Memory: 2048, Vcpus: 1, Disk: 50,
			Status: statuses[i%len(statuses)], Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).Format(time.RFC3339),
			SizeSlug: "s-1vcpu-2gb", Tags: []string{"web", "env:prod"}, Features: []string{"backups", "monitoring"},
			Size:   &godo.Size{Slug: "s-1vcpu-2gb", Memory: 2048, Vcpus: 1, Disk: 50, PriceMonthly: 12, PriceHourly: 0.01786, Regions: regions, Available: true, Transfer: 2, Description: "Basic"},
			Region: &godo.Region{Slug: region, Name: "Region " + region, Sizes: []string{"s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb"}, Available: true, Features: []string{"backups", "ipv6", "metadata"}},
			Image:  &godo.Image{ID: 1000, Name: "24.04 (LTS) x64", Distribution: "Ubuntu", Slug: "ubuntu-24-04-x64", Public: true, Regions: regions, Type: "base", MinDiskSize: 7, SizeGigaBytes: 2.5, Created: "2024-04-25T00:00:00Z", Description: "Ubuntu 24.04 x64"},
			Networks: &godo.Networks{V4: []godo.NetworkV4{
				{IPAddress: fmt.Sprintf("203.0.%d.%d", i/250%250, i%250+1), Netmask: "255.255.240.0", Gateway: "203.0.0.1", Type: "public"},
				{IPAddress: fmt.Sprintf("10.10.%d.%d", i/250%250, i%250+1), Netmask: "255.255.0.0", Type: "private"},
			}},
			VPCUUID: "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
		}
	}
	api := &benchAPI{}
	total := max((n+199)/200, 1)
	for p := 1; p <= total; p++ {
		chunk := all[min((p-1)*200, n):min(p*200, n)]
		body := map[string]any{"droplets": chunk, "meta": map[string]int{"total": n}, "links": map[string]any{}}
		if p < total {
			body["links"] = map[string]any{"pages": map[string]string{"last": "http://api.test/v2/droplets?page=" + strconv.Itoa(total) + "&per_page=200"}}
		}
		raw, _ := json.Marshal(body)
		api.pages = append(api.pages, raw)
	}
	return api
}

func (a *benchAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	body := []byte(`{"droplets":[],"links":{},"meta":{"total":0}}`)
	if page <= len(a.pages) {
		body = a.pages[page-1]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Ratelimit-Limit", "5000")
	w.Header().Set("Ratelimit-Remaining", "4999")
	w.Header().Set("Ratelimit-Reset", "1767225600")
	_, _ = w.Write(body)
}

// benchApp is the app wired to a benchAPI, with a session cookie of a
// connected user whose token is far from expiry.
type benchApp struct {
	server  *Server
	handler http.Handler
	cookie  *http.Cookie
}

func newBenchApp(b *testing.B, droplets int) *benchApp {
	b.Helper()
	api := httptest.NewServer(newBenchAPI(droplets))
	b.Cleanup(api.Close)
	redirect, _ := url.Parse("http://app.test/digitalocean")
	client, err := doclient.New(doclient.Config{
		ClientID: "bench-client", ClientSecret: "bench-secret", RedirectURL: redirect.String(),
		OAuthURL: api.URL + "/v1/oauth", APIURL: api.URL, Timeout: 5 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{
		Client: client, RedirectURL: redirect, Scopes: []string{"read"}, PKCE: true,
		SessionSecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef-bench")},
		IdleTimeout:    time.Hour, MaxAge: 24 * time.Hour,
		Views: os.DirFS("../views"), Static: os.DirFS("../static"),
	})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	sess := &Session{AccessToken: "doo_v1_bench_access", RefreshToken: "doo_v1_bench_refresh", Expiry: now.Add(30 * 24 * time.Hour),
		Scope: "read", Account: doclient.Account{Name: "Sammy", Email: "sammy@example.com"}, Created: now, LastSeen: now}
	rec := httptest.NewRecorder()
	if err := s.sessions.save(rec, sess); err != nil {
		b.Fatal(err)
	}
	return &benchApp{server: s, handler: s.Handler(), cookie: rec.Result().Cookies()[0]}
}

func (a *benchApp) get(b *testing.B, target string, want int) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.AddCookie(a.cookie)
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("GET %s: status %d, want %d:\n%.500s", target, rec.Code, want, rec.Body)
	}
	return rec
}

// BenchmarkSessionDecode reads and checks the session cookie, as every
// request of a connected user does.
func BenchmarkSessionDecode(b *testing.B) {
	a := newBenchApp(b, 3)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(a.cookie)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := a.server.sessions.load(httptest.NewRecorder(), req); !ok {
			b.Fatal("session did not load")
		}
	}
}

// BenchmarkSessionEncode writes the session cookie, as a login or a
// refresh does.
func BenchmarkSessionEncode(b *testing.B) {
	a := newBenchApp(b, 3)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(a.cookie)
	sess, _ := a.server.sessions.load(httptest.NewRecorder(), req)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.server.sessions.save(httptest.NewRecorder(), sess); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderDroplets executes the droplet page's template for
// accounts of several sizes (the table shows at most one page of rows).
func BenchmarkRenderDroplets(b *testing.B) {
	for _, n := range []int{20, 200, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			a := newBenchApp(b, 0)
			rows := make([]dropletRow, n)
			for i := range rows {
				rows[i] = dropletRow{Name: fmt.Sprintf("web-%05d", i), Status: "active", Region: "New York 3", Size: "1 vCPU · 2 GB · 50 GB disk",
					PublicIPv4: "203.0.113.7", Image: "Ubuntu 24.04 (LTS) x64", Tags: []string{"web", "env:prod"}, Created: time.Now(), Actions: actionsFor("active")}
			}
			data := newDropletsPage(rows, dropletQuery{Sort: "name", Page: 1}, "Read")
			data.Token = flow.NewTokenStatus("Read", "read", time.Now().Add(time.Hour), time.Time{}, time.Now())
			e := echo.New()
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				c := e.NewContext(httptest.NewRequest(http.MethodGet, "/digitalocean", nil), rec)
				if err := a.server.render(c, http.StatusOK, "droplets", "Your droplets", nil, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDropletPage is the whole droplet page: cookie, API call over
// HTTP to a local fake, filter, sort and render.
func BenchmarkDropletPage(b *testing.B) {
	for _, n := range []int{3, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			a := newBenchApp(b, n)
			b.ReportAllocs()
			for b.Loop() {
				a.get(b, "/digitalocean", http.StatusOK)
			}
		})
	}
}

// BenchmarkIndex is the home page of a visitor who is not connected.
func BenchmarkIndex(b *testing.B) {
	a := newBenchApp(b, 0)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		a.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
