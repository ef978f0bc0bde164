package flow

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
	"time"

	"dosignin/doclient"
)

// TestPanelNamesRealFunctions: each step's "Implemented by" names a
// function that exists in the file it names.
func TestPanelNamesRealFunctions(t *testing.T) {
	descs := steps()
	stepUp := descs[0]
	stepUp.file, stepUp.fn = "handlers/actions.go", "handleStepUp" // what NewPanel shows for a step-up
	for _, d := range append(descs[:], stepUp) {
		f, err := parser.ParseFile(token.NewFileSet(), "../../"+d.file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("step %q: %v", d.name, err)
		}
		found := false
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			name := fd.Name.Name
			if fd.Recv != nil {
				recv := fd.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); ok && id.Name != "Server" {
					name = id.Name + "." + name
				}
			}
			found = found || name == d.fn
		}
		if !found {
			t.Errorf("step %q names %s in %s, which does not declare it", d.name, d.fn, d.file)
		}
	}
}

// TestTimelineStepsLieEndToEnd: the time at DigitalOcean starts where step
// 1 ended, so the timeline counts step 1 once.
func TestTimelineStepsLieEndToEnd(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rec := NewLogin(doclient.AuthorizeLink{At: t0}, 100*time.Millisecond, "")
	rec.LoggedIn(t0.Add(time.Second), 0, doclient.TokenRequest{At: t0.Add(time.Second), Duration: 50 * time.Millisecond, Expiry: t0.Add(time.Hour)})
	if d := rec.Steps[1].Took; d != 900*time.Millisecond {
		t.Errorf("at DigitalOcean: %v, want 900ms (the callback came 1 s after /connect began, and step 1 took 100 ms)", d)
	}
	if _, total := timeline(rec); total != "1.1 s" {
		t.Errorf("timeline total %s, want 1.1 s", total)
	}
}

// TestTheFirstListingEndsTheLogin: the first droplet listing after a
// completed login joins its steps, once; a listing before the login
// completed, or a later one, is only an event.
func TestTheFirstListingEndsTheLogin(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	listing := func(n int) Step {
		return Step{Kind: KindListing, At: t0, Note: "1 page fetched", Took: time.Duration(n)}
	}
	rec := NewLogin(doclient.AuthorizeLink{At: t0}, 0, "")
	rec.Add(listing(1))
	if len(rec.Steps) != 1 {
		t.Fatalf("a listing before the tokens joined the login: %d steps", len(rec.Steps))
	}
	rec.LoggedIn(t0, 0, doclient.TokenRequest{At: t0, Expiry: t0.Add(time.Hour)})
	for i := range MaxEvents + 3 {
		rec.Add(listing(2 + i))
	}
	if len(rec.Steps) != 6 || rec.Steps[5].Took != 2 || len(rec.Events) != MaxEvents {
		t.Errorf("steps %d (the sixth took %v), events %d: want 6, the first listing after the login, and %d events", len(rec.Steps), rec.Steps[len(rec.Steps)-1].Took, len(rec.Events), MaxEvents)
	}
	if !rec.Open {
		t.Error("a completed login does not ask for the panel to be shown open")
	}
}

// TestDurations: the panel shows durations to a useful precision.
func TestDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		176 * time.Microsecond:  "0.2 ms",
		2 * time.Millisecond:    "2 ms",
		35 * time.Millisecond:   "35 ms",
		1500 * time.Millisecond: "1.5 s",
		75 * time.Second:        "1 min 15 s",
		2 * time.Hour:           "2 h 0 min",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestReloadRepeatsOnlyReads: a view that repeats the newest events but
// for times and counts is a reload, within the time given; an action, a
// different request or an older record is not.
func TestReloadRepeatsOnlyReads(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	listing := func(at time.Time, outcome string) Step {
		return Step{Kind: KindListing, At: at, Note: "1 page fetched, 3 droplets",
			Fields: [][2]string{{"GET /v2/droplets?page=1&per_page=200", outcome}}}
	}
	api := func(at time.Time, request, quota string) Step {
		return Step{Kind: KindAPI, At: at, Note: "200 OK", Fields: [][2]string{{"request", request}, {"ratelimit-remaining", quota}}}
	}
	later := t0.Add(10 * time.Second)
	for _, tc := range []struct {
		name string
		old  []Step
		evs  []Step
		want bool
	}{
		{"the same listing", []Step{listing(t0, "200 OK, 3 ms")}, []Step{listing(later, "200 OK, 5 ms, ratelimit-remaining 4990")}, true},
		{"the same read", []Step{api(t0, "GET /v2/droplets/1", "4999")}, []Step{api(later, "GET /v2/droplets/1", "4998")}, true},
		{"another droplet", []Step{api(t0, "GET /v2/droplets/1", "4999")}, []Step{api(later, "GET /v2/droplets/2", "4999")}, false},
		{"another outcome", []Step{api(t0, "GET /v2/droplets/1", "4999")}, []Step{{Kind: KindAPI, At: later, Note: "404 Not Found", Fields: [][2]string{{"request", "GET /v2/droplets/1"}}}}, false},
		{"an action again", []Step{api(t0, "POST /v2/droplets/1/actions", "4999")}, []Step{api(later, "POST /v2/droplets/1/actions", "4998")}, false},
		{"more than the record holds", nil, []Step{listing(later, "")}, false},
		{"a record older than since", []Step{listing(t0.Add(-2*time.Minute), "")}, []Step{listing(later, "")}, false},
	} {
		rec := &Record{Events: append([]Step{api(t0, "GET /v2/account", "5000")}, tc.old...)}
		if got := rec.Reload(tc.evs, t0.Add(-time.Minute)); got != tc.want {
			t.Errorf("%s: Reload = %v, want %v", tc.name, got, tc.want)
			continue
		}
		if tc.want && (len(rec.Events) != 2 || !rec.Events[1].At.Equal(later)) {
			t.Errorf("%s: the reload's events are not shown in place of the old ones: %+v", tc.name, rec.Events)
		}
	}
}

// TestListingPagesInPageOrder: pages fetched in parallel are reported as
// they complete, and recorded in page order, so that a reload that got
// them in another order repeats the view before it.
func TestListingPagesInPageOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	view := func(order ...int) []Step {
		var calls []doclient.APICall
		for _, p := range order {
			calls = append(calls, doclient.APICall{Method: "GET", Path: fmt.Sprintf("/v2/droplets?page=%d&per_page=200", p), Status: 200, At: t0})
		}
		return events(nil, calls, []doclient.DropletListing{{Droplets: 2100, Pages: len(order), At: t0}}, nil)
	}
	first := view(1, 10, 2, 3, 4, 5, 6, 7, 8, 9, 11)
	var got []int
	for _, f := range first[0].Fields {
		got = append(got, pageNumber(f[0]))
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Errorf("pages recorded in the order %v, want %v", got, want)
	}
	rec := &Record{Events: first}
	if !rec.Reload(view(1, 3, 2, 11, 4, 5, 6, 7, 8, 9, 10), t0) {
		t.Error("a reload whose pages completed in another order is not a repeat")
	}
}
