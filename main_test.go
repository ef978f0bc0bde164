package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freePort asks the OS for a port nobody is using right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBinaryWithJSONLogs builds the binary exactly as the Dockerfile does,
// starts it in sandbox mode with JSON logs, walks the whole flow, stops it
// with SIGTERM as App Platform does, and reads every log line.
func TestBinaryWithJSONLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "dosignin")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	const secret = "ci-session-secret-0123456789-0123456789-abcdef"
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir() // no .env there
	cmd.Env = []string{"PORT=" + strconv.Itoa(port), "LOG_FORMAT=json", "SESSION_SECRET=" + secret, "SANDBOX_TOKEN_TTL=1m"}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitHealthy(t, base)

	// The healthcheck subcommand agrees, and fails against a dead port.
	hc := exec.Command(bin, "healthcheck")
	hc.Env = []string{"PORT=" + strconv.Itoa(port)}
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("healthcheck against a live app: %v %s", err, out)
	}
	hc = exec.Command(bin, "healthcheck")
	hc.Env = []string{"PORT=" + strconv.Itoa(freePort(t))}
	if err := hc.Run(); err == nil {
		t.Error("healthcheck against a dead port exited 0")
	}

	// The whole flow, through the real server and the mounted sandbox.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	consent := get(t, browser, base+"/connect")
	if !strings.Contains(consent.body, "Authorize") || !strings.Contains(consent.body, "Sandbox") {
		t.Fatalf("no consent page at %s", consent.url)
	}
	form := hiddenFields(consent.body)
	form.Set("decision", "approve")
	action := consent.url.ResolveReference(&url.URL{Path: "authorize"}).String()
	resp, err := browser.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/digitalocean" || !strings.Contains(string(body), "8 droplets") || !strings.Contains(string(body), "Sandbox mode") {
		t.Fatalf("after Authorize: %s %d", resp.Request.URL, resp.StatusCode)
	}
	code := resp.Request.Response.Request.URL.Query().Get("code") // the callback's code
	if code == "" {
		t.Log("could not recover the callback's code; checking tokens only")
	}

	// The personal access token in the log works on the mounted sandbox,
	// as the README says: copy it, and any API client lists the droplets.
	pat := regexp.MustCompile(`dop_v1_[0-9a-f]{64}`).FindString(logs.String())
	if pat == "" {
		t.Fatalf("no personal access token in the log:\n%s", logs)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/sandbox/v2/droplets", nil)
	req.Header.Set("Authorization", "Bearer "+pat)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the logged token on /sandbox/v2/droplets: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// `dosignin device` signs a pretend device in to the embedded sandbox:
	// the code it prints, approved on the sandbox's page, gets it a token.
	devOut := &syncBuffer{}
	dev := exec.Command(bin, "device", "-url", base+"/sandbox")
	dev.Env = []string{}
	dev.Stdout, dev.Stderr = devOut, devOut
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Process.Kill() })
	userCode := ""
	for deadline := time.Now().Add(15 * time.Second); userCode == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`\n    ([A-Z]{4}-[A-Z]{4})\n`).FindStringSubmatch(devOut.String()); m != nil {
			userCode = m[1]
		}
	}
	confirm := get(t, browser, base+"/sandbox/device?user_code="+userCode)
	approval := hiddenFields(confirm.body)
	approval.Set("decision", "approve")
	if resp, err := browser.PostForm(base+"/sandbox/device", approval); err != nil {
		t.Error(err)
	} else {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), "Device connected") {
			t.Errorf("approving the device's code %q led to %s", userCode, resp.Request.URL)
		}
	}
	if err := dev.Wait(); err != nil || !strings.Contains(devOut.String(), "Account: sammy@example.com") {
		t.Errorf("dosignin device: %v\n%s", err, devOut)
	}

	// SIGTERM: graceful shutdown, exit status 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit 20 s after SIGTERM")
	}

	out := logs.String()
	var sawStart, sawRequest, sawShutdown bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("not a JSON line: %q", sc.Text())
			continue
		}
		switch line["msg"] {
		case "starting":
			sawStart = true
		case "request":
			sawRequest = true
			for _, k := range []string{"method", "path", "route", "status", "duration", "request_id"} {
				if _, ok := line[k]; !ok {
					t.Errorf("request line without %s: %s", k, sc.Text())
				}
			}
		case "shutting down":
			sawShutdown = true
		}
	}
	if !sawStart || !sawRequest || !sawShutdown {
		t.Errorf("missing start/request/shutdown lines:\n%s", out)
	}
	for _, leak := range []*regexp.Regexp{
		regexp.MustCompile(regexp.QuoteMeta(secret)),
		regexp.MustCompile(`doo_v1_|dor_v1_`),
		regexp.MustCompile(`code=|state=|code_verifier`),
		regexp.MustCompile(`sandbox-secret-`),
	} {
		if leak.MatchString(out) {
			t.Errorf("logs contain %s:\n%s", leak, out)
		}
	}
	if code != "" && strings.Contains(out, code) {
		t.Error("logs contain the authorization code")
	}
	if userCode != "" && strings.Contains(out, userCode) {
		t.Error("logs contain the device's user code")
	}
}

