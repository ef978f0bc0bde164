package doclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dosignin/doclient"
)

// actionAPI answers POST /v2/droplets/7/actions with an in-progress action
// (or with fail, when set), GET /v2/actions/{id} and GET /v2/droplets/7,
// and counts the POSTs.
type actionAPI struct {
	posts atomic.Int64
	types sync.Map // action types received
	fail  func(w http.ResponseWriter)
	gate  chan struct{} // when set, a POST waits for it
}

func (a *actionAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/droplets/7/actions":
		a.posts.Add(1)
		var body struct{ Type string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		a.types.Store(body.Type, true)
		if a.gate != nil {
			<-a.gate
		}
		if a.fail != nil {
			a.fail(w)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"action": map[string]any{"id": 99, "status": "in-progress", "type": body.Type, "resource_id": 7, "resource_type": "droplet"}})
	case r.Method == http.MethodGet && r.URL.Path == "/v2/actions/99":
		writeJSON(w, http.StatusOK, map[string]any{"action": map[string]any{"id": 99, "status": "completed", "type": "reboot", "resource_id": 7, "resource_type": "droplet"}})
	case r.Method == http.MethodGet && r.URL.Path == "/v2/droplets/7":
		writeJSON(w, http.StatusOK, map[string]any{"droplet": map[string]any{"id": 7, "name": "web-1", "status": "active"}})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"id": "not_found", "message": "The resource you were accessing could not be found."})
	}
}

func TestDropletActionsThroughGodo(t *testing.T) {
	t.Parallel()
	api := &actionAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	ctx := context.Background()
	for _, typ := range []string{doclient.ActionReboot, doclient.ActionPowerCycle, doclient.ActionShutdown, doclient.ActionPowerOff, doclient.ActionPowerOn} {
		a, err := c.DropletAction(ctx, staticToken("doo_v1_x"), 7, typ, "")
		if err != nil || a.ID != 99 || a.Status != doclient.ActionInProgress {
			t.Fatalf("%s: %+v, %v", typ, a, err)
		}
		if _, ok := api.types.Load(typ); !ok {
			t.Errorf("%s: the API did not receive type %q", typ, typ)
		}
	}
	if _, err := c.DropletAction(ctx, staticToken("doo_v1_x"), 7, "destroy", ""); err == nil || api.posts.Load() != 5 {
		t.Errorf("an unknown type: %v, after %d POSTs", err, api.posts.Load())
	}
	if a, err := c.Action(ctx, staticToken("doo_v1_x"), 99); err != nil || a.Status != doclient.ActionCompleted {
		t.Errorf("Action: %+v, %v", a, err)
	}
	if d, err := c.Droplet(ctx, staticToken("doo_v1_x"), 7); err != nil || d.Name != "web-1" {
		t.Errorf("Droplet: %+v, %v", d, err)
	}
	_, err := c.Droplet(ctx, staticToken("doo_v1_x"), 8)
	var ae *doclient.APIError
	if !doclient.IsNotFound(err) || !errors.As(err, &ae) || ae.ID != "not_found" {
		t.Errorf("a missing droplet: %v", err)
	}
}

func TestDropletActionErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fail  func(w http.ResponseWriter)
		check func(error) bool
	}{
		{"422", func(w http.ResponseWriter) {
			writeJSON(w, 422, map[string]string{"id": "unprocessable_entity", "message": "Droplet is already powered on."})
		}, func(err error) bool {
			ae, ok := doclient.IsActionRefused(err)
			return ok && ae.Message == "Droplet is already powered on."
		}},
		{"403", func(w http.ResponseWriter) {
			writeJSON(w, 403, map[string]string{"id": "forbidden", "message": "You do not have access for the attempted action."})
		}, doclient.IsForbidden},
		{"404", func(w http.ResponseWriter) {
			writeJSON(w, 404, map[string]string{"id": "not_found", "message": "not found"})
		}, doclient.IsNotFound},
		{"500", func(w http.ResponseWriter) {
			writeJSON(w, 500, map[string]string{"id": "server_error", "message": "Server Error"})
		}, doclient.IsUnavailable},
		// A short 429 would be waited out for a GET; a POST is never sent again.
		{"429 short", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, map[string]string{"id": "too_many_requests", "message": "API Rate limit exceeded."})
		}, func(err error) bool {
			after, ok := doclient.IsRateLimited(err)
			return ok && after == time.Second
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := &actionAPI{fail: tc.fail}
			srv := httptest.NewServer(api)
			defer srv.Close()
			c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
			_, err := c.DropletAction(context.Background(), staticToken("doo_v1_x"), 7, doclient.ActionReboot, "")
			if !tc.check(err) {
				t.Errorf("err = %v", err)
			}
			if n := api.posts.Load(); n != 1 {
				t.Errorf("the POST was sent %d times, want once", n)
			}
		})
	}
}

