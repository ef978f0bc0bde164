package handlers

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"

	"dosignin/doclient"
)

// The flow record: what the "How this worked" panel shows. doclient reports
// each step through a doclient.Trace, with its secrets already masked; the
// handlers keep the login steps and the last maxFlowEvents events after
// them in a cookie of their own (flowCookie), encrypted like the others and
// short-lived like the login cookie (10 minutes after its last write, and
// every page view writes it). Nothing in it is a secret, so it could be
// shown as it is; it is encrypted because it names the account.

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
type flowRecord struct {
	Steps  []flowStep `json:"l"`           // the login's steps, in order (fewer if it stopped), then its first droplet list
	Events []flowStep `json:"e,omitempty"` // later events, oldest first, at most maxFlowEvents
	Viewed bool       `json:"v,omitempty"` // the droplet page has shown the record once
	// StepUp, for a login that stepped a read-only session up to read &
	// write (handlers/actions.go), names the action it was for.
	StepUp string `json:"u,omitempty"`
}

// flowStep is one recorded step or event. Short JSON names: it lives in a
// cookie.
type flowStep struct {
	Kind string `json:"k"`
	// Milli is when it happened, in Unix milliseconds (0: unknown): a
	// number is a third of an RFC 3339 time's bytes, and much quicker to
	// encode and decode on every page view.
	Milli  int64       `json:"t,omitempty"`
	Micros int64       `json:"d,omitempty"` // how long it took
	Fields [][2]string `json:"f,omitempty"` // name, masked value
	Note   string      `json:"n,omitempty"` // the outcome, in a few words
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

// addEvent appends ev, keeping the last maxFlowEvents.
func (r *flowRecord) addEvent(ev flowStep) {
	r.Events = append(r.Events, ev)
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

// record appends what the request did after the login (refreshes, API
// calls with a "pages fetched" summary, a revoke) to rec, in that order.
// listed is how many droplets the page shows (-1 when it listed none) and
// took how long listing them took.
func (ft *flowTrace) record(rec *flowRecord, listed int, took time.Duration) {
	for _, t := range ft.refreshes() {
		rec.addEvent(refreshEvent(t))
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
		rec.addEvent(newStep(kindAPI, c.At, c.Duration, note, fields))
	}
	if listed >= 0 && len(calls) > 0 {
		rec.addEvent(newStep(kindPages, calls[0].At, took, fmt.Sprintf("%d page%s fetched, %d droplet%s", pages, plural(pages), listed, plural(listed)), nil))
	}
	for _, rv := range revokes {
		note := fmt.Sprintf("%d %s", rv.Status, http.StatusText(rv.Status))
		if rv.Error != "" {
			note = rv.Error
		}
		rec.addEvent(newStep(kindRevoke, rv.At, rv.Duration, note, []doclient.Field{
			{Name: "request", Value: "POST " + pathOf(rv.Endpoint)},
			{Name: "token", Value: rv.Token},
			{Name: "sent in", Value: "the POST body (token=…) and the Authorization: Bearer header"},
		}))
	}
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

// recordCodec turns a flow record into its cookie's value and back: JSON,
// compressed with DEFLATE (the record's repeated names and values make it
// about a third of its size), then signed and encrypted by securecookie
// with the keys of the other cookies. The compressed bytes are the whole
// payload (securecookie.NopEncoder): no gob or JSON wrapper around them.
//
// Every droplet page view reads and writes the record, so the codec is
// built for speed: flate.BestSpeed (the default level compresses a few
// bytes better for several times the work) and reused writers, readers and
// buffers. A DEFLATE writer is about 600 KB of tables, so the writers and
// readers live in small free lists (flateWriters), not in a sync.Pool: a
// pool is emptied at every other garbage collection, and under load each
// refill allocated those 600 KB again, which was most of the app's peak
// memory at 64 connections.
//
// (Compressing before encrypting can leak secrets through the length; the
// record holds none, only masked values.)
type recordCodec struct {
	codecs  []securecookie.Codec
	writers chan *flate.Writer
	readers chan io.ReadCloser
	buffers sync.Pool
}

// flateWriters is how many DEFLATE writers and readers the codec keeps.
// Encoding a record takes tens of microseconds without blocking, so more
// are in use at once only when the scheduler preempts one mid-record; a
// request that finds none free makes its own, and it is dropped after.
const flateWriters = 4

// newRecordCodec returns a codec with the app's key pairs (signing,
// encryption; newest first) whose cookies expire after maxAge.
func newRecordCodec(keyPairs [][]byte, maxAge time.Duration) *recordCodec {
	rc := &recordCodec{codecs: securecookie.CodecsFromPairs(keyPairs...),
		writers: make(chan *flate.Writer, flateWriters), readers: make(chan io.ReadCloser, flateWriters)}
	for _, c := range rc.codecs {
		sc := c.(*securecookie.SecureCookie)
		sc.MaxAge(int(maxAge / time.Second))
		sc.SetSerializer(securecookie.NopEncoder{})
	}
	return rc
}

// encode returns the cookie value of rec for the cookie called name.
func (rc *recordCodec) encode(name string, rec *flowRecord) (string, error) {
	z, _ := rc.buffers.Get().(*bytes.Buffer)
	if z == nil {
		z = new(bytes.Buffer)
	}
	defer rc.buffers.Put(z)
	z.Reset()
	var fw *flate.Writer
	select {
	case fw = <-rc.writers:
		fw.Reset(z)
	default:
		fw, _ = flate.NewWriter(z, flate.BestSpeed) // cannot fail with a valid level
	}
	defer func() {
		select {
		case rc.writers <- fw:
		default: // the list is full: this one goes
		}
	}()
	enc := json.NewEncoder(fw)
	enc.SetEscapeHTML(false) // "&" stays one byte; the template escapes what it shows
	if err := enc.Encode(rec); err != nil {
		return "", err
	}
	fw.Close()                                                     // writes to a bytes.Buffer do not fail
	return securecookie.EncodeMulti(name, z.Bytes(), rc.codecs...) // encrypting copies z
}

// decode returns the record in the cookie value, refusing more than 64 KB
// of JSON (a record is a few).
func (rc *recordCodec) decode(name, value string) (*flowRecord, error) {
	var z []byte
	if err := securecookie.DecodeMulti(name, value, &z, rc.codecs...); err != nil {
		return nil, err
	}
	var fr io.ReadCloser
	select {
	case fr = <-rc.readers:
		if err := fr.(flate.Resetter).Reset(bytes.NewReader(z), nil); err != nil {
			return nil, err
		}
	default:
		fr = flate.NewReader(bytes.NewReader(z))
	}
	defer func() {
		select {
		case rc.readers <- fr:
		default:
		}
	}()
	raw, _ := rc.buffers.Get().(*bytes.Buffer)
	if raw == nil {
		raw = new(bytes.Buffer)
	}
	defer rc.buffers.Put(raw)
	raw.Reset()
	if _, err := raw.ReadFrom(io.LimitReader(fr, 64<<10)); err != nil {
		return nil, err
	}
	var rec flowRecord
	if err := json.Unmarshal(raw.Bytes(), &rec); err != nil { // copies what it keeps
		return nil, err
	}
	return &rec, nil
}

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
func (s *Server) recordPage(w http.ResponseWriter, r *http.Request, ft *flowTrace, listed int, took time.Duration) *flowPanel {
	rec := s.sessions.loadRecord(r)
	if rec == nil {
		return nil
	}
	open := !rec.Viewed
	rec.Viewed = true
	ft.record(rec, listed, took)
	if last := len(rec.Events) - 1; open && len(rec.Steps) > 0 && last >= 0 && rec.Events[last].Kind == kindPages {
		// The login's first droplet list ends its timeline: kept with
		// the login steps, as the events scroll on.
		rec.Steps = append(rec.Steps, rec.Events[last])
	}
	s.keepRecord(w, r, rec)
	return panel(rec, open, s.sandbox)
}
