package main

// Browser checks of what a newcomer tripped over (issue 22), made as a
// newcomer makes them: the app as `go run .` starts it (sandbox mode, the
// banner on every page), headless Chromium at 1280 and 375 px, the
// keyboard's Tab key. They reuse e2e_test.go's helpers.
//
//	go test -run E2EUI .

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// minFocusContrast is what WCAG 2.2 asks of a focus indicator against what
// surrounds it (success criterion 1.4.11, non-text contrast).
const minFocusContrast = 3.0

func TestE2EUI(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	browser := startBrowser(t)

	// SANDBOX_DROPLETS=1000: the token status, the panel and the page
	// links come before the table, a few tab stops from the top, not
	// 7,000 px and 300 tab stops down.
	t.Run("LongListKeepsTheTokenStatusNearTheTop", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeAppWith(t, map[string]string{"SANDBOX_DROPLETS": "1000"})
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.signIn(&e2eApp{AppURL: appURL})
		tab.expectText(".count", "1000 droplets")

		// On the first screen, with the panel that opened after the login.
		for _, sel := range []string{".token-status", "details.flow > summary"} {
			if top := tab.top(sel); top > desktopHeight-100 {
				t.Errorf("%s is %.0f px from the top of the page, want it on the first screen (%d px)", sel, top, desktopHeight)
			}
		}
		if pager, table := tab.top("nav.pager"), tab.top("table.droplets"); pager > table {
			t.Errorf("the page links are %.0f px down, under the table's top at %.0f px", pager, table)
		}
		// By keyboard: a handful of Tab presses from the top of the page.
		stops := tab.tabUntil(`form[action="/refresh"] button`, 10)
		if stops < 0 {
			t.Fatal("ten Tab presses from the top do not reach Refresh now")
		}
		t.Logf("Refresh now is tab stop %d; the token status is %.0f px from the top", stops, tab.top(".token-status"))
		// While the panel is open, a link skips it: the next Tab is in the
		// filter form, above the table.
		if stops := tab.tabUntil(`a[href="#droplet-list"]`, 10); stops < 0 {
			t.Fatal("ten Tab presses from the top do not reach the skip link")
		}
		tab.press(kb.Enter)
		tab.press(kb.Tab)
		if !evaluate[bool](tab, `document.activeElement.matches('.filters input[name="name"]')`) {
			t.Errorf("after the skip link, Tab goes to %s, want the name filter", evaluate[string](tab, `document.activeElement.outerHTML.slice(0, 80)`))
		}
		tab.navigate(appURL + "/digitalocean?page=2")
		if n := tab.count(`a[href="#droplet-list"]`); n != 0 {
			t.Errorf("a later view has %d skip links, want none (the panel is closed)", n)
		}
		tab.expectText("nav.pager", "Page 2 of 10")
		tab.expectText(`.summary[role="status"]`, "Showing 101–200 of 1000 · by status:")
		tab.expectCleanConsole()
	})

	// The focus ring against what it is drawn on, from the computed
	// styles, on every tab stop of the pages a learner goes through.
	t.Run("FocusRingContrastIsAtLeast3To1", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeApp(t)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.navigate(appURL + "/")
		tab.checkFocusRings(40)
		tab.signIn(&e2eApp{AppURL: appURL})
		tab.checkFocusRings(40)
		tab.navigate(appURL + "/")
		tab.checkFocusRings(20)
		tab.navigate(appURL + "/digitalocean?sort=bogus")
		tab.checkFocusRings(10)
		tab.expectCleanConsoleBut(appURL + "/digitalocean?sort=bogus")
	})

	// 1280 px: a name is never broken at its hyphens (ci- / runner- / 01),
	// nor a size, region or date inside itself.
	t.Run("TableCellsDoNotBreakInsideAWord", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeAppWith(t, map[string]string{"SANDBOX_DROPLETS": "1000"})
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.signIn(&e2eApp{AppURL: appURL})
		tab.navigate(appURL + "/digitalocean?sort=created") // every kind of droplet on the first page
		broken := evaluate[[]string](tab, `(() => {
		  const lines = `+linesJS+`;
		  const out = [];
		  for (const el of document.querySelectorAll(".droplets tbody th a, .droplets td .nowrap, .droplets td.nowrap")) {
		    if (lines(el) > 1) out.push(el.innerText.replace(/\n/g, " / "));
		    if (el.scrollWidth > el.clientWidth + 1) out.push(el.innerText + " (cut short)");
		  }
		  return out;
		})()`)
		if n := tab.count(".droplets tbody th a"); n != 100 {
			t.Fatalf("the table has %d names, want 100", n)
		}
		for _, b := range broken {
			t.Errorf("at %d px the table breaks %q over lines", desktopWidth, b)
		}
		tab.expectCleanConsole()
	})

	// 375 px: the sandbox banner takes one line, not a sixth of the screen.
	t.Run("PhoneBannerIsOneLine", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeApp(t)
		tab := newTab(t, browser, phoneWidth, phoneHeight)
		for _, path := range []string{"/", "/no-such-page"} {
			tab.navigate(appURL + path) // checkPage: no overflow at 375 px
			height, lines := tab.lines(".banner")
			if lines != 1 || height > 40 {
				t.Errorf("%s at %d px: the banner is %d lines, %.0f px high, want one line", path, phoneWidth, lines, height)
			}
			tab.expectText(".banner", "Sandbox mode. No real account is touched.")
		}
		tab.signIn(&e2eApp{AppURL: appURL})
		if _, lines := tab.lines(".banner"); lines != 1 {
			t.Errorf("on the droplet list at %d px the banner is %d lines", phoneWidth, lines)
		}
		tab.expectCleanConsoleBut(appURL + "/no-such-page")
	})

	// Reboot through the step-up, at 1280 and 375 px: every card starts
	// with its content (no empty band), and the progress page names the
	// droplet while the action runs and once it is done.
	for _, width := range []int64{desktopWidth, phoneWidth} {
		t.Run("StepUpConfirmProgressAndErrorPagesAt"+strconv.Itoa(int(width)), func(t *testing.T) {
			t.Parallel()
			appURL := startSandboxModeAppWith(t, map[string]string{"SANDBOX_ACTION_DELAY": e2eActionDelay.String()})
			tab := newTab(t, browser, width, desktopHeight)
			tab.signIn(&e2eApp{AppURL: appURL})
			link := `.droplets tbody tr:first-child th a`
			name := evaluate[string](tab, `document.querySelector("`+link+`").innerText`)
			tab.click(link)
			tab.click(`button[name="type"][value="reboot"]`)
			tab.expectText("h1", "This needs read & write access")
			tab.expectCardsStartWithTheirContent()
			tab.click(`form[action$="/step-up"] button`)
			tab.click(`button[value="approve"]`)
			tab.expectText("h1", "Reboot "+name+"?")
			tab.expectCardsStartWithTheirContent()
			tab.click(`form input[name="confirm"] ~ button`)
			tab.expectText(".progress", "In progress")
			tab.expectCardsStartWithTheirContent()
			if h1 := tab.text("h1"); h1 != "Reboot "+name {
				t.Errorf("while the reboot runs the heading says %q, want %q", h1, "Reboot "+name)
			}
			ctx, cancel := context.WithTimeout(tab.ctx, 15*time.Second)
			defer cancel()
			if _, err := chromedp.Run(ctx, chromedp.WaitVisible(".progress > p.status-active")); err != nil {
				t.Fatalf("the reboot never completed: %v", err)
			}
			tab.checkPage()
			if h1 := tab.text("h1"); h1 != "Reboot "+name {
				t.Errorf("once the reboot is done the heading says %q, want %q", h1, "Reboot "+name)
			}

			// A 400 keeps the header and links the way out.
			tab.navigate(appURL + "/digitalocean?sort=bogus")
			tab.expectText("h1", "These droplet filters are not valid")
			tab.expectText("header.site .who", "Sammy the Shark")
			tab.expectCardsStartWithTheirContent()
			tab.click(`.problem a[href="/digitalocean"]`)
			tab.expectText("h1", "Your droplets")
			tab.expectCleanConsoleBut(appURL + "/digitalocean?sort=bogus")
		})
	}

	// The README's picture of the droplet list: from a real run (the
	// sandbox banner on top), cropped to the content.
	t.Run("DropletListScreenshot", func(t *testing.T) {
		t.Parallel()
		appURL := startSandboxModeApp(t)
		tab := newTab(t, browser, desktopWidth, desktopHeight)
		tab.signIn(&e2eApp{AppURL: appURL})
		// The panel opens on this first view; the list is this picture's subject.
		evaluate[bool](tab, `(d => { d.open = false; return true })(document.querySelector("details.flow"))`)
		bottom := evaluate[float64](tab, `document.querySelector("main > .actions:last-child").getBoundingClientRect().bottom + scrollY + 16`)
		tab.screenshotClip("droplets-desktop.png", desktopWidth, bottom)
		tab.expectCleanConsole()
	})
}

