package main

// End-to-end tests: a real Chromium, driven over the DevTools protocol by
// chromedp, walks the flow as a person would. The app runs in-process (the
// same run() that main calls) on http://localhost:<port>; the sandbox runs
// as a separate server on http://127.0.0.1:<port>, which a browser treats as
// another site, so the round trip to "DigitalOcean" is cross-site as it is in
// production and the login-state cookie must survive it as SameSite=Lax.
//
//	go test -run E2E .                        # the browser tests
//	go test -run E2E -update-screenshots .    # also rewrite docs/screenshots

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"dosignin/doclient"
	"dosignin/sandbox"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "rewrite the PNGs in docs/screenshots from the end-to-end tests")

const screenshotDir = "docs/screenshots"

// e2eDroplets is how many droplets the sandbox account has in these tests.
const e2eDroplets = 8

// e2eActionDelay is how long a sandbox droplet action runs in these tests:
// long enough to see "in progress", short enough to wait for.
const e2eActionDelay = 1500 * time.Millisecond

// firstDropletID asks the sandbox's API, with its personal access token,
// for the ID of the account's first droplet.
func firstDropletID(t *testing.T, env *e2eApp) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.SandboxURL+"/v2/droplets", nil)
	req.Header.Set("Authorization", "Bearer "+env.Sandbox.PersonalAccessToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Droplets []struct{ ID int } }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Droplets) == 0 {
		t.Fatalf("listing the sandbox's droplets: %v", err)
	}
	return body.Droplets[0].ID
}

// Viewports the pages must fit: a small phone and a laptop.
const (
	phoneWidth, phoneHeight     = 375, 812
	desktopWidth, desktopHeight = 1280, 800
)

