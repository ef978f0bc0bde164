package handlers

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"dosignin/sandbox"
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
	apiEventRE  = regexp.MustCompile(`<time>([0-9:]+)</time> <strong>API call</strong>`)
	remainingRE = regexp.MustCompile(`<code>ratelimit-remaining</code></th><td>([0-9]+)<`)
)

// newestCall is the time and remaining quota the panel shows for its
// newest API call.
func newestCall(t *testing.T, p page) (at, remaining string) {
	t.Helper()
	m, r := apiEventRE.FindStringSubmatch(p.Body), remainingRE.FindStringSubmatch(p.Body)
	if m == nil || r == nil {
		t.Fatalf("the panel shows no API call with its quota:\n%s", p.Body)
	}
	return m[1], r[1]
}

// TestReloadThatRepeatsLeavesTheRecordAlone: a reload that makes the same
// call with the same answer sends no new record cookie, yet its panel shows
// this view's call: its time and remaining quota, in place of the last
// view's, which is not listed any more.
func TestReloadThatRepeatsLeavesTheRecordAlone(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	first := a.connect(a.Browser, "approve")
	if flowSetCookie(first) == "" {
		t.Fatal("the first view after the login did not save the record")
	}
	firstAt, firstLeft := newestCall(t, first)
	for i := range 3 {
		a.Clock.Advance(7 * time.Second) // a new clock second for each view
		p := a.get(a.Browser, a.URL+"/digitalocean")
		if c := flowSetCookie(p); c != "" {
			t.Fatalf("reload %d rewrote the record: %.60s…", i+1, c)
		}
		at, left := newestCall(t, p)
		if want := a.Clock.Now().UTC().Format("15:04:05"); at != want || left == firstLeft {
			t.Errorf("reload %d shows the call at %s with %s left; want this view's (%s, not the first view's %s at %s)", i+1, at, left, want, firstLeft, firstAt)
		}
		if n := strings.Count(p.Body, "<strong>API call</strong>"); n != 1 {
			t.Errorf("reload %d lists %d API calls, want 1: a repeat replaces its entry", i+1, n)
		}
		mustContain(t, p, `<details class="flow">`, "1 page fetched, 3 droplets")
	}
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
		{"a refresh on the way", func(a *testApp) { a.Clock.Advance(5 * time.Minute) }, "/digitalocean", "why: expired"},
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
			mustContain(t, p, tc.shows)
			a.SetUpstream(a.Sandbox)
			// The saved view is listed after the next one.
			next := a.get(a.Browser, a.URL+"/digitalocean")
			mustContain(t, next, tc.shows)
		})
	}
}

// TestRecordIsRewrittenBeforeItExpires: the record's cookie lives 10
// minutes after its last write, so reloads that repeat rewrite it once the
// last write is a minute old, then leave it again.
func TestRecordIsRewrittenBeforeItExpires(t *testing.T) {
	t.Parallel()
	// A token that outlives the test's clock, so no view refreshes it.
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.TokenTTL = time.Hour })
	a.connect(a.Browser, "approve")
	for _, step := range []struct {
		advance time.Duration
		writes  bool
	}{
		{40 * time.Second, false},
		{15 * time.Second, false}, // 55 s after the write
		{10 * time.Second, true},  // 65 s
		{50 * time.Second, false}, // 50 s after that write
		{20 * time.Second, true},  // 70 s
		{time.Second, false},      // just written
	} {
		a.Clock.Advance(step.advance)
		p := a.get(a.Browser, a.URL+"/digitalocean")
		if wrote := flowSetCookie(p) != ""; wrote != step.writes {
			t.Fatalf("after %v more: record written %v, want %v", step.advance, wrote, step.writes)
		}
		mustContain(t, p, "How this worked", "1 page fetched, 3 droplets")
	}
}

// TestUnreadableRecordMeansNoPanel: a record cookie that is garbage, or
// signed by this app in the format before this one, gives the droplet page
// without the panel, never an error.
func TestUnreadableRecordMeansNoPanel(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	a.connect(a.Browser, "approve")
	// The format before: DEFLATE-compressed JSON, signed and encrypted
	// with the app's keys.
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestSpeed)
	_, _ = fw.Write([]byte(`{"l":[{"k":"link","t":1767268800000,"f":[["client_id","test-client"]],"n":"redirected to DigitalOcean"}],"v":true}`))
	_ = fw.Close()
	old, err := securecookie.EncodeMulti(flowCookie, z.Bytes(), a.Server.sessions.records.codecs...)
	if err != nil {
		t.Fatal(err)
	}
	// This format, cut short.
	rec := benchRecord()
	payload := a.Server.sessions.records.marshal(rec)
	cut, err := securecookie.EncodeMulti(flowCookie, payload[:len(payload)-3], a.Server.sessions.records.codecs...)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.URL)
	for name, value := range map[string]string{"garbage": "bm90IGEgY29va2ll", "the format before": old, "truncated": cut} {
		a.Browser.Jar.SetCookies(u, []*http.Cookie{{Name: flowCookie, Value: value, Path: "/"}})
		p := a.get(a.Browser, a.URL+"/digitalocean")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "3 droplets") || strings.Contains(p.Body, "How this worked") {
			t.Errorf("%s: status %d, droplets shown %v, panel shown %v; want 200, the droplets and no panel", name, p.Status,
				strings.Contains(p.Body, "3 droplets"), strings.Contains(p.Body, "How this worked"))
		}
	}
}

// TestRecordCodecRoundTrip: what the codec writes, it reads back as it
// was, and it refuses a payload of another format.
func TestRecordCodecRoundTrip(t *testing.T) {
	t.Parallel()
	rc := newRecordCodec(nil, time.Minute)
	rec := benchRecord()
	rec.StepUp = "reboot droplet 7"
	rec.Written = time.Unix(1767268800, 0)
	rec.Events = append(rec.Events, flowStep{Kind: kindPages, Note: "1 page fetched, 3 droplets"}, flowStep{Kind: "new kind", Milli: -5, Micros: -1})
	got, err := rc.unmarshal(rc.marshal(rec))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, rec)
	}
	// The next format (another layout or dictionary) starts with another byte.
	next := rc.marshal(rec)
	next[0] = recordFormat + 8
	for _, bad := range [][]byte{nil, {0x05}, {recordFormat}, append(rc.marshal(rec), 0), next} {
		if _, err := rc.unmarshal(bad); err == nil {
			t.Errorf("%.40x… read as a record", bad)
		}
	}
}

// TestRecordWordsArePinned: the pre-numbered strings are part of the
// cookie format, so a cookie written before a change to them would read
// back as other strings. Each is there once, and any change must come with
// a new recordFormat (and a new pin here).
func TestRecordWordsArePinned(t *testing.T) {
	words := recordWords()
	seen := map[string]bool{}
	for _, w := range words {
		if seen[w] {
			t.Errorf("recordWords holds %q twice", w)
		}
		seen[w] = true
	}
	sum := sha256.Sum256([]byte(strings.Join(words, "\x00")))
	const format, pin = 0x0f, "f2b91177f8a518fb"
	if got := hex.EncodeToString(sum[:8]); recordFormat != format || got != pin {
		t.Errorf("recordWords or recordFormat changed (words hash %s, format %#x): give recordFormat its next value (see its comment), then pin both here", got, recordFormat)
	}
}
