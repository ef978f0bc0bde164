package sandbox_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"dosignin/sandbox"
)

// The catalogue's lists, each of their pages and filters, and their
// errors conform to DigitalOcean's OpenAPI description.
func TestContractOfCatalogue(t *testing.T) {
	t.Parallel()
	doc := openAPISpec(t)
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = 60 }))
	pat := h.sb.PersonalAccessToken()
	other := h.loginAs(t, 1).AccessToken
	check := func(specPath, path, token string, wantStatus int) {
		t.Helper()
		h.checkOperation(t, doc, http.MethodGet, specPath, path, token, nil, wantStatus)
	}
	for specPath, queries := range map[string][]string{
		"/v2/regions":      {"", "?per_page=3", "?per_page=3&page=2", "?page=9"},
		"/v2/sizes":        {"", "?per_page=200", "?per_page=5&page=3"},
		"/v2/images":       {"", "?per_page=200", "?type=distribution", "?type=application", "?private=true", "?per_page=4&page=2", "?tag_name=none"},
		"/v2/account/keys": {"", "?per_page=1&page=2"},
	} {
		for _, q := range queries {
			check(specPath, specPath+q, pat, http.StatusOK)
		}
		check(specPath, specPath, other, http.StatusOK)
		check(specPath, specPath, "", http.StatusUnauthorized)
		check(specPath, specPath, h.login(t, "account:read").AccessToken, http.StatusForbidden)
		check(specPath, specPath+"?per_page=-1", pat, http.StatusBadRequest)
	}
	check("/v2/images", "/v2/images?type=kernel", pat, http.StatusBadRequest)
	for {
		resp, raw := h.call(t, http.MethodGet, "/v2/regions", pat, nil, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			validateResponse(t, doc, "/v2/regions", resp, raw)
			break
		}
	}
}

// Creating and destroying droplets conform too: the 202 of one and of
// several, the droplet while new and once active, its create action, the
// 204, and every error.
func TestContractOfProvisioning(t *testing.T) {
	t.Parallel()
	doc := openAPISpec(t)
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = 80 }))
	pat := h.sb.PersonalAccessToken()
	const (
		droplets = "/v2/droplets"
		droplet  = "/v2/droplets/{droplet_id}"
	)
	check := func(method, specPath, path, token string, body any, wantStatus int) string {
		t.Helper()
		return h.checkOperation(t, doc, method, specPath, path, token, body, wantStatus)
	}

	full := newDroplet("full.example.com")
	full["ssh_keys"] = []any{41_520_173}
	full["tags"] = []string{"env:prod", "web"}
	full["ipv6"], full["backups"], full["monitoring"] = true, true, true
	var one createBody
	json.Unmarshal([]byte(check(http.MethodPost, droplets, droplets, pat, full, http.StatusAccepted)), &one)
	check(http.MethodPost, droplets, droplets, pat, dropletWith("private", map[string]any{"public_networking": false}), http.StatusAccepted)
	check(http.MethodPost, droplets, droplets, pat, map[string]any{"names": []string{"m1", "m2"}, "size": "c-2", "image": 162_411_206}, http.StatusAccepted)

	id := one.Droplet.ID
	actionID := strconv.Itoa(one.Links.Actions[0].ID)
	check(http.MethodGet, droplet, dropletPath(id), pat, nil, http.StatusOK)                           // new
	check(http.MethodGet, "/v2/actions/{action_id}", "/v2/actions/"+actionID, pat, nil, http.StatusOK) // in progress
	check(http.MethodGet, droplets, droplets+"?tag_name=web", pat, nil, http.StatusOK)
	h.clock.Advance(time.Minute)
	check(http.MethodGet, droplet, dropletPath(id), pat, nil, http.StatusOK) // active, with networks
	check(http.MethodGet, droplets, droplets, pat, nil, http.StatusOK)
	check(http.MethodGet, "/v2/actions/{action_id}", "/v2/actions/"+actionID, pat, nil, http.StatusOK) // completed
	check(http.MethodGet, "/v2/droplets/{droplet_id}/actions", dropletPath(id)+"/actions", pat, nil, http.StatusOK)

	// The refusals of a create request.
	for _, change := range []map[string]any{
		{"name": "no_underscores"}, {"region": "nyc2"}, {"region": "syd1", "size": "m-4vcpu-32gb"}, {"image": "windows-11"},
		{"ssh_keys": []int{1}}, {"tags": []string{"a tag"}}, {"size": "s-1vcpu-3gb"},
	} {
		check(http.MethodPost, droplets, droplets, pat, dropletWith("refused", change), http.StatusUnprocessableEntity)
	}
	check(http.MethodPost, droplets, droplets, pat, "a droplet", http.StatusBadRequest)
	check(http.MethodPost, droplets, droplets, h.login(t).AccessToken, newDroplet("read-only"), http.StatusForbidden)
	check(http.MethodPost, droplets, droplets, "", newDroplet("anonymous"), http.StatusUnauthorized)
	other := h.loginAs(t, 1, "read", "write").AccessToken
	for range 5 {
		check(http.MethodPost, droplets, droplets, other, newDroplet("filler"), http.StatusAccepted)
	}
	check(http.MethodPost, droplets, droplets, other, newDroplet("over-the-limit"), http.StatusUnprocessableEntity)

	// Destroying, and its errors.
	reboot := check(http.MethodPost, "/v2/droplets/{droplet_id}/actions", dropletPath(id)+"/actions", pat, map[string]string{"type": "reboot"}, http.StatusCreated)
	check(http.MethodDelete, droplet, dropletPath(id), pat, nil, http.StatusNoContent)
	var errored actionBody
	json.Unmarshal([]byte(reboot), &errored)
	check(http.MethodGet, "/v2/actions/{action_id}", "/v2/actions/"+strconv.Itoa(errored.Action.ID), pat, nil, http.StatusOK) // errored
	check(http.MethodDelete, droplet, dropletPath(web01), pat, nil, http.StatusNoContent)
	check(http.MethodDelete, droplet, dropletPath(web01), pat, nil, http.StatusNotFound)
	check(http.MethodDelete, droplet, dropletPath(db01), other, nil, http.StatusNotFound)
	check(http.MethodDelete, droplet, dropletPath(db01), h.login(t).AccessToken, nil, http.StatusForbidden)
	check(http.MethodDelete, droplet, dropletPath(db01), "", nil, http.StatusUnauthorized)
	check(http.MethodDelete, droplets, droplets+"?tag_name=ci", pat, nil, http.StatusNoContent)
	check(http.MethodDelete, droplets, droplets, pat, nil, http.StatusBadRequest)

	for {
		if resp, _ := h.call(t, http.MethodGet, "/v2/droplets?per_page=1", pat, nil, nil); resp.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	check(http.MethodPost, droplets, droplets, pat, newDroplet("too-fast"), http.StatusTooManyRequests)
	check(http.MethodDelete, droplet, dropletPath(db01), pat, nil, http.StatusTooManyRequests)
}

