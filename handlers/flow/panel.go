package flow

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Panel is the data of views/partials/flow.html: the "How this worked"
// panel. Every value is plain text; the template escapes it.
type Panel struct {
	Open bool // the <details> starts open
	// Disconnected: the record holds only what Disconnect did.
	Disconnected bool
	// StepUp names the action a step-up to read & write was for, when the
	// login was one.
	StepUp string
	// Stopped explains a login that DigitalOcean answered without a code.
	Stopped string
	// Timeline is the login's steps end to end, from TimelineFrom to
	// TimelineTo; Total their sum.
	Timeline                 []Bar
	TimelineFrom, TimelineTo string
	Total                    string
	Steps                    []StepView
	Events                   []EventView // newest first
	// Summary is the record in one sentence, for the line that stands in
	// for the panel on the views where it is not open.
	Summary string
}

// StepView is one of the five steps, as DigitalOcean's tutorial names it.
type StepView struct {
	Number   int
	Name     string
	Why      string // one sentence: why the step exists
	Recorded bool   // the record has this step
	Took     string // how long it took; "" when not recorded
	Note     string // how it ended
	// Func and File say where the step is implemented. AtDigitalOcean
	// marks step 2 against DigitalOcean: its consent page, not this app's
	// code (Func and File then name the sandbox's stand-in).
	Func, File     string
	AtDigitalOcean bool
	Fields         []Field
}

// EventView is one event after the login.
type EventView struct {
	At     string // the time of day
	Title  string
	Note   string
	Took   string
	Fields []Field
}

// Field is a recorded value and its name.
type Field struct{ Name, Value string }

// Bar is one bar of the timeline. X and Width are in percent of the whole,
// for SVG attributes (the CSP forbids inline styles).
type Bar struct {
	Label    string
	X, Width string
	Took     string
}

// stepDesc describes one step of the authorization-code flow.
type stepDesc struct {
	kind, name, why, file, fn string
}

// steps describes the five steps, named and numbered as in DigitalOcean's
// "An Introduction to OAuth 2". TestPanelNamesRealFunctions checks that
// each function is declared in the file named.
func steps() [5]stepDesc {
	return [5]stepDesc{
		{KindLink, "Authorization code link",
			"The app sends you to DigitalOcean with who it is, where to come back, what it asks for, and a state and PKCE challenge that tie the answer to this browser.",
			"handlers/auth.go", "handleConnect"},
		{KindDecision, "User authorizes application",
			"Only you can grant access, on DigitalOcean's own page, so the app never sees your password.",
			"sandbox/authorize.go", "decide"},
		{KindCallback, "Application receives authorization code",
			"DigitalOcean sends your browser back with a one-time code; the app checks the state first, so nobody can slip their own code into your browser.",
			"handlers/auth.go", "handleCallback"},
		{KindTokenRequest, "Application requests access token",
			"The code alone is not enough: the app proves who it is with its client secret, and that it started this login with the PKCE verifier, in a request your browser never sees.",
			"doclient/doclient.go", "Client.Exchange"},
		{KindTokenResponse, "Application receives access token",
			"The access token authorizes API calls and the refresh token renews it; both go straight into an encrypted cookie, never into a page.",
			"handlers/session.go", "sessionStore.start"},
	}
}

// explanations are the fields the panel adds to a recorded step or event:
// facts about how the app sends a request, the same every time, so not
// worth a place in the record's cookie.
func explanations(kind string) []Field {
	switch kind {
	case KindCallback:
		return []Field{{"state check", "matches the login cookie of this browser"}}
	case KindTokenRequest:
		return []Field{{"credentials sent in", "the POST body (application/x-www-form-urlencoded)"}}
	case KindRevoke:
		return []Field{{"sent in", "the POST body (token=…) and the Authorization: Bearer header"}}
	}
	return nil
}

// usualNote is how a login step usually ends, which the record leaves
// unsaid.
func usualNote(kind string, stepUp bool) string {
	switch {
	case kind == KindLink && stepUp:
		return "step-up: redirected to DigitalOcean for read write"
	case kind == KindLink:
		return "redirected to DigitalOcean"
	case kind == KindCallback:
		return "state matches the login cookie of this browser"
	case kind == KindTokenResponse:
		return "saved in a new encrypted session cookie"
	}
	return ""
}

