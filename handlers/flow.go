package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"dosignin/doclient"
)

// The flow record: what the "How this worked" panel shows. doclient reports
// each step through a doclient.Trace, with its secrets already masked; the
// handlers keep the login steps and the last maxFlowEvents events after
// them in a cookie of their own (flowCookie), encrypted like the others and
// short-lived like the login cookie (10 minutes after its last write). A
// droplet page view writes it when it adds something new; a reload that
// only repeats the record's newest events is shown in their place instead
// (see recordPage). Nothing in it is a secret, so it could be shown as it
// is; it is encrypted because it names the account.

const (
	// maxFlowEvents bounds the events kept after the login steps.
	maxFlowEvents = 10
	// maxFieldLen bounds any one recorded value (a path, a name), so the
	// record fits its cookie whatever DigitalOcean answers.
	maxFieldLen = 80
)

// Kinds of recorded steps and events.
const (
	kindLink          = "link"     // step 1
	kindDecision      = "decision" // step 2
	kindCallback      = "callback" // step 3
	kindTokenRequest  = "token"    // step 4
	kindTokenResponse = "tokens"   // step 5
	kindAPI           = "api"
	kindPages         = "pages"
	kindRefresh       = "refresh"
	kindRevoke        = "revoke"
)

// flowRecord is the record of one login and what followed.
// Its cookie's value is written by recordCodec (handlers/flowcodec.go).
type flowRecord struct {
	Steps  []flowStep // the login's steps, in order (fewer if it stopped), then its first droplet list
	Events []flowStep // later events, oldest first, at most maxFlowEvents
	Viewed bool       // the droplet page has shown the record once
	// StepUp, for a login that stepped a read-only session up to read &
	// write (handlers/actions.go), names the action it was for.
	StepUp string
	// Written is when saveRecord last wrote the cookie (to the second),
	// which then lives loginTTL more.
	Written time.Time
}

// flowStep is one recorded step or event.
type flowStep struct {
	Kind string
	// Milli is when it happened, in Unix milliseconds (0: unknown).
	Milli  int64
	Micros int64       // how long it took
	Fields [][2]string // name, masked value
	Note   string      // the outcome, in a few words
}

func (f flowStep) duration() time.Duration { return time.Duration(f.Micros) * time.Microsecond }

// at is when the step happened, or the zero time if unknown.
func (f flowStep) at() time.Time {
	if f.Milli == 0 {
		return time.Time{}
	}
	return time.UnixMilli(f.Milli).UTC()
}

func newStep(kind string, at time.Time, d time.Duration, note string, fields []doclient.Field) flowStep {
	st := flowStep{Kind: kind, Micros: d.Microseconds(), Note: trim(note, maxFieldLen)}
	if !at.IsZero() {
		st.Milli = at.UnixMilli()
	}
	for _, f := range fields {
		st.Fields = append(st.Fields, [2]string{f.Name, trim(f.Value, maxFieldLen)})
	}
	return st
}

// step returns the login step of kind, if recorded.
func (r *flowRecord) step(kind string) (flowStep, bool) {
	for _, st := range r.Steps {
		if st.Kind == kind {
			return st, true
		}
	}
	return flowStep{}, false
}

// addEvents appends evs, keeping the last maxFlowEvents.
func (r *flowRecord) addEvents(evs ...flowStep) {
	r.Events = append(r.Events, evs...)
	if n := len(r.Events) - maxFlowEvents; n > 0 {
		r.Events = append([]flowStep(nil), r.Events[n:]...)
	}
}

// flowTrace collects what doclient reports during one request. API calls
// arrive from several goroutines at once.
type flowTrace struct {
	mu     sync.Mutex
	links  []doclient.AuthorizeLink
	tokens []doclient.TokenRequest
	revoke []doclient.RevokeRequest
	calls  []doclient.APICall
}

