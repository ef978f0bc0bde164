package sandbox_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"dosignin/sandbox"
)

// The contract test checks the sandbox's API responses against
// DigitalOcean's own OpenAPI description, so that the sandbox can't drift
// into a shape the real API never sends (and the app can't come to rely on
// one).
//
// The description is a 3 MB data file kept outside the module, at
// ../../shared/do-openapi/digitalocean-v2.yaml relative to this package, or
// wherever DO_OPENAPI_SPEC points. Without it the test is skipped, unless
// REQUIRE_OPENAPI_SPEC=1 (as in CI), which makes its absence a failure.

// specPath returns where to find DigitalOcean's OpenAPI description.
func specPath() string {
	if p := os.Getenv("DO_OPENAPI_SPEC"); p != "" {
		return p
	}
	return filepath.Join("..", "..", "shared", "do-openapi", "digitalocean-v2.yaml")
}

// loadSpec loads the description once per test binary: parsing it takes a
// second or two.
var loadSpec = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false // the bundled file has internal references only
	return loader.LoadFromFile(specPath())
})

// openAPISpec returns the loaded description, or skips (or fails) the test
// when the file is absent.
func openAPISpec(t *testing.T) *openapi3.T {
	t.Helper()
	path := specPath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		msg := "DigitalOcean's OpenAPI description not found at " + path +
			"; put digitalocean-v2.yaml there (see shared/do-openapi/README.md) or set DO_OPENAPI_SPEC to its path"
		if os.Getenv("REQUIRE_OPENAPI_SPEC") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	doc, err := loadSpec()
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	return doc
}

// responseSpec finds the description of GET path's response with status.
func responseSpec(t *testing.T, doc *openapi3.T, path string, status int) *openapi3.Response {
	t.Helper()
	return operationResponse(t, doc, http.MethodGet, path, status)
}

// operationResponse finds the description of method path's response with
// status, or the operation's default response (DigitalOcean describes its
// 403s and 422s only there).
func operationResponse(t *testing.T, doc *openapi3.T, method, path string, status int) *openapi3.Response {
	t.Helper()
	item := doc.Paths.Find(path)
	if item == nil || item.GetOperation(method) == nil {
		t.Fatalf("spec has no %s %s", method, path)
	}
	responses := item.GetOperation(method).Responses
	ref := responses.Status(status)
	if ref == nil {
		ref = responses.Default()
	}
	if ref == nil || ref.Value == nil {
		t.Fatalf("spec has no %d response for %s %s", status, method, path)
	}
	return ref.Value
}

// validationOptions make the validator strict: formats (date-time, ipv4,
// ipv6, uuid) are checked too, and every problem is reported.
func validationOptions() []openapi3.SchemaValidationOption {
	return []openapi3.SchemaValidationOption{
		openapi3.VisitAsResponse(),
		openapi3.MultiErrors(),
		openapi3.EnableFormatValidation(),
		openapi3.WithStringFormatValidator("ipv4", openapi3.NewIPValidator(true)),
		openapi3.WithStringFormatValidator("ipv6", openapi3.NewIPValidator(false)),
		openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC4122)),
	}
}

