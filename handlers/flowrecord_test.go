package handlers

import (
	"bytes"
	"compress/flate"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

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
