package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

// The default account's droplets, as generated: web-01 is active,
// staging-web-01 is still being created, dev-box-01 is off.
const (
	web01      = 401_233_751
	db01       = web01 + 37
	stagingWeb = web01 + 3*37
	devBox     = web01 + 7*37
)

type actionBody struct {
	Action actionObj `json:"action"`
}

type actionObj struct {
	ID           int     `json:"id"`
	Status       string  `json:"status"`
	Type         string  `json:"type"`
	StartedAt    string  `json:"started_at"`
	CompletedAt  *string `json:"completed_at"`
	ResourceID   int     `json:"resource_id"`
	ResourceType string  `json:"resource_type"`
	RegionSlug   string  `json:"region_slug"`
}

type dropletBody struct {
	Droplet struct {
		ID     int    `json:"id"`
		Name   string `json:"name"`
		Status string `json:"status"`
		Locked bool   `json:"locked"`
	} `json:"droplet"`
}

type actionsBody struct {
	Actions []actionObj `json:"actions"`
	Links   struct {
		Pages *struct{ First, Prev, Next, Last string }
	} `json:"links"`
	Meta struct{ Total int } `json:"meta"`
}

func dropletPath(id int) string { return "/v2/droplets/" + strconv.Itoa(id) }

func (h *harness) droplet(t *testing.T, token string, id int) dropletBody {
	t.Helper()
	var d dropletBody
	if resp, raw := h.call(t, http.MethodGet, dropletPath(id), token, nil, &d); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET droplet %d: %d %s", id, resp.StatusCode, raw)
	}
	return d
}

func (h *harness) act(t *testing.T, token string, id int, body map[string]string) (*http.Response, string, actionObj) {
	t.Helper()
	var a actionBody
	resp, raw := h.call(t, http.MethodPost, dropletPath(id)+"/actions", token, body, &a)
	return resp, raw, a.Action
}

// The personal access token, with no OAuth at all, lists the droplets,
// reboots one, and sees the action go from in-progress to completed after
// the action delay.
func TestPersonalAccessTokenRebootsADroplet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.ActionDelay = 5 * time.Second }))
	pat := h.sb.PersonalAccessToken()
	if !regexp.MustCompile(`^dop_v1_[0-9a-f]{64}$`).MatchString(pat) {
		t.Fatalf("personal access token %q, want dop_v1_ and 64 hex digits", pat)
	}

	var list listResponse
	if resp, raw := h.call(t, http.MethodGet, "/v2/droplets", pat, nil, &list); resp.StatusCode != http.StatusOK || list.Meta.Total != 8 || list.Droplets[0].ID != web01 {
		t.Fatalf("list with the PAT: %d %.300s", resp.StatusCode, raw)
	}

	resp, raw, a := h.act(t, pat, web01, map[string]string{"type": "reboot"})
	if resp.StatusCode != http.StatusCreated || a.Status != "in-progress" || a.Type != "reboot" || a.ResourceID != web01 ||
		a.ResourceType != "droplet" || a.CompletedAt != nil || a.StartedAt != "2026-03-02T10:00:00Z" || a.RegionSlug == "" || a.ID == 0 {
		t.Fatalf("reboot: %d %s", resp.StatusCode, raw)
	}
	if d := h.droplet(t, pat, web01); d.Droplet.Status != "active" || !d.Droplet.Locked {
		t.Errorf("while rebooting: %+v, want active and locked", d.Droplet)
	}

	h.clock.Advance(4 * time.Second)
	var got actionBody
	h.call(t, http.MethodGet, "/v2/actions/"+strconv.Itoa(a.ID), pat, nil, &got)
	if got.Action.Status != "in-progress" {
		t.Errorf("after 4s of 5: %+v", got.Action)
	}
	h.clock.Advance(time.Second)
	h.call(t, http.MethodGet, "/v2/actions/"+strconv.Itoa(a.ID), pat, nil, &got)
	if got.Action.Status != "completed" || got.Action.CompletedAt == nil || *got.Action.CompletedAt != "2026-03-02T10:00:05Z" {
		t.Errorf("after 5s: %+v", got.Action)
	}
	if d := h.droplet(t, pat, web01); d.Droplet.Status != "active" || d.Droplet.Locked {
		t.Errorf("after the reboot: %+v, want active and unlocked", d.Droplet)
	}

	// The PAT outlives any access-token lifetime and can't be revoked.
	h.clock.Advance(30 * 24 * time.Hour)
	resp, _ = h.postForm(t, "/v1/oauth/revoke", clientForm("token", pat))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("revoke with the app's credentials: %d", resp.StatusCode)
	}
	resp, _ = do(t, h.srv.Client(), http.MethodPost, h.base+"/v1/oauth/revoke", url.Values{"token": {pat}}, http.Header{"Authorization": {"Bearer " + pat}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("revoke with itself: %d", resp.StatusCode)
	}
	wantStatus(t, h, "/v2/account", pat, http.StatusOK)
	if st := h.sb.Stats(); st.LiveAccessTokens != 0 || st.Revocations != 0 || st.Actions != 1 {
		t.Errorf("Stats() = %+v, want the PAT counted neither live nor revoked", st)
	}
}