func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	browser := startBrowser(t)

	t.Run("ConnectAuthorizeShowsEveryDroplet", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)

		tab.navigate(env.AppURL + "/")
		tab.expectText("h1", "Sign in with DigitalOcean")
		tab.screenshot("index.png")

		tab.click(`a[href="/connect"]`)
		consent := tab.location()
		if !strings.HasPrefix(consent, env.SandboxURL+"/v1/oauth/authorize?") {
			t.Fatalf("Connect led to %s, want the sandbox's consent page on %s", consent, env.SandboxURL)
		}
		tab.expectText("h1", "Sign in with DigitalOcean (Go)") // the app's name, as DigitalOcean shows it
		tab.expectText(".facts", "Read")                       // the access asked for
		tab.screenshot("consent.png")

		tab.click(`button[value="approve"]`)
		if got, want := tab.location(), env.AppURL+"/digitalocean"; got != want {
			// The query would hold the code and state: name the page, not the URL.
			t.Fatalf("after Authorize the browser is at %s (query: %t) showing %q, want the droplet list at %s with nothing in the query",
				tab.page(), strings.Contains(got, "?"), evaluate[string](tab, `document.querySelector("h1")?.innerText ?? ""`), want)
		}
		want := e2eDroplets
		tab.expectText(".count", fmt.Sprintf("%d droplets", want))
		if rows := tab.count(".droplets tbody tr"); rows != want {
			t.Errorf("the table has %d rows, want %d", rows, want)
		}
		tab.expectText(".summary", env.Sandbox.Account().Email)

		if s := env.Sandbox.Stats(); s.Authorizations != 1 || s.CodeExchanges != 1 {
			t.Errorf("sandbox saw %d authorizations and %d code exchanges, want 1 and 1", s.Authorizations, s.CodeExchanges)
		}
		tab.expectCleanConsole()
	})

	t.Run("HowThisWorkedPanelAndRefreshNow", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.signIn(env)

		// Open on the first view after the login, with every step.
		if !evaluate[bool](tab, `!!document.querySelector("details.flow[open]")`) {
			t.Fatal("the How this worked panel is not open after the login")
		}
		for _, want := range []string{"1 Authorization code link", "2 User authorizes application", "3 Application receives authorization code",
			"4 Application requests access token", "5 Application receives access token", "code_challenge_method", "client_secret",
			"GET /v2/droplets?page=1&per_page=200", "Timeline"} {
			tab.expectText("details.flow", want)
		}
		if n := tab.count("details.flow .timeline-fill"); n < 5 {
			t.Errorf("the timeline has %d bars, want one per step and the droplet list", n)
		}
		// No whole token, code or secret in the page, only their beginnings.
		if leak := evaluate[string](tab, `(document.documentElement.outerHTML.match(/do[or]_v1_[0-9a-f]{5,}|e2e-secret-/) || [""])[0]`); leak != "" {
			t.Errorf("the page shows %q", leak)
		}
		// The README's picture: the panel's top (timeline, first steps), one screen high.
		evaluate[bool](tab, `(d => { d.scrollIntoView(); return true })(document.querySelector("details.flow"))`)
		tab.screenshotViewport("how-this-worked.png")

		tab.click(`form[action="/refresh"] button`)
		if got, want := tab.location(), env.AppURL+"/digitalocean"; got != want {
			t.Fatalf("after Refresh now the browser is at %s, want %s", got, want)
		}
		// The page comes back with the panel open on the refresh, and the
		// message beside the button that caused it.
		tab.expectText(".token-status .flash", "Refreshed")
		tab.expectText(".token-status", "Last refreshed")
		if !evaluate[bool](tab, `!!document.querySelector("details.flow[open]")`) {
			t.Error("the panel is not open after Refresh now")
		}
		tab.checkPage()
		tab.expectText("details.flow .events", "Token refreshed")
		tab.expectText("details.flow .events", "why: you pressed Refresh now")
		if s := env.Sandbox.Stats(); s.Refreshes != 1 {
			t.Errorf("the sandbox saw %d refreshes, want 1", s.Refreshes)
		}
		// Pressed again at once: no second refresh.
		tab.click(`form[action="/refresh"] button`)
		tab.expectText(".token-status .flash", "Just refreshed")
		if s := env.Sandbox.Stats(); s.Refreshes != 1 {
			t.Errorf("a second press made the sandbox see %d refreshes, want 1", s.Refreshes)
		}
		tab.expectCleanConsole()
	})

	t.Run("AnotherAccount", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		accounts := env.Sandbox.Accounts()
		tab.navigate(env.AppURL + "/")
		tab.click(`a[href="/connect?account=select"]`)
		if err := chromedp.Do(tab.ctx, chromedp.Click(chromedp.CSS(`input[name="account"][value="`+accounts[1].UUID+`"]`), chromedp.NodeVisible)); err != nil {
			t.Fatalf("choosing the second account: %v", err)
		}
		tab.click(`button[value="approve"]`)
		tab.expectText(".summary", accounts[1].Email)
		tab.expectText("details.flow", "select_account")
		tab.expectCleanConsole()
	})

	t.Run("DenyShowsTheDenial", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)

		tab.navigate(env.AppURL + "/")
		tab.click(`a[href="/connect"]`)
		tab.click(`button[value="deny"]`)
		if got, want := tab.location(), env.AppURL+"/"; got != want {
			t.Fatalf("after Deny the browser is at %s, want %s", got, want)
		}
		tab.expectText(".flash", "You denied access")
		tab.expectText("details.flow", "Step 2: you chose Deny; DigitalOcean sent back error=access_denied")
		tab.expectText(`a[href="/connect"]`, "Connect DigitalOcean")
		if s := env.Sandbox.Stats(); s.Denials != 1 || s.CodeExchanges != 0 {
			t.Errorf("sandbox saw %d denials and %d code exchanges, want 1 and 0", s.Denials, s.CodeExchanges)
		}
		tab.expectCleanConsole()
	})

	// The common trap: the browser opens the app on 127.0.0.1, the redirect
	// URL says localhost, and the login cookie would be on the wrong host.
	t.Run("StartingOn127001StillSignsIn", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.navigate(strings.Replace(env.AppURL, "localhost", "127.0.0.1", 1) + "/")
		tab.click(`a[href="/connect"]`)
		tab.click(`button[value="approve"]`)
		if got, want := tab.page(), env.AppURL+"/digitalocean"; got != want {
			t.Fatalf("after Authorize the browser is at %s, want %s", got, want)
		}
		tab.expectText(".count", fmt.Sprintf("%d droplets", e2eDroplets))
		tab.expectCleanConsole()
	})

	t.Run("ReloadAfterTokenLifetimeRefreshes", func(t *testing.T) {
		t.Parallel()
		// The app renews a token doclient.RefreshMargin before it expires,
		// so a lifetime a little longer than the margin makes every token
		// due for renewal a few seconds after it was issued.
		const grace = 2 * time.Second
		env := startE2EApp(t, doclient.RefreshMargin+grace)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.signIn(env)
		want := fmt.Sprintf("%d droplets", e2eDroplets)
		before := env.Sandbox.Stats().Refreshes

		// Twice: the second refresh needs the refresh token that the first
		// one rotated in, so it proves the browser stored the new cookie.
		for i := 1; i <= 2; i++ {
			time.Sleep(grace + 500*time.Millisecond)
			tab.reload()
			tab.expectText(".count", want)
			if got := env.Sandbox.Stats().Refreshes - before; got != i {
				t.Fatalf("after reload %d the sandbox saw %d refreshes, want %d", i, got, i)
			}
		}
		tab.expectCleanConsole()
	})

	t.Run("DisconnectThenBackShowsNoDroplets", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.signIn(env)

		tab.click(`form[action="/logout"] button`)
		if got, want := tab.location(), env.AppURL+"/"; got != want {
			t.Fatalf("after Disconnect the browser is at %s, want %s", got, want)
		}
		tab.expectText(".flash", "Disconnected")
		tab.expectText(`a[href="/connect"]`, "Connect DigitalOcean")
		if s := env.Sandbox.Stats(); s.Revocations != 1 {
			t.Errorf("sandbox saw %d revocations, want 1", s.Revocations)
		}

		// Back to the droplet page, as a person (or the next person at a
		// shared computer) would: the browser must not show it from a cache.
		tab.back()
		if n := tab.count(".droplets tbody tr"); n != 0 {
			t.Fatalf("after Disconnect and Back the browser shows %d droplets", n)
		}
		tab.navigate(env.AppURL + "/digitalocean")
		if n := tab.count(".droplets tbody tr"); n != 0 {
			t.Fatalf("after Disconnect /digitalocean shows %d droplets", n)
		}
		tab.expectText(`a[href="/connect"]`, "Connect DigitalOcean")
		tab.expectCleanConsole()
	})

	t.Run("PhoneWidth", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, phoneWidth, phoneHeight)
		tab.signIn(env) // checks every page on the way for overflow
		tab.expectText(".count", fmt.Sprintf("%d droplets", e2eDroplets))
		tab.screenshotViewport("droplets-phone.png")
		// The droplet's page and its buttons fit too (checkPage looks).
		tab.navigate(fmt.Sprintf("%s/droplets/%d", env.AppURL, firstDropletID(t, env)))
		tab.expectText(".action-buttons", "Power cycle")
		tab.navigate(env.AppURL + "/")
		tab.expectText(".facts", env.Sandbox.Account().Email)
		tab.expectCleanConsole()
	})

	// The story: connect read-only, press Reboot, be asked for
	// read & write, approve, confirm, and watch the page follow the reboot
	// until it completes (the sandbox's actions take e2eActionDelay).
	t.Run("RebootThroughTheStepUp", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.signIn(env)
		id := firstDropletID(t, env)

		tab.click(fmt.Sprintf(`.droplets a[href="/droplets/%d"]`, id)) // from the droplet list
		tab.expectText(".facts", "active")
		tab.click(`button[name="type"][value="reboot"]`)
		tab.expectText("h1", "This needs read & write access")
		tab.screenshotViewport("step-up.png")
		tab.click(`form[action$="/step-up"] button`)
		tab.expectText(".facts", "Read & write") // DigitalOcean's consent page asks for the wider access
		tab.click(`button[value="approve"]`)
		tab.expectText("h1", "Reboot ")
		if n := env.Sandbox.Stats().Actions; n != 0 {
			t.Fatalf("%d actions before the confirmation", n)
		}
		tab.click(`form input[name="confirm"] ~ button`)
		tab.expectText(".progress", "In progress")
		if n := env.Sandbox.Stats().Actions; n != 1 {
			t.Fatalf("%d actions after the confirmation, want 1", n)
		}
		// The page reloads itself (meta refresh) until the action is done.
		ctx, cancel := context.WithTimeout(tab.ctx, 15*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.WaitVisible(".progress > p.status-active")); err != nil {
			t.Fatalf("the progress page never showed the reboot completed: %v", err)
		}
		tab.checkPage()
		tab.expectText(".progress", "was rebooted")
		if n := tab.count(`meta[http-equiv="refresh"]`); n != 0 {
			t.Error("the finished action's page still reloads itself")
		}

		// Then power it off, and on again: read & write is granted now, so
		// each goes straight to its confirmation.
		for _, step := range []struct{ button, done, status string }{
			{"power_off", "was powered off", "off"},
			{"power_on", "was powered on", "active"},
		} {
			tab.click(`a[href="/droplets/` + strconv.Itoa(id) + `"]`) // Back to the droplet
			tab.click(`button[name="type"][value="` + step.button + `"]`)
			tab.click(`form input[name="confirm"] ~ button`)
			ctx, cancel := context.WithTimeout(tab.ctx, 15*time.Second)
			_, err := chromedp.Run(ctx, chromedp.WaitVisible(".progress > p.status-active")) // "Completed"
			cancel()
			if err != nil {
				t.Fatalf("%s never completed: %v", step.button, err)
			}
			tab.checkPage()
			tab.expectText(".progress", step.done)
			tab.expectText(".progress span.status-"+step.status, step.status) // "It is now off"
		}
		if n := env.Sandbox.Stats().Actions; n != 3 {
			t.Errorf("%d actions, want 3", n)
		}
		tab.expectCleanConsole()
	})

	// What a newcomer sees after `go run .`: the sandbox on the app's own
	// origin, and a banner on every page of the app saying so.
	t.Run("SandboxModeAsGoRunStartsIt", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeApp(t)
		tab := newTab(t, browser, desktopWidth, desktopHeight)

		tab.navigate(appURL + "/")
		tab.expectText(".banner", "Sandbox mode")
		tab.click(`a[href="/connect"]`)
		if got := tab.page(); got != appURL+"/sandbox/v1/oauth/authorize" {
			t.Fatalf("Connect led to %s, want the sandbox's consent page under %s/sandbox/", got, appURL)
		}
		tab.click(`button[value="approve"]`)
		tab.expectText(".count", "8 droplets") // SANDBOX_DROPLETS' default
		tab.expectText(".banner", "Sandbox mode")

		tab.click(`form[action="/logout"] button`)
		tab.expectText(".flash", "Disconnected")
		tab.click(`a[href="/connect"]`)
		tab.click(`button[value="deny"]`)
		tab.expectText(".flash", "You denied access")
		tab.expectCleanConsole()
	})

	// The console check above passes on silence, so prove it hears: a
	// script that loads an image from another origin breaks the page's CSP,
	// and the browser must report it where expectCleanConsole looks.
	t.Run("ConsoleCheckCatchesACSPViolation", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.navigate(env.AppURL + "/")
		evaluate[bool](tab, `(() => { const i = new Image(); i.src = "http://127.0.0.1:9/probe.png"; document.body.append(i); return true })()`)
		deadline := time.Now().Add(10 * time.Second)
		for len(tab.problems()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("an image from another origin raised no CSP report in the console: the page's CSP is not enforced, or the listener hears nothing")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if p := strings.Join(tab.problems(), "\n"); !strings.Contains(p, "Content Security Policy") {
			t.Errorf("console problem is not a CSP report:\n%s", p)
		}
	})
}

