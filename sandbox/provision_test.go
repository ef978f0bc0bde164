package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

type netObj struct {
	IPAddress string `json:"ip_address"`
	Type      string `json:"type"`
}

// createdObj is what the tests read of a created droplet.
type createdObj struct {
	ID       int      `json:"id"`
	Name     string   `json:"name"`
	Status   string   `json:"status"`
	Locked   bool     `json:"locked"`
	Memory   int      `json:"memory"`
	SizeSlug string   `json:"size_slug"`
	Features []string `json:"features"`
	Tags     []string `json:"tags"`
	VPCUUID  string   `json:"vpc_uuid"`
	Region   struct{ Slug string }
	Image    struct{ ID int }
	Networks struct {
		V4 []netObj
		V6 []netObj
	}
}

type createBody struct {
	Droplet  createdObj   `json:"droplet"`
	Droplets []createdObj `json:"droplets"`
	Links    struct {
		Actions []struct {
			ID   int    `json:"id"`
			Rel  string `json:"rel"`
			HREF string `json:"href"`
		} `json:"actions"`
	} `json:"links"`
}

// newDroplet is a minimal valid create request.
func newDroplet(name string) map[string]any {
	return map[string]any{"name": name, "region": "nyc3", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}
}

// dropletWith is newDroplet with the fields of change added or replaced.
func dropletWith(name string, change map[string]any) map[string]any {
	req := newDroplet(name)
	for k, v := range change {
		req[k] = v
	}
	return req
}

func (h *harness) create(t *testing.T, token string, body any) (*http.Response, string, createBody) {
	t.Helper()
	var out createBody
	resp, raw := h.call(t, http.MethodPost, "/v2/droplets", token, body, &out)
	return resp, raw, out
}

func (h *harness) total(t *testing.T, token, query string) int {
	t.Helper()
	var list listResponse
	if resp, raw := h.call(t, http.MethodGet, "/v2/droplets"+query, token, nil, &list); resp.StatusCode != http.StatusOK {
		t.Fatalf("list%s: %d %s", query, resp.StatusCode, raw)
	}
	return list.Meta.Total
}