// Power actions change the droplet's status once they complete, and
// DigitalOcean's 422s refuse what makes no sense.
func TestPowerActions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pat := h.sb.PersonalAccessToken()
	step := func(id int, typ, wantStatus string) {
		t.Helper()
		resp, raw, _ := h.act(t, pat, id, map[string]string{"type": typ})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s on %d: %d %s", typ, id, resp.StatusCode, raw)
		}
		h.clock.Advance(3 * time.Second) // the default delay
		if d := h.droplet(t, pat, id); d.Droplet.Status != wantStatus {
			t.Fatalf("after %s: status %s, want %s", typ, d.Droplet.Status, wantStatus)
		}
	}
	step(web01, "shutdown", "off")
	step(web01, "power_on", "active")
	step(web01, "power_off", "off")
	step(web01, "power_cycle", "active") // a power cycle starts an off droplet too
	step(web01, "power_cycle", "active")
	step(devBox, "power_on", "active")

	refused := []struct {
		name string
		id   int
		body map[string]string
	}{
		{"power_on an active droplet", web01, map[string]string{"type": "power_on"}},
		{"reboot a droplet being created", stagingWeb, map[string]string{"type": "reboot"}},
		{"unknown type", web01, map[string]string{"type": "explode"}},
		{"no type", web01, map[string]string{}},
		{"type the sandbox doesn't do", web01, map[string]string{"type": "snapshot"}},
		{"rename without a name", web01, map[string]string{"type": "rename"}},
		{"rename to a bad hostname", web01, map[string]string{"type": "rename", "name": "web 01"}},
		{"rename to a dash", web01, map[string]string{"type": "rename", "name": "-web"}},
	}
	for _, tt := range refused {
		resp, raw, _ := h.act(t, pat, tt.id, tt.body)
		wantAPIError(t, tt.name, resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")
	}
	step(web01, "shutdown", "off")
	for _, typ := range []string{"shutdown", "power_off", "reboot"} {
		resp, raw, _ := h.act(t, pat, web01, map[string]string{"type": typ})
		wantAPIError(t, typ+" an off droplet", resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")
	}

	// One action at a time per droplet.
	if resp, raw, _ := h.act(t, pat, db01, map[string]string{"type": "reboot"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("reboot db: %d %s", resp.StatusCode, raw)
	}
	resp, raw, _ := h.act(t, pat, db01, map[string]string{"type": "power_off"})
	wantAPIError(t, "second action while one is in progress", resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")

	for name, id := range map[string]int{"unknown droplet": web01 + 1, "past the last droplet": web01 + 8*37, "the other account's droplet": otherAccountDroplet(t, h)} {
		resp, raw, _ := h.act(t, pat, id, map[string]string{"type": "reboot"})
		wantAPIError(t, name, resp, raw, http.StatusNotFound, "not_found")
	}
	resp, raw = h.call(t, http.MethodPost, "/v2/droplets/abc/actions", pat, map[string]string{"type": "reboot"}, nil)
	wantAPIError(t, "non-numeric droplet ID", resp, raw, http.StatusNotFound, "not_found")

	resp, raw = do(t, h.srv.Client(), http.MethodPost, h.base+dropletPath(web01)+"/actions", nil, http.Header{"Authorization": {"Bearer " + pat}})
	wantAPIError(t, "no body", resp, raw, http.StatusBadRequest, "bad_request")
	resp, raw = h.call(t, http.MethodDelete, dropletPath(web01)+"/actions", pat, nil, nil)
	wantAPIError(t, "DELETE", resp, raw, http.StatusMethodNotAllowed, "method_not_allowed")
	if resp.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("Allow = %q", resp.Header.Get("Allow"))
	}
}

// otherAccountDroplet returns the ID of one of the second account's
// droplets, as that account's own token lists it.
func otherAccountDroplet(t *testing.T, h *harness) int {
	t.Helper()
	tok := h.loginAs(t, 1)
	var list listResponse
	h.call(t, http.MethodGet, "/v2/droplets", tok.AccessToken, nil, &list)
	if len(list.Droplets) == 0 {
		t.Fatal("the second account has no droplets")
	}
	return list.Droplets[0].ID
}

func TestRename(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pat := h.sb.PersonalAccessToken()
	if resp, raw, _ := h.act(t, pat, db01, map[string]string{"type": "rename", "name": "Primary-DB.example"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("rename: %d %s", resp.StatusCode, raw)
	}
	if d := h.droplet(t, pat, db01); d.Droplet.Name != "db-primary" {
		t.Errorf("name while renaming = %q, want the old one", d.Droplet.Name)
	}
	h.clock.Advance(3 * time.Second)
	if d := h.droplet(t, pat, db01); d.Droplet.Name != "Primary-DB.example" {
		t.Errorf("name after = %q", d.Droplet.Name)
	}

	// The name filter is exact and case-insensitive, and sees renames.
	for query, want := range map[string]int{"?name=primary-db.example": 1, "?name=db-primary": 0, "?name=web-01": 1, "?name=web": 0} {
		var list listResponse
		h.call(t, http.MethodGet, "/v2/droplets"+query, pat, nil, &list)
		if list.Meta.Total != want || len(list.Droplets) != want {
			t.Errorf("%s: %d droplets, want %d", query, list.Meta.Total, want)
		}
	}
	resp, raw := h.call(t, http.MethodGet, "/v2/droplets?name=web-01&tag_name=web", pat, nil, nil)
	wantAPIError(t, "name with tag_name", resp, raw, http.StatusBadRequest, "bad_request")
}

func TestGetDroplet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	tok := h.login(t)
	if d := h.droplet(t, tok.AccessToken, devBox); d.Droplet.ID != devBox || d.Droplet.Name != "dev-box-01" || d.Droplet.Status != "off" {
		t.Errorf("GET dev-box: %+v", d.Droplet)
	}
	for name, path := range map[string]string{
		"unknown ID":            dropletPath(web01 + 2),
		"not a number":          "/v2/droplets/web-01",
		"huge number":           "/v2/droplets/99999999999999999999",
		"negative":              "/v2/droplets/-5",
		"other account's":       dropletPath(otherAccountDroplet(t, h)),
		"unknown action":        dropletPath(web01) + "/actions/123",
		"action of the void":    "/v2/actions/1",
		"actions of no droplet": dropletPath(web01+1) + "/actions",
	} {
		resp, raw := h.call(t, http.MethodGet, path, tok.AccessToken, nil, nil)
		wantAPIError(t, name, resp, raw, http.StatusNotFound, "not_found")
	}
}

// Action lists are newest first and paginated; a droplet's list and its
// action lookups see only its own actions.
func TestActionLists(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pat := h.sb.PersonalAccessToken()
	var ids []int
	for _, id := range []int{web01, db01, web01} {
		_, raw, a := h.act(t, pat, id, map[string]string{"type": "reboot"})
		if a.ID == 0 {
			t.Fatalf("reboot %d: %s", id, raw)
		}
		ids = append(ids, a.ID)
		h.clock.Advance(time.Minute)
	}
	var all actionsBody
	h.call(t, http.MethodGet, "/v2/actions?per_page=2", pat, nil, &all)
	if all.Meta.Total != 3 || len(all.Actions) != 2 || all.Actions[0].ID != ids[2] || all.Actions[1].ID != ids[1] ||
		all.Links.Pages == nil || all.Links.Pages.Next == "" || all.Actions[0].Status != "completed" {
		t.Errorf("/v2/actions page 1: %+v", all)
	}
	h.call(t, http.MethodGet, "/v2/actions?per_page=2&page=2", pat, nil, &all)
	if len(all.Actions) != 1 || all.Actions[0].ID != ids[0] {
		t.Errorf("/v2/actions page 2: %+v", all)
	}
	var mine actionsBody
	h.call(t, http.MethodGet, dropletPath(web01)+"/actions", pat, nil, &mine)
	if mine.Meta.Total != 2 || mine.Actions[0].ID != ids[2] || mine.Actions[1].ID != ids[0] {
		t.Errorf("web-01's actions: %+v", mine)
	}
	var one actionBody
	if resp, raw := h.call(t, http.MethodGet, dropletPath(db01)+"/actions/"+strconv.Itoa(ids[1]), pat, nil, &one); resp.StatusCode != http.StatusOK || one.Action.ID != ids[1] {
		t.Errorf("db's action: %d %s", resp.StatusCode, raw)
	}
	resp, raw := h.call(t, http.MethodGet, dropletPath(web01)+"/actions/"+strconv.Itoa(ids[1]), pat, nil, nil)
	wantAPIError(t, "another droplet's action", resp, raw, http.StatusNotFound, "not_found")
	resp, raw = h.call(t, http.MethodGet, "/v2/actions?page=0", pat, nil, nil)
	wantAPIError(t, "page 0", resp, raw, http.StatusBadRequest, "bad_request")

	// The other account sees none of them.
	other := h.loginAs(t, 1)
	h.call(t, http.MethodGet, "/v2/actions", other.AccessToken, nil, &all)
	if all.Meta.Total != 0 || len(all.Actions) != 0 {
		t.Errorf("the other account's actions: %+v", all)
	}
	resp, raw = h.call(t, http.MethodGet, "/v2/actions/"+strconv.Itoa(ids[0]), other.AccessToken, nil, nil)
	wantAPIError(t, "another account's action", resp, raw, http.StatusNotFound, "not_found")
}

// Scopes per endpoint, as DigitalOcean's OpenAPI description lists them:
// droplet:update to act, actions:read for /v2/actions, droplet:read for a
// droplet's own actions; legacy read reads everything and writes nothing.
func TestActionScopes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	read := h.login(t, "read")
	resp, raw, _ := h.act(t, read.AccessToken, web01, map[string]string{"type": "reboot"})
	wantAPIError(t, "read-only token reboots", resp, raw, http.StatusForbidden, "forbidden")
	wantStatus(t, h, "/v2/actions", read.AccessToken, http.StatusOK)
	wantStatus(t, h, dropletPath(web01)+"/actions", read.AccessToken, http.StatusOK)

	readWrite := h.login(t, "read", "write")
	if resp, raw, _ := h.act(t, readWrite.AccessToken, web01, map[string]string{"type": "reboot"}); resp.StatusCode != http.StatusCreated {
		t.Errorf("read write token reboots: %d %s", resp.StatusCode, raw)
	}

	update := h.login(t, "droplet:update")
	if resp, raw, _ := h.act(t, update.AccessToken, db01, map[string]string{"type": "reboot"}); resp.StatusCode != http.StatusCreated {
		t.Errorf("droplet:update token reboots: %d %s", resp.StatusCode, raw)
	}
	resp, raw = h.call(t, http.MethodGet, dropletPath(db01), update.AccessToken, nil, nil)
	wantAPIError(t, "droplet:update reads a droplet", resp, raw, http.StatusForbidden, "forbidden")

	dropletRead := h.login(t, "droplet:read")
	wantStatus(t, h, dropletPath(web01)+"/actions", dropletRead.AccessToken, http.StatusOK)
	resp, raw = h.call(t, http.MethodGet, "/v2/actions", dropletRead.AccessToken, nil, nil)
	wantAPIError(t, "droplet:read lists all actions", resp, raw, http.StatusForbidden, "forbidden")
	resp, raw, _ = h.act(t, dropletRead.AccessToken, web01, map[string]string{"type": "reboot"})
	wantAPIError(t, "droplet:read reboots", resp, raw, http.StatusForbidden, "forbidden")

	actionsRead := h.login(t, "actions:read")
	wantStatus(t, h, "/v2/actions", actionsRead.AccessToken, http.StatusOK)

	resp, raw, _ = h.act(t, "", web01, map[string]string{"type": "reboot"})
	wantAPIError(t, "no token", resp, raw, http.StatusUnauthorized, "unauthorized")
}

// godo's DropletActions and Actions work against the sandbox unchanged,
// as they do against DigitalOcean.
func TestGodoDropletActions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"), withConfig(func(c *sandbox.Config) { c.ActionDelay = 10 * time.Second }))
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, h.srv.Client())
	pat := &oauth2.Token{AccessToken: h.sb.PersonalAccessToken()}
	client, err := godo.New(oauth2.NewClient(ctx, oauth2.StaticTokenSource(pat)), godo.SetBaseURL(h.base+"/"))
	if err != nil {
		t.Fatal(err)
	}

	a, _, err := client.DropletActions.PowerOff(ctx, web01)
	if err != nil || a.Status != godo.ActionInProgress || a.Type != "power_off" || a.ResourceID != web01 || a.Region == nil {
		t.Fatalf("PowerOff = %+v, %v", a, err)
	}
	_, _, err = client.DropletActions.PowerOn(ctx, web01)
	var errResp *godo.ErrorResponse
	if !asErrorResponse(err, &errResp) || errResp.Response.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("PowerOn while powering off: %v, want a 422", err)
	}
	h.clock.Advance(10 * time.Second)
	a, _, err = client.DropletActions.Get(ctx, web01, a.ID)
	if err != nil || a.Status != godo.ActionCompleted || a.CompletedAt == nil {
		t.Fatalf("DropletActions.Get = %+v, %v", a, err)
	}
	d, _, err := client.Droplets.Get(ctx, web01)
	if err != nil || d.Status != "off" {
		t.Fatalf("Droplets.Get = %+v, %v", d, err)
	}
	r, _, err := client.DropletActions.Rename(ctx, web01, "frontend-01")
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second)
	r, _, err = client.Actions.Get(ctx, r.ID)
	if err != nil || r.Status != godo.ActionCompleted || r.Type != "rename" {
		t.Fatalf("Actions.Get = %+v, %v", r, err)
	}
	byName, _, err := client.Droplets.ListByName(ctx, "frontend-01", nil)
	if err != nil || len(byName) != 1 || byName[0].ID != web01 {
		t.Fatalf("ListByName = %+v, %v", byName, err)
	}
	list, resp, err := client.Actions.List(ctx, &godo.ListOptions{PerPage: 1})
	if err != nil || len(list) != 1 || list[0].ID != r.ID || resp.Meta == nil || resp.Meta.Total != 2 || resp.Links.IsLastPage() {
		t.Fatalf("Actions.List = %+v, %+v, %v", list, resp, err)
	}
	_, _, err = client.DropletActions.Reboot(ctx, 12345)
	if !asErrorResponse(err, &errResp) || errResp.Response.StatusCode != http.StatusNotFound || errResp.RequestID == "" {
		t.Fatalf("Reboot of an unknown droplet: %v", err)
	}
}