// e2eApp is the app and the sandbox, each on its own host name.
type e2eApp struct {
	AppURL     string // http://localhost:<port>
	SandboxURL string // http://127.0.0.1:<port>
	Sandbox    *sandbox.Server
}

// startE2EApp runs the sandbox as a separate server and the app through
// run(), configured as for real DigitalOcean (client id and secret set,
// OAuth and API URLs pointing at the sandbox). tokenTTL 0 keeps the
// sandbox's default lifetime.
func startE2EApp(t *testing.T, tokenTTL time.Duration) *e2eApp {
	t.Helper()
	port := freePort(t)
	appURL := "http://localhost:" + strconv.Itoa(port)
	clientSecret := "e2e-secret-" + rand.Text()
	sessionSecret := rand.Text() + rand.Text()

	sb, err := sandbox.New(sandbox.Config{
		ClientID:     "e2e-client",
		ClientSecret: clientSecret,
		RedirectURIs: []string{appURL + "/digitalocean"},
		AppName:      "Sign in with DigitalOcean (Go)",
		TokenTTL:     tokenTTL,
		Droplets:     e2eDroplets,
		ActionDelay:  e2eActionDelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	sbServer := httptest.NewServer(sb) // listens on 127.0.0.1
	t.Cleanup(sbServer.Close)

	runApp(t, map[string]string{
		"PORT":                       strconv.Itoa(port),
		"DIGITALOCEAN_CLIENT_ID":     "e2e-client",
		"DIGITALOCEAN_CLIENT_SECRET": clientSecret,
		"DIGITALOCEAN_REDIRECT_URL":  appURL + "/digitalocean",
		"DIGITALOCEAN_OAUTH_URL":     sbServer.URL + "/v1/oauth",
		"DIGITALOCEAN_API_URL":       sbServer.URL,
		"SESSION_SECRET":             sessionSecret,
		"LOG_LEVEL":                  "debug",
	}, clientSecret, sessionSecret)
	return &e2eApp{AppURL: appURL, SandboxURL: sbServer.URL, Sandbox: sb}
}

// startSandboxModeApp runs the app as `go run .` does on a fresh clone: no
// credentials, so the sandbox is mounted under /sandbox/ on the app's own
// origin. It returns the app's base URL.
func startSandboxModeApp(t *testing.T) string {
	t.Helper()
	return startSandboxModeAppWith(t, nil)
}

// startSandboxModeAppWith is startSandboxModeApp with more of the
// environment (SANDBOX_DROPLETS, ...), as `SANDBOX_DROPLETS=1000 go run .`.
func startSandboxModeAppWith(t *testing.T, extra map[string]string) string {
	t.Helper()
	port := freePort(t)
	appURL := "http://localhost:" + strconv.Itoa(port)
	sessionSecret := rand.Text() + rand.Text()
	env := map[string]string{
		"PORT":                      strconv.Itoa(port),
		"DIGITALOCEAN_REDIRECT_URL": appURL + "/digitalocean",
		"SESSION_SECRET":            sessionSecret,
	}
	maps.Copy(env, extra)
	runApp(t, env, sessionSecret)
	return appURL
}

// runApp starts the app through run() with env as its whole environment,
// waits until it listens, and stops it when the test ends, checking that
// none of the secrets reached its log.
func runApp(t *testing.T, env map[string]string, secrets ...string) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, logs, func(a net.Addr) { ready <- a })
	}()
	select {
	case <-ready:
	case err := <-done:
		stop()
		t.Fatalf("app did not start: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		stop()
		t.Fatalf("app did not start in 10s\n%s", logs)
	}
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("app: %v", err)
		}
		for _, secret := range secrets {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret appears in the app's log")
			}
		}
		if t.Failed() {
			t.Logf("app log:\n%s", logs)
		}
	})
}

