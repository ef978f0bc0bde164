// Command flood runs the sandbox as a public demo would (SANDBOX=1 behind
// one proxy), floods it with one self-registered client, and shows that
// another registered client and the app's own client still sign in. A
// script that prints figures, not a test:
//
//	go run ./scripts/flood            # two phases of 10 s
//	go run ./scripts/flood -d 30s -workers 16 -speed 1
//
// Phase 1: the flooder signs in as fast as it can from one address.
// Phase 2: the same client from a botnet, a new address for every sign-in.
// Meanwhile an honest visitor signs in every 100 ms with each of the other
// two clients, from addresses of its own. The script plays the proxy: it
// writes each sender's address into X-Forwarded-For, which the sandbox
// reads because it is told one proxy is in front (Config.TrustedProxies).
// The sandbox's clock runs -speed times faster than the wall clock (60 by
// default), so that a short run spans many of the limits' one-minute
// windows, and the flooder gets far enough past its share of grants to
// see its oldest ones evicted.
package main

import (
	"context"
	"encoding/json"
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
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"dosignin/sandbox"
)

const (
	appID, appSecret = "flood-app", "flood-app-secret"
	appRedirect      = "http://localhost:5000/digitalocean"
)

func main() {
	d := flag.Duration("d", 10*time.Second, "length of each phase")
	workers := flag.Int("workers", 8, "flooding goroutines")
	speed := flag.Int("speed", 60, "how much faster than the wall clock the sandbox's clock runs")
	flag.Parse()
	if err := run(*d, *workers, *speed); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

// tally counts one client's sign-ins by outcome.
type tally struct {
	name                    string
	ok, throttled, failures atomic.Int64
}

func (t *tally) String() string {
	return fmt.Sprintf("%-28s %7d signed in %7d refused with 429 %5d other failures", t.name, t.ok.Load(), t.throttled.Load(), t.failures.Load())
}

func run(d time.Duration, workers, speed int) error {
	start := time.Now()
	sb, err := sandbox.New(sandbox.Config{
		ClientID: appID, ClientSecret: appSecret, RedirectURIs: []string{appRedirect}, AppName: "Flood test",
		TrustedProxies: 1,
		Now:            func() time.Time { return start.Add(time.Since(start) * time.Duration(speed)) },
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	defer transport.CloseIdleConnections()

	register := func(from, redirect string) (*oauth2.Config, error) {
		body, _ := json.Marshal(map[string]any{"redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none"})
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/oauth/register", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := (&http.Client{Transport: transport, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var reg struct {
			ClientID string `json:"client_id"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("register: status %d", resp.StatusCode)
		}
		return conf(base, reg.ClientID, "", redirect), nil
	}
	floodConf, err := register("203.0.113.1", "http://127.0.0.1:9999/cb")
	if err != nil {
		return err
	}
	honestConf, err := register("198.51.100.1", "http://127.0.0.1:8085/cb")
	if err != nil {
		return err
	}
	appConf := conf(base, appID, appSecret, appRedirect)

	var honestAddr atomic.Int64
	for phase, flooderAddr := range []func(int64) string{
		func(int64) string { return "203.0.113.66" },
		func(n int64) string { return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255) },
	} {
		flood := &tally{name: "flooder (registered client)"}
		honest := &tally{name: "another registered client"}
		app := &tally{name: "the app's client"}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		var wg sync.WaitGroup
		var sent atomic.Int64
		for range workers {
			wg.Go(func() {
				b := newBrowser(transport, func() string { return flooderAddr(sent.Add(1)) })
				for ctx.Err() == nil {
					b.signIn(ctx, floodConf, flood)
				}
			})
		}
		for _, c := range []struct {
			conf *oauth2.Config
			t    *tally
		}{{honestConf, honest}, {appConf, app}} {
			wg.Go(func() {
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for ctx.Err() == nil {
					n := honestAddr.Add(1)
					addr := fmt.Sprintf("198.51.%d.%d", 100+n>>8&127, n&255)
					newBrowser(transport, func() string { return addr }).signIn(ctx, c.conf, c.t)
					select {
					case <-ctx.Done():
					case <-tick.C:
					}
				}
			})
		}
		wg.Wait()
		cancel()
		st := sb.Stats()
		title := [...]string{"phase 1: one flooder at one address", "phase 2: the same client from a new address each time"}[phase]
		fmt.Printf("%s, %v (%v by the sandbox's clock), %d workers\n  %v\n  %v\n  %v\n", title, d, d*time.Duration(speed), workers, flood, honest, app)
		fmt.Printf("  sandbox so far: %d codes issued, %d exchanged, %d evicted, %d refused with 429; now %d live tokens, %d outstanding codes\n",
			st.Authorizations, st.CodeExchanges, st.Evictions, st.Throttled, st.LiveAccessTokens, st.OutstandingCodes)
	}
	return nil
}

func conf(base, id, secret, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: base + "/v1/oauth/authorize", TokenURL: base + "/v1/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
	}
}

// browser is one sender, with its cookies.
type browser struct {
	c *http.Client
}

// forwarded is the proxy in front of the sandbox: it says who sent each
// request.
type forwarded struct {
	next http.RoundTripper
	from func() string
}

func (f forwarded) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Forwarded-For", f.from())
	return f.next.RoundTrip(req)
}

func newBrowser(next http.RoundTripper, from func() string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{
		Jar: jar, Transport: forwarded{next: next, from: from}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)

// signIn walks the consent page, Authorize and the code exchange once, and
// counts the outcome.
func (b *browser) signIn(ctx context.Context, conf *oauth2.Config, t *tally) {
	verifier := oauth2.GenerateVerifier()
	page, status, _, err := b.send(ctx, http.MethodGet, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), nil)
	if err != nil || status != http.StatusOK {
		t.count(ctx, status)
		return
	}
	form := url.Values{"decision": {"approve"}}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	_, status, loc, err := b.send(ctx, http.MethodPost, conf.Endpoint.AuthURL, form)
	if err != nil || status != http.StatusFound {
		t.count(ctx, status)
		return
	}
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("code") == "" {
		t.count(ctx, 0)
		return
	}
	_, err = conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, b.c), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		t.ok.Add(1)
	case errors.As(err, &re) && re.Response != nil:
		t.count(ctx, re.Response.StatusCode)
	default:
		t.count(ctx, 0)
	}
}

// count counts a sign-in that failed with status (0 when there was no
// answer).
func (t *tally) count(ctx context.Context, status int) {
	switch {
	case ctx.Err() != nil:
		// the phase ended mid sign-in: not counted
	case status == http.StatusTooManyRequests:
		t.throttled.Add(1)
	default:
		t.failures.Add(1)
	}
}

func (b *browser) send(ctx context.Context, method, target string, form url.Values) (body string, status int, location string, err error) {
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return "", 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return "", 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return string(raw), resp.StatusCode, resp.Header.Get("Location"), err
}