// A created droplet is "new", without addresses, with a create action in
// progress; after the action delay it is active with its networks, and it
// is listed, filtered and acted on like any other.
func TestCreatedDropletBecomesActive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"), withConfig(func(c *sandbox.Config) { c.ActionDelay = 20 * time.Second }))
	pat := h.sb.PersonalAccessToken()
	var keys struct {
		SSHKeys []keyObj `json:"ssh_keys"`
	}
	h.call(t, http.MethodGet, "/v2/account/keys", pat, nil, &keys)

	req := newDroplet("blog.example.com")
	req["size"] = "s-2vcpu-4gb"
	req["ssh_keys"] = []any{keys.SSHKeys[0].ID, keys.SSHKeys[1].Fingerprint}
	req["tags"] = []string{"blog", "env:prod", "blog"}
	req["ipv6"], req["monitoring"], req["backups"] = true, true, true
	req["user_data"] = "#cloud-config\nruncmd:\n  - touch /test.txt\n"
	resp, raw, got := h.create(t, pat, req)
	d := got.Droplet
	if resp.StatusCode != http.StatusAccepted || d.ID == 0 || d.Name != "blog.example.com" || d.Status != "new" || d.Locked ||
		len(d.Networks.V4)+len(d.Networks.V6) != 0 || d.SizeSlug != "s-2vcpu-4gb" || d.Memory != 4096 || d.Region.Slug != "nyc3" || d.VPCUUID == "" ||
		!slices.Equal(d.Tags, []string{"blog", "env:prod"}) || !slices.Equal(d.Features, []string{"backups", "monitoring", "droplet_agent", "private_networking", "ipv6"}) {
		t.Fatalf("create: %d %s", resp.StatusCode, raw)
	}
	if len(got.Links.Actions) != 1 {
		t.Fatalf("links: %s", raw)
	}
	link := got.Links.Actions[0]
	if link.Rel != "create" || link.HREF != h.base+"/v2/actions/"+strconv.Itoa(link.ID) {
		t.Errorf("action link %+v, want rel create and %s/v2/actions/%d", link, h.base, link.ID)
	}

	var act actionBody
	h.call(t, http.MethodGet, "/v2/actions/"+strconv.Itoa(link.ID), pat, nil, &act)
	if a := act.Action; a.Status != "in-progress" || a.Type != "create" || a.ResourceID != d.ID || a.RegionSlug != "nyc3" {
		t.Errorf("create action: %+v", a)
	}
	if n := h.total(t, pat, ""); n != 9 {
		t.Errorf("%d droplets listed, want the 8 generated and the new one", n)
	}
	if resp, raw, _ := h.act(t, pat, d.ID, map[string]string{"type": "reboot"}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("reboot while being created: %d %s", resp.StatusCode, raw)
	}

	h.clock.Advance(19 * time.Second)
	var one struct{ Droplet createdObj }
	h.call(t, http.MethodGet, dropletPath(d.ID), pat, nil, &one)
	if one.Droplet.Status != "new" {
		t.Errorf("after 19s of 20: %+v", one.Droplet)
	}
	h.clock.Advance(time.Second)
	h.call(t, http.MethodGet, dropletPath(d.ID), pat, nil, &one)
	v4 := one.Droplet.Networks.V4
	if one.Droplet.Status != "active" || len(v4) != 2 || v4[0].Type != "public" || v4[1].Type != "private" || v4[0].IPAddress == "" || len(one.Droplet.Networks.V6) != 1 {
		t.Fatalf("after 20s: %+v", one.Droplet)
	}
	h.call(t, http.MethodGet, "/v2/droplets/"+strconv.Itoa(d.ID)+"/actions/"+strconv.Itoa(link.ID), pat, nil, &act)
	if act.Action.Status != "completed" || act.Action.CompletedAt == nil {
		t.Errorf("create action after 20s: %+v", act.Action)
	}

	// Its addresses are its own.
	var all listResponse
	h.call(t, http.MethodGet, "/v2/droplets", pat, nil, &all)
	for _, other := range all.Droplets[:8] {
		for _, n := range other.Networks.V4 {
			if n.IPAddress == v4[0].IPAddress || n.IPAddress == v4[1].IPAddress {
				t.Errorf("%s has the new droplet's address %s", other.Name, n.IPAddress)
			}
		}
	}
	if last := all.Droplets[len(all.Droplets)-1]; last.ID != d.ID {
		t.Errorf("the new droplet is not listed last: %+v", last)
	}
	for query, want := range map[string]int{"?tag_name=blog": 1, "?tag_name=web": 2, "?name=BLOG.example.com": 1} {
		if n := h.total(t, pat, query); n != want {
			t.Errorf("list%s: %d, want %d", query, n, want)
		}
	}

	resp, raw, a := h.act(t, pat, d.ID, map[string]string{"type": "power_off"})
	if resp.StatusCode != http.StatusCreated || a.ResourceID != d.ID {
		t.Fatalf("power_off once active: %d %s", resp.StatusCode, raw)
	}
	h.clock.Advance(20 * time.Second)
	if got := h.droplet(t, pat, d.ID); got.Droplet.Status != "off" {
		t.Errorf("after power_off: %+v", got.Droplet)
	}
	if st := h.sb.Stats(); st.DropletsCreated != 1 || st.Actions != 2 {
		t.Errorf("stats %+v", st)
	}
}