// startBrowser starts headless Chromium with a fresh profile for the test,
// or skips the test (fails it, under REQUIRE_BROWSER=1) when there is none.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROME_PATH")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		msg := "no Chromium found for the browser tests: install it (Debian/Ubuntu: sudo apt-get install -y chromium) or set CHROME_PATH"
		if os.Getenv("REQUIRE_BROWSER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	profile := t.TempDir() // removed after the browser has exited: cleanups run in reverse
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// The build machines have no network: keep Chromium from trying.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return browserCtx
}

// tab is one browser tab in a browser context of its own (cookies and
// cache shared with no other test), with what its console reported.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	messages []string // console errors, exceptions and browser-log errors
}

func newTab(t *testing.T, browser context.Context, width, height int64) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t}
	// Listen (unlike an iterator) sees an event before the reply to any
	// command sent after it, so after a page has loaded and been checked,
	// every report it caused is already in messages.
	if err := chromedp.Listen(ctx, tb.record); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	tb.ctx = tctx
	if err := chromedp.Do(tctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("setting the viewport: %v", err)
	}
	return tb
}

// record keeps what a person would see in red in the DevTools console:
// errors, uncaught exceptions, and the browser's reports (CSP violations,
// failed loads).
func (tb *tab) record(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			msg = "console." + string(ev.Type) + " called"
		}
	case *runtime.EventExceptionThrown:
		msg = "uncaught exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if e := ev.Entry; e.Level == log.EntryLevelError || e.Source == log.EntrySourceSecurity {
			msg = fmt.Sprintf("%s %s: %s (%s)", e.Source, e.Level, e.Text, e.URL)
		}
	}
	if msg != "" {
		tb.mu.Lock()
		tb.messages = append(tb.messages, msg)
		tb.mu.Unlock()
	}
}

