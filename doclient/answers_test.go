package doclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/digitalocean/godo"

	"dosignin/doclient"
)

// answerServer gives every request the same success answer, as a broken
// DigitalOcean, or a proxy in front of it, might.
type answerServer struct {
	mu     sync.Mutex
	status int
	body   []byte
}

func (a *answerServer) set(status int, body []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status, a.body = status, body
}

func (a *answerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	status, body := a.status, a.body
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status != http.StatusNoContent {
		_, _ = w.Write(body)
	}
}

// answerCalls are the calls doclient makes, each with what it returned:
// whether it returned a value, and whether that value is one a caller can
// use as it is. seq makes each token request's credential new, so that no
// answer comes from the Client's memory.
var answerCalls = []struct {
	name string
	call func(ctx context.Context, c *doclient.Client, seq string) (value, valid bool, err error)
}{
	{"list droplets", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		l, err := c.Droplets(ctx, staticToken("doo_v1_x"), doclient.ListOptions{})
		return l != nil, l != nil && validDroplets(l), err
	}},
	{"list droplets by tag", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		l, err := c.Droplets(ctx, staticToken("doo_v1_x"), doclient.ListOptions{Tag: "web", PagesHint: 2})
		return l != nil, l != nil && validDroplets(l), err
	}},
	{"get droplet", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		d, err := c.Droplet(ctx, staticToken("doo_v1_x"), 7)
		return d != nil, d != nil && d.ID == 7, err
	}},
	{"get action", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		a, err := c.Action(ctx, staticToken("doo_v1_x"), 99)
		return a != nil, a != nil && a.ID == 99, err
	}},
	{"droplet action", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		a, err := c.DropletAction(ctx, staticToken("doo_v1_x"), 7, doclient.ActionReboot, "")
		return a != nil, a != nil && a.ID > 0, err
	}},
	{"droplet action with a key", func(ctx context.Context, c *doclient.Client, seq string) (bool, bool, error) {
		a, err := c.DropletAction(ctx, staticToken("doo_v1_x"), 7, doclient.ActionReboot, "key-"+seq)
		return a != nil, a != nil && a.ID > 0, err
	}},
	{"list regions", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		l, err := c.Regions(ctx, staticToken("doo_v1_x"))
		return l != nil, l != nil && (len(l) == 0 || l[0].Slug != ""), err
	}},
	{"list sizes", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		l, err := c.Sizes(ctx, staticToken("doo_v1_x"))
		return l != nil, l != nil && (len(l) == 0 || l[0].Slug != ""), err
	}},
	{"list images", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		l, err := c.Images(ctx, staticToken("doo_v1_x"))
		return l != nil, l != nil && (len(l) == 0 || l[0].ID > 0), err
	}},
	{"list SSH keys", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		l, err := c.Keys(ctx, staticToken("doo_v1_x"))
		return l != nil, l != nil && (len(l) == 0 || l[0].ID > 0), err
	}},
	{"create droplet", func(ctx context.Context, c *doclient.Client, seq string) (bool, bool, error) {
		d, err := c.CreateDroplet(ctx, staticToken("doo_v1_x"), &godo.DropletCreateRequest{Name: "web-1"}, "key-"+seq)
		return d != nil, d != nil && d.Droplet.ID > 0, err
	}},
	{"delete droplet", func(ctx context.Context, c *doclient.Client, seq string) (bool, bool, error) {
		err := c.DeleteDroplet(ctx, staticToken("doo_v1_x"), 7, "key-"+seq)
		return err == nil, true, err // no value: any success answer is a success
	}},
	{"exchange code", func(ctx context.Context, c *doclient.Client, seq string) (bool, bool, error) {
		tok, _, err := c.Exchange(ctx, "code-"+seq, "")
		return tok != nil, tok != nil && tok.AccessToken != "", err
	}},
	{"refresh token", func(ctx context.Context, c *doclient.Client, seq string) (bool, bool, error) {
		tok, err := c.Refresh(ctx, "dor_v1_"+seq)
		return tok != nil, tok != nil && tok.AccessToken != "", err
	}},
	{"revoke token", func(ctx context.Context, c *doclient.Client, _ string) (bool, bool, error) {
		err := c.Revoke(ctx, "doo_v1_x")
		return err == nil, true, err // no value: any success answer is a success
	}},
}

// validDroplets reports whether every droplet has an ID, and a different one.
func validDroplets(l *doclient.DropletList) bool {
	seen := map[int]bool{}
	for _, d := range l.Droplets {
		if d.ID < 1 || seen[d.ID] {
			return false
		}
		seen[d.ID] = true
	}
	return true
}

// answerOutcome makes call against a server that answers status and body,
// and says what came of it: "ok", "malformed" (IsMalformed and
// IsUnavailable, not IsTimeout), "refused" (an OAuthError) or "error"
// (another error), failing t if the call returned a value with its error,
// no value without one, or a value a caller cannot use.
func answerOutcome(t *testing.T, c *doclient.Client, name string, call func(context.Context, *doclient.Client, string) (bool, bool, error), seq string) string {
	t.Helper()
	value, valid, err := call(context.Background(), c, seq)
	var oe *doclient.OAuthError
	switch {
	case err == nil && !value:
		t.Errorf("%s: no value and no error", name)
	case err == nil && !valid:
		t.Errorf("%s: a value a caller cannot use, without an error", name)
	case err == nil:
		return "ok"
	case value:
		t.Errorf("%s: a value with the error %v", name, err)
	case doclient.IsMalformed(err):
		if !doclient.IsUnavailable(err) || doclient.IsTimeout(err) {
			t.Errorf("%s: %v: IsUnavailable %v, IsTimeout %v; want true, false", name, err, doclient.IsUnavailable(err), doclient.IsTimeout(err))
		}
		return "malformed"
	case errors.As(err, &oe):
		return "refused"
	}
	return "error"
}