func TestDropletActionTimeout(t *testing.T) {
	t.Parallel()
	api := &actionAPI{gate: make(chan struct{})}
	srv := httptest.NewServer(api)
	defer srv.Close()
	defer close(api.gate)
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL, func(cfg *doclient.Config) { cfg.Timeout = 100 * time.Millisecond })
	_, err := c.DropletAction(context.Background(), staticToken("doo_v1_x"), 7, doclient.ActionReboot, "")
	if !doclient.IsTimeout(err) || api.posts.Load() != 1 {
		t.Errorf("err = %v after %d POSTs, want a timeout after one", err, api.posts.Load())
	}
}

// Calls with the same one-time key share one POST, whether they overlap
// or come later; another key makes its own.
func TestDropletActionOncePerKey(t *testing.T) {
	t.Parallel()
	api := &actionAPI{gate: make(chan struct{})}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	ctx := context.Background()

	var wg sync.WaitGroup
	ids := make([]int, 5)
	for i := range ids {
		wg.Go(func() {
			a, err := c.DropletAction(ctx, staticToken("doo_v1_x"), 7, doclient.ActionReboot, "key-1")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = a.ID
		})
	}
	for api.posts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others arrive while it is in flight
	close(api.gate)
	wg.Wait()
	if n := api.posts.Load(); n != 1 {
		t.Fatalf("five calls with one key sent %d POSTs", n)
	}
	for _, id := range ids {
		if id != 99 {
			t.Errorf("a caller got action %d", id)
		}
	}
	if a, err := c.DropletAction(ctx, staticToken("doo_v1_x"), 7, doclient.ActionReboot, "key-1"); err != nil || a.ID != 99 || api.posts.Load() != 1 {
		t.Errorf("a later call with the key: %+v, %v, %d POSTs", a, err, api.posts.Load())
	}
	// The same key for another action is not the same confirmation.
	if _, err := c.DropletAction(ctx, staticToken("doo_v1_x"), 7, doclient.ActionPowerOff, "key-1"); err != nil || api.posts.Load() != 2 {
		t.Errorf("another action with the key: %v, %d POSTs", err, api.posts.Load())
	}
	if _, err := c.DropletAction(ctx, staticToken("doo_v1_x"), 7, doclient.ActionReboot, "key-2"); err != nil || api.posts.Load() != 3 {
		t.Errorf("another key: %v, %d POSTs", err, api.posts.Load())
	}
}

// A failure is remembered for the key as a success is: after a success
// answer without the action (the action may have started), the same
// confirmation gets the same error, with no second POST.
func TestDropletActionRemembersAFailureForTheKey(t *testing.T) {
	t.Parallel()
	api := &actionAPI{fail: func(w http.ResponseWriter) { writeJSON(w, http.StatusCreated, map[string]any{}) }}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	for i := range 2 {
		a, err := c.DropletAction(context.Background(), staticToken("doo_v1_x"), 7, doclient.ActionPowerOff, "key-1")
		if a != nil || !doclient.IsMalformed(err) || !doclient.IsUnavailable(err) {
			t.Errorf("call %d: %+v, %v; want no action and a malformed answer", i+1, a, err)
		}
	}
	if n := api.posts.Load(); n != 1 {
		t.Errorf("%d POSTs for one key, want 1", n)
	}
}