// expectCleanConsoleBut is expectCleanConsole for a tab that loaded urls
// on purpose although they answer with an error status: the browser
// reports each such load, and nothing else may appear.
func (tb *tab) expectCleanConsoleBut(urls ...string) {
	tb.t.Helper()
	var left []string
	for _, p := range tb.problems() {
		expected := false
		for _, u := range urls {
			expected = expected || strings.Contains(p, "the server responded with a status of 4") && strings.HasSuffix(p, "("+u+")")
		}
		if !expected {
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		tb.t.Errorf("the browser console reported %d problem(s):\n%s", len(left), strings.Join(left, "\n"))
	}
}

// top is how far the first element matching sel is from the top of the
// page, in CSS pixels.
func (tb *tab) top(sel string) float64 {
	tb.t.Helper()
	return evaluate[float64](tb, fmt.Sprintf(`(el => el ? el.getBoundingClientRect().top + scrollY : -1)(document.querySelector(%q))`, sel))
}

// text is the visible text of the first element matching sel.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return evaluate[string](tb, fmt.Sprintf(`(el => el ? el.innerText.trim() : "(nothing matches)")(document.querySelector(%q))`, sel))
}

// lines returns the height of the first element matching sel and the
// number of lines its text takes.
func (tb *tab) lines(sel string) (height float64, lines int) {
	tb.t.Helper()
	v := evaluate[[]float64](tb, fmt.Sprintf(`(el => [el.getBoundingClientRect().height, (%s)(el)])(document.querySelector(%q))`, linesJS, sel))
	return v[0], int(v[1])
}