// The validator rejects what the description forbids in the new shapes,
// so the contract tests above can fail.
func TestContractCatchesBrokenCatalogue(t *testing.T) {
	t.Parallel()
	doc := openAPISpec(t)
	h := newHarness(t)
	pat := h.sb.PersonalAccessToken()
	cases := []struct {
		path, list string
		breaks     map[string]func(item map[string]any)
	}{
		{"/v2/regions", "regions", map[string]func(map[string]any){
			"missing available": func(r map[string]any) { delete(r, "available") },
			"sizes null":        func(r map[string]any) { r["sizes"] = nil },
		}},
		{"/v2/sizes", "sizes", map[string]func(map[string]any){
			"missing price_monthly": func(z map[string]any) { delete(z, "price_monthly") },
			"memory not a multiple": func(z map[string]any) { z["memory"] = 1001 },
			"regions not an array":  func(z map[string]any) { z["regions"] = "nyc3" },
		}},
		{"/v2/images", "images", map[string]func(map[string]any){
			"unknown type":         func(img map[string]any) { img["type"] = "iso" },
			"unknown distribution": func(img map[string]any) { img["distribution"] = "Windows" },
			"unknown region":       func(img map[string]any) { img["regions"] = []string{"mars1"} },
			"bad created_at":       func(img map[string]any) { img["created_at"] = "last week" },
		}},
		{"/v2/account/keys", "ssh_keys", map[string]func(map[string]any){
			"id not an integer": func(k map[string]any) { k["id"] = "41520173" },
		}},
	}
	for _, c := range cases {
		_, good := h.call(t, http.MethodGet, c.path, pat, nil, nil)
		spec := responseSpec(t, doc, c.path, http.StatusOK)
		if err := validateBody(spec, []byte(good)); err != nil {
			t.Fatalf("%s: the unbroken response fails: %v", c.path, err)
		}
		for name, breakIt := range c.breaks {
			var body map[string]any
			json.Unmarshal([]byte(good), &body)
			breakIt(body[c.list].([]any)[0].(map[string]any))
			broken, _ := json.Marshal(body)
			if validateBody(spec, broken) == nil {
				t.Errorf("%s: %s passed validation", c.path, name)
			}
		}
	}

	created := operationResponse(t, doc, http.MethodPost, "/v2/droplets", http.StatusAccepted)
	_, body, _ := h.create(t, pat, newDroplet("checked"))
	if err := validateBody(created, []byte(body)); err != nil {
		t.Fatalf("the unbroken create response fails: %v", err)
	}
	for name, breakIt := range map[string]func(b map[string]any){
		"no links":         func(b map[string]any) { delete(b, "links") },
		"status not new":   func(b map[string]any) { b["droplet"].(map[string]any)["status"] = "creating" },
		"action id string": func(b map[string]any) { b["links"].(map[string]any)["actions"].([]any)[0].(map[string]any)["id"] = "7" },
	} {
		var b map[string]any
		json.Unmarshal([]byte(body), &b)
		breakIt(b)
		broken, _ := json.Marshal(b)
		if validateBody(created, broken) == nil {
			t.Errorf("create response with %s passed validation", name)
		}
	}
}
