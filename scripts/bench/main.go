// Command bench measures the app against issue 11's targets and prints each
// figure with its ratio, taken in the same run, then one summary line. It
// prints figures; it is not a test and fails only when it cannot measure.
//
//	go build -o /tmp/dosignin . && go run ./scripts/bench -app /tmp/dosignin
//
// (scripts/bench.sh does both, and installs wrk first.) This process serves
// the fake DigitalOcean (the sandbox, with a rate limit no run reaches, and
// optionally 50 ms added to every API call); the app runs as a separate
// process pointed at it, with client credentials set, as against
// DigitalOcean. The load tool is wrk, 16 connections unless said otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dosignin/doclient"
	"dosignin/sandbox"
)

const (
	clientID     = "bench-client"
	clientSecret = "bench-client-secret-long-enough-for-the-sandbox"
	apiDelay     = 50 * time.Millisecond
)

func main() {
	app := flag.String("app", "", "the app's binary (go build -o /tmp/dosignin .)")
	duration := flag.Duration("d", 5*time.Second, "length of each wrk run")
	bare := flag.String("serve-bare", "", "internal: serve the response saved in this file on -addr")
	addr := flag.String("addr", "", "internal: address for -serve-bare")
	proxy := flag.String("proxy", "", "internal: for -serve-bare, GET this URL (with the token in $BENCH_BEARER) before each answer")
	flag.Parse()
	if *bare != "" {
		// The token comes in the environment: a command line is
		// readable by every local user (/proc/*/cmdline).
		serveBare(*bare, *addr, *proxy, os.Getenv("BENCH_BEARER"))
		return
	}
	if *app == "" {
		fmt.Fprintln(os.Stderr, "bench: -app is required")
		os.Exit(2)
	}
	if err := run(*app, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one target's figure, ratio and verdict, for the summary line.
type result struct {
	name string
	ok   bool
	text string
}

func run(appBin string, d time.Duration) error {
	tmp, err := os.MkdirTemp("", "dosignin-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d CPUs (shared), %s; wrk %s per run\n", host, cpuCount(), goVersion(), d)

	var results []result
	report := func(name string, ok bool, format string, args ...any) {
		text := fmt.Sprintf(format, args...)
		verdict := "ok"
		if !ok {
			verdict = "MISSED"
		}
		fmt.Printf("%-10s %s [%s]\n", name+":", text, verdict)
		results = append(results, result{name, ok, text})
	}

	// 1, 2, 4 and 6: three droplets, no added latency.
	smallPort, err := freePort()
	if err != nil {
		return err
	}
	small, err := startUpstream(3, 0, smallPort)
	if err != nil {
		return err
	}
	defer small.Close()
	a, err := startApp(appBin, small.URL, tmp, "small", smallPort)
	if err != nil {
		return err
	}
	defer a.stop()
	token, err := small.accessToken(a.redirect)
	if err != nil {
		return fmt.Errorf("getting a token from the fake API: %w", err)
	}
	cookie, err := a.login()
	if err != nil {
		return fmt.Errorf("logging in to the app: %w", err)
	}

	upRPS, err := wrk(d, 16, small.URL+"/v2/droplets?page=1&per_page=200", "Authorization: Bearer "+token)
	if err != nil {
		return err
	}
	cpu0 := a.cpu()
	pageRPS, err := wrk(d, 16, a.url+"/digitalocean", "Cookie: "+cookie)
	if err != nil {
		return err
	}
	viewCPU := (a.cpu() - cpu0) / (pageRPS * d.Seconds())
	report("droplets", pageRPS/upRPS >= 0.5, "droplet page %.0f req/s, fake API alone %.0f req/s: %.2fx (target >= 0.5x)", pageRPS, upRPS, pageRPS/upRPS)
	// The same page for a browser without the "How this worked" record
	// (it expired after 10 minutes): the cost of the panel's cookie.
	sessionOnly := onlyCookie(cookie, "do_session")
	bareRPSPage, err := wrk(d, 16, a.url+"/digitalocean", "Cookie: "+sessionOnly)
	if err != nil {
		return err
	}
	fmt.Printf("%-10s droplet page without a flow record: %.0f req/s, %.2fx the fake API [figure]\n", "", bareRPSPage, bareRPSPage/upRPS)

	// The floor: a bare net/http handler that makes the same API call and
	// writes the page's bytes. No app making one API call per view can
	// beat it; what the app adds is the gap between the two.
	floorURL, stopFloor, err := startBare(a.url+"/digitalocean", "Cookie: "+sessionOnly, tmp,
		[]string{"BENCH_BEARER=" + token}, "-proxy", small.URL+"/v2/droplets?page=1&per_page=200")
	if err != nil {
		return err
	}
	floorRPS, err := wrk(d, 16, floorURL, "")
	stopFloor()
	if err != nil {
		return err
	}
	fmt.Printf("%-10s floor: bare net/http making the same API call and writing the same bytes: %.0f req/s, %.2fx the fake API; the app's page is %.2fx the floor [figure]\n",
		"", floorRPS, floorRPS/upRPS, pageRPS/floorRPS)

	bareURL, stopBare, err := startBare(a.url+"/", "", tmp, nil)
	if err != nil {
		return err
	}
	defer stopBare()
	bareRPS, err := wrk(d, 16, bareURL, "")
	if err != nil {
		return err
	}
	indexRPS, err := wrk(d, 16, a.url+"/", "")
	if err != nil {
		return err
	}
	report("index", indexRPS/bareRPS >= 0.7, "index %.0f req/s, bare net/http with the same bytes %.0f req/s: %.2fx (target >= 0.7x)", indexRPS, bareRPS, indexRPS/bareRPS)

	if _, err := wrk(d, 64, a.url+"/digitalocean", "Cookie: "+cookie); err != nil {
		return err
	}
	rss := a.peakRSS()
	report("memory", rss <= 30, "peak RSS %.1f MB with 64 connections on the droplet page (target <= 30 MB)", rss)
	if port, err := freePort(); err != nil {
		return err
	} else if fresh, err := startApp(appBin, small.URL, tmp, "fresh", port); err == nil {
		if _, err := wrk(d, 64, fresh.url+"/digitalocean", "Cookie: "+sessionOnly); err == nil {
			fmt.Printf("%-10s peak RSS %.1f MB with 64 connections, without a flow record, in a fresh process [figure]\n", "", fresh.peakRSS())
		}
		fresh.stop()
	}

	// Logins and the views they are compared with, by the same client, 8
	// at a time: wrk's views would be cheaper per request (more batching).
	cpu0 = a.cpu()
	views, _, err := a.load(d, 8, func(b *http.Client) error {
		req, _ := http.NewRequest(http.MethodGet, a.url+"/digitalocean", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := b.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("droplet page: status %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return err
	}
	viewCPU8 := (a.cpu() - cpu0) / float64(views)
	cpu0 = a.cpu()
	// Each login is a new cookie jar over the worker's connections, as a
	// browser that was on the index signs in: the views above reuse
	// theirs too, and a TCP connection per login would be counted in.
	logins, elapsed, err := a.load(d, 8, func(b *http.Client) error { _, _, err := a.loginTimed(false, b.Transport); return err })
	if err != nil {
		return err
	}
	loginCPU := (a.cpu() - cpu0) / float64(logins)
	report("logins", loginCPU <= 2*viewCPU8, "%.0f logins/s (8 at a time); %.2f ms CPU per login = %.2fx a droplet view's %.2f ms, same client (target <= 2x; a view under wrk: %.2f ms)",
		float64(logins)/elapsed.Seconds(), 1000*loginCPU, loginCPU/viewCPU8, 1000*viewCPU8, 1000*viewCPU)
	a.stop()

	// 3 and 5: 1,000 droplets, 50 ms per API call.
	bigPort, err := freePort()
	if err != nil {
		return err
	}
	big, err := startUpstream(1000, apiDelay, bigPort)
	if err != nil {
		return err
	}
	defer big.Close()
	b, err := startApp(appBin, big.URL, tmp, "big", bigPort)
	if err != nil {
		return err
	}
	defer b.stop()
	first, later, err := b.roundTrips(5)
	if err != nil {
		return err
	}
	rtFirst, rtLater := first.Seconds()/apiDelay.Seconds(), later.Seconds()/apiDelay.Seconds()
	report("roundtrips", rtFirst <= 2.5 && rtLater <= 1.5, "1,000 droplets at 50 ms a call: first view %.0f ms = %.1f round trips (target <= 2.5), later view %.0f ms = %.1f (target <= 1.5)",
		ms(first), rtFirst, ms(later), rtLater)
	// The same views with no added latency: the CPU part (the fake API
	// making 3 MB of JSON, the app decoding it), which the machine's load
	// stretches. What is left is waiting.
	floorPort, err := freePort()
	if err != nil {
		return err
	}
	floorAPI, err := startUpstream(1000, 0, floorPort)
	if err != nil {
		return err
	}
	defer floorAPI.Close()
	f, err := startApp(appBin, floorAPI.URL, tmp, "floor", floorPort)
	if err != nil {
		return err
	}
	defer f.stop()
	floorFirst, floorLater, err := f.roundTrips(5)
	if err != nil {
		return err
	}
	f.stop()
	fmt.Printf("%-10s the same views with 0 ms added: %.0f and %.0f ms, so %.1f and %.1f round trips of waiting [figure]\n", "cpu:",
		ms(floorFirst), ms(floorLater), (first-floorFirst).Seconds()/apiDelay.Seconds(), (later-floorLater).Seconds()/apiDelay.Seconds())
	raw, wire, err := b.wireSizes()
	if err != nil {
		return err
	}
	report("wire", float64(wire)/float64(raw) <= 0.15, "1,000-droplet page %d bytes raw, %d gzipped: %.1f%% (target <= 15%%)", raw, wire, 100*float64(wire)/float64(raw))
	b.stop()

	// 4, the other figure: a 10,000-droplet page.
	hugePort, err := freePort()
	if err != nil {
		return err
	}
	huge, err := startUpstream(10000, 0, hugePort)
	if err != nil {
		return err
	}
	defer huge.Close()
	h, err := startApp(appBin, huge.URL, tmp, "huge", hugePort)
	if err != nil {
		return err
	}
	defer h.stop()
	hugeCookie, err := h.login()
	if err != nil {
		return err
	}
	hugeRPS, err := wrk(d, 4, h.url+"/digitalocean", "Cookie: "+hugeCookie)
	if err != nil {
		return err
	}
	fmt.Printf("%-10s 10,000-droplet page: %.1f views/s with 4 connections, peak RSS %.1f MB [figure]\n", "large:", hugeRPS, h.peakRSS())
	h.stop()

	met := 0
	var missed []string
	for _, r := range results {
		if r.ok {
			met++
		} else {
			missed = append(missed, r.name)
		}
	}
	fmt.Printf("summary: %d of %d targets met; droplets %.2fx upstream, index %.2fx bare, %.1f/%.1f round trips, RSS %.1f MB, wire %.1f%%, login %.2fx a view",
		met, len(results), pageRPS/upRPS, indexRPS/bareRPS, rtFirst, rtLater, rss, 100*float64(wire)/float64(raw), loginCPU/viewCPU8)
	if len(missed) > 0 {
		fmt.Printf("; missed: %s", strings.Join(missed, ", "))
	}
	fmt.Println()
	return nil
}

// upstream is the fake DigitalOcean: the sandbox on a port of its own.
type upstream struct {
	*http.Server
	URL string
}

// startUpstream serves an account of droplets, with delay added to every
// API call, for the app that will listen on appPort.
func startUpstream(droplets int, delay time.Duration, appPort int) (*upstream, error) {
	sb, err := sandbox.New(sandbox.Config{
		ClientID: clientID, ClientSecret: clientSecret,
		RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/digitalocean", appPort)},
		AppName:      "Benchmark",
		TokenTTL:     time.Hour,
		Droplets:     droplets,
		RateLimit:    1 << 30,
		// The login figure signs in thousands of times from 127.0.0.1.
		DisableSignInLimits: true,
	})
	if err != nil {
		return nil, err
	}
	var h http.Handler = sb
	if delay > 0 {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v2/") {
				time.Sleep(delay)
			}
			sb.ServeHTTP(w, r)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go srv.Serve(ln)
	return &upstream{Server: srv, URL: "http://" + ln.Addr().String()}, nil
}

// freePort returns a port nothing listens on now, for a child process.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// accessToken walks the OAuth flow against the sandbox directly, for the
// token wrk sends to the fake API.
func (u *upstream) accessToken(redirect string) (string, error) {
	c, err := doclient.New(doclient.Config{ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirect,
		OAuthURL: u.URL + "/v1/oauth", APIURL: u.URL})
	if err != nil {
		return "", err
	}
	verifier := "bench-verifier-bench-verifier-bench-verifier-0"
	browser := newBrowser()
	loc, err := approve(browser, c.AuthCodeURL(context.Background(), "bench-state", verifier, nil), u.URL)
	if err != nil {
		return "", err
	}
	cb, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	tok, _, err := c.Exchange(context.Background(), cb.Query().Get("code"), verifier)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// approve opens the consent page at authorizeURL and clicks Authorize; it
// returns where the sandbox sends the browser (the app's callback).
func approve(browser *http.Client, authorizeURL, sbURL string) (string, error) {
	resp, err := browser.Get(authorizeURL)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formRE.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("no consent form at %s (status %d)", resp.Request.URL, resp.StatusCode)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return "", err
	}
	form := url.Values{"decision": {"approve"}}
	for _, f := range hiddenRE.FindAllSubmatch(m[2], -1) {
		form.Set(html.UnescapeString(string(f[1])), html.UnescapeString(string(f[2])))
	}
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", sbURL)
	resp, err = browser.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("approve: status %d", resp.StatusCode)
	}
	return resp.Header.Get("Location"), nil
}

// newBrowser is a cookie jar that stops at redirects, so each step is seen.
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// app is the app's process.
type app struct {
	cmd      *exec.Cmd
	url      string
	redirect string
	sbURL    string
	once     sync.Once
}

func startApp(bin, sbURL, tmp, name string, port int) (*app, error) {
	a := &app{url: fmt.Sprintf("http://127.0.0.1:%d", port), sbURL: sbURL}
	a.redirect = a.url + "/digitalocean"
	logFile, err := os.Create(tmp + "/app-" + name + ".log")
	if err != nil {
		return nil, err
	}
	a.cmd = exec.Command(bin)
	a.cmd.Env = append(os.Environ(),
		"PORT="+strconv.Itoa(port),
		"DIGITALOCEAN_CLIENT_ID="+clientID,
		"DIGITALOCEAN_CLIENT_SECRET="+clientSecret,
		"DIGITALOCEAN_OAUTH_URL="+sbURL+"/v1/oauth",
		"DIGITALOCEAN_API_URL="+sbURL,
		"DIGITALOCEAN_REDIRECT_URL="+a.redirect,
		"SESSION_SECRET=bench-session-secret-0123456789abcdef0123456789",
	)
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile // the app logs a line per request, as in production
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	for range 100 {
		if resp, err := http.Get(a.url + "/healthz"); err == nil {
			resp.Body.Close()
			return a, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.stop()
	return nil, fmt.Errorf("the app did not start; see its log")
}

func (a *app) stop() {
	a.once.Do(func() {
		_ = a.cmd.Process.Signal(os.Interrupt)
		_ = a.cmd.Wait()
	})
}

// login is a complete login: Connect, consent, callback, droplet page. It
// returns the browser's cookies as a Cookie header value.
func (a *app) login() (string, error) {
	cookie, _, err := a.loginTimed(false, nil)
	return cookie, err
}

// loginTimed logs in; with stopAtCallback it stops before the droplet page
// and times nothing else. A transport, if given, carries its requests (a
// new one otherwise: new connections).
func (a *app) loginTimed(stopAtCallback bool, transport http.RoundTripper) (cookie string, b *http.Client, err error) {
	b = newBrowser()
	if transport != nil {
		b.Transport = transport
	}
	resp, err := b.Get(a.url + "/connect")
	if err != nil {
		return "", nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", nil, fmt.Errorf("/connect: status %d", resp.StatusCode)
	}
	callback, err := approve(b, resp.Header.Get("Location"), a.sbURL)
	if err != nil {
		return "", nil, err
	}
	resp, err = b.Get(callback)
	if err != nil {
		return "", nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return "", nil, fmt.Errorf("callback: status %d", resp.StatusCode)
	}
	if !stopAtCallback {
		if err := get(b, a.url+"/digitalocean", nil); err != nil {
			return "", nil, err
		}
	}
	// Every cookie the browser holds for the app, as a browser sends them
	// (the session, and the flow record the droplet page updates).
	u, _ := url.Parse(a.url)
	var cookies []string
	session := false
	for _, c := range b.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
		session = session || c.Name == "do_session"
	}
	if !session {
		return "", nil, errors.New("no session cookie after the callback")
	}
	return strings.Join(cookies, "; "), b, nil
}

// get fetches u and checks for a 200; it returns the body's length via n.
func get(b *http.Client, u string, n *int) error {
	resp, err := b.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if n != nil {
		*n = len(body)
	}
	return nil
}

// load runs step, conc at a time (each with its own client), for d, and
// returns how many ran.
func (a *app) load(d time.Duration, conc int, step func(*http.Client) error) (int, time.Duration, error) {
	var n atomic.Int64
	var firstErr atomic.Pointer[error]
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			b := newBrowser()
			for time.Now().Before(deadline) {
				if err := step(b); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, 0, *e
	}
	return int(n.Load()), time.Since(start), nil
}

// roundTrips times the first droplet page view after a login and the next
// one, the median of runs logins.
func (a *app) roundTrips(runs int) (first, later time.Duration, err error) {
	var firsts, laters []time.Duration
	for range runs {
		_, b, err := a.loginTimed(true, nil)
		if err != nil {
			return 0, 0, err
		}
		for i := range 2 {
			start := time.Now()
			if err := get(b, a.url+"/digitalocean", nil); err != nil {
				return 0, 0, err
			}
			if i == 0 {
				firsts = append(firsts, time.Since(start))
			} else {
				laters = append(laters, time.Since(start))
			}
		}
	}
	return median(firsts), median(laters), nil
}

// wireSizes fetches the 1,000-droplet page as is and gzipped.
func (a *app) wireSizes() (raw, wire int, err error) {
	_, b, err := a.loginTimed(false, nil)
	if err != nil {
		return 0, 0, err
	}
	if err := get(b, a.url+"/digitalocean", &raw); err != nil {
		return 0, 0, err
	}
	req, _ := http.NewRequest(http.MethodGet, a.url+"/digitalocean", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := b.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body) // as sent: the transport does not decompress
	return raw, len(body), nil
}

// cpu is the app's user and system CPU time so far, in seconds.
func (a *app) cpu() float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// peakRSS is the app's peak resident set size so far (VmHWM), in MB.
func (a *app) peakRSS() float64 {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrk loads u with conns connections for d and returns requests/s. Non-2xx
// answers make it fail: a figure for error pages would mean nothing.
func wrk(d time.Duration, conns int, u, header string) (float64, error) {
	args := []string{"-t2", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s"}
	if header != "" {
		args = append(args, "-H", header)
	}
	out, err := exec.Command("wrk", append(args, u)...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk %s: %v\n%s", u, err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, fmt.Errorf("wrk %s: error answers:\n%s", u, out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk %s: no Requests/sec in:\n%s", u, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// startBare saves the response at u (headers and body, fetched with the
// header "Name: value" if one is given) and serves it from a bare net/http
// handler in a process of its own (this binary, -serve-bare). env and args
// go to that process (BENCH_BEARER=..., -proxy).
func startBare(u, header, tmp string, env []string, args ...string) (string, func(), error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return "", nil, err
	}
	if k, v, ok := strings.Cut(header, ": "); ok {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	var saved strings.Builder
	for k, vs := range resp.Header {
		if k == "Date" || k == "Content-Length" {
			continue // net/http writes these itself, as it does for the app
		}
		for _, v := range vs {
			fmt.Fprintf(&saved, "%s: %s\n", k, v)
		}
	}
	saved.WriteString("\n")
	body, _ := io.ReadAll(resp.Body)
	saved.Write(body)
	f, err := os.CreateTemp(tmp, "bare-response-")
	if err != nil {
		return "", nil, err
	}
	f.Close()
	file := f.Name()
	if err := os.WriteFile(file, []byte(saved.String()), 0o600); err != nil {
		return "", nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(self, append([]string{"-serve-bare", file, "-addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for range 100 {
		if r, err := http.Get("http://" + addr + "/"); err == nil {
			r.Body.Close()
			return "http://" + addr + "/", stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("the bare server did not start")
}

// serveBare is the comparison for the index: the same bytes and headers
// from the simplest handler net/http allows. With a proxy URL it is the
// floor for the droplet page: before each answer it makes the page's one
// API call (GET proxy with the bearer token, body read to the end, not
// decoded), so it pays the round trip and nothing else: no cookie, no JSON
// decoding, no template.
func serveBare(file, addr, proxy, bearer string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	head, body, _ := strings.Cut(string(raw), "\n\n")
	header := http.Header{}
	for _, line := range strings.Split(head, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			header.Add(k, v)
		}
	}
	b := []byte(body)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	err = http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if proxy != "" {
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, proxy, nil)
			req.Header.Set("Authorization", "Bearer "+bearer)
			resp, err := client.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		_, _ = w.Write(b)
	}))
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func cpuCount() int {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(raw), "processor\t:")
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "go ?"
	}
	return strings.TrimSpace(string(out))
}

// onlyCookie keeps the named cookie of a Cookie header value.
func onlyCookie(header, name string) string {
	for _, c := range strings.Split(header, "; ") {
		if strings.HasPrefix(c, name+"=") {
			return c
		}
	}
	return ""
}