func TestRunRefusesBadConfigBeforeListening(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"DIGITALOCEAN_CLIENT_ID": "id", "SESSION_SECRET": "short"})
	err := run(context.Background(), env, io.Discard, func(net.Addr) { t.Error("listened despite bad config") })
	if err == nil {
		t.Fatal("started with bad config")
	}
	for _, want := range []string{"DIGITALOCEAN_CLIENT_SECRET is missing", "SESSION_SECRET"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became healthy", base)
}

type fetched struct {
	url  *url.URL
	body string
}

func get(t *testing.T, c *http.Client, u string) fetched {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fetched{resp.Request.URL, string(b)}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)

func hiddenFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// startStandalone runs `dosignin sandbox` through runSandbox with env, and
// returns its root URL, the personal access token it logged and its log.
func startStandalone(t *testing.T, env map[string]string) (base, pat string, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- runSandbox(ctx, envOf(env), logs, func(a net.Addr) { ready <- a }) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		stop()
		t.Fatalf("sandbox did not start: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		stop()
		t.Fatalf("sandbox did not start in 10s\n%s", logs)
	}
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	base = "http://localhost:" + strconv.Itoa(addr.(*net.TCPAddr).Port)
	pat = regexp.MustCompile(`dop_v1_[0-9a-f]{64}`).FindString(logs.String())
	return base, pat, logs
}

// `dosignin sandbox` serves only the sandbox, at the root of its own port,
// and logs a personal access token that works at once: the standalone
// local DigitalOcean, tried as a new user would with the printed token.
func TestStandaloneSandbox(t *testing.T) {
	t.Parallel()
	base, pat, logs := startStandalone(t, map[string]string{"SANDBOX_PORT": "0", "SANDBOX_ACTION_DELAY": "10ms", "LOG_FORMAT": "json"})
	if pat == "" || !strings.Contains(logs.String(), base+"/developer") {
		t.Fatalf("no token or Developer page in the log:\n%s", logs)
	}
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+pat)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := call(http.MethodGet, "/v2/droplets", ""); status != http.StatusOK || !strings.Contains(body, `"total":8`) {
		t.Fatalf("GET /v2/droplets: %d %.200s", status, body)
	}
	status, body := call(http.MethodPost, "/v2/droplets/401233751/actions", `{"type":"reboot"}`)
	var started struct{ Action struct{ ID int } }
	json.Unmarshal([]byte(body), &started)
	if status != http.StatusCreated || started.Action.ID == 0 {
		t.Fatalf("reboot: %d %s", status, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body = call(http.MethodGet, "/v2/actions/"+strconv.Itoa(started.Action.ID), "")
		if strings.Contains(body, `"status":"completed"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reboot never completed: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, body := call(http.MethodGet, "/.well-known/oauth-authorization-server", ""); status != http.StatusOK || !strings.Contains(body, `"issuer":"`+base+`"`) {
		t.Errorf("metadata: %d %s", status, body)
	}
	if status, _ := call(http.MethodGet, "/healthz", ""); status != http.StatusNotFound {
		t.Errorf("the app's routes are served too: /healthz %d", status)
	}
}

// The README's recipe: register a confidential client with a standalone
// sandbox and point the app at it with the four variables; the whole
// sign-in then works as against DigitalOcean.
func TestAppAgainstStandaloneSandbox(t *testing.T) {
	t.Parallel()
	base, _, _ := startStandalone(t, map[string]string{"SANDBOX_PORT": "0"})
	port := freePort(t)
	app := "http://localhost:" + strconv.Itoa(port)
	resp, err := http.Post(base+"/v1/oauth/register", "application/json",
		strings.NewReader(`{"client_name":"My app","redirect_uris":["`+app+`/digitalocean"],"token_endpoint_auth_method":"client_secret_post"}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || reg.ClientSecret == "" {
		t.Fatalf("register: %d %+v", resp.StatusCode, reg)
	}
	sessionSecret := "standalone-session-secret-0123456789-0123456789"
	runApp(t, map[string]string{
		"PORT":                       strconv.Itoa(port),
		"DIGITALOCEAN_CLIENT_ID":     reg.ClientID,
		"DIGITALOCEAN_CLIENT_SECRET": reg.ClientSecret,
		"DIGITALOCEAN_REDIRECT_URL":  app + "/digitalocean",
		"DIGITALOCEAN_OAUTH_URL":     base + "/v1/oauth",
		"DIGITALOCEAN_API_URL":       base,
		"SESSION_SECRET":             sessionSecret,
	}, reg.ClientSecret, sessionSecret)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	consent := get(t, browser, app+"/connect")
	if !strings.Contains(consent.body, "My app wants to access") || consent.url.Host != strings.TrimPrefix(base, "http://") {
		t.Fatalf("no consent page for the registered client at %s:\n%.500s", consent.url, consent.body)
	}
	form := hiddenFields(consent.body)
	form.Set("decision", "approve")
	resp, err = browser.PostForm(consent.url.ResolveReference(&url.URL{Path: "authorize"}).String(), form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/digitalocean" || !strings.Contains(string(body), "8 droplets") || strings.Contains(string(body), "Sandbox mode") {
		t.Fatalf("after Authorize: %s %d\n%.500s", resp.Request.URL, resp.StatusCode, body)
	}
}
