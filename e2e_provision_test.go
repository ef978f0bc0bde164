package main

// Browser tests of creating and destroying a droplet (issue 19), with
// e2e_test.go's helpers: a read-only user creates a droplet through the
// step-up, sees its price, watches it become active, and destroys it by
// typing its name.

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestE2EProvision(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	browser := startBrowser(t)

	t.Run("CreateThroughTheStepUpThenDestroy", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.signIn(env) // read-only

		tab.click(`a[href="/droplets/new"]`)
		tab.expectText("h1", "Create a droplet")
		tab.expectText(".create-form", "The sizes offered in New York 1")
		tab.do(chromedp.SendKeys(chromedp.CSS("#name"), "web-e2e", chromedp.NodeVisible),
			chromedp.SetValue(chromedp.CSS("#region"), "sfo3", chromedp.NodeVisible))
		tab.click(`button[formaction="/droplets/new"]`) // Show sizes in this region
		tab.expectText(".create-form", "The sizes offered in San Francisco 3")
		if got := evaluate[string](tab, `document.querySelector("#name").value`); got != "web-e2e" {
			t.Errorf("the round trip lost the name: %q", got)
		}
		tab.do(chromedp.SetValue(chromedp.CSS("#size"), "s-1vcpu-2gb", chromedp.NodeVisible),
			chromedp.SetValue(chromedp.CSS("#image"), "debian-12-x64", chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`input[name="ssh_keys"]`), chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.CSS("#tags"), "e2e", chromedp.NodeVisible))
		tab.click(`form[action="/droplets"] .actions button[type="submit"]`) // Create droplet…

		tab.expectText("h1", "This needs read & write access")
		tab.expectText(".stepup", "To create web-e2e ($12.00 a month)")
		tab.click(`form[action="/droplets/new/step-up"] button`)
		tab.expectText(".facts", "Read & write") // DigitalOcean's consent page asks for the wider access
		tab.click(`button[value="approve"]`)

		tab.expectText("h1", "Create web-e2e?")
		tab.expectText(".cost", "This costs money. DigitalOcean bills this droplet $12.00 a month ($0.01786 an hour) from the moment it is created until you destroy it")
		tab.expectText(".facts", "San Francisco 3 (sfo3)")
		tab.expectText(".facts", "Debian 12 x64")
		tab.saveScreenshot("create.png", chromedp.Screenshot(chromedp.CSS("section.confirm"), chromedp.NodeVisible)) // the confirmation itself
		if n := env.Sandbox.Stats().DropletsCreated; n != 0 {
			t.Fatalf("%d droplets created before the confirmation", n)
		}
		tab.click(`form input[name="confirm"] ~ button`)

		tab.expectText("h1", "web-e2e")
		tab.expectText(".flash", "DigitalOcean accepted the request and is creating web-e2e")
		if n := env.Sandbox.Stats().DropletsCreated; n != 1 {
			t.Fatalf("%d droplets created, want 1", n)
		}
		// The page reloads itself (meta refresh) until the droplet is active.
		ctx, cancel := context.WithTimeout(tab.ctx, 15*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.WaitVisible(".facts .status-active")); err != nil {
			t.Fatalf("the droplet's page never showed it active: %v", err)
		}
		tab.checkPage()
		ip := evaluate[string](tab, `[...document.querySelectorAll(".facts dt")].find(dt => dt.innerText === "Public IPv4").nextElementSibling.innerText`)
		if !regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`).MatchString(ip) {
			t.Errorf("the active droplet's IPv4 is %q", ip)
		}
		if n := tab.count(`meta[http-equiv="refresh"]`); n != 0 {
			t.Error("the active droplet's page still reloads itself")
		}

		// Destroy it: a wrong name first, then its name.
		tab.click(`a[href$="/destroy"]`)
		tab.expectText("h1", "Destroy web-e2e?")
		tab.do(chromedp.SendKeys(chromedp.CSS("#typed-name"), "web-e2", chromedp.NodeVisible))
		tab.click(`form[action$="/destroy"] button[type="submit"]`)
		tab.expectText(".flash-error", "You typed “web-e2”, which is not this droplet's name, so nothing was destroyed.")
		if n := env.Sandbox.Stats().DropletsDestroyed; n != 0 {
			t.Fatalf("a wrong name destroyed %d droplets", n)
		}
		tab.do(chromedp.SendKeys(chromedp.CSS("#typed-name"), "web-e2e", chromedp.NodeVisible))
		tab.click(`form[action$="/destroy"] button[type="submit"]`)
		tab.expectText("h1", "Your droplets")
		tab.expectText(".flash", "Destroyed web-e2e")
		if n := env.Sandbox.Stats().DropletsDestroyed; n != 1 {
			t.Errorf("%d droplets destroyed, want 1", n)
		}
		if strings.Contains(evaluate[string](tab, `document.querySelector(".droplets").innerText`), "web-e2e") {
			t.Error("the destroyed droplet is still in the list")
		}
		// The page that refused the wrong name is a 422, which Chromium
		// reports; nothing else may be reported.
		for _, p := range tab.problems() {
			if !strings.Contains(p, "status of 422") || !strings.Contains(p, "/destroy") {
				t.Errorf("the browser console reported: %s", p)
			}
		}
	})

	// The new pages at a phone's width: checkPage looks at each for
	// overflow and the accessibility basics.
	t.Run("CreatePagesFitAPhone", func(t *testing.T) {
		t.Parallel()
		env := startE2EApp(t, 0)
		tab := newTab(t, browser, phoneWidth, phoneHeight)
		tab.navigate(env.AppURL + "/connect?access=write")
		tab.click(`button[value="approve"]`)
		tab.navigate(env.AppURL + "/droplets/new?region=sgp1")
		tab.expectText(".create-form", "The sizes offered in Singapore 1")
		tab.do(chromedp.SendKeys(chromedp.CSS("#name"), "phone-web", chromedp.NodeVisible))
		tab.click(`form[action="/droplets"] .actions button[type="submit"]`)
		tab.expectText("h1", "Create phone-web?")
		tab.expectText(".cost", "This costs money.")
		tab.navigate(fmt.Sprintf("%s/droplets/%d/destroy", env.AppURL, firstDropletID(t, env)))
		tab.expectText("h1", "Destroy ")
		tab.expectCleanConsole()
	})
}

// do runs actions that do not load a page (typing, choosing), failing
// the test if one fails.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("on %s: %v", tb.page(), err)
	}
}