// linesJS is a function of an element: how many lines its text takes.
// Boxes whose tops are within 6 px (bold or monospace text on the same
// line) count as one line.
const linesJS = `(el => { const r = document.createRange(); r.selectNodeContents(el);
  const tops = [...r.getClientRects()].filter(b => b.width > 0 && b.height > 0).map(b => b.top).sort((x, y) => x - y);
  return tops.filter((t, i) => i === 0 || t - tops[i - 1] > 6).length; })`

// press sends one key to the page, as the keyboard does.
func (tb *tab) press(key string) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.KeyEvent(key)); err != nil {
		tb.t.Fatalf("pressing %q on %s: %v", key, tb.page(), err)
	}
}

// fromTheTop puts the keyboard focus back at the start of the page, as a
// fresh load does: the next Tab goes to the page's first tab stop.
func (tb *tab) fromTheTop() {
	tb.t.Helper()
	evaluate[bool](tb, `(() => { const b = document.body; b.tabIndex = -1; b.focus(); b.removeAttribute("tabindex");
	  window.scrollTo(0, 0); return true })()`)
}

// tabUntil presses Tab from the top of the page until the focus is on an
// element matching sel, and returns how many presses that took, or -1
// after max presses.
func (tb *tab) tabUntil(sel string, max int) int {
	tb.t.Helper()
	tb.fromTheTop()
	for i := 1; i <= max; i++ {
		tb.press(kb.Tab)
		if evaluate[bool](tb, fmt.Sprintf(`!!document.activeElement?.matches(%q)`, sel)) {
			return i
		}
	}
	return -1
}

// focusRing is what getComputedStyle says about the focused element's
// outline and the backgrounds behind it, innermost first.
type focusRing struct {
	What     string   `json:"what"`
	Visible  bool     `json:"visible"` // matches :focus-visible
	Style    string   `json:"style"`
	Width    float64  `json:"width"`
	Color    string   `json:"color"`
	Backdrop []string `json:"backdrop"`
}

