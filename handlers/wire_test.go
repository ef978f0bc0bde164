package handlers

import (
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"dosignin/sandbox"
)

// rawGet sends one request with the browser's cookies and header, and
// returns the body as it came over the wire (not decompressed).
func (a *testApp) rawGet(u string, header http.Header) (*http.Response, []byte) {
	a.t.Helper()
	c := &http.Client{Jar: a.Browser.Jar, Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp, body
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPagesAreCompressedWhenTheBrowserAccepts(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, func(_ *Options, sb *sandbox.Config) { sb.Droplets = 1000 })
	a.connect(a.Browser, "approve")

	plain, raw := a.rawGet(a.URL+"/digitalocean", nil)
	if plain.Header.Get("Content-Encoding") != "" || !strings.Contains(string(raw), "Showing 1–100 of 1000 · ") {
		t.Fatalf("without Accept-Encoding: Content-Encoding %q, body:\n%.300s", plain.Header.Get("Content-Encoding"), raw)
	}
	zipped, wire := a.rawGet(a.URL+"/digitalocean", http.Header{"Accept-Encoding": {"gzip, deflate, br"}})
	if zipped.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(zipped.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("Content-Encoding %q, Vary %q; want gzip, Accept-Encoding", zipped.Header.Get("Content-Encoding"), zipped.Header.Get("Vary"))
	}
	// The same page (two views differ only in timings and the quota).
	page := gunzip(t, wire)
	if names, want := column(rowNameRE, string(page)), column(rowNameRE, string(raw)); len(names) != 100 || strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("the gzipped page shows %d rows, not the page's %d", len(names), len(want))
	}
	if ratio := float64(len(wire)) / float64(len(page)); ratio > 0.15 {
		t.Errorf("a 1,000-droplet page goes over the wire at %.0f%% of its %d bytes, want at most 15%%", 100*ratio, len(page))
	}
	// Redirects and other small answers are not worth compressing.
	small, _ := a.rawGet(a.URL+"/nope", http.Header{"Accept-Encoding": {"gzip"}})
	if small.StatusCode != http.StatusNotFound {
		t.Errorf("/nope: %d", small.StatusCode)
	}
}

func TestStaticAssetsAnswerConditionalRequests(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	home := a.get(a.Browser, a.URL+"/")
	m := regexp.MustCompile(`href="(/static/style\.css\?v=([0-9a-f]+))"`).FindStringSubmatch(home.Body)
	if m == nil {
		t.Fatal("no versioned stylesheet link on the index")
	}
	resp, css := a.rawGet(a.URL+m[1], http.Header{"Accept-Encoding": {"gzip"}})
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag != `"`+m[2]+`"` || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("status %d, ETag %q, Cache-Control %q", resp.StatusCode, etag, resp.Header.Get("Cache-Control"))
	}
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(string(gunzip(t, css)), "table.droplets") {
		t.Errorf("the stylesheet is not gzipped: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag} {
		again, body := a.rawGet(a.URL+m[1], http.Header{"If-None-Match": {inm}, "Accept-Encoding": {"gzip"}})
		if again.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("If-None-Match %s: status %d with %d bytes, want 304 and no body", inm, again.StatusCode, len(body))
		}
	}
	stale, body := a.rawGet(a.URL+m[1], http.Header{"If-None-Match": {`"0000"`}})
	if stale.StatusCode != http.StatusOK || len(body) == 0 {
		t.Errorf("another ETag: status %d, want 200 with the file", stale.StatusCode)
	}
}

func TestIndexRenderedOnceIsTheIndex(t *testing.T) {
	t.Parallel()
	for _, scopes := range [][]string{{"read"}, {"read", "write"}} {
		a := newTestApp(t, func(o *Options, _ *sandbox.Config) { o.Scopes = scopes })
		_, anonymous := a.rawGet(a.URL+"/", nil)
		// A cookie of no interest to the app takes the rendering path.
		_, rendered := a.rawGet(a.URL+"/", http.Header{"Cookie": {"theme=dark"}})
		if string(anonymous) != string(rendered) || !strings.Contains(string(anonymous), ">Connect DigitalOcean<") {
			t.Errorf("scopes %v: the index rendered at start differs from the index:\n%s\n----\n%s", scopes, anonymous, rendered)
		}
	}
}