func asErrorResponse(err error, target **godo.ErrorResponse) bool {
	return errors.As(err, target)
}

// An account keeps at most 1000 actions: the oldest completed ones go.
func TestActionsAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(2), withConfig(func(c *sandbox.Config) { c.ActionDelay = time.Second; c.RateLimit = -1; c.BurstLimit = -1 }))
	pat := h.sb.PersonalAccessToken()
	first := 0
	for i := range 1001 {
		_, raw, a := h.act(t, pat, web01, map[string]string{"type": "reboot"})
		if a.ID == 0 {
			t.Fatalf("reboot %d: %s", i, raw)
		}
		if i == 0 {
			first = a.ID
		}
		h.clock.Advance(time.Second)
	}
	var all actionsBody
	h.call(t, http.MethodGet, "/v2/actions?per_page=1", pat, nil, &all)
	if all.Meta.Total != 1000 {
		t.Errorf("%d actions kept, want 1000", all.Meta.Total)
	}
	resp, raw := h.call(t, http.MethodGet, fmt.Sprintf("/v2/actions/%d", first), pat, nil, nil)
	wantAPIError(t, "the oldest action", resp, raw, http.StatusNotFound, "not_found")
}

// When every kept action is still in progress, a new one is refused with a
// 422 that says why, rather than growing the list or forgetting an action
// that hasn't finished; once they complete, actions are accepted again.
func TestInProgressActionsAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDroplets(1400), withConfig(func(c *sandbox.Config) { c.ActionDelay = time.Hour; c.RateLimit = -1; c.BurstLimit = -1 }))
	pat := h.sb.PersonalAccessToken()
	var active []int
	for page := 1; len(active) <= 1000; page++ {
		var list listResponse
		h.call(t, http.MethodGet, fmt.Sprintf("/v2/droplets?per_page=200&page=%d", page), pat, nil, &list)
		if len(list.Droplets) == 0 {
			t.Fatalf("only %d active droplets", len(active))
		}
		for _, d := range list.Droplets {
			if d.Status == "active" {
				active = append(active, d.ID)
			}
		}
	}
	for _, id := range active[:1000] {
		if resp, raw, _ := h.act(t, pat, id, map[string]string{"type": "reboot"}); resp.StatusCode != http.StatusCreated {
			t.Fatalf("reboot %d: %d %s", id, resp.StatusCode, raw)
		}
	}
	resp, raw, _ := h.act(t, pat, active[1000], map[string]string{"type": "reboot"})
	wantAPIError(t, "the 1001st action in progress", resp, raw, http.StatusUnprocessableEntity, "unprocessable_entity")

	h.clock.Advance(time.Hour)
	if resp, raw, _ := h.act(t, pat, active[1000], map[string]string{"type": "reboot"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("once the others completed: %d %s", resp.StatusCode, raw)
	}
}