// NewPanel builds the panel of rec (nil: none). open starts it open;
// sandbox says whether the sandbox plays DigitalOcean, so that step 2 is
// this program's code.
func NewPanel(rec *Record, open, sandbox bool) *Panel {
	if rec == nil {
		return nil
	}
	p := &Panel{Open: open, Disconnected: len(rec.Steps) == 0, StepUp: rec.StepUp}
	for i, d := range steps() {
		if i == 0 && rec.StepUp != "" {
			// Step 1 of a step-up starts at the action's button.
			d.file, d.fn = "handlers/actions.go", "handleStepUp"
		}
		st, recorded := rec.find(d.kind)
		v := StepView{Number: i + 1, Name: d.name, Why: d.why, Recorded: recorded, Func: d.fn, File: d.file,
			AtDigitalOcean: d.kind == KindDecision && !sandbox}
		if recorded {
			v.Took, v.Fields, v.Note = duration(st.Took), fields(st), cmp.Or(st.Note, usualNote(st.Kind, rec.StepUp != ""))
		}
		p.Steps = append(p.Steps, v)
	}
	if st, ok := rec.find(KindDecision); ok && st.field("error") != "" {
		e := st.field("error")
		p.Stopped = "Step 2: DigitalOcean sent back error=" + e + " (" + AuthorizeError(e) + ") instead of a code. The app got no code, so it asked for no token: steps 4 and 5 did not happen."
		if e == "access_denied" {
			p.Stopped = "Step 2: you chose Deny; DigitalOcean sent back error=access_denied. The app got no code, so it asked for no token: steps 4 and 5 did not happen."
		}
	}
	p.Timeline, p.Total = timeline(rec)
	p.TimelineFrom, p.TimelineTo = timelineEnds(rec)
	p.Summary = summary(rec, p.Total)
	for i := len(rec.Events) - 1; i >= 0; i-- {
		ev := rec.Events[i]
		p.Events = append(p.Events, EventView{At: ev.At.Format("15:04:05"), Title: eventTitle(ev.Kind), Note: ev.Note, Took: duration(ev.Took), Fields: fields(ev)})
	}
	return p
}

// AuthorizeError says what an error of the authorization response means
// (RFC 6749 §4.1.2.1): why DigitalOcean sent the browser back without a
// code. Only access_denied means that the user said no.
func AuthorizeError(code string) string {
	switch code {
	case "access_denied":
		return "you, or DigitalOcean on your behalf, refused the request"
	case "invalid_request":
		return "the authorization link was malformed: a parameter missing, repeated or invalid"
	case "unauthorized_client":
		return "this app may not ask for a code this way"
	case "unsupported_response_type":
		return "DigitalOcean does not hand out what the link asked for (response_type)"
	case "invalid_scope":
		return "the link asked for a scope DigitalOcean does not know or this app may not have"
	case "server_error":
		return "DigitalOcean failed while answering; trying again later may work"
	case "temporarily_unavailable":
		return "DigitalOcean is too busy or down for a moment; try again shortly"
	}
	return "an error this app does not know"
}

// fields are a step's recorded values, then the panel's explanations of it.
func fields(st Step) []Field {
	out := make([]Field, 0, len(st.Fields)+1)
	for _, f := range st.Fields {
		out = append(out, Field{f[0], f[1]})
	}
	if st.Kind != KindCallback || st.field("code") != "" {
		out = append(out, explanations(st.Kind)...)
	}
	return out
}

// summary says in a sentence what rec holds: the login's steps and how
// long they took, and what happened since.
func summary(rec *Record, total string) string {
	var calls, refreshes int
	for _, ev := range rec.Events {
		switch ev.Kind {
		case KindAPI:
			calls++
		case KindListing:
			calls += max(len(ev.Fields), 1) // a row per page
		case KindRefresh:
			refreshes++
		}
	}
	what := "This login's five steps"
	if rec.StepUp != "" {
		what = "This step-up's steps"
	}
	if len(rec.Steps) == 0 {
		what = "What Disconnect did"
	}
	if total != "" && len(rec.Steps) > 0 {
		what += " (" + total + ")"
	}
	if len(rec.Events) == 0 {
		return what + ", with what each sent and received."
	}
	since := fmt.Sprintf("%d API request%s", calls, plural(calls))
	if refreshes == 1 {
		since += " and a refresh"
	} else if refreshes > 1 {
		since += fmt.Sprintf(" and %d refreshes", refreshes)
	}
	return what + ", and since then " + since + ", the last at " + rec.Events[len(rec.Events)-1].At.Format("15:04:05") + "."
}

