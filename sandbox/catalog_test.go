package sandbox_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"
)

type regionObj struct {
	Slug      string   `json:"slug"`
	Name      string   `json:"name"`
	Available bool     `json:"available"`
	Sizes     []string `json:"sizes"`
	Features  []string `json:"features"`
}

type sizeObj struct {
	Slug         string   `json:"slug"`
	Memory       int      `json:"memory"`
	VCPUs        int      `json:"vcpus"`
	Disk         int      `json:"disk"`
	Transfer     float64  `json:"transfer"`
	PriceMonthly float64  `json:"price_monthly"`
	PriceHourly  float64  `json:"price_hourly"`
	Regions      []string `json:"regions"`
	Available    bool     `json:"available"`
	Description  string   `json:"description"`
}

type imageObj struct {
	ID           int      `json:"id"`
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Distribution string   `json:"distribution"`
	Slug         *string  `json:"slug"`
	Public       bool     `json:"public"`
	Regions      []string `json:"regions"`
	MinDiskSize  int      `json:"min_disk_size"`
}

type keyObj struct {
	ID          int    `json:"id"`
	Fingerprint string `json:"fingerprint"`
	PublicKey   string `json:"public_key"`
	Name        string `json:"name"`
}

type pageMeta struct {
	Links struct {
		Pages *struct{ First, Prev, Next, Last string }
	} `json:"links"`
	Meta struct{ Total int } `json:"meta"`
}

type catalogue struct {
	regions []regionObj
	sizes   []sizeObj
	images  []imageObj
}

// fetchCatalogue reads every region, size and image in one page each.
func (h *harness) fetchCatalogue(t *testing.T, token string) catalogue {
	t.Helper()
	var c catalogue
	var regions struct {
		Regions []regionObj
		pageMeta
	}
	var sizes struct {
		Sizes []sizeObj
		pageMeta
	}
	var images struct {
		Images []imageObj
		pageMeta
	}
	for path, out := range map[string]any{"/v2/regions?per_page=200": &regions, "/v2/sizes?per_page=200": &sizes, "/v2/images?per_page=200": &images} {
		if resp, raw := h.call(t, http.MethodGet, path, token, nil, out); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
		}
	}
	if len(regions.Regions) != regions.Meta.Total || len(sizes.Sizes) != sizes.Meta.Total || len(images.Images) != images.Meta.Total {
		t.Fatalf("a list is longer than one page of 200: %d regions, %d sizes, %d images", regions.Meta.Total, sizes.Meta.Total, images.Meta.Total)
	}
	c.regions, c.sizes, c.images = regions.Regions, sizes.Sizes, images.Images
	return c
}

// The catalogue is shaped like DigitalOcean's, with the cases a create
// form must handle, and it agrees with itself: a region lists exactly the
// sizes that list it.
func TestCatalogueIsLikeDigitalOceans(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.fetchCatalogue(t, h.sb.PersonalAccessToken())

	var open []string
	for _, r := range c.regions {
		if !r.Available {
			if len(r.Sizes) != 0 {
				t.Errorf("unavailable region %s lists sizes %v", r.Slug, r.Sizes)
			}
			continue
		}
		open = append(open, r.Slug)
		if r.Name == "" || !slices.Contains(r.Features, "ipv6") || len(r.Sizes) == 0 {
			t.Errorf("region %+v", r)
		}
		for _, slug := range r.Sizes {
			i := slices.IndexFunc(c.sizes, func(z sizeObj) bool { return z.Slug == slug })
			if i < 0 || !slices.Contains(c.sizes[i].Regions, r.Slug) || !c.sizes[i].Available {
				t.Errorf("region %s lists size %s, which doesn't list the region back or isn't available", r.Slug, slug)
			}
		}
	}
	if len(open) != len(c.regions)-1 || !slices.Contains(open, "nyc3") {
		t.Errorf("open regions %v of %d: want all but one", open, len(c.regions))
	}

	partial, retired := 0, 0
	for _, z := range c.sizes {
		if hourly := z.PriceMonthly / 672; math.Abs(z.PriceHourly-hourly) > 1e-9 || z.PriceMonthly <= 0 {
			t.Errorf("size %s costs %v a month and %v an hour", z.Slug, z.PriceMonthly, z.PriceHourly)
		}
		if z.Memory%8 != 0 || z.VCPUs < 1 || z.Disk < 10 || z.Transfer <= 0 || z.Description == "" {
			t.Errorf("size %+v", z)
		}
		for _, slug := range z.Regions {
			if !slices.Contains(open, slug) {
				t.Errorf("size %s is offered in %s, which is not open", z.Slug, slug)
			}
			r := c.regions[slices.IndexFunc(c.regions, func(r regionObj) bool { return r.Slug == slug })]
			if !slices.Contains(r.Sizes, z.Slug) {
				t.Errorf("size %s lists %s, which doesn't list it back", z.Slug, slug)
			}
		}
		switch {
		case !z.Available:
			retired++
			if len(z.Regions) != 0 {
				t.Errorf("retired size %s offered in %v", z.Slug, z.Regions)
			}
		case len(z.Regions) < len(open):
			partial++
		}
	}
	if partial < 2 || retired != 1 {
		t.Errorf("%d sizes offered in only some regions, %d retired; want several and one", partial, retired)
	}

	versions := map[string]int{}
	for _, img := range c.images {
		switch {
		case img.Type == "base":
			versions[img.Distribution]++
			if !img.Public || img.Slug == nil || !slices.Equal(img.Regions, open) {
				t.Errorf("distribution image %+v", img)
			}
		case img.Public:
			versions["application"]++
		default:
			versions["private"]++
			if img.Slug != nil {
				t.Errorf("the account's snapshot has a slug: %+v", img)
			}
		}
	}
	for _, distro := range []string{"Ubuntu", "Debian", "Fedora", "Rocky Linux"} {
		if versions[distro] < 2 {
			t.Errorf("%d %s images, want a couple of versions", versions[distro], distro)
		}
	}
	if versions["application"] < 1 || versions["private"] != 1 {
		t.Errorf("images by kind: %v", versions)
	}
}