// What a request leaves out gets DigitalOcean's defaults; what it gives in
// other forms (an image ID, a region prefix, a string ID) works too.
func TestCreateDefaultsAndForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.ActionDelay = time.Second }))
	pat := h.sb.PersonalAccessToken()
	var mine struct{ Images []imageObj }
	h.call(t, http.MethodGet, "/v2/images?private=true", pat, nil, &mine)
	snap := mine.Images[0]

	tests := []struct {
		name       string
		change     map[string]any
		region     string
		features   []string
		publicIPv4 bool
	}{
		{"defaults", map[string]any{}, "nyc3", []string{"droplet_agent", "private_networking"}, true},
		{"any region", map[string]any{"region": ""}, "nyc1", nil, true},
		{"a city prefix skips the closed nyc2", map[string]any{"region": "nyc", "size": "so-2vcpu-16gb"}, "nyc3", nil, true},
		{"an image ID", map[string]any{"image": 155_011_287}, "nyc3", nil, true},
		{"the account's snapshot by ID, as a string", map[string]any{"image": strconv.Itoa(snap.ID), "size": "s-2vcpu-4gb", "region": snap.Regions[0]}, snap.Regions[0], nil, true},
		{"no agent, private only", map[string]any{"with_droplet_agent": false, "public_networking": false}, "nyc3", []string{"private_networking"}, false},
	}
	for _, tt := range tests {
		req := dropletWith("box", tt.change)
		resp, raw, got := h.create(t, pat, req)
		if resp.StatusCode != http.StatusAccepted || got.Droplet.Region.Slug != tt.region || (tt.features != nil && !slices.Equal(got.Droplet.Features, tt.features)) {
			t.Errorf("%s: %d %s", tt.name, resp.StatusCode, raw)
			continue
		}
		h.clock.Advance(time.Second)
		var one struct{ Droplet createdObj }
		h.call(t, http.MethodGet, dropletPath(got.Droplet.ID), pat, nil, &one)
		public := slices.ContainsFunc(one.Droplet.Networks.V4, func(n netObj) bool { return n.Type == "public" })
		if one.Droplet.Status != "active" || public != tt.publicIPv4 || len(one.Droplet.Networks.V6) != 0 || one.Droplet.Tags == nil {
			t.Errorf("%s, once active: %+v", tt.name, one.Droplet)
		}
	}
}