func (tb *tab) problems() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.messages...)
}

func (tb *tab) expectCleanConsole() {
	tb.t.Helper()
	if p := tb.problems(); len(p) > 0 {
		tb.t.Errorf("the browser console reported %d problem(s):\n%s", len(p), strings.Join(p, "\n"))
	}
}

// navigate loads url and checks the page it lands on.
func (tb *tab) navigate(url string) {
	tb.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(url)); err != nil {
		tb.t.Fatalf("loading %s: %v", url, err)
	}
	tb.checkPage()
}

// click clicks the element, waits for the page it leads to, and checks it.
func (tb *tab) click(selector string) {
	tb.t.Helper()
	if _, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible)); err != nil {
		tb.t.Fatalf("clicking %s on %s: %v", selector, tb.page(), err)
	}
	tb.checkPage()
}

func (tb *tab) reload() {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.Reload()); err != nil {
		tb.t.Fatalf("reloading %s: %v", tb.page(), err)
	}
	tb.checkPage()
}

func (tb *tab) back() {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.NavigateBack()); err != nil {
		tb.t.Fatalf("going back from %s: %v", tb.page(), err)
	}
	tb.checkPage()
}

// signIn walks index → Connect → Authorize and waits for the droplet list.
func (tb *tab) signIn(env *e2eApp) {
	tb.t.Helper()
	tb.navigate(env.AppURL + "/")
	tb.click(`a[href="/connect"]`)
	tb.click(`button[value="approve"]`)
	tb.expectText("h1", "Your droplets")
}