// validateBody checks a JSON body against the response's schema.
func validateBody(spec *openapi3.Response, body []byte) error {
	media := spec.Content.Get("application/json")
	if media == nil || media.Schema == nil || media.Schema.Value == nil {
		return errors.New("response has no application/json schema")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return media.Schema.Value.VisitJSON(v, validationOptions()...)
}

// validateResponse checks status, headers and body of a real response.
func validateResponse(t *testing.T, doc *openapi3.T, specPath string, resp *http.Response, body string) {
	t.Helper()
	validateOperation(t, doc, http.MethodGet, specPath, resp, body)
}

// validateOperation checks a real response of method specPath.
func validateOperation(t *testing.T, doc *openapi3.T, method, specPath string, resp *http.Response, body string) {
	t.Helper()
	spec := operationResponse(t, doc, method, specPath, resp.StatusCode)
	for name, ref := range spec.Headers {
		raw := resp.Header.Get(name)
		if raw == "" {
			t.Errorf("%s %s %d: header %s missing", method, specPath, resp.StatusCode, name)
			continue
		}
		var v any = raw
		if ref.Value.Schema != nil && ref.Value.Schema.Value.Type.Is("integer") {
			n, err := strconv.ParseFloat(raw, 64)
			if err != nil {
				t.Errorf("%s: header %s = %q, not an integer", specPath, name, raw)
				continue
			}
			v = n
		}
		if err := ref.Value.Schema.Value.VisitJSON(v, validationOptions()...); err != nil {
			t.Errorf("%s: header %s = %q: %v", specPath, name, raw, err)
		}
	}
	if len(spec.Content) == 0 { // a 204: headers only
		if body != "" {
			t.Errorf("%s %s (%d) has a body, and the description says none: %.200s", method, specPath, resp.StatusCode, body)
		}
		return
	}
	if err := validateBody(spec, []byte(body)); err != nil {
		t.Errorf("%s %s (%d) does not conform to DigitalOcean's OpenAPI description:\n%v\nbody: %.2000s", method, specPath, resp.StatusCode, err, body)
	}
}

// checkOperation sends an API request with a JSON body (if not nil),
// wants the status, and validates the response as specPath's; it returns
// the body.
func (h *harness) checkOperation(t *testing.T, doc *openapi3.T, method, specPath, path, token string, body any, wantStatus int) string {
	t.Helper()
	resp, raw := h.call(t, method, path, token, body, nil)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, raw)
	}
	validateOperation(t, doc, method, specPath, resp, raw)
	return raw
}

func TestContractWithOpenAPISpec(t *testing.T) {
	t.Parallel()
	doc := openAPISpec(t)
	// Enough droplets for every status, role, region and several pages.
	h := newHarness(t, withDroplets(120))
	tok := h.login(t)
	auth := http.Header{"Authorization": {"Bearer " + tok.AccessToken}}

	statuses := map[string]bool{}
	for _, query := range []string{"", "?page=2", "?per_page=50&page=1", "?per_page=50&page=3", "?per_page=200", "?tag_name=db", "?page=99"} {
		resp, body := do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/droplets"+query, nil, auth)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("droplets%s: status %d", query, resp.StatusCode)
		}
		validateResponse(t, doc, "/v2/droplets", resp, body)
		var page struct{ Droplets []struct{ Status string } }
		json.Unmarshal([]byte(body), &page)
		for _, d := range page.Droplets {
			statuses[d.Status] = true
		}
	}
	for _, s := range []string{"new", "active", "off", "archive"} {
		if !statuses[s] {
			t.Errorf("no droplet with status %q was validated", s)
		}
	}

	resp, body := do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/account", nil, auth)
	validateResponse(t, doc, "/v2/account", resp, body)

	// Errors have DigitalOcean's shape too.
	resp, body = do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/droplets", nil, nil)
	validateResponse(t, doc, "/v2/droplets", resp, body)
	resp, body = do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/account", nil, http.Header{"Authorization": {"Bearer expired"}})
	validateResponse(t, doc, "/v2/account", resp, body)
	resp, body = do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/droplets?page=0", nil, auth)
	validateResponse(t, doc, "/v2/droplets", resp, body)
}