// Each problem of a create request is a 422 in DigitalOcean's shape that
// says what is wrong, and creates nothing.
func TestCreateRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pat := h.sb.PersonalAccessToken()
	var mine struct{ Images []imageObj }
	h.call(t, http.MethodGet, "/v2/images?private=true", h.loginAs(t, 1).AccessToken, nil, &mine)
	othersSnapshot := mine.Images[0].ID
	h.call(t, http.MethodGet, "/v2/images?private=true", pat, nil, &mine)
	snapshot := mine.Images[0]

	tests := []struct {
		name    string
		change  map[string]any
		message string // a part of the message
	}{
		{"an underscore in the name", map[string]any{"name": "web_01"}, "Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)"},
		{"a leading dash", map[string]any{"name": "-web"}, "must not start or end"},
		{"a trailing dot", map[string]any{"name": "web."}, "must not start or end"},
		{"a name of 256 characters", map[string]any{"name": strings.Repeat("a", 256)}, "at most 255"},
		{"no name", map[string]any{"name": ""}, "name is required"},
		{"name and names", map[string]any{"names": []string{"a", "b"}}, "either name or names"},
		{"eleven names", map[string]any{"name": "", "names": strings.Split("a b c d e f g h i j k", " ")}, "At most 10"},
		{"a bad name among names", map[string]any{"name": "", "names": []string{"ok", "not ok"}}, "hostname characters"},
		{"no size", map[string]any{"size": ""}, "size is required"},
		{"an unknown size", map[string]any{"size": "s-64vcpu-1tb"}, "invalid size"},
		{"a retired size", map[string]any{"size": "s-1vcpu-3gb"}, "no longer available"},
		{"an unknown region", map[string]any{"region": "mars1"}, "invalid region"},
		{"the closed region", map[string]any{"region": "nyc2"}, "Region is not available"},
		{"a size not offered in the region", map[string]any{"region": "syd1", "size": "so-2vcpu-16gb"}, "Size is not available in this region."},
		{"no image", map[string]any{"image": nil}, "image is required"},
		{"an unknown image slug", map[string]any{"image": "ubuntu-18-04-x64"}, "invalid image"},
		{"an unknown image ID", map[string]any{"image": 12345}, "invalid image"},
		{"another account's snapshot", map[string]any{"image": othersSnapshot}, "invalid image"},
		{"a snapshot kept elsewhere", map[string]any{"image": snapshot.ID, "size": "s-2vcpu-4gb", "region": "fra1"}, "image is not available in that region"},
		{"an image bigger than the disk", map[string]any{"image": snapshot.ID, "region": snapshot.Regions[0]}, "needs a disk of at least 80 GB"},
		{"an unknown SSH key ID", map[string]any{"ssh_keys": []any{41_520_173, 999}}, "999 are invalid key identifiers"},
		{"an unknown fingerprint", map[string]any{"ssh_keys": []string{"3b:16:e4:bf:8b:00:8b:b8:59:8c:a9:d3:f0:19:fa:45"}}, "are invalid key identifiers"},
		{"another account's key", map[string]any{"ssh_keys": []int{43_077_112}}, "invalid key identifiers"},
		{"a tag with a space", map[string]any{"tags": []string{"env prod"}}, "Tag names may contain only"},
		{"a tag of 256 characters", map[string]any{"tags": []string{strings.Repeat("t", 256)}}, "at most 255"},
		{"26 tags", map[string]any{"tags": strings.Split("a b c d e f g h i j k l m n o p q r s t u v w x y z", " ")}, "at most 25 tags"},
		{"user data over 64 KiB", map[string]any{"user_data": strings.Repeat("x", 64<<10+1)}, "64 KiB"},
		{"a volume", map[string]any{"volumes": []string{"12e97116-7280-11ed-b3d0-0a58ac146812"}}, "no block storage volumes"},
		{"another VPC", map[string]any{"vpc_uuid": "760e09ef-dc84-11e8-981e-3cfdfeaae000"}, "vpc_uuid must be"},
		{"IPv6 without public networking", map[string]any{"ipv6": true, "public_networking": false}, "ipv6 must be false"},
	}
	for _, tt := range tests {
		req := dropletWith("web-99", tt.change)
		resp, raw, _ := h.create(t, pat, req)
		wantAPIError(t, tt.name, resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")
		if !strings.Contains(raw, tt.message) {
			t.Errorf("%s: %s, want a message with %q", tt.name, raw, tt.message)
		}
	}

	for _, bad := range []struct {
		name   string
		body   any
		status int
		id     string
	}{
		{"not an object", "web-01", http.StatusBadRequest, "bad_request"},
		{"a number for the name", map[string]any{"name": 7, "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}, http.StatusBadRequest, "bad_request"},
		{"a body over 1 MiB", map[string]any{"name": "big", "user_data": strings.Repeat("x", 1<<20)}, http.StatusRequestEntityTooLarge, "request_entity_too_large"},
	} {
		resp, raw, _ := h.create(t, pat, bad.body)
		wantAPIError(t, bad.name, resp, raw, bad.status, bad.id)
	}
	if n, st := h.total(t, pat, ""), h.sb.Stats(); n != 8 || st.DropletsCreated != 0 || st.Actions != 0 {
		t.Errorf("after refusals: %d droplets, stats %+v", n, st)
	}
}

// Creating needs write access: droplet:create, or "write"; a read-only
// token gets 403, and so does a granular token without the scopes the
// request's fields need. Destroying needs droplet:delete.
func TestCreateAndDestroyScopes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		scope  string
		change map[string]any
		want   int
	}{
		{"read", nil, http.StatusForbidden},
		{"droplet:read droplet:update", nil, http.StatusForbidden},
		{"droplet:create", nil, http.StatusForbidden}, // the image needs image:read
		{"droplet:create image:read", nil, http.StatusAccepted},
		{"read droplet:create", nil, http.StatusAccepted},
		{"droplet:create image:read", map[string]any{"tags": []string{"web"}}, http.StatusForbidden},
		{"droplet:create image:read tag:create", map[string]any{"tags": []string{"web"}}, http.StatusAccepted},
		{"droplet:create image:read", map[string]any{"ssh_keys": []int{41_520_173}}, http.StatusForbidden},
		{"droplet:create image:read ssh_key:read", map[string]any{"ssh_keys": []int{41_520_173}}, http.StatusAccepted},
		{"read write", map[string]any{"tags": []string{"web"}, "ssh_keys": []int{41_520_173}}, http.StatusAccepted},
	}
	for _, tt := range tests {
		req := dropletWith("scoped", tt.change)
		resp, raw, _ := h.create(t, h.login(t, strings.Fields(tt.scope)...).AccessToken, req)
		if resp.StatusCode != tt.want {
			t.Errorf("create with %q and %v: %d %s, want %d", tt.scope, tt.change, resp.StatusCode, raw, tt.want)
		}
		if tt.want == http.StatusForbidden {
			wantAPIError(t, tt.scope, resp, raw, http.StatusForbidden, "forbidden")
		}
	}

	for scope, want := range map[string]int{"read": http.StatusForbidden, "droplet:update": http.StatusForbidden, "droplet:delete": http.StatusNoContent} {
		resp, raw := h.call(t, http.MethodDelete, dropletPath(db01), h.login(t, scope).AccessToken, nil, nil)
		if resp.StatusCode != want {
			t.Errorf("delete with %q: %d %s, want %d", scope, resp.StatusCode, raw, want)
		}
	}
}

