package devicecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"dosignin/devicecli"
	"dosignin/sandbox"
)

// wait bounds how long a test waits for the command; it is generous
// because it is not a speed test, only a guard against a hang.
const wait = 30 * time.Second

// output collects what the command prints while it runs, and lets a test
// wait for a line.
type output struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitFor waits until the output matches re and returns the submatches.
func (o *output) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(wait)
	for {
		if m := re.FindStringSubmatch(o.String()); m != nil {
			return m
		}
		select {
		case <-o.changed:
		case <-deadline:
			t.Fatalf("the output never matched %s:\n%s", re, o)
		}
	}
}

// clock is the sandbox's clock. It moves only when the device polls, by one
// interval each time, so that a device polling on schedule is on time
// however slowly a busy machine runs the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startSandbox serves a sandbox, at the root or under prefix as inside the
// app, with a polling interval of a second (the shortest the grant allows)
// so that the tests stay short; it returns the sandbox's root URL.
func startSandbox(t *testing.T, prefix string) (*sandbox.Server, string) {
	t.Helper()
	const interval = time.Second
	c := &clock{now: time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)}
	sb, err := sandbox.New(sandbox.Config{Now: c.Now, DeviceInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = sb
	if prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(prefix+"/", http.StripPrefix(prefix, sb))
		h = mux
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/v1/oauth/token") {
			c.advance(interval)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return sb, srv.URL + prefix
}

// run starts the command with args and env and returns its output and a
// channel that gets its exit status.
func run(t *testing.T, ctx context.Context, args []string, env map[string]string) (stdout, stderr *output, status <-chan int) {
	t.Helper()
	stdout, stderr = newOutput(), newOutput()
	done := make(chan int, 1)
	go func() { done <- devicecli.Run(ctx, args, func(k string) string { return env[k] }, stdout, stderr) }()
	return stdout, stderr, done
}

func exitStatus(t *testing.T, status <-chan int, stdout, stderr *output) int {
	t.Helper()
	select {
	case s := <-status:
		return s
	case <-time.After(wait):
		t.Fatalf("the command did not end\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		return -1
	}
}

// userCodeLine is where the command tells the user what to do.
var userCodeLine = regexp.MustCompile(`open\n\n    (\S+)\n\nin a browser and enter the code\n\n    ([A-Z]{4}-[A-Z]{4})\n`)

// browser is a person's browser: a cookie jar, redirects not followed.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: wait, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// form is a page's form: where it goes, and its hidden inputs.
type form struct {
	method, action string
	fields         url.Values
}

func get(t *testing.T, c *http.Client, target string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func parseForm(t *testing.T, pageURL *url.URL, page string) form {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	f := form{fields: url.Values{}}
	attr := func(n *html.Node, k string) string {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val
			}
		}
		return ""
	}
	for n := range doc.Descendants() {
		switch {
		case n.Type != html.ElementNode:
		case n.Data == "form":
			action, _ := pageURL.Parse(attr(n, "action"))
			f.method, f.action = strings.ToUpper(attr(n, "method")), action.String()
		case n.Data == "input" && attr(n, "type") == "hidden":
			f.fields.Set(attr(n, "name"), attr(n, "value"))
		}
	}
	if f.action == "" {
		t.Fatalf("no form on the page:\n%s", page)
	}
	return f
}

// decide plays the user: opens the verification URI, types the code (in
// lower case, without its dash), chooses the account and presses the
// button.
func decide(t *testing.T, verificationURI, userCode, decision, accountUUID string) {
	t.Helper()
	c := browser(t)
	resp, page := get(t, c, verificationURI)
	entry := parseForm(t, resp.Request.URL, page)
	if resp.StatusCode != http.StatusOK || entry.method != http.MethodGet || !strings.Contains(page, "DigitalOcean does not offer this grant") {
		t.Fatalf("the user-code page: %d %+v", resp.StatusCode, entry)
	}
	typed := strings.ToLower(strings.ReplaceAll(userCode, "-", ""))
	resp, page = get(t, c, entry.action+"?"+url.Values{"user_code": {typed}}.Encode())
	confirm := parseForm(t, resp.Request.URL, page)
	if resp.StatusCode != http.StatusOK || confirm.method != http.MethodPost || confirm.fields.Get("csrf_token") == "" {
		t.Fatalf("the confirm page: %d %+v\n%s", resp.StatusCode, confirm, page)
	}
	if !strings.Contains(page, "dosignin device (go run . device) on a device wants to access your DigitalOcean account") {
		t.Errorf("the confirm page does not name the command:\n%s", page)
	}
	confirm.fields.Set("decision", decision)
	confirm.fields.Set("account", accountUUID)
	resp, err := c.PostForm(confirm.action, confirm.fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s: %d", decision, resp.StatusCode)
	}
}

// The command, as the README runs it: against the standalone sandbox with
// -url, and against the one inside the app with SANDBOX_URL. The user
// approves in the browser, choosing the second account, and the command
// prints the granted scope and that account's email, and no token.
func TestDeviceSignsIn(t *testing.T) {
	t.Parallel()
	for name, prefix := range map[string]string{"standalone": "", "inside the app": "/sandbox"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sb, root := startSandbox(t, prefix)
			args, env := []string{"-url", root, "-scope", "read write"}, map[string]string{}
			if prefix != "" {
				args, env = []string{"-scope", "read write"}, map[string]string{"SANDBOX_URL": root}
			}
			stdout, stderr, status := run(t, context.Background(), args, env)
			m := stdout.waitFor(t, userCodeLine)
			if m[1] != root+"/device" {
				t.Errorf("verification URI %s, want %s/device", m[1], root)
			}
			octavia := sb.Accounts()[1]
			decide(t, m[1], m[2], "approve", octavia.UUID)

			if s := exitStatus(t, status, stdout, stderr); s != 0 {
				t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", s, stdout, stderr)
			}
			out := stdout.String()
			for _, want := range []string{
				"DigitalOcean does not offer this grant; the sandbox shows how it works.",
				"Registered as a public client",
				"?user_code=" + m[2],
				"every second; the code expires in 10 minutes",
				"Granted scope: read write\n",
				"Account: " + octavia.Email + " (" + octavia.Name + ")\n",
				"and a refresh token (not shown)",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the output lacks %q:\n%s", want, out)
				}
			}
			if regexp.MustCompile(`do[or]_v1_`).MatchString(out) || stderr.String() != "" {
				t.Errorf("a token in the output, or errors:\n%s\nstderr:\n%s", out, stderr)
			}
			if st := sb.Stats(); st.LiveAccessTokens != 1 || st.RegisteredClients != 1 {
				t.Errorf("stats = %+v, want one live token and one client", st)
			}
		})
	}
}