// The droplet, action and second-account responses, and each of their
// errors, conform too.
func TestContractOfActions(t *testing.T) {
	t.Parallel()
	doc := openAPISpec(t)
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.BurstLimit = 40 }))
	pat := h.sb.PersonalAccessToken()
	const (
		droplet   = "/v2/droplets/{droplet_id}"
		actions   = "/v2/droplets/{droplet_id}/actions"
		oneAction = "/v2/droplets/{droplet_id}/actions/{action_id}"
	)
	check := func(method, specPath, path, token string, body any, wantStatus int) string {
		t.Helper()
		return h.checkOperation(t, doc, method, specPath, path, token, body, wantStatus)
	}

	for _, id := range []int{web01, stagingWeb, devBox} { // active, new (no addresses), off
		check(http.MethodGet, droplet, dropletPath(id), pat, nil, http.StatusOK)
	}
	check(http.MethodGet, droplet, dropletPath(web01+1), pat, nil, http.StatusNotFound)
	check(http.MethodGet, "/v2/droplets", "/v2/droplets?name=web-01", pat, nil, http.StatusOK)

	var started actionBody
	raw := check(http.MethodPost, actions, dropletPath(web01)+"/actions", pat, map[string]string{"type": "reboot"}, http.StatusCreated)
	json.Unmarshal([]byte(raw), &started)
	check(http.MethodPost, actions, dropletPath(web01)+"/actions", pat, map[string]string{"type": "power_off"}, http.StatusUnprocessableEntity)
	check(http.MethodPost, actions, dropletPath(web01+1)+"/actions", pat, map[string]string{"type": "reboot"}, http.StatusNotFound)
	check(http.MethodPost, actions, dropletPath(web01)+"/actions", h.login(t).AccessToken, map[string]string{"type": "reboot"}, http.StatusForbidden)
	check(http.MethodPost, actions, dropletPath(web01)+"/actions", "", map[string]string{"type": "reboot"}, http.StatusUnauthorized)
	check(http.MethodPost, actions, dropletPath(db01)+"/actions", pat, map[string]string{"type": "rename", "name": "db-main"}, http.StatusCreated)

	id := strconv.Itoa(started.Action.ID)
	check(http.MethodGet, oneAction, dropletPath(web01)+"/actions/"+id, pat, nil, http.StatusOK) // in progress
	h.clock.Advance(time.Minute)
	check(http.MethodGet, oneAction, dropletPath(web01)+"/actions/"+id, pat, nil, http.StatusOK) // completed
	check(http.MethodGet, oneAction, dropletPath(db01)+"/actions/"+id, pat, nil, http.StatusNotFound)
	check(http.MethodGet, actions, dropletPath(web01)+"/actions", pat, nil, http.StatusOK)
	check(http.MethodGet, actions, dropletPath(web01)+"/actions?per_page=1&page=2", pat, nil, http.StatusOK)
	check(http.MethodGet, "/v2/actions", "/v2/actions", pat, nil, http.StatusOK)
	check(http.MethodGet, "/v2/actions", "/v2/actions?per_page=1", pat, nil, http.StatusOK)
	check(http.MethodGet, "/v2/actions", "/v2/actions", h.login(t, "droplet:read").AccessToken, nil, http.StatusForbidden)
	check(http.MethodGet, "/v2/actions/{action_id}", "/v2/actions/"+id, pat, nil, http.StatusOK)
	check(http.MethodGet, "/v2/actions/{action_id}", "/v2/actions/7", pat, nil, http.StatusNotFound)

	// The other refusals of an action request.
	check(http.MethodPost, actions, dropletPath(web01)+"/actions", pat, "reboot", http.StatusBadRequest)
	check(http.MethodPost, actions, dropletPath(devBox)+"/actions", pat, map[string]string{}, http.StatusUnprocessableEntity)
	check(http.MethodPost, actions, dropletPath(devBox)+"/actions", pat, map[string]string{"type": "snapshot"}, http.StatusUnprocessableEntity)
	check(http.MethodPost, actions, dropletPath(devBox)+"/actions", pat, map[string]string{"type": "rename", "name": "no spaces"}, http.StatusUnprocessableEntity)
	check(http.MethodGet, "/v2/droplets", "/v2/droplets?tag_name=web&name=web-01", pat, nil, http.StatusBadRequest)
	check(http.MethodGet, "/v2/droplets", "/v2/droplets?tag_name=web", pat, nil, http.StatusOK)
	check(http.MethodGet, droplet, dropletPath(web01), h.login(t, "account:read").AccessToken, nil, http.StatusForbidden)

	// The second account's droplets and account; the first one's are not
	// found from it.
	other := h.loginAs(t, 1)
	check(http.MethodGet, "/v2/account", "/v2/account", other.AccessToken, nil, http.StatusOK)
	check(http.MethodGet, "/v2/droplets", "/v2/droplets", other.AccessToken, nil, http.StatusOK)
	check(http.MethodGet, droplet, dropletPath(web01), other.AccessToken, nil, http.StatusNotFound)
	check(http.MethodGet, actions, dropletPath(web01)+"/actions", other.AccessToken, nil, http.StatusNotFound)
	check(http.MethodGet, "/v2/actions/{action_id}", "/v2/actions/"+id, other.AccessToken, nil, http.StatusNotFound)

	// Past the burst limit.
	for {
		resp, raw := h.call(t, http.MethodGet, "/v2/droplets?per_page=1", pat, nil, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			validateOperation(t, doc, http.MethodGet, "/v2/droplets", resp, raw)
			break
		}
	}
	check(http.MethodPost, actions, dropletPath(web01)+"/actions", pat, map[string]string{"type": "reboot"}, http.StatusTooManyRequests)
}