// A destroyed droplet, generated or created, leaves the list and is then
// not found; another account's droplet, or an unknown one, is not found.
func TestDestroyDroplets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(30), withConfig(func(c *sandbox.Config) { c.ActionDelay = time.Minute }))
	pat := h.sb.PersonalAccessToken()

	resp, raw := h.call(t, http.MethodDelete, dropletPath(web01), pat, nil, nil)
	if resp.StatusCode != http.StatusNoContent || raw != "" || resp.Header.Get("Content-Type") == "" {
		t.Fatalf("delete web-01: %d %q %v", resp.StatusCode, raw, resp.Header)
	}
	for _, path := range []string{dropletPath(web01), dropletPath(web01) + "/actions"} {
		resp, raw = h.call(t, http.MethodGet, path, pat, nil, nil)
		wantAPIError(t, "GET "+path+" once destroyed", resp, raw, http.StatusNotFound, "not_found")
	}
	resp, raw = h.call(t, http.MethodDelete, dropletPath(web01), pat, nil, nil)
	wantAPIError(t, "delete twice", resp, raw, http.StatusNotFound, "not_found")
	resp, raw, _ = h.act(t, pat, web01, map[string]string{"type": "power_on"})
	wantAPIError(t, "act on a destroyed droplet", resp, raw, http.StatusNotFound, "not_found")

	other := h.loginAs(t, 1, "read", "write").AccessToken
	for _, path := range []string{dropletPath(db01), dropletPath(12345), "/v2/droplets/web-01", dropletPath(web01 + 1)} {
		resp, raw = h.call(t, http.MethodDelete, path, other, nil, nil)
		wantAPIError(t, "delete "+path+" from the second account", resp, raw, http.StatusNotFound, "not_found")
	}
	h.droplet(t, pat, db01) // still there

	// A droplet with an action in progress can be destroyed; the action
	// ends errored. So can one being created.
	_, _, reboot := h.act(t, pat, db01, map[string]string{"type": "reboot"})
	_, _, created := h.create(t, pat, newDroplet("short-lived"))
	for _, id := range []int{db01, created.Droplet.ID} {
		if resp, raw := h.call(t, http.MethodDelete, dropletPath(id), pat, nil, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete %d: %d %s", id, resp.StatusCode, raw)
		}
	}
	for _, id := range []int{reboot.ID, created.Links.Actions[0].ID} {
		var a actionBody
		h.call(t, http.MethodGet, "/v2/actions/"+strconv.Itoa(id), pat, nil, &a)
		if a.Action.Status != "errored" || a.Action.CompletedAt == nil || *a.Action.CompletedAt != "2026-03-02T10:00:00Z" {
			t.Errorf("action %d on a destroyed droplet: %+v", id, a.Action)
		}
	}
	h.clock.Advance(time.Hour) // nothing left to complete
	resp, raw = h.call(t, http.MethodGet, dropletPath(created.Droplet.ID), pat, nil, nil)
	wantAPIError(t, "a destroyed created droplet", resp, raw, http.StatusNotFound, "not_found")

	// Paging skips the destroyed droplets and still reaches every other.
	for _, id := range []int{web01 + 5*37, web01 + 13*37, web01 + 29*37} {
		h.call(t, http.MethodDelete, dropletPath(id), pat, nil, nil)
	}
	_, _, kept := h.create(t, pat, newDroplet("kept"))
	var seen []int
	for page := 1; page <= 5; page++ {
		var list listResponse
		h.call(t, http.MethodGet, fmt.Sprintf("/v2/droplets?per_page=7&page=%d", page), pat, nil, &list)
		if list.Meta.Total != 26 {
			t.Fatalf("page %d: total %d, want 30-5+1", page, list.Meta.Total)
		}
		for _, d := range list.Droplets {
			seen = append(seen, d.ID)
		}
	}
	var want []int
	for i := range 30 {
		if !slices.Contains([]int{0, 1, 5, 13, 29}, i) {
			want = append(want, web01+37*i)
		}
	}
	if want = append(want, kept.Droplet.ID); !slices.Equal(seen, want) {
		t.Errorf("pages hold %v\nwant %v", seen, want)
	}
	if st := h.sb.Stats(); st.DropletsDestroyed != 6 || st.DropletsCreated != 2 {
		t.Errorf("stats %+v", st)
	}
}

