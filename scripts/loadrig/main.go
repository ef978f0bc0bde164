// Command loadrig is the part of scripts/load.sh that is easier in Go: it
// serves one sandbox that several app instances share as their
// "DigitalOcean" (the app's embedded sandbox is per process, so two
// instances could not share its grants), signs browsers in through an
// instance to hand the load generator session cookies, and reports what
// reached the sandbox (refreshes above all: each is a single-use
// credential that the instances coordinate through Redis).
//
//	go run ./scripts/loadrig upstream -addr 127.0.0.1:7001 -redirect http://localhost:7101/digitalocean -ttl 85s
//	go run ./scripts/loadrig login -app http://localhost:7101 -n 8   # prints do_session=... 8 times
//	curl http://127.0.0.1:7001/loadrig/stats                         # the sandbox's counts, as JSON
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"dosignin/sandbox"
)

// The load rig's OAuth client, which the app instances are configured with.
const (
	clientID     = "load-client"
	clientSecret = "load-secret-0123456789abcdef"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadrig upstream|login [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "upstream":
		err = upstream(os.Args[2:])
	case "login":
		err = login(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadrig:", err)
		os.Exit(1)
	}
}

// upstream serves a sandbox with no practical rate limit (the load is the
// point), whose tokens last ttl: the app refreshes a token once it is
// within doclient.RefreshMargin (a minute) of expiring, so a ttl a little
// over a minute makes every session refresh during the run, from both
// instances at once. GET /loadrig/stats answers the sandbox's counts.
func upstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:7001", "listen address")
	redirect := fs.String("redirect", "", "the app's redirect URL")
	droplets := fs.Int("droplets", 25, "droplets in the account")
	ttl := fs.Duration("ttl", 85*time.Second, "access token lifetime")
	fs.Parse(args)
	sb, err := sandbox.New(sandbox.Config{
		ClientID: clientID, ClientSecret: clientSecret,
		RedirectURIs: []string{*redirect},
		AppName:      "Load test",
		TokenTTL:     *ttl,
		Droplets:     *droplets,
		RateLimit:    1 << 30,
		Logger:       slog.New(slog.DiscardHandler),
		// Every browser of the rig signs in from 127.0.0.1.
		DisableSignInLimits: true,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", sb)
	mux.HandleFunc("GET /loadrig/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(sb.Stats())
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*>`)
	attrRE   = regexp.MustCompile(`(name|value)="([^"]*)"`)
)

// login signs n browsers in and prints their session cookies, one a line.
func login(args []string) error {
	fs := flag.NewFlagSet("login", flag.ExitOnError)
	app := fs.String("app", "http://localhost:7101", "the app instance to sign in through")
	n := fs.Int("n", 1, "how many browsers (sessions)")
	fs.Parse(args)
	for range *n {
		if err := loginOnce(*app); err != nil {
			return err
		}
	}
	return nil
}

// loginOnce walks Connect, the consent page and Authorize, as a new
// browser, and prints the session cookie the app set.
func loginOnce(app string) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}

	resp, err := c.Get(app + "/connect")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formRE.FindStringSubmatch(string(body))
	if m == nil {
		return fmt.Errorf("no consent form at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return err
	}
	form := url.Values{}
	for _, input := range hiddenRE.FindAllString(m[2], -1) {
		var name, value string
		for _, a := range attrRE.FindAllStringSubmatch(input, -1) {
			if a[1] == "name" {
				name = html.UnescapeString(a[2])
			} else {
				value = html.UnescapeString(a[2])
			}
		}
		form.Set(name, value)
	}
	form.Set("decision", "approve")
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", action.Scheme+"://"+action.Host)
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/digitalocean" {
		return fmt.Errorf("after Authorize: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	appURL, _ := url.Parse(app)
	for _, ck := range jar.Cookies(appURL) {
		if ck.Name == "do_session" {
			fmt.Printf("%s=%s\n", ck.Name, ck.Value)
			return nil
		}
	}
	return errors.New("signed in, but no do_session cookie")
}