func (tb *tab) location() string {
	tb.t.Helper()
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("reading the location: %v", err)
	}
	return loc
}

// page is the location without its query, for messages: shorter, and the
// consent page's query holds the state.
func (tb *tab) page() string {
	tb.t.Helper()
	loc, _, _ := strings.Cut(tb.location(), "?")
	return loc
}

// expectText fails unless the first element matching selector contains
// want in its visible text.
func (tb *tab) expectText(selector, want string) {
	tb.t.Helper()
	got := evaluate[string](tb, fmt.Sprintf(`(el => el ? el.innerText : "(nothing matches)")(document.querySelector(%q))`, selector))
	if !strings.Contains(got, want) {
		tb.t.Fatalf("%s on %s says %q, want it to contain %q", selector, tb.page(), got, want)
	}
}

func (tb *tab) count(selector string) int {
	tb.t.Helper()
	return evaluate[int](tb, fmt.Sprintf(`document.querySelectorAll(%q).length`, selector))
}

func evaluate[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluating %.60q: %v", expr, err)
	}
	return v
}

// checkPage runs the checks every page must pass, whatever the scenario:
// basic accessibility and no horizontal overflow at the tab's width.
func (tb *tab) checkPage() {
	tb.t.Helper()
	loc := tb.page()
	for _, p := range evaluate[[]string](tb, accessibilityCheck) {
		tb.t.Errorf("accessibility, %s: %s", loc, p)
	}
	for _, p := range evaluate[[]string](tb, overflowCheck) {
		tb.t.Errorf("overflow, %s: %s", loc, p)
	}
}

