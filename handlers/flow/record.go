// Package flow keeps the record of what one login, and the requests after
// it, did at DigitalOcean, and turns it into the "How this worked" panel.
//
// doclient reports every request it makes through a [doclient.Trace], with
// the secrets already masked; [Collect] attaches one to a request's context
// and collects the reports. A [Record] holds the login's steps, numbered
// as in DigitalOcean's "An Introduction to OAuth 2", and the last events
// after them (refreshes, API calls, a revoke). The handlers keep it as JSON
// in a short-lived encrypted cookie of its own, and [NewPanel] builds what
// views/partials/flow.html shows from it. Nothing in a record is a secret;
// its cookie is encrypted because it names the account.
//
// The handlers call it at a few named points: [NewLogin] at step 1,
// [Record.Refused] or [Record.LoggedIn] at the callback, [Record.Add]
// after API calls and refreshes (or [Record.Reload], for a view that
// repeats the last one), and [Disconnected] at Disconnect.
package flow

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"dosignin/doclient"
)

const (
	// MaxEvents bounds the events kept after the login steps. The cookie's
	// size bound may keep fewer (the handlers drop the oldest to fit).
	MaxEvents = 10
	// maxValueLen bounds any one recorded value (a path, a name), so the
	// record fits its cookie whatever DigitalOcean answers.
	maxValueLen = 80
)

// Kinds of steps and events.
const (
	KindLink          = "link"     // step 1: the authorization link
	KindDecision      = "decision" // step 2: the user's answer at DigitalOcean
	KindCallback      = "callback" // step 3: the callback and its state check
	KindTokenRequest  = "token"    // step 4: the code traded at the token endpoint
	KindTokenResponse = "tokens"   // step 5: the tokens received
	KindListing       = "listing"  // a whole droplet listing (the first one ends the login's timeline)
	KindAPI           = "api"      // one API request
	KindRefresh       = "refresh"  // a refresh of the token pair
	KindRevoke        = "revoke"   // the revoke of Disconnect
)

// Record is what one login did, and what followed it.
type Record struct {
	// Steps are the login's steps in order (fewer when it stopped early),
	// then the first droplet listing after it.
	Steps []Step `json:"steps,omitempty"`
	// Events are what happened since, oldest first, at most MaxEvents.
	Events []Step `json:"events,omitempty"`
	// StepUp names the action a step-up to read & write was for (see
	// handlers/actions.go), when this login was one.
	StepUp string `json:"step_up,omitempty"`
	// Open asks the next page that shows the panel to show it open: set
	// when a login completes, then cleared by that page.
	Open bool `json:"open,omitempty"`
}

// Step is one recorded step or event. Its JSON names are one letter, and
// a login step's usual outcome is left to the panel to say (see
// usualNote): a record holds a few dozen steps and fields, and its cookie
// must stay under 4 KB.
type Step struct {
	Kind string        `json:"k"`
	At   time.Time     `json:"t"` // when it began
	Took time.Duration `json:"d"` // how long it took
	Note string        `json:"n,omitempty"`
	// Fields are the values sent or received, each a name and a value
	// safe to show (masked by doclient where secret).
	Fields [][2]string `json:"f,omitempty"`
}

// newStep makes a step, with its values cut to maxValueLen and its time
// to the millisecond (all the panel shows, and a shorter cookie).
func newStep(kind string, at time.Time, took time.Duration, note string, fields []doclient.Field) Step {
	st := Step{Kind: kind, At: at.UTC().Truncate(time.Millisecond), Took: took, Note: trim(note, maxValueLen)}
	if at.IsZero() {
		st.At = time.Time{}
	}
	for _, f := range fields {
		st.Fields = append(st.Fields, [2]string{f.Name, trim(f.Value, maxValueLen)})
	}
	return st
}

// field is the value of the step's field name, or "".
func (st Step) field(name string) string {
	for _, f := range st.Fields {
		if f[0] == name {
			return f[1]
		}
	}
	return ""
}

// end is when the step ended.
func (st Step) end() time.Time { return st.At.Add(st.Took) }

