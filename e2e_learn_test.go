package main

// Browser tests of the learn pages (/learn), with e2e_test.go's helpers:
// the app as go run . starts it on a fresh clone, in sandbox mode, walked
// by a real Chromium from step 1 to the revocation.
//
//	go test -run E2ELearn .                        # these tests
//	go test -run E2ELearn -update-screenshots .    # also rewrite docs/screenshots/learn-step4.png

import (
	"strings"
	"testing"
)

func TestE2ELearn(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	browser := startBrowser(t)

	t.Run("StepByStepThenAMistake", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeApp(t)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		walkLearnFlow(t, tab, appURL, true)
		tab.expectCleanConsole()
	})

	t.Run("EveryPageAtPhoneWidth", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeApp(t)
		tab := newTab(t, browser, phoneWidth, phoneHeight)
		walkLearnFlow(t, tab, appURL, false)
		for _, path := range []string{"/learn", "/learn/1", "/learn/2", "/learn/3", "/learn/4", "/learn/5", "/learn/implicit"} {
			tab.navigate(appURL + path) // checkPage: accessibility, 375 px
		}
		tab.expectCleanConsole()
	})

	t.Run("DeviceAndClientCredentials", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeApp(t)
		tab := newTab(t, browser, desktopWidth, desktopHeight)

		tab.navigate(appURL + "/learn/device")
		tab.expectText(".sandbox-only", "DigitalOcean does not offer this grant; the sandbox shows how it works")
		tab.click(`form[action="/learn/device/start"] button`)
		complete := evaluate[string](tab, `document.querySelector('a[href*="/sandbox/device?user_code="]').href`)
		tab.click(`form[action="/learn/device/poll"] button`)
		tab.expectText("#poll", "authorization_pending")
		// The learner opens the user-code page (the page opens it in a new
		// tab; here, the same one) and approves.
		tab.navigate(complete)
		tab.click(`button[value="approve"]`)
		tab.expectText("h1", "Device connected")
		tab.navigate(appURL + "/learn/device")
		tab.click(`form[action="/learn/device/poll"] button`)
		tab.expectText("#poll", "HTTP/1.1 200 OK")
		tab.expectText("#poll", "refresh_token")

		tab.navigate(appURL + "/learn/client-credentials")
		tab.expectText(".sandbox-only", "DigitalOcean does not offer this grant; the sandbox shows how it works")
		tab.click(`form[action="/learn/client-credentials"] button`)
		tab.expectText("main", "403 Forbidden")
		tab.click(`form[action="/learn/client-credentials/public"] button`)
		tab.expectText("#public", "unauthorized_client")
		tab.expectCleanConsole()
	})
}

// walkLearnFlow takes the learn pages from step 1 to the revocation, with
// the old refresh token's mistake on the way; every page is checked
// (checkPage) as it loads.
func walkLearnFlow(t *testing.T, tab *tab, appURL string, screenshots bool) {
	t.Helper()
	tab.navigate(appURL + "/learn")
	tab.expectText("h1", "Learn OAuth 2 by doing")
	tab.click(`form[action="/learn/start"] button`)

	// Step 1: the link, built in front of the learner.
	tab.expectText("h1", "Step 1: Authorization Code Link")
	tab.expectText(".learn-params", "code_challenge_method")
	if n := tab.count("button.copy"); n == 0 {
		t.Error("no Copy button: static/copy.js did not run")
	}
	tab.click(`a[href="/learn/2"].button`)

	// Step 2: the sandbox's consent page.
	tab.expectText("h1", "Step 2: User Authorizes Application")
	tab.click(`a.button[href*="/sandbox/v1/oauth/authorize?"]`)
	tab.expectText("h1", "Learn OAuth 2")
	tab.click(`button[value="approve"]`)

	// Step 3: the callback as it arrived, then the state check.
	if got := tab.location(); got != appURL+"/learn/3" {
		t.Fatalf("after Authorize the browser is at %s, want %s/learn/3", tab.page(), appURL)
	}
	tab.expectText("main", "GET /learn/callback?code=")
	tab.click(`form[action="/learn/3/check"] button`)
	tab.expectText("#check", "Yes")

	// Step 4: the token request as it will be sent, then Send.
	tab.click(`#check a[href="/learn/4"]`)
	tab.expectText("main", "POST /sandbox/v1/oauth/token HTTP/1.1")
	tab.expectText("main", "client_secret=learn-secret-made-up-for-teaching")
	if screenshots {
		evaluate[bool](tab, `(f => { f.scrollIntoView(); return true })(document.querySelector("figure.wire"))`)
		tab.screenshotViewport("learn-step4.png")
	}
	tab.click(`form[action="/learn/4/send"] button`)

	// Step 5: the answer, as it came.
	tab.expectText("h1", "Step 5: Application Receives Access Token")
	tab.expectText("main", "HTTP/1.1 200 OK")
	tab.expectText(".learn-fields", "refresh_token")

	// Then: the API, a refresh, the old refresh token, a revocation.
	tab.click(`a[href="/learn/api"].button`)
	tab.click(`form[action="/learn/api"] button`)
	if n := strings.Count(evaluate[string](tab, `document.querySelector("main").innerText`), "HTTP/1.1 200 OK"); n != 2 {
		t.Errorf("Call the API shows %d answers 200 OK, want 2", n)
	}
	tab.navigate(appURL + "/learn/refresh")
	tab.click(`form[action="/learn/refresh"] button`)
	tab.expectText("main", "The refresh you sent")
	tab.click(`form[action="/learn/mistakes/old-refresh-token"] button`)
	tab.expectText("#old-refresh-token", "invalid_grant")
	tab.expectText("#old-refresh-token", "nothing was issued")
	tab.navigate(appURL + "/learn/revoke")
	tab.click(`form[action="/learn/revoke"] button`)
	tab.expectText("main", "401 Unauthorized")
}