// answerBodies are success answers that are empty, partial, of the wrong
// shape or garbage, and what each call makes of them when it is not
// "malformed" (the revoke, which expects no body, is always "ok").
var answerBodies = []struct {
	name, body string
	not        map[string]string
}{
	{"empty", ``, nil},
	{"an empty object", `{}`, nil},
	{"null", `null`, nil},
	{"a list", `[]`, nil},
	{"HTML", `<html><body>502 Bad Gateway</body></html>`, nil},
	{"cut short", `{"droplets":[{"id":1,"name":"web`, nil},
	{"nulls", `{"droplet":null,"droplets":null,"action":null,"access_token":null}`, nil},
	{"empty objects", `{"droplet":{},"droplets":[{}],"action":{},"access_token":""}`, nil},
	{"a null droplet in the list", `{"droplets":[{"id":1},null]}`, nil},
	{"another droplet and action", `{"droplet":{"id":8},"action":{"id":98}}`, map[string]string{"droplet action": "ok", "droplet action with a key": "ok", "create droplet": "ok"}},
	{"wrong types", `{"droplet":{"id":"7"},"droplets":{"id":7},"action":[],"access_token":7}`, nil},
	{"an OAuth error in a 200", `{"error":"invalid_grant","error_description":"no"}`, map[string]string{"exchange code": "refused", "refresh token": "refused"}},
	{"an empty list", `{"droplets":[],"links":{"pages":{"last":"::"}},"meta":{"total":0}}`, map[string]string{"list droplets": "ok", "list droplets by tag": "ok"}},
	{"empty catalogue lists", `{"regions":[],"sizes":[],"images":[],"ssh_keys":[]}`, map[string]string{"list regions": "ok", "list sizes": "ok", "list images": "ok", "list SSH keys": "ok"}},
	{"catalogue items without their slug or id", `{"regions":[{"name":"x"}],"sizes":[{}],"images":[{"slug":"x"}],"ssh_keys":[{"name":"k"}]}`, nil},
	{"a page count past the limit", `{"droplets":[{"id":1}],"meta":{"total":1000000}}`, map[string]string{"list droplets": "error", "list droplets by tag": "error"}},
	{"every answer at once, well formed", `{"droplet":{"id":7,"name":"web-1","status":"active"},"droplets":[{"id":7,"name":"web-1"}],"meta":{"total":1},` +
		`"action":{"id":99,"status":"in-progress","type":"reboot"},"access_token":"doo_v1_new","token_type":"bearer","expires_in":3600,"refresh_token":"dor_v1_new"}`,
		map[string]string{"list droplets": "ok", "list droplets by tag": "ok", "get droplet": "ok", "get action": "ok",
			"droplet action": "ok", "droplet action with a key": "ok", "create droplet": "ok", "exchange code": "ok", "refresh token": "ok"}},
}

// A success answer that is not the call's result never panics and never
// passes for a value: every call returns an error for which IsMalformed
// (and IsUnavailable, a 502) is true, or a value it can use.
func TestAPIAnswers(t *testing.T) {
	t.Parallel()
	var seq atomic.Int64
	for _, status := range []int{http.StatusOK, http.StatusCreated, http.StatusNoContent} {
		for _, tt := range answerBodies {
			if status == http.StatusNoContent && tt.body != "" {
				continue // a 204 has no body
			}
			t.Run(strconv.Itoa(status)+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				srv := &answerServer{}
				srv.set(status, []byte(tt.body))
				hs := httptest.NewServer(srv)
				defer hs.Close()
				c := newClient(t, hs.URL+"/v1/oauth", hs.URL)
				for _, call := range answerCalls {
					want := "malformed"
					if w, ok := tt.not[call.name]; ok {
						want = w
					} else if call.name == "revoke token" || call.name == "delete droplet" {
						want = "ok"
					}
					if got := answerOutcome(t, c, call.name, call.call, strconv.FormatInt(seq.Add(1), 10)); got != want {
						t.Errorf("%s: %s, want %s", call.name, got, want)
					}
				}
			})
		}
	}
}

// FuzzAPIAnswers looks for a success answer that makes a call panic, or
// return no value without an error, or one a caller cannot use:
// go test -fuzz FuzzAPIAnswers ./doclient
func FuzzAPIAnswers(f *testing.F) {
	for _, tt := range answerBodies {
		f.Add(uint8(0), []byte(tt.body))
	}
	srv := &answerServer{}
	hs := httptest.NewServer(srv)
	f.Cleanup(hs.Close)
	c := newClient(f, hs.URL+"/v1/oauth", hs.URL)
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, status uint8, body []byte) {
		code := []int{http.StatusOK, http.StatusCreated, http.StatusNoContent}[int(status)%3]
		srv.set(code, body)
		for _, call := range answerCalls {
			answerOutcome(t, c, call.name, call.call, strconv.FormatInt(seq.Add(1), 10))
		}
	})
}