// NewLogin starts the record of a login at step 1, the authorization link
// that doclient reported building (see [Calls.Link]). stepUp names the
// action a step-up was started for ("" for a login from the index).
func NewLogin(link doclient.AuthorizeLink, took time.Duration, stepUp string) *Record {
	fields := append([]doclient.Field{{Name: "GET", Value: link.Endpoint}}, link.Params...)
	return &Record{Steps: []Step{newStep(KindLink, link.At, took, "", fields)}, StepUp: stepUp}
}

// Of reports whether r records the login that state started: its step 1
// sent that state. A callback uses it to tell its own login's record from
// an older one.
func (r *Record) Of(state string) bool {
	return r != nil && len(r.Steps) > 0 && r.Steps[0].Kind == KindLink &&
		r.Steps[0].field("state") == doclient.MaskState(state)
}

// Refused records steps 2 and 3 of a login that DigitalOcean answered with
// error (the user pressed Deny, or the request was refused), at arrived:
// the callback came, and its state was checked, but with no code.
func (r *Record) Refused(arrived time.Time, checks time.Duration, error string) {
	link := r.Steps[0]
	decision := newStep(KindDecision, link.end(), max(arrived.Sub(link.end()), 0), "not granted", []doclient.Field{
		{Name: "error", Value: error}})
	if error == "access_denied" {
		decision = newStep(KindDecision, link.end(), max(arrived.Sub(link.end()), 0), "denied", []doclient.Field{
			{Name: "decision", Value: "Deny"}, {Name: "error", Value: error}})
	}
	callback := newStep(KindCallback, arrived, checks, "state matches; no code, so no token request", []doclient.Field{
		{Name: "error", Value: error}, {Name: "state", Value: link.field("state")}})
	r.Steps = []Step{link, decision, callback}
	r.Open = false
}

// LoggedIn records steps 2 to 5 from what the callback learned: it arrived
// at arrived, its checks took checks, and tok is the token request of
// steps 4 and 5, whatever its outcome.
func (r *Record) LoggedIn(arrived time.Time, checks time.Duration, tok doclient.TokenRequest) {
	link := r.Steps[0]
	scope := ""
	for _, f := range tok.Received {
		if f.Name == "scope" {
			scope = f.Value
		}
	}
	// Step 2 lasts from the end of step 1 to the callback, so that the
	// timeline's bars lie end to end.
	decision := newStep(KindDecision, link.end(), max(arrived.Sub(link.end()), 0), "approved", []doclient.Field{{Name: "decision", Value: "Authorize"}})
	if scope != "" {
		decision.Fields = append(decision.Fields, [2]string{"scope granted", scope})
	}
	code := ""
	for _, f := range tok.Sent {
		if f.Name == "code" {
			code = f.Value
		}
	}
	callback := newStep(KindCallback, arrived, checks, "", []doclient.Field{
		{Name: "code", Value: code}, {Name: "state", Value: link.field("state")}})
	note := "200 OK"
	switch {
	case tok.Error != "":
		note = "refused: " + tok.Error
	case tok.Shared:
		note = "200 OK (shared with a callback sent twice)"
	}
	sent := append([]doclient.Field{{Name: "request", Value: "POST " + pathOf(tok.Endpoint)}}, tok.Sent...)
	r.Steps = []Step{link, decision, callback, newStep(KindTokenRequest, tok.At, tok.Duration, note, sent)}
	if tok.Error == "" {
		received := append(tok.Received, doclient.Field{Name: "access token expires", Value: clock(tok.Expiry)})
		r.Steps = append(r.Steps, newStep(KindTokenResponse, tok.At.Add(tok.Duration), 0, "", received))
		r.Open = true
	}
}

// Disconnected is the record of a Disconnect: only its events (the revoke),
// no login steps, which name the account that is forgotten.
func Disconnected(events []Step) *Record {
	r := &Record{}
	r.Add(events...)
	return r
}

