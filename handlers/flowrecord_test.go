package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"dosignin/handlers/flow"
)

// flowSetCookie returns the response's Set-Cookie for the flow record, or "".
func flowSetCookie(p page) string {
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, flowCookie+"=") {
			return c
		}
	}
	return ""
}

var (
	listingRE   = regexp.MustCompile(`<time>([0-9:]+)</time> <strong>Droplet list</strong>`)
	remainingRE = regexp.MustCompile(`<code>GET /v2/droplets\?page=1&amp;per_page=200</code></th><td>200 OK, [^,]*, ratelimit-remaining ([0-9]+)<`)
)

// newestCall is the time and remaining quota the panel shows for its
// newest droplet listing.
func newestCall(t *testing.T, p page) (at, remaining string) {
	t.Helper()
	m, r := listingRE.FindStringSubmatch(p.Body), remainingRE.FindStringSubmatch(p.Body)
	if m == nil || r == nil {
		t.Fatalf("the panel shows no droplet listing with its quota:\n%s", p.Body)
	}
	return m[1], r[1]
}

// TestAReloadLeavesTheRecordAsItIs: a reload within recordKeepAlive of
// the same view writes no cookie, though its own panel shows its time;
// the record keeps the first view's. A reload after that is recorded like
// any view: the panel lists its call first (its time and remaining quota),
// then the earlier view's, and the cookie it writes lives ten minutes
// from then.
func TestAReloadLeavesTheRecordAsItIs(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	first := a.connect(a.Browser, "approve")
	if flowSetCookie(first) == "" {
		t.Fatal("the first view after the login did not save the record")
	}
	firstAt, firstLeft := newestCall(t, first)

	a.Clock.Advance(7 * time.Second) // a new clock second
	p := a.get(a.Browser, a.URL+"/digitalocean")
	if c := flowSetCookie(p); c != "" {
		t.Errorf("a reload after 7 s rewrote the record: %.80q…", c)
	}
	mustContain(t, p, `class="card flow-summary"`, "the last at "+a.Clock.Now().UTC().Format("15:04:05"))
	if at, _ := newestCall(t, a.get(a.Browser, a.URL+"/how-this-worked")); at != firstAt {
		t.Errorf("after a reload the record's newest listing is at %s, want the first view's, %s", at, firstAt)
	}

	a.Clock.Advance(recordKeepAlive)
	p = a.get(a.Browser, a.URL+"/digitalocean")
	if c := flowSetCookie(p); c == "" || !strings.Contains(c, "Max-Age=600") {
		t.Fatalf("a reload after %v: record cookie %.80q…, want one written for another 10 minutes", recordKeepAlive+7*time.Second, c)
	}
	whole := a.get(a.Browser, a.URL+"/how-this-worked")
	at, left := newestCall(t, whole)
	if want := a.Clock.Now().UTC().Format("15:04:05"); at != want || left == firstLeft {
		t.Errorf("the record's newest call is at %s with %s left; want this view's (at %s, not %s left)", at, left, want, firstLeft)
	}
	if n := strings.Count(whole.Body, "<strong>Droplet list</strong>"); n < 2 {
		t.Errorf("the record lists %d droplet listings, want this view's and the first one's", n)
	}
	mustContain(t, whole, "1 page fetched, 3 droplets")
}

// TestViewThatDiffersSavesTheRecord: a view whose calls or answers differ
// from the record's newest ones is saved, and the next view lists it.
func TestViewThatDiffersSavesTheRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(a *testApp) // before the view
		path  string
		shows string // in the view's panel
	}{
		{"another call and count", nil, "/digitalocean?tag=web", "1 page fetched, 1 droplet"},
		{"a refresh on the way", func(a *testApp) { a.Clock.Advance(5 * time.Minute) }, "/digitalocean", "why: the access token had expired"},
		{"a 429 waited out", func(a *testApp) {
			var limited atomic.Bool
			a.SetUpstream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/v2/droplets") && limited.CompareAndSwap(false, true) {
					w.Header().Set("Retry-After", "1")
					http.Error(w, `{"id":"too_many_requests","message":"API Rate limit exceeded."}`, http.StatusTooManyRequests)
					return
				}
				a.Sandbox.ServeHTTP(w, r)
			}))
		}, "/digitalocean", "429 Too Many Requests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			a.connect(a.Browser, "approve")
			a.Clock.Advance(time.Second)
			if tc.setup != nil {
				tc.setup(a)
			}
			p := a.get(a.Browser, a.URL+tc.path)
			if p.Status != http.StatusOK || flowSetCookie(p) == "" {
				t.Fatalf("status %d, record cookie %q: want 200 and the record saved", p.Status, flowSetCookie(p))
			}
			mustContain(t, a.get(a.Browser, a.URL+"/how-this-worked"), tc.shows)
			a.SetUpstream(a.Sandbox)
			// The saved view is listed after the next one.
			a.get(a.Browser, a.URL+"/digitalocean")
			mustContain(t, a.get(a.Browser, a.URL+"/how-this-worked"), tc.shows)
		})
	}
}

// TestUnreadableRecordMeansNoPanel: a record cookie that is garbage,
// signed with other keys, cut short, or signed by this app but holding no
// record gives the droplet page without the panel, never an error.
func TestUnreadableRecordMeansNoPanel(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	good := a.cookie(a.Browser, flowCookie)
	codecs := a.Server.sessions.short
	notARecord, err := a.Server.sessions.encode(codecs, flowCookie, []string{"not", "a", "record"})
	if err != nil {
		t.Fatal(err)
	}
	var rec flow.Record
	if found, err := a.Server.sessions.read(requestWith(flowCookie, good), codecs, flowCookie, &rec); !found || err != nil {
		t.Fatalf("the browser's record does not read: %v", err)
	}
	otherKeys, err := securecookie.EncodeMulti(flowCookie, &rec, securecookie.CodecsFromPairs(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32))...)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.URL)
	for name, value := range map[string]string{"garbage": "bm90IGEgY29va2ll", "another key's": otherKeys, "truncated": good[:len(good)-5], "not a record": notARecord} {
		a.Browser.Jar.SetCookies(u, []*http.Cookie{{Name: flowCookie, Value: value, Path: "/"}})
		p := a.get(a.Browser, a.URL+"/digitalocean")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "3 droplets") || strings.Contains(p.Body, "How this worked") {
			t.Errorf("%s: status %d, droplets shown %v, panel shown %v; want 200, the droplets and no panel", name, p.Status,
				strings.Contains(p.Body, "3 droplets"), strings.Contains(p.Body, "How this worked"))
		}
	}
}

// TestSealedLenIsSecurecookies: sealedLen says the length securecookie
// gives a record, so saveRecord seals each record once.
func TestSealedLenIsSecurecookies(t *testing.T) {
	st, err := newSessionStore([][]byte{[]byte("0123456789abcdef0123456789abcdef-test")}, false, time.Hour, 24*time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	rec := benchRecord()
	for len(rec.Events) > 0 {
		raw, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		encoded, err := st.seal(st.short, flowCookie, raw)
		if err == nil && len(encoded) != sealedLen(len(raw)) {
			t.Errorf("%d events: sealed %d bytes, sealedLen says %d", len(rec.Events), len(encoded), sealedLen(len(raw)))
		}
		rec.DropOldest()
	}
}