// With -revoke, the tokens are revoked once the command has signed in.
func TestDeviceRevokes(t *testing.T) {
	t.Parallel()
	sb, root := startSandbox(t, "")
	stdout, stderr, status := run(t, context.Background(), []string{"-url", root, "-revoke"}, nil)
	m := stdout.waitFor(t, userCodeLine)
	decide(t, m[1], m[2], "approve", "")
	if s := exitStatus(t, status, stdout, stderr); s != 0 {
		t.Fatalf("exit status %d\n%s\n%s", s, stdout, stderr)
	}
	if !strings.Contains(stdout.String(), "Granted scope: read\n") || !strings.Contains(stdout.String(), "Account: "+sb.Account().Email) ||
		!strings.Contains(stdout.String(), "Revoked the tokens") {
		t.Errorf("output:\n%s", stdout)
	}
	if st := sb.Stats(); st.LiveAccessTokens != 0 || st.Revocations != 1 {
		t.Errorf("stats = %+v, want the grant revoked", st)
	}
}

// Deny on the page: the command says so and exits 1.
func TestDeviceDenied(t *testing.T) {
	t.Parallel()
	sb, root := startSandbox(t, "")
	stdout, stderr, status := run(t, context.Background(), []string{"-url", root}, nil)
	m := stdout.waitFor(t, userCodeLine)
	decide(t, m[1], m[2], "deny", "")
	if s := exitStatus(t, status, stdout, stderr); s != 1 || !strings.Contains(stderr.String(), "access was denied") {
		t.Errorf("exit status %d, stderr:\n%s", s, stderr)
	}
	if st := sb.Stats(); st.LiveAccessTokens != 0 {
		t.Errorf("%d tokens issued", st.LiveAccessTokens)
	}
}