// A single-page app may destroy droplets from the browser: the preflight
// allows DELETE, as DigitalOcean's does.
func TestDestroyPreflight(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp, _ := do(t, h.srv.Client(), http.MethodOptions, h.base+dropletPath(web01), nil, http.Header{
		"Origin": {"http://localhost:3000"}, "Access-Control-Request-Method": {"DELETE"}, "Access-Control-Request-Headers": {"authorization"},
	})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Errorf("preflight for DELETE: %d %v", resp.StatusCode, resp.Header)
	}
}

// DELETE /v2/droplets?tag_name= destroys every droplet with the tag, the
// created ones too.
func TestDestroyByTag(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(40))
	pat := h.sb.PersonalAccessToken()
	h.create(t, pat, dropletWith("tagged", map[string]any{"tags": []string{"staging"}}))
	h.create(t, pat, newDroplet("untagged"))
	before := h.total(t, pat, "")
	staging := h.total(t, pat, "?tag_name=staging")
	if resp, raw := h.call(t, http.MethodDelete, "/v2/droplets?tag_name=staging", pat, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete by tag: %d %s", resp.StatusCode, raw)
	}
	if n := h.total(t, pat, "?tag_name=staging"); n != 0 || staging != 6 {
		t.Errorf("staging droplets: %d before, %d after", staging, n)
	}
	if n := h.total(t, pat, ""); n != before-staging || h.total(t, pat, "?name=untagged") != 1 {
		t.Errorf("%d droplets left of %d", n, before)
	}
	resp, raw := h.call(t, http.MethodDelete, "/v2/droplets", pat, nil, nil)
	wantAPIError(t, "delete without tag_name", resp, raw, http.StatusBadRequest, "bad_request")
}

