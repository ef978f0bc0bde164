package sandbox_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"dosignin/sandbox"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// The device grant's notice, on every step of the user-code page.
const deviceNotice = "DigitalOcean does not offer this grant; the sandbox shows how it works."

// registerDevice registers a public client for the device grant, as a CLI
// or a TV app would, and returns its client_id.
func (h *harness) registerDevice(t testing.TB, name string) string {
	t.Helper()
	resp, reg := h.register(t, map[string]any{
		"client_name":                name,
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{deviceGrant, "refresh_token"},
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register a device client: %d %v", resp.StatusCode, reg)
	}
	return reg["client_id"].(string)
}

// deviceCodes is the device authorization response.
type deviceCodes struct {
	DeviceCode, UserCode, VerificationURI, VerificationURIComplete string
	ExpiresIn, Interval                                            float64
}

// startDevice asks for a device code for clientID, as the device does.
func (h *harness) startDevice(t testing.TB, clientID, scope string) deviceCodes {
	t.Helper()
	form := url.Values{"client_id": {clientID}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, out := h.postForm(t, "/v1/oauth/device_authorization", form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device authorization: %d %v", resp.StatusCode, out)
	}
	str := func(k string) string { s, _ := out[k].(string); return s }
	num := func(k string) float64 { n, _ := out[k].(float64); return n }
	return deviceCodes{str("device_code"), str("user_code"), str("verification_uri"), str("verification_uri_complete"), num("expires_in"), num("interval")}
}

// poll asks the token endpoint for the device's tokens once.
func (h *harness) poll(t testing.TB, clientID, deviceCode string) (*http.Response, map[string]any) {
	t.Helper()
	return h.postForm(t, "/v1/oauth/token", url.Values{"grant_type": {deviceGrant}, "device_code": {deviceCode}, "client_id": {clientID}})
}

// wantPoll checks a poll's answer: an OAuth error code, or "" for tokens.
func (h *harness) wantPoll(t testing.TB, clientID, deviceCode, wantError string) map[string]any {
	t.Helper()
	resp, out := h.poll(t, clientID, deviceCode)
	switch {
	case wantError == "" && resp.StatusCode != http.StatusOK:
		t.Fatalf("poll: %d %v, want tokens", resp.StatusCode, out)
	case wantError != "" && (resp.StatusCode != http.StatusBadRequest || out["error"] != wantError || out["error_description"] == ""):
		t.Fatalf("poll: %d %v, want 400 %s with a description", resp.StatusCode, out, wantError)
	}
	return out
}

// openDevice GETs the user-code page at pageURL with the browser c.
func openDevice(t testing.TB, c *http.Client, pageURL string) (*http.Response, string) {
	t.Helper()
	return do(t, c, http.MethodGet, pageURL, nil, nil)
}

// openConfirm opens the confirm step of the user-code page at pageURL
// (verification_uri_complete, or the page with the code typed in) and
// returns its form.
func openConfirm(t testing.TB, c *http.Client, pageURL string) consentForm {
	t.Helper()
	resp, page := openDevice(t, c, pageURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="approve"`) {
		t.Fatalf("the confirm page at %s: %d\n%s", pageURL, resp.StatusCode, page)
	}
	return parseConsentForm(t, resp.Request.URL, page)
}

// decideDevice looks userCode up on the user-code page under base, as
// typed into its field, and presses the decision's button, signing in as
// the account with that UUID ("" for the one checked by default). It
// returns the answer to the POST.
func decideDevice(t testing.TB, c *http.Client, base, typed, decision, accountUUID string) *http.Response {
	t.Helper()
	form := openConfirm(t, c, base+"/device?"+url.Values{"user_code": {typed}}.Encode())
	if accountUUID != "" {
		form.fields.Set("account", accountUUID)
	}
	resp, _ := form.submit(t, c, decision)
	return resp
}

// The whole device grant over HTTP, as RFC 8628 describes it: the device
// gets its codes, polls while the user approves on the user-code page, and
// gets the same tokens as the authorization-code grant would give.
func TestDeviceGrant(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	client := h.registerDevice(t, "Living-room TV")

	// Step 1: the device's codes.
	resp, out := h.postForm(t, "/v1/oauth/device_authorization", url.Values{"client_id": {client}, "scope": {"read"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("device authorization: %d %v %v", resp.StatusCode, resp.Header, out)
	}
	codes := deviceCodes{DeviceCode: out["device_code"].(string), UserCode: out["user_code"].(string)}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(codes.DeviceCode) {
		t.Errorf("device_code = %q, want 64 hex digits", codes.DeviceCode)
	}
	if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(codes.UserCode) {
		t.Errorf("user_code = %q, want XXXX-XXXX of consonants", codes.UserCode)
	}
	want := map[string]any{
		"verification_uri":          h.base + "/device",
		"verification_uri_complete": h.base + "/device?user_code=" + codes.UserCode,
		"expires_in":                float64(600),
		"interval":                  float64(5),
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %v, want %v", k, out[k], v)
		}
	}
	if len(out) != 6 {
		t.Errorf("the response has other members: %v", out)
	}

	// Step 3 starts at once: the device polls while the user is busy.
	h.wantPoll(t, client, codes.DeviceCode, "authorization_pending")

	// Step 2: the user opens the verification URI, reads the page...
	browser := h.browser(t)
	resp, page := openDevice(t, browser, want["verification_uri"].(string))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("the user-code page: %d %v", resp.StatusCode, resp.Header)
	}
	for _, s := range []string{deviceNotice, "Sandbox", `name="user_code"`, "Connect a device"} {
		if !strings.Contains(page, s) {
			t.Errorf("the entry page lacks %q", s)
		}
	}
	// ...types the code in lower case without its dash, and sees who asks
	// for what.
	typed := strings.ToLower(strings.ReplaceAll(codes.UserCode, "-", ""))
	resp, page = openDevice(t, browser, h.base+"/device?user_code="+typed)
	for _, s := range []string{deviceNotice, "Living-room TV on a device wants to access your DigitalOcean account", codes.UserCode, "Read",
		"registered itself", "Sammy the Shark", "Octavia the Octopus", "Approve", "Deny"} {
		if !strings.Contains(page, s) {
			t.Errorf("the confirm page lacks %q", s)
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm page: %d", resp.StatusCode)
	}
	form := parseConsentForm(t, resp.Request.URL, page)
	if form.action != h.base+"/device" || form.fields.Get("user_code") != codes.UserCode || form.fields.Get("csrf_token") == "" {
		t.Fatalf("confirm form = %+v", form)
	}
	octavia := h.sb.Accounts()[1]
	form.fields.Set("account", octavia.UUID)
	resp, _ = form.submit(t, browser, "approve")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "device?done=approved" {
		t.Fatalf("approve: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
	}
	done, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if _, page := openDevice(t, browser, done.String()); !strings.Contains(page, "Device connected") || !strings.Contains(page, deviceNotice) {
		t.Errorf("after approving:\n%s", page)
	}

	// The device's next poll, an interval later, gets the tokens: the
	// authorization-code grant's response, for the chosen account.
	h.clock.Advance(5 * time.Second)
	resp, out = h.poll(t, client, codes.DeviceCode)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("poll after approval: %d %v", resp.StatusCode, out)
	}
	info, _ := out["info"].(map[string]any)
	access, _ := out["access_token"].(string)
	refresh, _ := out["refresh_token"].(string)
	if !strings.HasPrefix(access, "doo_v1_") || !strings.HasPrefix(refresh, "dor_v1_") || out["token_type"] != "bearer" ||
		out["expires_in"] != float64(120) || out["scope"] != "read" || info["email"] != octavia.Email || info["uuid"] != octavia.UUID {
		t.Fatalf("token response = %v", out)
	}
	var acct struct{ Account struct{ Email string } }
	if resp := h.api(t, "/v2/account", access, &acct); resp.StatusCode != http.StatusOK || acct.Account.Email != octavia.Email {
		t.Errorf("/v2/account with the device's token: %d %+v", resp.StatusCode, acct)
	}

	// The device code is single-use, and the page says the code was used.
	h.wantPoll(t, client, codes.DeviceCode, "invalid_grant")
	resp, page = openDevice(t, browser, h.base+"/device?user_code="+codes.UserCode)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "already been used") {
		t.Errorf("the spent code on the page: %d", resp.StatusCode)
	}

	// The refresh token works like any other, for the public client.
	resp, out = h.postForm(t, "/v1/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {client}})
	if resp.StatusCode != http.StatusOK || out["refresh_token"] == refresh {
		t.Errorf("refresh: %d %v", resp.StatusCode, out)
	}
}

// A device that polls sooner than the interval gets slow_down, and from
// then on the interval is 5 seconds longer (RFC 8628 §3.5).
func TestDeviceSlowDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.registerDevice(t, "Impatient CLI")
	codes := h.startDevice(t, client, "")

	h.wantPoll(t, client, codes.DeviceCode, "authorization_pending") // the first poll may come at once
	h.clock.Advance(time.Second)
	out := h.wantPoll(t, client, codes.DeviceCode, "slow_down")
	if !strings.Contains(out["error_description"].(string), "10 seconds") {
		t.Errorf("slow_down does not give the new interval: %v", out)
	}
	// 5 seconds was the old interval: still too soon, and 5 more again.
	h.clock.Advance(5 * time.Second)
	h.wantPoll(t, client, codes.DeviceCode, "slow_down")
	h.clock.Advance(15 * time.Second)
	h.wantPoll(t, client, codes.DeviceCode, "authorization_pending")
	// Just within a tenth of the interval's grace is on time.
	h.clock.Advance(14 * time.Second)
	h.wantPoll(t, client, codes.DeviceCode, "authorization_pending")

	// An approved code is answered at once, however fast the poll.
	if resp := decideDevice(t, h.browser(t), h.base, codes.UserCode, "approve", ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	h.wantPoll(t, client, codes.DeviceCode, "")
}

// After 10 minutes the device code has expired: expired_token to the
// device, and the page refuses the user code.
func TestDeviceCodeExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.registerDevice(t, "Slow TV")
	codes := h.startDevice(t, client, "")
	h.clock.Advance(10*time.Minute - time.Second)
	h.wantPoll(t, client, codes.DeviceCode, "authorization_pending")
	browser := h.browser(t)
	form := openConfirm(t, browser, codes.VerificationURIComplete) // a second before expiry

	h.clock.Advance(time.Second)
	h.wantPoll(t, client, codes.DeviceCode, "expired_token")
	resp, page := openDevice(t, browser, codes.VerificationURIComplete)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "That code has expired") || !strings.Contains(page, `name="user_code"`) {
		t.Errorf("an expired code on the page: %d\n%s", resp.StatusCode, page)
	}
	// The form shown before expiry approves nothing now.
	resp, page = form.submit(t, browser, "approve")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "That code has expired") {
		t.Errorf("approving an expired code: %d", resp.StatusCode)
	}
	h.wantPoll(t, client, codes.DeviceCode, "expired_token")
}

// Deny: the device gets access_denied, and no token; the code cannot be
// approved afterwards.
func TestDeviceDenied(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.registerDevice(t, "Unknown TV")
	codes := h.startDevice(t, client, "")
	browser := h.browser(t)
	form := openConfirm(t, browser, codes.VerificationURIComplete)
	resp, _ := form.submit(t, browser, "deny")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "device?done=denied" {
		t.Fatalf("deny: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page := openDevice(t, browser, h.base+"/device?done=denied"); !strings.Contains(page, "Access denied") {
		t.Errorf("after denying:\n%s", page)
	}
	h.wantPoll(t, client, codes.DeviceCode, "access_denied")
	h.clock.Advance(5 * time.Second)
	h.wantPoll(t, client, codes.DeviceCode, "access_denied")

	// A second submission of the same form (a double click, or a changed
	// mind) changes nothing.
	resp, page := form.submit(t, browser, "approve")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "already been used") {
		t.Errorf("approving a denied code: %d", resp.StatusCode)
	}
	h.wantPoll(t, client, codes.DeviceCode, "access_denied")
	if st := h.sb.Stats(); st.Denials != 1 || st.LiveAccessTokens != 0 {
		t.Errorf("stats = %+v, want 1 denial and no token", st)
	}
}

// The device authorization endpoint authenticates clients as the token
// endpoint does, and answers with RFC 6749 §5.2's errors.
func TestDeviceAuthorizationErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	device := h.registerDevice(t, "A device")
	_, web := h.register(t, map[string]any{"redirect_uris": []string{"http://localhost:7000/cb"}, "token_endpoint_auth_method": "none"})
	_, bounded := h.register(t, map[string]any{"token_endpoint_auth_method": "none", "grant_types": []string{deviceGrant}, "scope": "droplet:read"})
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"unknown client", url.Values{"client_id": {"nobody"}}, http.StatusUnauthorized, "invalid_client"},
		{"no client", url.Values{"scope": {"read"}}, http.StatusUnauthorized, "invalid_client"},
		{"the app's client without its secret", url.Values{"client_id": {testClientID}}, http.StatusUnauthorized, "invalid_client"},
		{"the app's client with a wrong secret", url.Values{"client_id": {testClientID}, "client_secret": {"guess"}}, http.StatusUnauthorized, "invalid_client"},
		{"a public client with a secret", url.Values{"client_id": {device}, "client_secret": {"x"}}, http.StatusUnauthorized, "invalid_client"},
		{"not registered for the grant", url.Values{"client_id": {web["client_id"].(string)}}, http.StatusBadRequest, "unauthorized_client"},
		{"unknown scope", url.Values{"client_id": {device}, "scope": {"read admin"}}, http.StatusBadRequest, "invalid_scope"},
		{"beyond the registered scope", url.Values{"client_id": {bounded["client_id"].(string)}, "scope": {"read"}}, http.StatusBadRequest, "invalid_scope"},
		{"repeated scope", url.Values{"client_id": {device}, "scope": {"read", "write"}}, http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		resp, out := h.postForm(t, "/v1/oauth/device_authorization", tt.form)
		if resp.StatusCode != tt.wantStatus || out["error"] != tt.wantError || out["error_description"] == "" {
			t.Errorf("%s: %d %v, want %d %s", tt.name, resp.StatusCode, out, tt.wantStatus, tt.wantError)
		}
	}
	resp, out := h.postForm(t, "/v1/oauth/device_authorization?client_id="+device, url.Values{})
	if resp.StatusCode != http.StatusBadRequest || out["error"] != "invalid_request" {
		t.Errorf("parameters in the query: %d %v", resp.StatusCode, out)
	}
	resp, raw := h.call(t, http.MethodGet, "/v1/oauth/device_authorization", "", nil, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || !strings.Contains(raw, "invalid_request") {
		t.Errorf("GET: %d %s", resp.StatusCode, raw)
	}

	// A client with a registered scope gets it when it asks for none.
	codes := h.startDevice(t, bounded["client_id"].(string), "")
	resp, page := openDevice(t, h.browser(t), codes.VerificationURIComplete)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<code>droplet:read</code>") {
		t.Errorf("the registered scope on the page: %d", resp.StatusCode)
	}

	// The poll's errors.
	codes = h.startDevice(t, device, "")
	for name, form := range map[string]url.Values{
		"no device_code":         {"grant_type": {deviceGrant}, "client_id": {device}},
		"unknown device_code":    {"grant_type": {deviceGrant}, "client_id": {device}, "device_code": {strings.Repeat("0", 64)}},
		"another client's code":  {"grant_type": {deviceGrant}, "client_id": {bounded["client_id"].(string)}, "device_code": {codes.DeviceCode}},
		"the user code, instead": {"grant_type": {deviceGrant}, "client_id": {device}, "device_code": {codes.UserCode}},
	} {
		resp, out := h.postForm(t, "/v1/oauth/token", form)
		want := "invalid_grant"
		if name == "no device_code" {
			want = "invalid_request"
		}
		if resp.StatusCode != http.StatusBadRequest || out["error"] != want {
			t.Errorf("poll with %s: %d %v, want %s", name, resp.StatusCode, out, want)
		}
	}
	h.wantPoll(t, device, codes.DeviceCode, "authorization_pending") // none of that disturbed the real one
}

// A confidential client (here the app's own, which may use every grant)
// authenticates with its secret at both endpoints; x/oauth2 repeats the
// scope when it polls, which changes nothing.
func TestDeviceGrantConfidentialClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp, out := h.postForm(t, "/v1/oauth/device_authorization", clientForm("scope", "read write"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device authorization with the secret: %d %v", resp.StatusCode, out)
	}
	deviceCode, userCode := out["device_code"].(string), out["user_code"].(string)
	resp, page := openDevice(t, h.browser(t), h.base+"/device?user_code="+userCode)
	if !strings.Contains(page, testAppName+" on a device") || !strings.Contains(page, "Read &amp; write") || strings.Contains(page, "registered itself") {
		t.Errorf("the app's client on the page: %d", resp.StatusCode)
	}
	if resp := decideDevice(t, h.browser(t), h.base, userCode, "approve", ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	poll := clientForm("grant_type", deviceGrant, "device_code", deviceCode, "scope", "read")
	poll.Del("client_secret")
	if resp, out := h.postForm(t, "/v1/oauth/token", poll); resp.StatusCode != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("poll without the secret: %d %v", resp.StatusCode, out)
	}
	resp, out = h.postForm(t, "/v1/oauth/token", clientForm("grant_type", deviceGrant, "device_code", deviceCode, "scope", "read"))
	info, _ := out["info"].(map[string]any)
	if resp.StatusCode != http.StatusOK || out["scope"] != "read write" || info["email"] != h.sb.Account().Email {
		t.Errorf("poll with the secret: %d %v", resp.StatusCode, out)
	}
}

// The user code is short, so guessing it is what RFC 8628 §5.1 warns of:
// after 5 wrong codes from one address the page refuses every code, the
// right one too, until 5 minutes have passed. Malformed input, which
// cannot match, does not count; case, spaces and dashes do not matter.
func TestDeviceUserCodeAttemptsAreLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.registerDevice(t, "A device")
	codes := h.startDevice(t, client, "")
	browser := h.browser(t)
	page := func(typed string) (int, string) {
		resp, body := openDevice(t, browser, h.base+"/device?"+url.Values{"user_code": {typed}}.Encode())
		return resp.StatusCode, body
	}

	for typed, want := range map[string]string{
		"":              "Type the code your device shows.",
		" - ":           "Type the code your device shows.",
		"ABCD-EFGH":     "That is not a code the sandbox gives",
		"BCDF-GHJ":      "That is not a code the sandbox gives",
		"BCDF-GHJK-L":   "That is not a code the sandbox gives",
		"BCDF-GHJ1":     "That is not a code the sandbox gives",
		"<b>BCDF</b>":   "That is not a code the sandbox gives",
		"bcdf ghjk lmn": "That is not a code the sandbox gives",
	} {
		status, body := page(typed)
		if status != http.StatusBadRequest || !strings.Contains(body, want) || strings.Contains(body, "<b>BCDF") {
			t.Errorf("%q: %d, want 400 %q", typed, status, want)
		}
	}
	for _, typed := range []string{strings.ToLower(codes.UserCode), " " + strings.ReplaceAll(codes.UserCode, "-", " ") + " ", strings.ReplaceAll(codes.UserCode, "-", "")} {
		if status, _ := page(typed); status != http.StatusOK {
			t.Errorf("%q: %d, want the confirm page", typed, status)
		}
	}

	// A confirm form, opened before the guessing starts.
	form := openConfirm(t, browser, codes.VerificationURIComplete)

	wrong := "BBBB-BBBB"
	if codes.UserCode == wrong {
		wrong = "CCCC-CCCC"
	}
	for i := range 5 {
		if status, body := page(wrong); status != http.StatusBadRequest || !strings.Contains(body, "No device is waiting for that code") {
			t.Fatalf("wrong code %d: %d", i+1, status)
		}
	}
	resp, body := openDevice(t, browser, codes.VerificationURIComplete)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong codes") || resp.Header.Get("Retry-After") != "300" {
		t.Fatalf("the right code after 5 wrong ones: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The decision form is refused too: a guesser gains nothing by posting.
	if resp, _ := form.submit(t, browser, "approve"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("approving while refused: %d", resp.StatusCode)
	}
	h.clock.Advance(4 * time.Minute)
	resp, body = openDevice(t, browser, codes.VerificationURIComplete)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Wait 1 minute,") {
		t.Errorf("a minute before the end: %d", resp.StatusCode)
	}
	h.clock.Advance(time.Minute)
	if resp, _ := form.submit(t, browser, "approve"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the window: %d", resp.StatusCode)
	}
	h.wantPoll(t, client, codes.DeviceCode, "")
}

// The decision form has the consent form's defences: a form from another
// site, or without the CSRF token, approves nothing.
func TestDevicePageRefusesForgedForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.registerDevice(t, "A device")
	codes := h.startDevice(t, client, "")
	browser := h.browser(t)
	form := openConfirm(t, browser, codes.VerificationURIComplete)
	post := func(edit func(url.Values), hdr http.Header) (*http.Response, string) {
		v := url.Values{"decision": {"approve"}}
		for k, vs := range form.fields {
			v[k] = vs
		}
		edit(v)
		return do(t, browser, http.MethodPost, form.action, v, hdr)
	}
	tests := []struct {
		name       string
		edit       func(url.Values)
		hdr        http.Header
		wantStatus int
		want       string
	}{
		{"from another site", func(url.Values) {}, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden, "submitted from another site"},
		{"no CSRF token", func(v url.Values) { v.Del("csrf_token") }, nil, http.StatusForbidden, "did not come from this page"},
		{"a wrong CSRF token", func(v url.Values) { v.Set("csrf_token", "forged") }, nil, http.StatusForbidden, "did not come from this page"},
		{"a repeated code", func(v url.Values) { v.Add("user_code", "BBBB-BBBB") }, nil, http.StatusBadRequest, "repeats the user_code field"},
		{"no decision", func(v url.Values) { v.Del("decision") }, nil, http.StatusBadRequest, "Choose Approve or Deny"},
		{"an unknown account", func(v url.Values) { v.Set("account", "0000") }, nil, http.StatusBadRequest, "not one of the sandbox"},
		{"a malformed code", func(v url.Values) { v.Set("user_code", "AAAA") }, nil, http.StatusBadRequest, "not a code the sandbox gives"},
	}
	for _, tt := range tests {
		resp, body := post(tt.edit, tt.hdr)
		if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d, want %d %q", tt.name, resp.StatusCode, tt.wantStatus, tt.want)
		}
	}
	// Another browser has its own CSRF cookie: the token from this page is
	// worthless there.
	v := url.Values{"decision": {"approve"}}
	for k, vs := range form.fields {
		v[k] = vs
	}
	if resp, _ := do(t, h.browser(t), http.MethodPost, form.action, v, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the form from another browser: %d", resp.StatusCode)
	}
	h.wantPoll(t, client, codes.DeviceCode, "authorization_pending")

	resp, _ := do(t, browser, http.MethodPut, h.base+"/device", nil, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("PUT /device: %d", resp.StatusCode)
	}
}

// The user-code page works under the app's prefix too, with its links and
// its form relative; the metadata advertises the endpoint, which works, and
// other origins may call it, like the token endpoint.
func TestDeviceEndpointsAdvertised(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	var md map[string]any
	h.call(t, http.MethodGet, "/.well-known/oauth-authorization-server", "", nil, &md)
	endpoint, _ := md["device_authorization_endpoint"].(string)
	if endpoint != h.base+"/v1/oauth/device_authorization" || !strings.Contains(fmt.Sprint(md["grant_types_supported"]), deviceGrant) {
		t.Fatalf("metadata = %v", md)
	}
	client := h.registerDevice(t, "A device")
	resp, out := do(t, h.srv.Client(), http.MethodPost, endpoint, url.Values{"client_id": {client}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out, `"verification_uri":"`+h.base+`/device"`) {
		t.Errorf("the advertised endpoint: %d %s", resp.StatusCode, out)
	}
	resp, _ = do(t, h.srv.Client(), http.MethodOptions, endpoint, nil, http.Header{"Origin": {"http://localhost:3000"}, "Access-Control-Request-Method": {"POST"}})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = do(t, h.srv.Client(), http.MethodOptions, h.base+"/device", nil, http.Header{"Origin": {"http://localhost:3000"}, "Access-Control-Request-Method": {"POST"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the user-code page allows other origins: %v", resp.Header)
	}
	resp, page := openDevice(t, h.browser(t), h.base+"/device")
	for _, link := range []string{`href="static/sandbox.css"`, `href="developer"`, `action="device"`} {
		if !strings.Contains(page, link) {
			t.Errorf("the page lacks %s", link)
		}
	}
	if resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("page headers: %v", resp.Header)
	}
}

// Registration (RFC 7591) lets a client register for the sandbox-only
// grants: a device or service client has no redirect URIs and no response
// types; the combinations that cannot work are refused.
func TestRegisterForOtherGrants(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp, reg := h.register(t, map[string]any{"client_name": "My TV", "token_endpoint_auth_method": "none", "grant_types": []string{deviceGrant, "refresh_token"}})
	if resp.StatusCode != http.StatusCreated || fmt.Sprint(reg["grant_types"]) != "["+deviceGrant+" refresh_token]" ||
		fmt.Sprint(reg["response_types"]) != "[]" || reg["redirect_uris"] != nil || reg["client_secret"] != nil {
		t.Errorf("a device client: %d %v", resp.StatusCode, reg)
	}
	resp, reg = h.register(t, map[string]any{"client_name": "My service", "grant_types": []string{"client_credentials"}})
	if resp.StatusCode != http.StatusCreated || reg["client_secret"] == nil || reg["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Errorf("a service client: %d %v", resp.StatusCode, reg)
	}
	resp, reg = h.register(t, map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "token_endpoint_auth_method": "client_secret_post",
		"grant_types": []string{"authorization_code", "refresh_token", "client_credentials", deviceGrant}})
	if resp.StatusCode != http.StatusCreated || fmt.Sprint(reg["response_types"]) != "[code]" {
		t.Errorf("a client for every grant: %d %v", resp.StatusCode, reg)
	}

	for _, tt := range []struct {
		name     string
		metadata map[string]any
	}{
		{"a public client for client_credentials", map[string]any{"token_endpoint_auth_method": "none", "grant_types": []string{"client_credentials"}}},
		{"client_credentials with refresh_token", map[string]any{"grant_types": []string{"client_credentials", "refresh_token"}}},
		{"redirect URIs without the code grant", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "grant_types": []string{deviceGrant}}},
		{"the code response type without the code grant", map[string]any{"grant_types": []string{deviceGrant}, "response_types": []string{"code"}}},
		{"an unknown grant", map[string]any{"grant_types": []string{deviceGrant, "password"}}},
		{"the implicit grant", map[string]any{"redirect_uris": []string{"https://example.com/cb"}, "grant_types": []string{"implicit"}}},
	} {
		resp, out := h.register(t, tt.metadata)
		if resp.StatusCode != http.StatusBadRequest || out["error"] != "invalid_client_metadata" || out["error_description"] == "" {
			t.Errorf("%s: %d %v, want 400 invalid_client_metadata", tt.name, resp.StatusCode, out)
		}
	}
}

// The implicit grant (response_type=token) is not offered: RFC 9700 §2.1.2
// says not to use it. The authorization endpoint answers
// unsupported_response_type with no token anywhere in the redirect, and the
// metadata lists only the code response type.
func TestImplicitGrantIsNotOffered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp, _ := do(t, h.browser(t), http.MethodGet, h.base+"/v1/oauth/authorize?"+url.Values{
		"client_id": {testClientID}, "redirect_uri": {testRedirectURI}, "response_type": {"token"}, "state": {"s"},
	}.Encode(), nil, nil)
	loc := resp.Header.Get("Location")
	q := redirectTarget(t, resp, testRedirectURI)
	if q.Get("error") != "unsupported_response_type" || q.Get("state") != "s" || strings.Contains(loc, "#") || strings.Contains(loc, "access_token") {
		t.Errorf("response_type=token: %s", loc)
	}
	var md map[string]any
	h.call(t, http.MethodGet, "/.well-known/oauth-authorization-server", "", nil, &md)
	if fmt.Sprint(md["response_types_supported"]) != "[code]" || strings.Contains(fmt.Sprint(md["grant_types_supported"]), "implicit") {
		t.Errorf("metadata = %v", md)
	}
}

// DeviceInterval sets the interval, in whole seconds.
func TestDeviceIntervalConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *sandbox.Config) { c.DeviceInterval = 2 * time.Second }))
	client := h.registerDevice(t, "A device")
	codes := h.startDevice(t, client, "")
	if codes.Interval != 2 {
		t.Errorf("interval = %v, want 2", codes.Interval)
	}
	h.wantPoll(t, client, codes.DeviceCode, "authorization_pending")
	h.clock.Advance(2 * time.Second)
	h.wantPoll(t, client, codes.DeviceCode, "authorization_pending")
	h.clock.Advance(time.Second)
	h.wantPoll(t, client, codes.DeviceCode, "slow_down")

	for _, bad := range []time.Duration{-time.Second, 1500 * time.Millisecond} {
		if _, err := sandbox.New(sandbox.Config{DeviceInterval: bad}); err == nil || !strings.Contains(err.Error(), "DeviceInterval") {
			t.Errorf("DeviceInterval %v: err = %v", bad, err)
		}
	}
}

// The Developer page lists the two sandbox-only endpoints and shows how to
// try each grant, labelled as DigitalOcean does not offer them.
func TestDeveloperPageShowsOtherGrants(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPrefix("/sandbox"))
	resp, page := do(t, h.srv.Client(), http.MethodGet, h.base+"/developer", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("developer page: %d", resp.StatusCode)
	}
	for _, want := range []string{
		h.base + "/v1/oauth/device_authorization",
		h.base + "/device",
		"DigitalOcean does not offer these grants; the sandbox shows how they work.",
		"curl -d client_id=CLIENT_ID " + h.base + "/v1/oauth/device_authorization",
		"curl -d grant_type=" + deviceGrant + " -d device_code=DEVICE_CODE -d client_id=CLIENT_ID " + h.base + "/v1/oauth/token",
		"curl -d grant_type=client_credentials -d client_id=CLIENT_ID -d client_secret=CLIENT_SECRET " + h.base + "/v1/oauth/token",
		"authorization_pending", "slow_down", "access_denied", "expired_token", "unauthorized_client", "unsupported_response_type",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("developer page lacks %q", want)
		}
	}
}