// Every droplet the sandbox generates is made of the catalogue: its region,
// its size (offered in that region) and its image are listed.
func TestGeneratedDropletsAreInTheCatalogue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(160))
	pat := h.sb.PersonalAccessToken()
	c := h.fetchCatalogue(t, pat)
	for _, token := range []string{pat, h.loginAs(t, 1).AccessToken} {
		var list struct {
			Droplets []struct {
				Name   string
				Region regionObj
				Size   sizeObj
				Image  imageObj
			}
		}
		h.call(t, http.MethodGet, "/v2/droplets?per_page=200", token, nil, &list)
		for _, d := range list.Droplets {
			ri := slices.IndexFunc(c.regions, func(r regionObj) bool { return r.Slug == d.Region.Slug })
			zi := slices.IndexFunc(c.sizes, func(z sizeObj) bool { return z.Slug == d.Size.Slug })
			ii := slices.IndexFunc(c.images, func(img imageObj) bool { return img.ID == d.Image.ID })
			switch {
			case ri < 0 || !c.regions[ri].Available || !slices.Equal(c.regions[ri].Sizes, d.Region.Sizes):
				t.Errorf("%s: region %+v is not the catalogue's", d.Name, d.Region)
			case zi < 0 || !slices.Contains(c.sizes[zi].Regions, d.Region.Slug):
				t.Errorf("%s: size %s is not offered in %s", d.Name, d.Size.Slug, d.Region.Slug)
			case ii < 0 || !c.images[ii].Public:
				t.Errorf("%s: image %d is not a public image of the catalogue", d.Name, d.Image.ID)
			}
		}
	}
}

func TestImageFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pat := h.sb.PersonalAccessToken()
	all := h.fetchCatalogue(t, pat).images
	kinds := func(query, token string) (types []string, public []bool, total int) {
		t.Helper()
		var page struct {
			Images []imageObj
			pageMeta
		}
		if resp, raw := h.call(t, http.MethodGet, "/v2/images"+query, token, nil, &page); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", query, resp.StatusCode, raw)
		}
		for _, img := range page.Images {
			types = append(types, img.Type)
			public = append(public, img.Public)
		}
		return types, public, page.Meta.Total
	}
	dist, _, nDist := kinds("?type=distribution&per_page=200", pat)
	apps, appsPublic, nApps := kinds("?type=application", pat)
	_, mine, nMine := kinds("?private=true", pat)
	if slices.ContainsFunc(dist, func(s string) bool { return s != "base" }) || len(dist) != nDist || nDist < 8 {
		t.Errorf("type=distribution: %v (%d)", dist, nDist)
	}
	if slices.ContainsFunc(apps, func(s string) bool { return s != "snapshot" }) || slices.Contains(appsPublic, false) || nApps < 1 {
		t.Errorf("type=application: %v %v", apps, appsPublic)
	}
	if !slices.Equal(mine, []bool{false}) || nMine+nDist+nApps != len(all) {
		t.Errorf("private=true: %v; %d+%d+%d images of %d", mine, nMine, nDist, nApps, len(all))
	}
	if _, _, n := kinds("?private=true&type=distribution", pat); n != 0 {
		t.Errorf("the account's distribution images: %d, want none", n)
	}
	if _, _, n := kinds("?tag_name=nothing-has-this", pat); n != 0 {
		t.Errorf("tag_name filter: %d images", n)
	}

	// The second account sees its own snapshot, not the first one's.
	var a, b struct{ Images []imageObj }
	h.call(t, http.MethodGet, "/v2/images?private=true", pat, nil, &a)
	h.call(t, http.MethodGet, "/v2/images?private=true", h.loginAs(t, 1).AccessToken, nil, &b)
	if len(a.Images) != 1 || len(b.Images) != 1 || a.Images[0].ID == b.Images[0].ID {
		t.Errorf("private images: %+v and %+v", a.Images, b.Images)
	}

	for _, query := range []string{"?type=snapshot", "?private=yes", "?page=0"} {
		resp, raw := h.call(t, http.MethodGet, "/v2/images"+query, pat, nil, nil)
		wantAPIError(t, query, resp, raw, http.StatusBadRequest, "bad_request")
	}
}

// The lists page like /v2/droplets: page, per_page (at most 200), links
// and meta.total.
func TestCatalogueListsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pat := h.sb.PersonalAccessToken()
	all := h.fetchCatalogue(t, pat)
	var seen []string
	for page := 1; ; page++ {
		var got struct {
			Sizes []sizeObj
			pageMeta
		}
		path := fmt.Sprintf("/v2/sizes?per_page=4&page=%d", page)
		h.call(t, http.MethodGet, path, pat, nil, &got)
		if got.Meta.Total != len(all.sizes) || got.Links.Pages == nil {
			t.Fatalf("%s: total %d, links %+v", path, got.Meta.Total, got.Links.Pages)
		}
		for _, z := range got.Sizes {
			seen = append(seen, z.Slug)
		}
		if got.Links.Pages.Next == "" {
			if len(got.Sizes) == 0 || got.Links.Pages.Last != "" {
				t.Fatalf("last page %d: %+v", page, got)
			}
			break
		}
		if !strings.Contains(got.Links.Pages.Next, fmt.Sprintf("page=%d", page+1)) || len(got.Sizes) != 4 {
			t.Fatalf("%s: next %q, %d sizes", path, got.Links.Pages.Next, len(got.Sizes))
		}
	}
	var want []string
	for _, z := range all.sizes {
		want = append(want, z.Slug)
	}
	if !slices.Equal(seen, want) {
		t.Errorf("paging walked %v, want %v", seen, want)
	}

	var past struct {
		Regions []regionObj
		pageMeta
	}
	if h.call(t, http.MethodGet, "/v2/regions?page=9", pat, nil, &past); past.Regions == nil || len(past.Regions) != 0 || past.Meta.Total != len(all.regions) {
		t.Errorf("past the last page: %+v", past)
	}
	var one struct {
		SSHKeys []keyObj `json:"ssh_keys"`
		pageMeta
	}
	if h.call(t, http.MethodGet, "/v2/account/keys", pat, nil, &one); len(one.SSHKeys) != 2 || one.Meta.Total != 2 || one.Links.Pages != nil {
		t.Errorf("keys in one page: %+v", one)
	}
}

// Each account has a couple of SSH keys, well-formed, with the MD5
// fingerprint DigitalOcean shows.
func TestSSHKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := map[int]bool{}
	for _, token := range []string{h.login(t).AccessToken, h.loginAs(t, 1).AccessToken} {
		var got struct {
			SSHKeys []keyObj `json:"ssh_keys"`
		}
		h.call(t, http.MethodGet, "/v2/account/keys", token, nil, &got)
		if len(got.SSHKeys) != 2 {
			t.Fatalf("%d keys, want 2", len(got.SSHKeys))
		}
		for _, k := range got.SSHKeys {
			fields := strings.Fields(k.PublicKey)
			blob, err := base64.StdEncoding.DecodeString(fields[1])
			if len(fields) != 3 || fields[0] != "ssh-ed25519" || err != nil || len(blob) != 4+11+4+32 {
				t.Fatalf("public key %q", k.PublicKey)
			}
			sum := md5.Sum(blob)
			var hexes []string
			for _, b := range sum {
				hexes = append(hexes, fmt.Sprintf("%02x", b))
			}
			if k.Fingerprint != strings.Join(hexes, ":") || k.Name == "" || ids[k.ID] || k.ID <= 0 {
				t.Errorf("key %+v: fingerprint, want %s", k, strings.Join(hexes, ":"))
			}
			ids[k.ID] = true
		}
	}
}