// traced returns ctx carrying a Trace that collects into the returned
// flowTrace.
func traced(ctx context.Context) (context.Context, *flowTrace) {
	ft := &flowTrace{}
	add := func(f func()) { ft.mu.Lock(); defer ft.mu.Unlock(); f() }
	return doclient.WithTrace(ctx, &doclient.Trace{
		AuthorizeLink: func(l doclient.AuthorizeLink) { add(func() { ft.links = append(ft.links, l) }) },
		TokenRequest:  func(t doclient.TokenRequest) { add(func() { ft.tokens = append(ft.tokens, t) }) },
		Revoke:        func(rv doclient.RevokeRequest) { add(func() { ft.revoke = append(ft.revoke, rv) }) },
		APICall:       func(c doclient.APICall) { add(func() { ft.calls = append(ft.calls, c) }) },
	}), ft
}

// empty reports whether the request did nothing the record keeps, so that
// the record's cookie need not be read or written again.
func (ft *flowTrace) empty() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return len(ft.tokens)+len(ft.revoke)+len(ft.calls) == 0
}

// refreshes returns the refreshes the request made.
func (ft *flowTrace) refreshes() []doclient.TokenRequest {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var out []doclient.TokenRequest
	for _, t := range ft.tokens {
		if t.GrantType == doclient.GrantRefreshToken {
			out = append(out, t)
		}
	}
	return out
}

// record appends what the request did after the login to rec (see
// events).
func (ft *flowTrace) record(rec *flowRecord, listed int, took time.Duration) {
	rec.addEvents(ft.events(listed, took)...)
}

// events is what the request did after the login, as the record keeps it:
// refreshes, API calls with a "pages fetched" summary, a revoke, in that
// order. listed is how many droplets the page shows (-1 when it listed
// none) and took how long listing them took.
func (ft *flowTrace) events(listed int, took time.Duration) []flowStep {
	var evs []flowStep
	for _, t := range ft.refreshes() {
		evs = append(evs, refreshEvent(t))
	}
	ft.mu.Lock()
	calls, revokes := append([]doclient.APICall(nil), ft.calls...), append([]doclient.RevokeRequest(nil), ft.revoke...)
	ft.mu.Unlock()
	pages := 0
	for _, c := range calls {
		if strings.Contains(c.Path, "/v2/droplets") {
			pages++
		}
		note := fmt.Sprintf("%d %s", c.Status, http.StatusText(c.Status))
		if c.Status == 0 {
			note = "no answer"
		}
		fields := []doclient.Field{{Name: "request", Value: c.Method + " " + c.Path}}
		if c.RateLimitRemaining != "" {
			fields = append(fields, doclient.Field{Name: "ratelimit-remaining", Value: c.RateLimitRemaining})
		}
		evs = append(evs, newStep(kindAPI, c.At, c.Duration, note, fields))
	}
	if listed >= 0 && len(calls) > 0 {
		evs = append(evs, newStep(kindPages, calls[0].At, took, fmt.Sprintf("%d page%s fetched, %d droplet%s", pages, plural(pages), listed, plural(listed)), nil))
	}
	for _, rv := range revokes {
		note := fmt.Sprintf("%d %s", rv.Status, http.StatusText(rv.Status))
		if rv.Error != "" {
			note = rv.Error
		}
		evs = append(evs, newStep(kindRevoke, rv.At, rv.Duration, note, []doclient.Field{
			{Name: "request", Value: "POST " + pathOf(rv.Endpoint)},
			{Name: "token", Value: rv.Token},
			{Name: "sent in", Value: "the POST body (token=…) and the Authorization: Bearer header"},
		}))
	}
	return evs
}

// refreshEvent is a refresh as the record keeps it: why, the result and
// the new expiry. The request's shape is step 4's with grant_type
// refresh_token; the panel says so.
func refreshEvent(t doclient.TokenRequest) flowStep {
	note := "why: " + string(t.Reason)
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
		fields = append(fields, doclient.Field{Name: "new expiry", Value: t.Expiry.UTC().Format("15:04:05 MST")})
	}
	return newStep(kindRefresh, t.At, t.Duration, note, fields)
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

