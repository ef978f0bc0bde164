package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"dosignin/doclient"
	"dosignin/internal/redistest"
	"dosignin/sharedstore"
)

// strictDO is a DigitalOcean that is as strict as RFC 9700 §4.14.2 allows:
// a refresh token presented twice revokes its grant, as does a code
// presented twice. It counts what reached it and remembers every secret it
// issued or received, for the scan of Redis.
type strictDO struct {
	mu        sync.Mutex
	exchanges map[string]int // by code
	refreshes int
	grants    map[string]*strictGrant // by current access token
	refresh   map[string]*strictGrant // by every refresh token ever issued
	spent     map[string]bool         // refresh tokens already used
	codes     map[string]*strictGrant // code -> grant it gave
	secrets   []string                // every token, code and verifier seen
	n         int

	// beforeRefresh, when set (before any request), runs as a refresh
	// request arrives, before it is answered.
	beforeRefresh func()
}

type strictGrant struct {
	access, refresh string
	revoked         bool
}

func newStrictDO() *strictDO {
	return &strictDO{exchanges: map[string]int{}, grants: map[string]*strictGrant{}, refresh: map[string]*strictGrant{}, spent: map[string]bool{}, codes: map[string]*strictGrant{}}
}

func (d *strictDO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/oauth/token":
		time.Sleep(30 * time.Millisecond) // a real round trip, so that requests overlap
		r.ParseForm()
		if r.PostForm.Get("grant_type") == "refresh_token" && d.beforeRefresh != nil {
			d.beforeRefresh()
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			code := r.PostForm.Get("code")
			d.secrets = append(d.secrets, code, r.PostForm.Get("code_verifier"))
			d.exchanges[code]++
			if g := d.codes[code]; g != nil {
				g.revoked = true
				oauthError(w, "invalid_grant")
				return
			}
			g := d.issue(30) // expires within doclient.RefreshMargin: the next page refreshes
			d.codes[code] = g
			d.token(w, g, 30)
		case "refresh_token":
			rt := r.PostForm.Get("refresh_token")
			d.refreshes++
			g := d.refresh[rt]
			if g == nil || g.revoked || d.spent[rt] {
				if g != nil {
					g.revoked = true // reuse: the whole grant ends
				}
				oauthError(w, "invalid_grant")
				return
			}
			d.spent[rt] = true
			delete(d.grants, g.access)
			d.rotate(g)
			d.token(w, g, 3600)
		default:
			oauthError(w, "unsupported_grant_type")
		}
	case "/v1/oauth/revoke":
		w.WriteHeader(http.StatusOK)
	case "/v2/droplets":
		d.mu.Lock()
		g := d.grants[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		live := g != nil && !g.revoked
		d.mu.Unlock()
		if !live {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"id":"unauthorized","message":"Unable to authenticate you"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"droplets":[{"id":1,"name":"strict-web-1","status":"active"}],"links":{},"meta":{"total":1}}`)
	default:
		http.NotFound(w, r)
	}
}

func (d *strictDO) issue(int) *strictGrant {
	g := &strictGrant{}
	d.rotate(g)
	return g
}

func (d *strictDO) rotate(g *strictGrant) {
	d.n++
	g.access, g.refresh = fmt.Sprintf("doo_v1_strict%04d", d.n), fmt.Sprintf("dor_v1_strict%04d", d.n)
	d.grants[g.access], d.refresh[g.refresh] = g, g
	d.secrets = append(d.secrets, g.access, g.refresh)
}

func (d *strictDO) token(w http.ResponseWriter, g *strictGrant, expiresIn int) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": g.access, "refresh_token": g.refresh, "token_type": "bearer",
		"expires_in": expiresIn, "scope": "read",
		"info": map[string]any{"name": "Sammy", "email": "sammy@example.com", "uuid": "u-1"},
	})
}

func oauthError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

func (d *strictDO) counts() (exchanges map[string]int, refreshes int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ex := map[string]int{}
	for k, v := range d.exchanges {
		ex[k] = v
	}
	return ex, d.refreshes
}

// instance is one app started by run, as App Platform starts one per
// instance_count.
type instance struct {
	base string
	logs *syncBuffer
}

const appHost = "app.test" // the redirect URL's host, which every request names

func startInstances(t *testing.T, n int, upstream, redisURL string) []instance {
	t.Helper()
	env := map[string]string{
		"PORT":                       "0",
		"DIGITALOCEAN_CLIENT_ID":     "strict-client",
		"DIGITALOCEAN_CLIENT_SECRET": "strict-secret",
		"DIGITALOCEAN_OAUTH_URL":     upstream + "/v1/oauth",
		"DIGITALOCEAN_API_URL":       upstream,
		"DIGITALOCEAN_REDIRECT_URL":  "http://" + appHost + "/digitalocean",
		"SESSION_SECRET":             "shared-by-all-instances-0123456789abcdef",
		"REDIS_URL":                  redisURL,
	}
	var out []instance
	for range n {
		ctx, cancel := context.WithCancel(context.Background())
		logs := &syncBuffer{}
		addr := make(chan net.Addr, 1)
		done := make(chan error, 1)
		go func() { done <- run(ctx, envOf(env), logs, func(a net.Addr) { addr <- a }) }()
		select {
		case a := <-addr:
			_, port, _ := net.SplitHostPort(a.String())
			out = append(out, instance{base: "http://127.0.0.1:" + port, logs: logs})
		case err := <-done:
			t.Fatalf("instance did not start: %v\n%s", err, logs)
		}
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("instance stopped with %v", err)
			}
		})
	}
	return out
}

// visit sends one request as a browser holding cookies would, to inst.
func visit(t *testing.T, inst instance, path string, cookies []*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, inst.base+path, nil)
	req.Host = appHost
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return &http.Response{StatusCode: 0, Header: http.Header{}}, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	return nil
}

// login starts a login on one instance and returns the callback path for
// code with the login cookie, as DigitalOcean would send the browser back.
func login(t *testing.T, inst instance, code string) (string, *http.Cookie) {
	t.Helper()
	resp, _ := visit(t, inst, "/connect", nil)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("/connect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	lc := cookieNamed(resp, "do_login")
	if lc == nil {
		t.Fatal("/connect set no login cookie")
	}
	return "/digitalocean?" + url.Values{"code": {code}, "state": {loc.Query().Get("state")}}.Encode(), lc
}

// race sends 30 parallel droplet-page requests with one session cookie
// whose access token needs a refresh, round-robin over the instances, and
// returns how many showed the droplets.
func race(t *testing.T, insts []instance, session *http.Cookie) (shown int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			resp, body := visit(t, insts[i%len(insts)], "/digitalocean", []*http.Cookie{session})
			if resp.StatusCode == http.StatusOK && strings.Contains(body, "strict-web-1") {
				mu.Lock()
				shown++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return shown
}

// The issue's measurement: three instances behind a round-robin balancer,
// one browser with an expired access token, 30 parallel requests, and a
// DigitalOcean that revokes a grant whose refresh token is reused.
func TestInstancesShareOneRefreshAndOneExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and three instances")
	}
	t.Parallel()
	sharedstore.QuietClientLog() // as main does
	redis := redistest.Start(t)

	t.Run("without REDIS_URL", func(t *testing.T) {
		do := newStrictDO()
		up := httptest.NewServer(do)
		defer up.Close()
		insts := startInstances(t, 3, up.URL, "")
		cb, lc := login(t, insts[0], "code-alone")
		resp, _ := visit(t, insts[1], cb, []*http.Cookie{lc})
		session := cookieNamed(resp, "do_session")
		if session == nil {
			t.Fatalf("callback: %d, no session", resp.StatusCode)
		}
		shown := race(t, insts, session)
		_, refreshes := do.counts()
		// Not asserted: how many instances race depends on timing.
		t.Logf("without REDIS_URL: %d refresh requests reached DigitalOcean, %d of 30 requests showed the droplets", refreshes, shown)
	})

	do := newStrictDO()
	up := httptest.NewServer(do)
	defer up.Close()
	insts := startInstances(t, 3, up.URL, redis.URL)

	// One callback sent to two instances at once (a double click that the
	// balancer spread): one exchange, both signed in.
	cb, lc := login(t, insts[0], "code-shared")
	var wg sync.WaitGroup
	sessions := make([]*http.Cookie, 2)
	for i := range 2 {
		wg.Go(func() {
			resp, _ := visit(t, insts[1+i], cb, []*http.Cookie{lc})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/digitalocean" {
				t.Errorf("callback on instance %d: %d to %q", 1+i, resp.StatusCode, resp.Header.Get("Location"))
			}
			sessions[i] = cookieNamed(resp, "do_session")
		})
	}
	wg.Wait()
	if ex, _ := do.counts(); ex["code-shared"] != 1 {
		t.Errorf("the callback sent to two instances made %d exchanges, want 1", ex["code-shared"])
	}
	if sessions[0] == nil || sessions[1] == nil {
		t.Fatal("a callback started no session")
	}

	shown := race(t, insts, sessions[0])
	_, refreshes := do.counts()
	t.Logf("with REDIS_URL: %d refresh request(s) reached DigitalOcean, %d of 30 requests showed the droplets", refreshes, shown)
	if refreshes != 1 || shown != 30 {
		t.Errorf("with REDIS_URL: %d refreshes and %d of 30 droplet lists, want 1 and 30", refreshes, shown)
	}

	// Nothing secret in Redis: every key and value, against every token,
	// code and verifier that went over the wire.
	dump := redis.Dump()
	if len(dump) == 0 {
		t.Error("Redis is empty: nothing was coordinated through it")
	}
	do.mu.Lock()
	secrets := append([]string(nil), do.secrets...)
	do.mu.Unlock()
	for k, v := range dump {
		for _, s := range secrets {
			if s != "" && (strings.Contains(k, s) || strings.Contains(v, s)) {
				t.Errorf("Redis key %q holds a secret DigitalOcean issued or received", k)
			}
		}
		for _, s := range []string{"doo_v1", "dor_v1", "code-", "Sammy", "sammy@"} {
			if strings.Contains(k, s) || strings.Contains(v, s) {
				t.Errorf("Redis key %q shows %q", k, s)
			}
		}
		if ttl := redis.Do("PTTL", k); ttl == "-1" {
			t.Errorf("Redis key %q never expires", k)
		}
	}

	// A late replay of the spent callback, on the instance that did not
	// exchange it, with the captured login cookie: refused, no session,
	// no token request.
	time.Sleep(doclient.CodeShareWindow + 200*time.Millisecond)
	resp, body := visit(t, insts[0], cb, []*http.Cookie{lc})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") || cookieNamed(resp, "do_session") != nil {
		t.Errorf("late replay: %d, session cookie %v; want 400 already used and no session", resp.StatusCode, cookieNamed(resp, "do_session"))
	}
	if ex, _ := do.counts(); ex["code-shared"] != 1 {
		t.Errorf("the late replay reached DigitalOcean (%d exchanges)", ex["code-shared"])
	}

	if resp, body := visit(t, insts[0], "/healthz", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"shared_store":"up"`) {
		t.Errorf("/healthz with Redis up: %d %s", resp.StatusCode, body)
	}

	// Redis dies: every instance keeps serving, in-process, and says so.
	redis.Stop()
	for i, inst := range insts {
		cb, lc := login(t, inst, fmt.Sprintf("code-down-%d", i))
		resp, _ := visit(t, inst, cb, []*http.Cookie{lc})
		s := cookieNamed(resp, "do_session")
		if resp.StatusCode != http.StatusSeeOther || s == nil {
			t.Fatalf("sign-in on instance %d with Redis down: %d", i, resp.StatusCode)
		}
		for range 3 {
			if resp, body := visit(t, inst, "/digitalocean", []*http.Cookie{s}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "strict-web-1") {
				t.Errorf("instance %d with Redis down: %d", i, resp.StatusCode)
			}
		}
		resp, body := visit(t, inst, "/healthz", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"shared_store":"down"`) {
			t.Errorf("/healthz with Redis down: %d %s", resp.StatusCode, body)
		}
		if n := strings.Count(inst.logs.String(), "shared store unreachable"); n != 1 {
			t.Errorf("instance %d logged the outage %d times, want once", i, n)
		}
	}
}

var opaqueKey = regexp.MustCompile(`^dosignin:[0-9a-f]{64}$`)

// A dump of the shared store reveals no token, code, verifier or account:
// keys are HMACs, values are sealed, and everything expires.
func TestSecurity21NothingSecretInTheSharedStore(t *testing.T) {
	t.Parallel()
	sharedstore.QuietClientLog()
	redis := redistest.Start(t)
	do := newStrictDO()
	up := httptest.NewServer(do)
	defer up.Close()
	inst := startInstances(t, 1, up.URL, redis.URL)[0]
	cb, lc := login(t, inst, "code-for-the-dump")
	resp, _ := visit(t, inst, cb, []*http.Cookie{lc})
	session := cookieNamed(resp, "do_session")
	if session == nil {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	if resp, _ := visit(t, inst, "/digitalocean", []*http.Cookie{session}); resp.StatusCode != http.StatusOK {
		t.Fatalf("droplet page (a refresh): %d", resp.StatusCode)
	}
	if _, refreshes := do.counts(); refreshes != 1 {
		t.Fatalf("%d refreshes, want 1", refreshes)
	}

	dump := redis.Dump()
	if len(dump) == 0 {
		t.Fatal("nothing in Redis: the exchange and the refresh were not coordinated through it")
	}
	do.mu.Lock()
	secrets := append([]string{"sammy@example.com", "Sammy", "strict-secret"}, do.secrets...)
	do.mu.Unlock()
	for k, v := range dump {
		if !opaqueKey.MatchString(k) {
			t.Errorf("key %q is not an opaque hash", k)
		}
		for _, s := range secrets {
			if s != "" && (strings.Contains(k, s) || strings.Contains(v, s)) {
				t.Errorf("Redis key %s holds %q", k, s)
			}
		}
		for _, word := range []string{"access_token", "refresh_token", "token", "spent", "info"} {
			if strings.Contains(v, word) {
				t.Errorf("Redis value of %s is readable (%q)", k, word)
			}
		}
		ms, _ := strconv.Atoi(redis.Do("PTTL", k))
		if ms <= 0 || ms > int((doclient.CodeShareWindow+doclient.CodeSpentFor).Milliseconds()) {
			t.Errorf("key %s expires in %d ms", k, ms)
		}
	}
}

// A Redis that accepts connections and never answers (overloaded, or a
// network that drops packets) must not take the app with it: sign-in, a
// refresh and the droplet page still work, coordinated in-process.
func TestInstanceWithHangingRedisStillServes(t *testing.T) {
	t.Parallel()
	sharedstore.QuietClientLog()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c
		}
	}()
	defer func() {
		ln.Close()
		for c := range held {
			c.Close()
		}
	}()

	do := newStrictDO()
	up := httptest.NewServer(do)
	defer up.Close()
	inst := startInstances(t, 1, up.URL, "redis://"+ln.Addr().String())[0]
	cb, lc := login(t, inst, "code-hanging")
	resp, _ := visit(t, inst, cb, []*http.Cookie{lc})
	session := cookieNamed(resp, "do_session")
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in with a hanging Redis: %d", resp.StatusCode)
	}
	for range 3 {
		if resp, body := visit(t, inst, "/digitalocean", []*http.Cookie{session}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "strict-web-1") {
			t.Errorf("droplet page with a hanging Redis: %d", resp.StatusCode)
		}
	}
	if resp, body := visit(t, inst, "/healthz", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"shared_store":"down"`) {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
	if ex, refreshes := do.counts(); ex["code-hanging"] != 1 || refreshes != 1 {
		t.Errorf("%d exchanges and %d refreshes, want 1 and 1", ex["code-hanging"], refreshes)
	}
	if n := strings.Count(inst.logs.String(), "shared store unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, inst.logs)
	}
}

// Security test 22, across instances (the rest is in handlers): a
// single-use credential is never presented twice, even when Redis dies
// while the instance that holds the refresh lock is asking DigitalOcean,
// and comes back empty (the lock gone). The instances that saw the lock
// held keep waiting instead of presenting the same refresh token (which a
// strict DigitalOcean answers by revoking the grant), and get the holder's
// result once Redis is back. Every page shows the droplets, and
// DigitalOcean sees one refresh.
func TestSecurity22RefreshNotRepeatedWhenRedisDiesMidRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and three instances")
	}
	t.Parallel()
	sharedstore.QuietClientLog()
	redis := redistest.Start(t)
	do := newStrictDO()
	refreshing, resume := make(chan struct{}), make(chan struct{})
	var first sync.Once
	do.beforeRefresh = func() {
		first.Do(func() {
			close(refreshing)
			<-resume
		})
	}
	up := httptest.NewServer(do)
	defer up.Close()
	insts := startInstances(t, 3, up.URL, redis.URL)
	cb, lc := login(t, insts[0], "code-redis-dies")
	resp, _ := visit(t, insts[1], cb, []*http.Cookie{lc})
	session := cookieNamed(resp, "do_session")
	if session == nil {
		t.Fatalf("callback: %d, no session", resp.StatusCode)
	}

	shown := make(chan int, 1)
	go func() { shown <- race(t, insts, session) }()
	select {
	case <-refreshing:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh reached DigitalOcean")
	}
	time.Sleep(500 * time.Millisecond) // every instance has polled the held lock
	redis.Stop()
	time.Sleep(300 * time.Millisecond) // the waiting instances' calls fail
	redis.Restart()                    // empty: the lock and any result are gone
	close(resume)

	n := <-shown
	_, refreshes := do.counts()
	t.Logf("Redis killed mid-refresh: %d refresh request(s) reached DigitalOcean, %d of 30 requests showed the droplets", refreshes, n)
	if refreshes != 1 || n != 30 {
		t.Errorf("%d refreshes and %d of 30 droplet lists, want 1 and 30", refreshes, n)
	}
}