// The droplet limit counts every droplet the account has, generated and
// created: past it a create is refused with DigitalOcean's message, all or
// none; destroying makes room again.
func TestDropletLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	other := h.loginAs(t, 1, "read", "write").AccessToken
	var acct struct {
		Account struct {
			DropletLimit int `json:"droplet_limit"`
		}
	}
	h.call(t, http.MethodGet, "/v2/account", other, nil, &acct)
	if acct.Account.DropletLimit != 10 {
		t.Fatalf("second account's droplet_limit %d, want 10", acct.Account.DropletLimit)
	}
	many := map[string]any{"names": []string{"a1", "a2", "a3", "a4"}, "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}
	if resp, raw, got := h.create(t, other, many); resp.StatusCode != http.StatusAccepted || len(got.Droplets) != 4 || len(got.Links.Actions) != 4 {
		t.Fatalf("create 4: %d %s", resp.StatusCode, raw)
	}
	resp, raw, _ := h.create(t, other, map[string]any{"names": []string{"b1", "b2"}, "size": "s-1vcpu-1gb", "image": "debian-12-x64"})
	wantAPIError(t, "two with room for one", resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")
	if !strings.Contains(raw, `"creating this/these droplet(s) will exceed your droplet limit"`) {
		t.Errorf("limit message: %s", raw)
	}
	if resp, raw, _ := h.create(t, other, newDroplet("last")); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the tenth: %d %s", resp.StatusCode, raw)
	}
	resp, raw, _ = h.create(t, other, newDroplet("eleventh"))
	wantAPIError(t, "the eleventh", resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")
	if n := h.total(t, other, ""); n != 10 {
		t.Errorf("%d droplets, want 10", n)
	}

	var list listResponse
	h.call(t, http.MethodGet, "/v2/droplets", other, nil, &list)
	h.call(t, http.MethodDelete, dropletPath(list.Droplets[0].ID), other, nil, nil)
	if resp, raw, _ := h.create(t, other, newDroplet("eleventh")); resp.StatusCode != http.StatusAccepted {
		t.Errorf("after destroying one: %d %s", resp.StatusCode, raw)
	}
}

// However many droplets SANDBOX_DROPLETS generates, the default account can
// create 25 more: its droplet_limit is the generated count plus 25.
func TestDropletLimitLeavesRoom(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 0, 1000} {
		h := newHarness(t, withDroplets(n), withConfig(func(c *sandbox.Config) { c.RateLimit, c.BurstLimit = -1, -1 }))
		pat := h.sb.PersonalAccessToken()
		var acct struct {
			Account struct {
				DropletLimit int `json:"droplet_limit"`
			}
		}
		h.call(t, http.MethodGet, "/v2/account", pat, nil, &acct)
		generated := h.total(t, pat, "")
		if acct.Account.DropletLimit != generated+25 {
			t.Errorf("Droplets=%d: droplet_limit %d with %d droplets", n, acct.Account.DropletLimit, generated)
		}
		for k := 0; k < 25; k += 5 {
			names := []string{}
			for j := range 5 {
				names = append(names, fmt.Sprintf("n%02d", k+j))
			}
			if resp, raw, _ := h.create(t, pat, map[string]any{"names": names, "size": "s-1vcpu-1gb", "image": "fedora-41-x64"}); resp.StatusCode != http.StatusAccepted {
				t.Fatalf("Droplets=%d, create %d-%d: %d %s", n, k, k+4, resp.StatusCode, raw)
			}
		}
		resp, raw, _ := h.create(t, pat, newDroplet("one-too-many"))
		wantAPIError(t, fmt.Sprintf("Droplets=%d, the 26th", n), resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")
	}
}

// Concurrent creates never take an account past its limit.
func TestConcurrentCreatesRespectTheLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = -1 }))
	other := h.loginAs(t, 1, "read", "write").AccessToken
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for k := range statuses {
		wg.Go(func() {
			resp, _, _ := h.create(t, other, newDroplet(fmt.Sprintf("racer-%02d", k)))
			statuses[k] = resp.StatusCode
		})
	}
	wg.Wait()
	accepted := 0
	for _, s := range statuses {
		if s == http.StatusAccepted {
			accepted++
		} else if s != http.StatusUnprocessableEntity {
			t.Errorf("status %d", s)
		}
	}
	if n := h.total(t, other, ""); accepted != 5 || n != 10 {
		t.Errorf("%d creates accepted, %d droplets; want 5 and 10", accepted, n)
	}
}

// Created droplets are bounded even when the limit is high: at most 1000
// per account at once, and destroying the generated ones (a set no larger
// than their number) is what lets an account get there.
func TestCreatedDropletsAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(1000), withConfig(func(c *sandbox.Config) { c.RateLimit, c.BurstLimit = -1, -1; c.ActionDelay = time.Second }))
	pat := h.sb.PersonalAccessToken()
	for _, tag := range []string{"production", "staging", "ci"} {
		h.call(t, http.MethodDelete, "/v2/droplets?tag_name="+tag, pat, nil, nil)
	}
	var boxes listResponse // the dev boxes, untagged: 125 of them
	h.call(t, http.MethodGet, "/v2/droplets?per_page=200", pat, nil, &boxes)
	for _, d := range boxes.Droplets {
		h.call(t, http.MethodDelete, dropletPath(d.ID), pat, nil, nil)
	}
	if n := h.total(t, pat, ""); n != 0 || len(boxes.Droplets) != 125 {
		t.Fatalf("%d droplets left after destroying all (%d untagged)", n, len(boxes.Droplets))
	}
	for k := range 100 {
		names := make([]string, 10)
		for j := range names {
			names[j] = fmt.Sprintf("c%03d-%d", k, j)
		}
		if resp, raw, _ := h.create(t, pat, map[string]any{"names": names, "size": "s-1vcpu-1gb", "image": "ubuntu-22-04-x64"}); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("batch %d: %d %s", k, resp.StatusCode, raw)
		}
		h.clock.Advance(time.Second) // so that the oldest create actions can make room
	}
	resp, raw, _ := h.create(t, pat, newDroplet("the-1001st"))
	wantAPIError(t, "the 1001st created droplet", resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")
	if !strings.Contains(raw, "at most 1000 created droplets") {
		t.Errorf("message: %s", raw)
	}
	if n := h.total(t, pat, ""); n != 1000 {
		t.Errorf("%d droplets, want 1000", n)
	}
}