// loginSteps turns what the callback learned into steps 2 to 5. link is
// step 1, as recorded at /connect; arrived is when the callback came in;
// checks is how long the callback's checks took before the token request.
func loginSteps(link flowStep, arrived time.Time, checks time.Duration, tok doclient.TokenRequest) []flowStep {
	code := sentField(tok, "code")
	var scope string
	for _, f := range tok.Received {
		if f.Name == "scope" {
			scope = f.Value
		}
	}
	// At DigitalOcean: from the end of step 1 to the callback, so that the
	// timeline's bars lie end to end.
	var inDO time.Duration
	if !link.at().IsZero() {
		inDO = max(arrived.Sub(link.at())-link.duration(), 0)
	}
	decision := newStep(kindDecision, link.at().Add(link.duration()), inDO, "approved", []doclient.Field{{Name: "decision", Value: "Authorize"}})
	if scope != "" {
		decision.Fields = append(decision.Fields, [2]string{"scope granted", scope})
	}
	callback := newStep(kindCallback, arrived, checks, "state matches the login cookie of this browser", []doclient.Field{
		{Name: "code", Value: code},
		{Name: "state", Value: fieldOf(link, "state")},
		{Name: "state check", Value: "matches the login cookie of this browser"},
	})
	sent := append([]doclient.Field{{Name: "request", Value: "POST " + pathOf(tok.Endpoint)}}, tok.Sent...)
	sent = append(sent, doclient.Field{Name: "credentials sent in", Value: "the POST body (application/x-www-form-urlencoded)"})
	note := "200 OK"
	if tok.Error != "" {
		note = "refused: " + tok.Error
	} else if tok.Shared {
		note = "200 OK (shared with a callback sent twice)"
	}
	request := newStep(kindTokenRequest, tok.At, tok.Duration, note, sent)
	steps := []flowStep{link, decision, callback, request}
	if tok.Error == "" {
		received := append([]doclient.Field(nil), tok.Received...)
		received = append(received, doclient.Field{Name: "access token expires", Value: tok.Expiry.UTC().Format("15:04:05 MST")})
		steps = append(steps, newStep(kindTokenResponse, tok.At.Add(tok.Duration), 0, "saved in a new encrypted session cookie", received))
	}
	return steps
}

