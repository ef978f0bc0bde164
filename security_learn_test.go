package main

import (
	"crypto/rand"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/handlers/learn"
)

// learnBrowser is an HTTP client with a cookie jar, like a browser.
func learnBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// learnFetch sends a GET, or a same-origin POST, and returns the status
// and the body of the page it ends on.
func learnFetch(t *testing.T, c *http.Client, method, appURL, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, appURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", appURL)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The learn pages' presses, for the tests below.
var learnPresses = []string{"/learn/start", "/learn/3/check", "/learn/4/send", "/learn/4/quick-code", "/learn/refresh", "/learn/revoke",
	"/learn/device/start", "/learn/device/poll", "/learn/client-credentials", "/learn/client-credentials/public", "/learn/mistakes/" + learn.MistakeCodeTwice}

// With DigitalOcean's credentials the whole program (main's wiring too)
// gives the learn pages nothing to act with: they call nothing, and show
// no secret.
func TestSecurity46LearnPagesWithDigitalOceanCallNothing(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	digitalocean := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "the learn pages must not call DigitalOcean", http.StatusTeapot)
	}))
	t.Cleanup(digitalocean.Close)
	port := freePort(t)
	appURL := "http://localhost:" + strconv.Itoa(port)
	clientSecret, sessionSecret := "real-secret-"+rand.Text(), rand.Text()+rand.Text()
	runApp(t, map[string]string{
		"PORT":                       strconv.Itoa(port),
		"DIGITALOCEAN_CLIENT_ID":     "real-client",
		"DIGITALOCEAN_CLIENT_SECRET": clientSecret,
		"DIGITALOCEAN_REDIRECT_URL":  appURL + "/digitalocean",
		"DIGITALOCEAN_OAUTH_URL":     digitalocean.URL + "/v1/oauth",
		"DIGITALOCEAN_API_URL":       digitalocean.URL,
		"SESSION_SECRET":             sessionSecret,
	}, clientSecret, sessionSecret)

	c := learnBrowser(t)
	for _, path := range []string{"/learn", "/learn/1", "/learn/2", "/learn/3", "/learn/4", "/learn/5", "/learn/api?call=1",
		"/learn/refresh", "/learn/revoke", "/learn/device", "/learn/client-credentials", "/learn/implicit", learn.CallbackPath + "?code=c&state=s"} {
		status, body := learnFetch(t, c, http.MethodGet, appURL, path)
		if status != http.StatusOK && !strings.HasPrefix(path, learn.CallbackPath) {
			t.Errorf("GET %s: %d", path, status)
		}
		for _, secret := range []string{clientSecret, learn.ClientSecret} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows a client secret", path)
			}
		}
	}
	for _, path := range learnPresses {
		if status, body := learnFetch(t, c, http.MethodPost, appURL, path); status != http.StatusNotFound || strings.Contains(body, learn.ClientSecret) {
			t.Errorf("POST %s with DigitalOcean: %d", path, status)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the learn pages made %d requests to DigitalOcean", n)
	}
}

// In sandbox mode, as go run . starts it, main gives the learn pages their
// clients at the embedded sandbox.
func TestLearnPagesInSandboxMode(t *testing.T) {
	t.Parallel()
	appURL := startSandboxModeApp(t)
	c := learnBrowser(t)
	status, body := learnFetch(t, c, http.MethodPost, appURL, "/learn/client-credentials")
	if status != http.StatusOK || !strings.Contains(body, "HTTP/1.1 200 OK") || !strings.Contains(body, appURL+"/sandbox/v1/oauth/token") {
		t.Errorf("the client credentials grant in sandbox mode: %d\n%s", status, body)
	}
	status, body = learnFetch(t, c, http.MethodPost, appURL, "/learn/device/start")
	if status != http.StatusOK || !regexp.MustCompile(`<code>[B-Z]{4}-[B-Z]{4}</code>`).MatchString(body) || !strings.Contains(body, appURL+"/sandbox/device") {
		t.Errorf("the device grant in sandbox mode: %d\n%s", status, body)
	}
	// The authorization link goes to the embedded sandbox, with the learn
	// client and its callback.
	learnFetch(t, c, http.MethodPost, appURL, "/learn/start")
	_, body = learnFetch(t, c, http.MethodGet, appURL, "/learn/2")
	for _, want := range []string{appURL + "/sandbox/v1/oauth/authorize?response_type=code&amp;client_id=" + learn.ClientID, "redirect_uri=http%3A%2F%2Flocalhost%3A" + strconv.Itoa(portOf(t, appURL)) + "%2Flearn%2Fcallback"} {
		if !strings.Contains(body, want) {
			t.Errorf("step 2 does not link %s", want)
		}
	}
}

func portOf(t *testing.T, u string) int {
	t.Helper()
	i := strings.LastIndex(u, ":")
	p, err := strconv.Atoi(u[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}