// A validator that accepts everything would make the contract test
// worthless, so check that it rejects what the spec forbids.
func TestContractCatchesBrokenResponses(t *testing.T) {
	t.Parallel()
	doc := openAPISpec(t)
	h := newHarness(t)
	tok := h.login(t)
	auth := http.Header{"Authorization": {"Bearer " + tok.AccessToken}}
	_, good := do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/droplets", nil, auth)
	_, goodAccount := do(t, h.srv.Client(), http.MethodGet, h.base+"/v2/account", nil, auth)
	droplets := responseSpec(t, doc, "/v2/droplets", http.StatusOK)
	account := responseSpec(t, doc, "/v2/account", http.StatusOK)
	if err := validateBody(droplets, []byte(good)); err != nil {
		t.Fatalf("the unbroken response fails: %v", err)
	}

	breakDroplet := map[string]func(d map[string]any){
		"missing required networks":  func(d map[string]any) { delete(d, "networks") },
		"status not in enum":         func(d map[string]any) { d["status"] = "running" },
		"memory not a multiple of 8": func(d map[string]any) { d["memory"] = 1001 },
		"id not an integer":          func(d map[string]any) { d["id"] = "3164444" },
		"tags null":                  func(d map[string]any) { d["tags"] = nil },
		"bad created_at":             func(d map[string]any) { d["created_at"] = "yesterday" },
		"bad ipv4": func(d map[string]any) {
			d["networks"].(map[string]any)["v4"].([]any)[0].(map[string]any)["ip_address"] = "999.1.1.1"
		},
		"region missing sizes": func(d map[string]any) { delete(d["region"].(map[string]any), "sizes") },
	}
	for name, breakIt := range breakDroplet {
		var page map[string]any
		json.Unmarshal([]byte(good), &page)
		breakIt(page["droplets"].([]any)[0].(map[string]any))
		broken, _ := json.Marshal(page)
		if err := validateBody(droplets, broken); err == nil {
			t.Errorf("%s: a broken droplet passed validation", name)
		}
	}

	var page map[string]any
	json.Unmarshal([]byte(good), &page)
	delete(page, "meta")
	broken, _ := json.Marshal(page)
	if validateBody(droplets, broken) == nil {
		t.Error("a list without meta passed validation")
	}

	// An action, in progress.
	_, goodAction := h.call(t, http.MethodPost, dropletPath(web01)+"/actions", h.sb.PersonalAccessToken(), map[string]string{"type": "reboot"}, nil)
	actionSpec := operationResponse(t, doc, http.MethodPost, "/v2/droplets/{droplet_id}/actions", http.StatusCreated)
	if err := validateBody(actionSpec, []byte(goodAction)); err != nil {
		t.Fatalf("the unbroken action fails: %v", err)
	}
	for name, breakIt := range map[string]func(a map[string]any){
		"status not in enum":   func(a map[string]any) { a["status"] = "running" },
		"bad started_at":       func(a map[string]any) { a["started_at"] = "just now" },
		"id not an integer":    func(a map[string]any) { a["id"] = "42" },
		"region not an object": func(a map[string]any) { a["region"] = "nyc3" },
	} {
		var body map[string]any
		json.Unmarshal([]byte(goodAction), &body)
		breakIt(body["action"].(map[string]any))
		broken, _ := json.Marshal(body)
		if validateBody(actionSpec, broken) == nil {
			t.Errorf("%s: a broken action passed validation", name)
		}
	}

	var acct map[string]any
	json.Unmarshal([]byte(goodAccount), &acct)
	delete(acct["account"].(map[string]any), "email")
	broken, _ = json.Marshal(acct)
	if validateBody(account, broken) == nil {
		t.Error("an account without email passed validation")
	}
}