// sentField is the value of a field of the token request.
func sentField(t doclient.TokenRequest, name string) string {
	for _, f := range t.Sent {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// fieldOf is the value of a recorded field.
func fieldOf(st flowStep, name string) string {
	for _, f := range st.Fields {
		if f[0] == name {
			return f[1]
		}
	}
	return ""
}

// loadRecord returns the browser's flow record, or nil.
func (s *sessionStore) loadRecord(r *http.Request) *flowRecord {
	c, err := r.Cookie(s.names[flowCookie])
	if err != nil {
		return nil
	}
	rec, err := s.records.decode(s.names[flowCookie], c.Value)
	if err != nil || len(rec.Steps)+len(rec.Events) == 0 {
		return nil
	}
	return rec
}

// saveRecord writes the flow record. If the encoded cookie would pass
// maxRecordCookie (values at their longest), it drops the oldest events
// until it fits, then shortens the login steps' values: the record is a
// teaching aid, and losing its tail beats losing the cookie. Losing it
// loses only the panel, so callers log an error and go on.
func (s *sessionStore) saveRecord(w http.ResponseWriter, r *http.Request, rec *flowRecord) error {
	name := s.names[flowCookie]
	cp := *rec
	cp.Written = s.now()
	for shortened := false; ; {
		// securecookie refuses values over 4096 bytes: too big, like a
		// value over maxRecordCookie.
		encoded, err := s.records.encode(name, &cp)
		switch {
		case err != nil && shortened:
			return fmt.Errorf("saving cookie %s: %w", flowCookie, err)
		case err == nil && (len(encoded) <= maxRecordCookie || shortened):
			s.writeEncoded(w, s.short, flowCookie, encoded)
			return nil
		case len(cp.Events) > 0:
			cp.Events = cp.Events[1:] // a shorter view of rec's, which stays as it is
		default:
			cp.Steps = shorten(cp.Steps, 16)
			shortened = true
		}
	}
}

// maxRecordCookie bounds the flow cookie's value: browsers keep cookies of
// up to 4096 bytes, name and attributes included.
const maxRecordCookie = 3800

// shorten returns steps with every value cut to n characters.
func shorten(steps []flowStep, n int) []flowStep {
	out := make([]flowStep, len(steps))
	for i, st := range steps {
		st.Fields = slices.Clone(st.Fields)
		for j := range st.Fields {
			st.Fields[j][1] = trim(st.Fields[j][1], n)
		}
		st.Note = trim(st.Note, n)
		out[i] = st
	}
	return out
}

// keepRecord saves rec, logging a failure.
func (s *Server) keepRecord(w http.ResponseWriter, r *http.Request, rec *flowRecord) {
	if err := s.sessions.saveRecord(w, r, rec); err != nil {
		s.log.Warn("saving the flow record failed", "error", err)
	}
}

// addToRecord adds what a request other than a droplet page view did (a
// refresh) to the browser's record. A request that did nothing of the kind
// leaves the cookie alone, unread.
func (s *Server) addToRecord(w http.ResponseWriter, r *http.Request, ft *flowTrace) {
	if ft.empty() {
		return
	}
	if rec := s.sessions.loadRecord(r); rec != nil {
		ft.record(rec, -1, 0)
		s.keepRecord(w, r, rec)
	}
}

// recordPage adds what this droplet page view did to the browser's record
// and returns the panel: open on the first view after a login.
//
// A reload usually repeats what the view before it did (the same calls, the
// same answers), and rewriting the cookie for it would cost every view an
// encode and a Set-Cookie. Such a view is not saved: the panel shows it in
// place of the record's newest events, with this view's times and remaining
// quota. (Only this panel shows them: the next saved view, and a droplet's
// own page, show the stored times of the events it replaced.) The cookie is
// still rewritten when its last write is older than recordKeepAlive, so
// that it outlives the user's reading.
func (s *Server) recordPage(w http.ResponseWriter, r *http.Request, ft *flowTrace, listed int, took time.Duration) *flowPanel {
	rec := s.sessions.loadRecord(r)
	if rec == nil {
		return nil
	}
	evs := ft.events(listed, took)
	if rec.repeatedBy(evs, s.now()) {
		copy(rec.Events[len(rec.Events)-len(evs):], evs) // shown, not saved
		return panel(rec, false, s.sandbox)
	}
	open := !rec.Viewed
	rec.Viewed = true
	rec.addEvents(evs...)
	if last := len(rec.Events) - 1; open && len(rec.Steps) > 0 && last >= 0 && rec.Events[last].Kind == kindPages {
		// The login's first droplet list ends its timeline: kept with
		// the login steps, as the events scroll on.
		rec.Steps = append(rec.Steps, rec.Events[last])
	}
	s.keepRecord(w, r, rec)
	return panel(rec, open, s.sandbox)
}

// recordKeepAlive is how old the record's cookie may get before a view
// that adds nothing new rewrites it anyway. Its cookie lives loginTTL (10
// minutes) after a write, so a reload always leaves it at least 9 minutes
// of reading, for at most one write a minute.
const recordKeepAlive = time.Minute

// repeatedBy reports whether a page view whose events are evs, at now,
// can leave the record's cookie as it is: the record has been shown
// before, was written less than recordKeepAlive ago, and ends with evs in
// all but their times, durations and remaining quota.
func (r *flowRecord) repeatedBy(evs []flowStep, now time.Time) bool {
	age := now.Sub(r.Written)
	if !r.Viewed || age < 0 || age >= recordKeepAlive || len(evs) == 0 || len(evs) > len(r.Events) {
		return false
	}
	for i, ev := range evs {
		if !sameShape(r.Events[len(r.Events)-len(evs)+i], ev) {
			return false
		}
	}
	return true
}

// sameShape reports whether a and b are the same event at another time.
func sameShape(a, b flowStep) bool {
	if a.Kind != b.Kind || a.Note != b.Note || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i, f := range a.Fields {
		if f[0] != b.Fields[i][0] || (f[1] != b.Fields[i][1] && f[0] != "ratelimit-remaining") {
			return false
		}
	}
	return true
}