// Add appends events, keeping the last MaxEvents. The first droplet listing
// after a completed login is also kept with its steps: it ends the login's
// timeline, however many events scroll by later. (A step-up's timeline
// ends at the action's confirmation, before any listing.)
func (r *Record) Add(events ...Step) {
	for _, ev := range events {
		if ev.Kind == KindListing && r.StepUp == "" && r.step(KindTokenResponse) && !r.step(KindListing) {
			ev.Fields = nil // the timeline shows its note and duration; the event, its requests
			r.Steps = append(r.Steps, ev)
		}
	}
	r.Events = append(r.Events, events...)
	if n := len(r.Events) - MaxEvents; n > 0 {
		r.Events = append([]Step(nil), r.Events[n:]...)
	}
}

// Reload reports whether evs repeat the record's newest events, as a
// reload of the same page does, the newest of them at or after since; if
// so, it puts evs in their place, so that this page's panel shows this
// view's times. Repeats are reads (GETs) that differ only in times,
// durations and what each answer counted: a listing's per-page outcomes
// and the rate-limit quota left. The handlers then leave the cookie as
// it was (see handlers/record.go).
func (r *Record) Reload(evs []Step, since time.Time) bool {
	n := len(r.Events) - len(evs)
	if len(evs) == 0 || n < 0 || r.Events[len(r.Events)-1].At.Before(since) {
		return false
	}
	for i, ev := range evs {
		if !ev.repeats(r.Events[n+i]) {
			return false
		}
	}
	r.Events = append(r.Events[:n:n], evs...)
	return true
}

// repeats reports whether st is old again, but for its times and counts
// (see Reload). Only reads repeat: a second action, refresh or revoke is
// news, whatever it looks like.
func (st Step) repeats(old Step) bool {
	reads := st.Kind == KindListing || (st.Kind == KindAPI && strings.HasPrefix(st.field("request"), http.MethodGet+" "))
	if !reads || st.Kind != old.Kind || st.Note != old.Note || len(st.Fields) != len(old.Fields) {
		return false
	}
	for i, f := range st.Fields {
		counts := st.Kind == KindListing || f[0] == "ratelimit-remaining"
		if f[0] != old.Fields[i][0] || (f[1] != old.Fields[i][1] && !counts) {
			return false
		}
	}
	return true
}

// DropOldest drops the oldest event, for a record that must shrink to fit
// its cookie; false when there is none left.
func (r *Record) DropOldest() bool {
	if len(r.Events) == 0 {
		return false
	}
	r.Events = r.Events[1:]
	return true
}

// Shorten cuts every value of the login steps to n characters: the last
// resort for a record that does not fit its cookie without events.
func (r *Record) Shorten(n int) {
	steps := make([]Step, len(r.Steps))
	for i, st := range r.Steps {
		st.Note = trim(st.Note, n)
		st.Fields = append([][2]string(nil), st.Fields...)
		for j := range st.Fields {
			st.Fields[j][1] = trim(st.Fields[j][1], n)
		}
		steps[i] = st
	}
	r.Steps = steps
}

// step reports whether the login steps hold one of kind.
func (r *Record) step(kind string) bool {
	_, ok := r.find(kind)
	return ok
}

// find returns the login step of kind.
func (r *Record) find(kind string) (Step, bool) {
	for _, st := range r.Steps {
		if st.Kind == kind {
			return st, true
		}
	}
	return Step{}, false
}