// eventTitle names an event after the login.
func eventTitle(kind string) string {
	switch kind {
	case KindAPI:
		return "API call"
	case KindListing:
		return "Droplet list"
	case KindRefresh:
		return "Token refreshed"
	case KindRevoke:
		return "Token revoked (Disconnect)"
	}
	return kind
}

// timeline lays the login's steps end to end, from /connect to the first
// droplet list, each bar at least 0.5% wide so that a fast step stays
// visible.
func timeline(rec *Record) ([]Bar, string) {
	type segment struct {
		label string
		took  time.Duration
	}
	var segs []segment
	for i, d := range steps() {
		if st, ok := rec.find(d.kind); ok {
			segs = append(segs, segment{fmt.Sprintf("%d. %s", i+1, d.name), st.Took})
		}
	}
	if st, ok := rec.find(KindListing); ok {
		segs = append(segs, segment{"Droplet list (API calls)", st.Took})
	}
	var total time.Duration
	for _, s := range segs {
		total += s.took
	}
	var bars []Bar
	var at time.Duration
	for _, s := range segs {
		x, w := 0.0, 100.0
		if total > 0 {
			x, w = 100*float64(at)/float64(total), 100*float64(s.took)/float64(total)
		}
		w = max(w, 0.5)
		x = min(x, 100-w)
		bars = append(bars, Bar{Label: s.label, X: strconv.FormatFloat(x, 'f', 2, 64), Width: strconv.FormatFloat(w, 'f', 2, 64), Took: duration(s.took)})
		at += s.took
	}
	return bars, duration(total)
}

// timelineEnds says where the login's timeline starts and ends: at
// /connect, or at the action's button for a step-up; at the first droplet
// list, the action's confirmation (a step-up), the tokens, or wherever the
// login stopped.
func timelineEnds(rec *Record) (from, to string) {
	from = "/connect"
	if rec.StepUp != "" {
		from = "the action's button"
	}
	switch {
	case rec.step(KindListing):
		to = "the droplet list"
	case rec.step(KindTokenResponse) && rec.StepUp != "":
		to = "the action's confirmation"
	case rec.step(KindTokenResponse):
		to = "the tokens"
	case rec.step(KindTokenRequest):
		to = "the refused token request"
	case rec.step(KindCallback):
		to = "DigitalOcean's answer"
	default:
		to = "DigitalOcean"
	}
	return from, to
}

// TokenStatus is the data of the token status box beside the panel.
type TokenStatus struct {
	Access    string // what the token may do, in words
	Scope     string // as DigitalOcean sent it
	Expires   string // the clock time and how far off it is, or that it has expired
	Refreshed string // "not since you connected", or a clock time and how long ago
	// RequestsLeft is how many API requests the token may still make
	// ("4987 of 5000 this hour"), when the API said; the page that made
	// the request sets it.
	RequestsLeft string
}

// NewTokenStatus describes a session's token at now: its scope (access
// says it in words), expiry and last refresh (zero: none since login).
func NewTokenStatus(access, scope string, expiry, refreshed, now time.Time) *TokenStatus {
	ts := &TokenStatus{Access: access, Scope: scope, Expires: "no expiry given", Refreshed: "not since you connected"}
	if !expiry.IsZero() {
		ts.Expires = clock(expiry) + ", "
		if left := expiry.Sub(now); left > 0 {
			ts.Expires += "in " + roughly(left)
		} else {
			ts.Expires += "expired; the next page view refreshes it"
		}
	}
	if !refreshed.IsZero() {
		ts.Refreshed = clock(refreshed) + " (" + roughly(now.Sub(refreshed)) + " ago)"
	}
	return ts
}

// roughly formats d in minutes and seconds, or hours and minutes.
func roughly(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d s", int(d.Seconds()))
}

// duration shows how long a step took, to a useful precision.
func duration(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return roughly(d)
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return strings.TrimSuffix(strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64), ".0") + " ms"
}
