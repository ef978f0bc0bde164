package learn

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/internal/curlcmd"
)

func newTestClient(t *testing.T, h http.Handler) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Config{OAuthURL: srv.URL + "/v1/oauth/", APIURL: srv.URL, RedirectURL: "http://localhost:5000" + CallbackPath, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestNewChecksItsConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{OAuthURL: "sandbox/v1/oauth", APIURL: "", RedirectURL: "http://localhost:5000/learn/callback", Timeout: -time.Second})
	for _, want := range []string{"OAuthURL", "APIURL", "Timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v, want it to name %s", err, want)
		}
	}
}

// TestRequestIsSentAsShown checks that what the pages show is what is
// sent: HTTP is the request the server receives, and Curl, read without a
// shell, sends the same method, URL, form and headers.
func TestRequestIsSentAsShown(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri, body string
		header            http.Header
	}
	var got seen
	c, srv := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.RequestURI, string(b), r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"The code was used."}`)
	}))
	for _, r := range []Request{
		c.Exchange(ClientID, "abc123", NewVerifier(), c.RedirectURL),
		c.Refresh("dor_v1_0123"),
		c.Revoke("doo_v1_0123"),
		c.DevicePoll("device-code"),
		c.ClientCredentials(PublicClientID, false),
		c.API("/v2/droplets?page=1&per_page=1", "doo_v1_0123"),
	} {
		a := c.Send(context.Background(), r)
		if a.Status != http.StatusBadRequest || a.Error() != "invalid_grant" || a.Issued() || a.Header[0].Name != "Cache-Control" {
			t.Errorf("%s %s: answer %+v", r.Method, r.URL, a)
		}
		wire := r.HTTP()
		if !strings.HasPrefix(wire, got.method+" "+got.uri+" HTTP/1.1\n") || !strings.HasSuffix(wire, "\n\n"+got.body) {
			t.Errorf("HTTP shows\n%s\nbut the server got %s %s with %q", wire, got.method, got.uri, got.body)
		}
		for name := range got.header {
			if !strings.Contains(wire, "\n"+name+": "+got.header.Get(name)+"\n") {
				t.Errorf("HTTP does not show the header %s: %s that was sent", name, got.header.Get(name))
			}
		}
		sent := got
		req, err := curlcmd.Parse(r.Curl())
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Curl())
		}
		if _, err := srv.Client().Do(req); err != nil {
			t.Fatal(err)
		}
		if got.method != sent.method || got.uri != sent.uri || got.body != sent.body {
			t.Errorf("curl sent %s %s %q, the request was %s %s %q", got.method, got.uri, got.body, sent.method, sent.uri, sent.body)
		}
		for _, name := range []string{"Authorization", "Accept", "Content-Type"} {
			if got.header.Get(name) != sent.header.Get(name) {
				t.Errorf("curl sent %s: %q, the request %q", name, got.header.Get(name), sent.header.Get(name))
			}
		}
	}
}

func TestSendSaysWhyThereIsNoAnswer(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(block) }) // first, so that Close need not wait
	c, err := New(Config{OAuthURL: slow.URL, APIURL: slow.URL, RedirectURL: "http://localhost:5000/learn/callback", Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Send(context.Background(), c.API("/v2/account", "t")); a.Failed != "The sandbox did not answer in time." || a.Status != 0 {
		t.Errorf("a server that hangs: %+v", a)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	c, _ = New(Config{OAuthURL: closed.URL, APIURL: closed.URL, RedirectURL: "http://localhost:5000/learn/callback"})
	if a := c.Send(context.Background(), c.API("/v2/account", "t")); a.Failed != "The sandbox could not be reached." {
		t.Errorf("a server that is gone: %+v", a)
	}
}

func TestSendOnceSharesAPress(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	release := make(chan struct{})
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n == 1 {
			<-release
		}
		io.WriteString(w, `{"n":`+string(rune('0'+n))+`}`)
	}))
	now := time.Now()
	var mu sync.Mutex
	c.once.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	req := c.Refresh("dor_v1_0123")

	// Two presses at once: one request, one answer for both.
	answers := make(chan Answer, 2)
	for range 2 {
		go func() { answers <- c.SendOnce(context.Background(), "refresh", req, ShareFor) }()
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the second press is waiting, not sending
	close(release)
	a, b := <-answers, <-answers
	if calls.Load() != 1 || a.Body != b.Body {
		t.Fatalf("two presses at once: %d requests, answers %q and %q", calls.Load(), a.Body, b.Body)
	}
	// Within ShareFor, the same answer; another action, its own request.
	if a := c.SendOnce(context.Background(), "refresh", req, ShareFor); calls.Load() != 1 || a.Body != b.Body {
		t.Errorf("a press within ShareFor sent again (%d requests)", calls.Load())
	}
	c.SendOnce(context.Background(), "old-refresh-token", req, ShareFor)
	if calls.Load() != 2 {
		t.Errorf("another action shared the refresh's answer (%d requests)", calls.Load())
	}
	// After it, a new press.
	advance(ShareFor)
	c.SendOnce(context.Background(), "refresh", req, ShareFor)
	if calls.Load() != 3 {
		t.Errorf("a press after ShareFor: %d requests in all, want 3", calls.Load())
	}
	// Keep zero shares nothing once answered.
	c.SendOnce(context.Background(), "poll", req, 0)
	c.SendOnce(context.Background(), "poll", req, 0)
	if calls.Load() != 5 {
		t.Errorf("two polls one after the other: %d requests in all, want 5", calls.Load())
	}
}

func TestOnceIsBounded(t *testing.T) {
	t.Parallel()
	o := newOnce(nil)
	for i := range maxPresses + 10 {
		o.do(string(rune(i)), time.Hour, func() Answer { return Answer{} })
	}
	if n := len(o.presses); n != maxPresses {
		t.Errorf("%d presses remembered, want at most %d", n, maxPresses)
	}
}

func TestLinkExplainsEveryParameter(t *testing.T) {
	t.Parallel()
	e := Endpoints{OAuthURL: "http://localhost:5000/sandbox/v1/oauth", RedirectURL: "http://localhost:5000" + CallbackPath}
	verifier := NewVerifier()
	l := e.AuthorizeLink(ClientID, "STATE", verifier)
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if len(q) != len(l.Params) || u.Path != "/sandbox/v1/oauth/authorize" {
		t.Fatalf("the link %s has %d parameters, the table %d", l.URL, len(q), len(l.Params))
	}
	for _, p := range l.Params {
		if q.Get(p.Name) != p.Value || p.What == "" || p.Without == "" {
			t.Errorf("parameter %s: link %q, table %+v", p.Name, q.Get(p.Name), p)
		}
	}
	if q.Get("code_challenge") != Challenge(verifier) || q.Get("redirect_uri") != e.RedirectURL {
		t.Errorf("the link's challenge or redirect URI: %v", q)
	}
}

func TestShrink(t *testing.T) {
	t.Parallel()
	a := Answer{Status: 200, Header: []Field{{"Access-Control-Allow-Origin", "*"}, {"Cache-Control", "no-store"}, {"Content-Type", "application/json"}}, Body: strings.Repeat("x", 1000)}
	steps := []struct {
		headers, body, dropped, cut int
	}{{2, 1000, 1, 0}, {1, 1000, 2, 0}, {1, 600, 2, 400}, {1, 0, 2, 1000}}
	for level, want := range steps {
		if !a.Shrink(level + 1) {
			t.Fatalf("level %d changed nothing", level+1)
		}
		if len(a.Header) != want.headers || len(a.Body) != want.body || a.Dropped != want.dropped || a.Cut != want.cut {
			t.Errorf("after level %d: %d headers, %d bytes, dropped %d, cut %d; want %+v", level+1, len(a.Header), len(a.Body), a.Dropped, a.Cut, want)
		}
	}
	for level := 1; level <= ShrinkLevels; level++ {
		if a.Shrink(level) {
			t.Errorf("level %d shrank an answer with nothing left", level)
		}
	}
	if got := (Answer{Body: `{"a":1}`}).Pretty(); got != "{\n  \"a\": 1\n}" {
		t.Errorf("Pretty: %q", got)
	}
}

func TestMistakesAreComplete(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, m := range Mistakes() {
		if seen[m.Name] || m.Page == "" || m.Button == "" || m.What == "" || m.Why == "" || m.Status == 0 {
			t.Errorf("mistake %+v", m)
		}
		seen[m.Name] = true
		if got, ok := MistakeNamed(m.Name); !ok || got.Name != m.Name {
			t.Errorf("MistakeNamed(%q)", m.Name)
		}
	}
	if len(seen) != 6 || len(MistakesOn("/learn/4")) != 3 {
		t.Errorf("%d mistakes, %d on step 4", len(seen), len(MistakesOn("/learn/4")))
	}
}