// events turns what doclient reported during one request into events:
// refreshes, API calls, listings and revokes, in that order. A listing's
// pages are one event with a row each, rather than an event each, so
// that a view of a large account does not push the earlier events out of
// the record's cookie.
func events(tokens []doclient.TokenRequest, calls []doclient.APICall, listings []doclient.DropletListing, revokes []doclient.RevokeRequest) []Step {
	var evs []Step
	for _, t := range tokens {
		if t.GrantType == doclient.GrantRefreshToken {
			evs = append(evs, refreshEvent(t))
		}
	}
	type listPage struct {
		number int // the page asked for, to sort by
		row    doclient.Field
	}
	var listPages []listPage
	for _, c := range calls {
		request := c.Method + " " + c.Path
		if len(listings) > 0 && isListPage(c) {
			outcome := statusNote(c.Status) + ", " + duration(c.Duration)
			if c.RateLimitRemaining != "" {
				outcome += ", ratelimit-remaining " + c.RateLimitRemaining
			}
			listPages = append(listPages, listPage{pageNumber(c.Path), doclient.Field{Name: request, Value: outcome}})
			continue
		}
		fields := []doclient.Field{{Name: "request", Value: request}}
		if c.RateLimitRemaining != "" {
			fields = append(fields, doclient.Field{Name: "ratelimit-remaining", Value: c.RateLimitRemaining})
		}
		evs = append(evs, newStep(KindAPI, c.At, c.Duration, statusNote(c.Status), fields))
	}
	// Pages fetched in parallel are reported as they complete: list them
	// in page order, as a reader expects and as a reload repeats them.
	slices.SortStableFunc(listPages, func(a, b listPage) int { return a.number - b.number })
	var pages []doclient.Field
	for _, lp := range listPages {
		pages = append(pages, lp.row)
	}
	for _, l := range listings {
		evs = append(evs, newStep(KindListing, l.At, l.Duration, fmt.Sprintf("%d page%s fetched, %d droplet%s", l.Pages, plural(l.Pages), l.Droplets, plural(l.Droplets)), pages))
		pages = nil
	}
	for _, rv := range revokes {
		note := statusNote(rv.Status)
		if rv.Error != "" {
			note = rv.Error
		}
		evs = append(evs, newStep(KindRevoke, rv.At, rv.Duration, note, []doclient.Field{
			{Name: "request", Value: "POST " + pathOf(rv.Endpoint)}, {Name: "token", Value: rv.Token}}))
	}
	return evs
}

// pageNumber is the page a list request asked for ("/v2/droplets?page=3&…"
// is 3), or 0.
func pageNumber(path string) int {
	_, query, _ := strings.Cut(path, "?")
	q, _ := url.ParseQuery(query)
	n, _ := strconv.Atoi(q.Get("page"))
	return n
}

// isListPage reports whether c asked for a page of the droplet list
// (GET /v2/droplets?page=…), not for one droplet or its actions.
func isListPage(c doclient.APICall) bool {
	return c.Method == http.MethodGet && strings.Contains(c.Path, "/v2/droplets?")
}

// refreshEvent is a refresh: why, how it ended, and the new pair's masked
// tokens and expiry.
func refreshEvent(t doclient.TokenRequest) Step {
	note := "why: " + reasonWords(t.Reason)
	if t.Error != "" {
		note += "; refused: " + t.Error
	} else if t.Shared {
		note += "; answered by the refresh another request had just made"
	}
	fields := []doclient.Field{{Name: "request", Value: "POST " + pathOf(t.Endpoint) + " grant_type=refresh_token"}}
	for _, f := range t.Received {
		if f.Name == "access_token" || f.Name == "refresh_token" {
			fields = append(fields, doclient.Field{Name: "new " + f.Name, Value: f.Value})
		}
	}
	if !t.Expiry.IsZero() {
		fields = append(fields, doclient.Field{Name: "new expiry", Value: clock(t.Expiry)})
	}
	return newStep(KindRefresh, t.At, t.Duration, note, fields)
}

// reasonWords says why doclient refreshed, in a learner's words.
func reasonWords(r doclient.RefreshReason) string {
	switch r {
	case doclient.RefreshAsked:
		return "you pressed Refresh now"
	case doclient.RefreshExpired:
		return "the access token had expired"
	case doclient.RefreshExpiresSoon:
		return "the access token had less than a minute left"
	case doclient.RefreshRefused:
		return "DigitalOcean refused the access token, which a refresh by a parallel request had replaced"
	}
	return string(r)
}

func statusNote(status int) string {
	if status == 0 {
		return "no answer"
	}
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

// pathOf is the path of an absolute URL, for display.
func pathOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[i+3+j:]
		}
	}
	return u
}

// clock is a time of day as the panel shows it.
func clock(t time.Time) string { return t.UTC().Format("15:04:05 MST") }

// trim shortens text for display, on a character boundary.
func trim(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