// accessibilityCheck lists what a screen-reader user would trip over:
// no page language, not exactly one <h1>, a link, button or image with no
// text alternative, a form field with no label, or a droplet status shown
// by colour alone.
const accessibilityCheck = `(() => {
  const problems = [];
  const short = el => el.outerHTML.slice(0, 100);
  if (!(document.documentElement.getAttribute("lang") || "").trim()) problems.push("<html> has no lang");
  if (!document.title.trim()) problems.push("the page has no <title>");
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(h1 + " <h1> elements, want exactly 1");
  const name = el => (el.getAttribute("aria-label") || el.innerText || el.value ||
    [...el.querySelectorAll("img[alt]")].map(i => i.alt).join(" ") || el.title || "").trim();
  for (const el of document.querySelectorAll("a[href], button, input[type=submit], input[type=button]")) {
    if (!name(el)) problems.push("no accessible name: " + short(el));
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("image without alt: " + short(img));
  }
  for (const el of document.querySelectorAll("input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea")) {
    if (el.labels.length === 0 && !el.getAttribute("aria-label")) problems.push("form field without a label: " + short(el));
  }
  for (const s of document.querySelectorAll(".droplets .status")) {
    const text = s.innerText.trim();
    if (!text || !s.classList.contains("status-" + text)) problems.push("droplet status not given as text: " + short(s));
  }
  return problems;
})()`

// overflowCheck lists elements that stick out of the viewport sideways,
// which on a phone means scrolling left and right to read.
const overflowCheck = `(() => {
  const problems = [];
  const root = document.documentElement, vw = root.clientWidth;
  if (root.scrollWidth > vw) problems.push("the page is " + root.scrollWidth + "px wide in a " + vw + "px viewport");
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).position === "absolute" && r.width <= 1) continue;
    if (r.left < -0.5 || r.right > vw + 0.5) {
      problems.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "") +
        " spans " + Math.round(r.left) + "px to " + Math.round(r.right) + "px of " + vw + "px");
    }
  }
  return problems.slice(0, 5);
})()`

// screenshot saves the whole page under docs/screenshots when the tests
// run with -update-screenshots.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	tb.saveScreenshot(name, chromedp.FullScreenshot(100))
}

// screenshotViewport saves what fits on the screen (a long page on a phone
// would make a needlessly tall image).
func (tb *tab) screenshotViewport(name string) {
	tb.t.Helper()
	tb.saveScreenshot(name, chromedp.CaptureScreenshot())
}

func (tb *tab) saveScreenshot(name string, capture chromedp.Action[[]byte]) {
	tb.t.Helper()
	if !*updateScreenshots {
		return
	}
	png, err := chromedp.Run(tb.ctx, capture)
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("wrote %s (%d KB)", filepath.Join(screenshotDir, name), len(png)/1024)
}

// TestREADMEScreenshots keeps the README's pictures in step with the
// browser tests that take them: each one it shows exists, and together
// they stay light enough for a README.
func TestREADMEScreenshots(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`docs/screenshots/[\w.-]+\.png`).FindAllString(string(readme), -1)
	if len(refs) == 0 {
		t.Fatal("README shows no screenshots from docs/screenshots")
	}
	var total int64
	for _, ref := range refs {
		fi, err := os.Stat(ref)
		if errors.Is(err, os.ErrNotExist) {
			t.Errorf("README shows %s, which does not exist: run go test -run E2E -update-screenshots .", ref)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	const limit = 800 << 10 // the index, consent, droplets (twice), panel, step-up, create and learn pictures
	if total > limit {
		t.Errorf("README screenshots weigh %d KB, over %d KB", total>>10, limit>>10)
	}
}