// The catalogue's scopes are the ones DigitalOcean's description lists:
// regions:read, sizes:read with regions:read, image:read, ssh_key:read;
// "read" covers them all.
func TestCatalogueScopes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tokens := map[string]string{}
	for _, scope := range []string{"read", "account:read", "regions:read", "sizes:read", "sizes:read regions:read", "image:read", "ssh_key:read"} {
		tokens[scope] = h.login(t, strings.Fields(scope)...).AccessToken
	}
	paths := map[string][]string{ // the scopes that may read each path
		"/v2/regions":      {"read", "regions:read", "sizes:read regions:read"},
		"/v2/sizes":        {"read", "sizes:read regions:read"},
		"/v2/images":       {"read", "image:read"},
		"/v2/account/keys": {"read", "ssh_key:read"},
	}
	for path, allowed := range paths {
		for scope, token := range tokens {
			resp, raw := h.call(t, http.MethodGet, path, token, nil, nil)
			if slices.Contains(allowed, scope) {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s with %q: %d %s", path, scope, resp.StatusCode, raw)
				}
				continue
			}
			wantAPIError(t, path+" with "+scope, resp, raw, http.StatusForbidden, "forbidden")
		}
	}
	_, raw := h.call(t, http.MethodGet, "/v2/sizes", tokens["sizes:read"], nil, nil)
	if !strings.Contains(raw, "sizes:read and regions:read scopes") {
		t.Errorf("the 403 for sizes doesn't name both scopes: %s", raw)
	}
}

// godo reads the catalogue unchanged, as a create form would, with the
// token of a read-only OAuth login.
func TestGodoReadsTheCatalogue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, h.srv.Client())
	client, err := godo.New(oauth2.NewClient(ctx, oauth2.StaticTokenSource(h.login(t))), godo.SetBaseURL(h.base+"/"))
	if err != nil {
		t.Fatal(err)
	}

	regions, _, err := client.Regions.List(ctx, &godo.ListOptions{PerPage: 200})
	if err != nil || len(regions) < 5 {
		t.Fatalf("Regions.List = %d regions, %v", len(regions), err)
	}
	closed := slices.IndexFunc(regions, func(r godo.Region) bool { return !r.Available })
	if closed < 0 || len(regions[closed].Sizes) != 0 {
		t.Errorf("no closed region among %+v", regions)
	}

	sizes, resp, err := client.Sizes.List(ctx, &godo.ListOptions{PerPage: 5})
	if err != nil || len(sizes) != 5 || resp.Meta == nil || resp.Meta.Total <= 5 || resp.Links.IsLastPage() {
		t.Fatalf("Sizes.List = %+v, %+v, %v", sizes, resp, err)
	}
	if z := sizes[1]; z.Slug != "s-1vcpu-1gb" || z.PriceMonthly != 6 || z.Memory != 1024 || !z.Available || len(z.Regions) == 0 || z.Description != "Basic" {
		t.Errorf("Sizes.List[1] = %+v", z)
	}

	images, _, err := client.Images.ListDistribution(ctx, &godo.ListOptions{PerPage: 200})
	ubuntu := slices.IndexFunc(images, func(img godo.Image) bool { return img.Slug == "ubuntu-24-04-x64" })
	if err != nil || ubuntu < 0 || images[ubuntu].Distribution != "Ubuntu" || !images[ubuntu].Public {
		t.Fatalf("Images.ListDistribution = %+v, %v", images, err)
	}
	mine, _, err := client.Images.ListUser(ctx, nil)
	if err != nil || len(mine) != 1 || mine[0].Public || mine[0].Slug != "" {
		t.Errorf("Images.ListUser = %+v, %v", mine, err)
	}

	keys, _, err := client.Keys.List(ctx, nil)
	if err != nil || len(keys) != 2 || keys[0].Fingerprint == "" || !strings.HasPrefix(keys[0].PublicKey, "ssh-ed25519 ") {
		t.Fatalf("Keys.List = %+v, %v", keys, err)
	}
}