// godo creates a droplet, follows it to active through its action, and
// destroys it, unchanged, with the token of an OAuth login with write
// access, as an app would.
func TestGodoCreatesAndDestroysADroplet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"), withConfig(func(c *sandbox.Config) { c.ActionDelay = 30 * time.Second }))
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, h.srv.Client())
	client, err := godo.New(oauth2.NewClient(ctx, oauth2.StaticTokenSource(h.login(t, "read", "write"))), godo.SetBaseURL(h.base+"/"))
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := client.Keys.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}

	d, resp, err := client.Droplets.Create(ctx, &godo.DropletCreateRequest{
		Name:    "app-01",
		Region:  "ams3",
		Size:    "s-1vcpu-2gb",
		Image:   godo.DropletCreateImage{Slug: "debian-12-x64"},
		SSHKeys: []godo.DropletCreateSSHKey{{ID: keys[0].ID}, {Fingerprint: keys[1].Fingerprint}},
		IPv6:    true,
		Tags:    []string{"app"},
	})
	if err != nil || resp.StatusCode != http.StatusAccepted || d.Status != "new" || d.Name != "app-01" || d.Region.Slug != "ams3" {
		t.Fatalf("Droplets.Create = %+v, %v", d, err)
	}
	if ip, _ := d.PublicIPv4(); ip != "" {
		t.Errorf("a new droplet has a public address %s", ip)
	}
	if resp.Links == nil || len(resp.Links.Actions) != 1 || resp.Links.Actions[0].Rel != "create" {
		t.Fatalf("create links: %+v", resp.Links)
	}
	actionID := resp.Links.Actions[0].ID

	for step := 0; ; step++ {
		got, _, err := client.Droplets.Get(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == "active" {
			ip, _ := got.PublicIPv4()
			ip6, _ := got.PublicIPv6()
			if step != 3 || ip == "" || ip6 == "" {
				t.Fatalf("active after %d steps of 10s, IPv4 %q, IPv6 %q", step, ip, ip6)
			}
			break
		}
		if step > 3 {
			t.Fatalf("still %s after %d steps", got.Status, step)
		}
		h.clock.Advance(10 * time.Second)
	}
	a, _, err := client.Actions.Get(ctx, actionID)
	if err != nil || a.Status != godo.ActionCompleted || a.Type != "create" || a.ResourceID != d.ID {
		t.Fatalf("Actions.Get = %+v, %v", a, err)
	}

	many, resp, err := client.Droplets.CreateMultiple(ctx, &godo.DropletMultiCreateRequest{
		Names: []string{"app-02", "app-03"}, Region: "ams3", Size: "s-1vcpu-2gb", Image: godo.DropletCreateImage{ID: 155_011_287},
	})
	if err != nil || len(many) != 2 || resp.Links == nil || len(resp.Links.Actions) != 2 {
		t.Fatalf("Droplets.CreateMultiple = %+v, %+v, %v", many, resp, err)
	}

	if resp, err := client.Droplets.Delete(ctx, d.ID); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Droplets.Delete = %v, %v", resp, err)
	}
	var errResp *godo.ErrorResponse
	if _, _, err := client.Droplets.Get(ctx, d.ID); !asErrorResponse(err, &errResp) || errResp.Response.StatusCode != http.StatusNotFound {
		t.Fatalf("Get after Delete: %v", err)
	}
	if _, err := client.Droplets.Delete(ctx, web01); err != nil {
		t.Fatalf("Delete of a generated droplet: %v", err)
	}
	list, _, err := client.Droplets.List(ctx, &godo.ListOptions{PerPage: 200})
	if err != nil || len(list) != 7+2 || slices.ContainsFunc(list, func(x godo.Droplet) bool { return x.ID == d.ID || x.ID == web01 }) {
		t.Fatalf("List after deletes = %d droplets, %v", len(list), err)
	}
	if _, _, err := client.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "bad_name", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}}); !asErrorResponse(err, &errResp) ||
		errResp.Response.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(errResp.Message, "hostname") || errResp.RequestID == "" {
		t.Fatalf("Create with a bad name: %v", err)
	}
}