// Ctrl-C (the context cancelled) stops the polling.
func TestDeviceStops(t *testing.T) {
	t.Parallel()
	_, root := startSandbox(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr, status := run(t, ctx, []string{"-url", root}, nil)
	stdout.waitFor(t, userCodeLine)
	cancel()
	if s := exitStatus(t, status, stdout, stderr); s != 1 || !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("exit status %d, stderr:\n%s", s, stderr)
	}
}

// A server without the device grant (DigitalOcean, or anything else) is
// refused with a message that says where to go; so is a server whose
// metadata names another issuer, or that has none.
func TestDeviceRefusesOtherServers(t *testing.T) {
	t.Parallel()
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		md := map[string]string{"issuer": srvURL, "token_endpoint": srvURL + "/token", "registration_endpoint": srvURL + "/register"}
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
		case "/other/.well-known/oauth-authorization-server":
			md["issuer"] = "https://attacker.example"
			md["device_authorization_endpoint"] = "https://attacker.example/device"
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(md)
	}))
	defer srv.Close()
	srvURL = srv.URL
	for _, tt := range []struct{ url, want string }{
		{srv.URL, "does not offer the device grant (its metadata has no device_authorization_endpoint); DigitalOcean does not either — use the sandbox: go run . sandbox"},
		{srv.URL + "/other", `names the issuer "https://attacker.example"`},
		{srv.URL + "/none", "404 Not Found (is the sandbox running? go run . sandbox)"},
	} {
		stdout, stderr, status := run(t, context.Background(), []string{"-url", tt.url}, nil)
		if s := exitStatus(t, status, stdout, stderr); s != 1 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%s: exit status %d, stderr:\n%s\nwant %q", tt.url, s, stderr, tt.want)
		}
	}
}

// Usage: -h explains both sandboxes; bad usage exits 2.
func TestDeviceUsage(t *testing.T) {
	t.Parallel()
	stdout, stderr, status := run(t, context.Background(), []string{"-h"}, nil)
	if s := exitStatus(t, status, stdout, stderr); s != 0 {
		t.Errorf("-h: exit status %d", s)
	}
	for _, want := range []string{"usage: dosignin device", "go run . sandbox", "SANDBOX_URL=http://localhost:5000/sandbox go run . device", "-revoke", "DigitalOcean does not offer"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stderr)
		}
	}
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-url", "localhost:5050"}, {"-url", "ftp://localhost"}, {"-url", "http://localhost:5050/?x=1"}} {
		stdout, stderr, status := run(t, context.Background(), args, nil)
		if s := exitStatus(t, status, stdout, stderr); s != 2 || stderr.String() == "" {
			t.Errorf("%q: exit status %d, stderr %q", args, s, stderr)
		}
	}
	// With nothing listening, it says what to start.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	stdout, stderr, status = run(t, context.Background(), nil, map[string]string{"SANDBOX_URL": srv.URL})
	if s := exitStatus(t, status, stdout, stderr); s != 1 || !strings.Contains(stderr.String(), "is the sandbox running? go run . sandbox") {
		t.Errorf("nothing listening: %d %s", s, stderr)
	}
}