const focusRingJS = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const cs = getComputedStyle(el), backdrop = [];
  for (let p = el.parentElement; p; p = p.parentElement) backdrop.push(getComputedStyle(p).backgroundColor);
  const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 40);
  return { what: el.tagName.toLowerCase() + (text ? " " + JSON.stringify(text) : ""), visible: el.matches(":focus-visible"),
    style: cs.outlineStyle, width: parseFloat(cs.outlineWidth), color: cs.outlineColor, backdrop };
})()`

// checkFocusRings presses Tab up to stops times from the top of the page
// and checks each focused element's ring: drawn, at least 2 px wide, and
// at least minFocusContrast against the backgrounds behind it.
func (tb *tab) checkFocusRings(stops int) {
	tb.t.Helper()
	tb.fromTheTop()
	worst := math.Inf(1)
	seen := 0
	for range stops {
		tb.press(kb.Tab)
		ring := evaluate[*focusRing](tb, focusRingJS)
		if ring == nil {
			break // past the last stop
		}
		seen++
		where := tb.page() + ", " + ring.What
		if !ring.Visible || ring.Style == "none" || ring.Width < 2 {
			tb.t.Errorf("%s: focused by Tab, its ring is %s %.1fpx (:focus-visible %t)", where, ring.Style, ring.Width, ring.Visible)
			continue
		}
		ratio, err := ringContrast(ring)
		if err != nil {
			tb.t.Fatalf("%s: %v", where, err)
		}
		worst = min(worst, ratio)
		if ratio < minFocusContrast {
			tb.t.Errorf("%s: the focus ring %s is %.2f:1 against its background, want at least %.0f:1", where, ring.Color, ratio, minFocusContrast)
		}
	}
	if seen == 0 {
		tb.t.Errorf("%s: Tab focuses nothing", tb.page())
	}
	tb.t.Logf("%s: %d tab stops, the focus ring's lowest contrast %.2f:1", tb.page(), seen, worst)
}

// ringContrast is the contrast ratio of a ring's colour against the
// backgrounds behind it, composited from the page's white canvas inwards.
func ringContrast(ring *focusRing) (float64, error) {
	back := rgba{1, 1, 1, 1}
	for i := len(ring.Backdrop) - 1; i >= 0; i-- {
		c, err := parseCSSColor(ring.Backdrop[i])
		if err != nil {
			return 0, err
		}
		back = c.over(back)
	}
	c, err := parseCSSColor(ring.Color)
	if err != nil {
		return 0, err
	}
	return contrastRatio(c.over(back), back), nil
}

// rgba is a colour with components from 0 to 1.
type rgba struct{ r, g, b, a float64 }

// parseCSSColor reads a computed colour: "rgb(0, 80, 194)" or
// "rgba(0, 0, 0, 0)", as getComputedStyle gives them.
func parseCSSColor(s string) (rgba, error) {
	inner, ok := strings.CutPrefix(s, "rgba(")
	if !ok {
		inner, ok = strings.CutPrefix(s, "rgb(")
	}
	inner, closed := strings.CutSuffix(inner, ")")
	parts := strings.Split(inner, ",")
	if !ok || !closed || len(parts) < 3 || len(parts) > 4 {
		return rgba{}, fmt.Errorf("colour %q is not rgb() or rgba()", s)
	}
	v := [4]float64{0, 0, 0, 1}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return rgba{}, fmt.Errorf("colour %q: %v", s, err)
		}
		if i < 3 {
			f /= 255
		}
		v[i] = f
	}
	return rgba{v[0], v[1], v[2], v[3]}, nil
}

// over composites c onto an opaque background.
func (c rgba) over(back rgba) rgba {
	mix := func(x, y float64) float64 { return x*c.a + y*(1-c.a) }
	return rgba{mix(c.r, back.r), mix(c.g, back.g), mix(c.b, back.b), 1}
}

// luminance is WCAG's relative luminance of an opaque sRGB colour.
func (c rgba) luminance() float64 {
	lin := func(x float64) float64 {
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrastRatio is WCAG's contrast ratio of two opaque colours, 1 to 21.
func contrastRatio(a, b rgba) float64 {
	la, lb := a.luminance(), b.luminance()
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// expectCardsStartWithTheirContent fails when a card's first line sits
// lower than its padding: the empty band a margin inside it makes.
func (tb *tab) expectCardsStartWithTheirContent() {
	tb.t.Helper()
	for _, band := range evaluate[[]string](tb, `[...document.querySelectorAll("main .card")].flatMap(card => {
	  const first = card.firstElementChild; if (!first) return [];
	  const cs = getComputedStyle(card);
	  const band = first.getBoundingClientRect().top - card.getBoundingClientRect().top - parseFloat(cs.borderTopWidth) - parseFloat(cs.paddingTop);
	  return band > 1 ? [card.className + ": " + Math.round(band) + " px above " + first.tagName.toLowerCase()] : [];
	})`) {
		tb.t.Errorf("%s: a card starts with an empty band: %s", tb.page(), band)
	}
}

// screenshotClip saves the top of the page, width by height CSS pixels,
// under docs/screenshots when the tests run with -update-screenshots. It
// is scaled to 80%: the README shows it as a thumbnail, and its pictures
// share a weight budget (TestREADMEScreenshots).
func (tb *tab) screenshotClip(name string, width int64, height float64) {
	tb.t.Helper()
	yes := true
	tb.saveScreenshot(name, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Clip:                  &page.Viewport{X: 0, Y: 0, Width: float64(width), Height: math.Ceil(height), Scale: 0.8},
			CaptureBeyondViewport: &yes,
			FromSurface:           &yes,
		})
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	})
}
