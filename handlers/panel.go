package handlers

import (
	"fmt"
	"strings"
	"time"
)

// flowPanel is the data of views/partials/flow.html: the "How this worked"
// panel, built from a flow record.
type flowPanel struct {
	Open     bool // open on the first view after a login
	Steps    []panelStep
	Timeline []timelineRow
	Total    string // from /connect to the droplet list
	Events   []panelEvent
	// Stopped explains a login that did not finish (a denial), on the index.
	Stopped string
	// Disconnected: the record holds only what Disconnect did.
	Disconnected bool
	// StepUp names the action a step-up to read & write was for, when this
	// login was one.
	StepUp string
}

// panelStep is one of the five steps, as DigitalOcean's tutorial names them.
type panelStep struct {
	Number int
	Name   string
	Why    string // one sentence: why the step exists
	File   string // where it is implemented
	Func   string
	// AtDigitalOcean: the step happens on DigitalOcean's side, which
	// File and Func emulate in sandbox mode only.
	AtDigitalOcean bool
	Done           bool // recorded in this login
	Note           string
	Fields         []panelField
	Duration       string
	// Class and Outcome are what the template shows, built here so the
	// template runs a few actions per step instead of a dozen (the panel
	// is on every droplet page view, open or not): the list item's class,
	// and the hint's tail (" · " the note, " · not part of this record").
	Class, Outcome string
}

// panelField is one recorded parameter: its name and its masked value.
// (A struct, not the record's [2]string: a field is cheaper for a template
// to read than an index call.)
type panelField struct {
	Name, Value string
}

// panelFields converts a record's fields for the template.
func panelFields(fields [][2]string) []panelField {
	if len(fields) == 0 {
		return nil
	}
	out := make([]panelField, len(fields))
	for i, f := range fields {
		out[i] = panelField{f[0], f[1]}
	}
	return out
}

// timelineRow is one bar of the timeline: X and Width are in percent of the
// whole, drawn as SVG attributes (the CSP forbids inline styles).
type timelineRow struct {
	Label    string
	X, Width string
	Duration string
}

// panelEvent is one event after the login.
type panelEvent struct {
	When     string
	Title    string
	Note     string
	Fields   []panelField
	Duration string
	Detail   string // what the template shows after the title: the note, then the duration if any
}

// tokenStatus is the data of the token status box on the droplet page.
type tokenStatus struct {
	Access    string // in words
	Scope     string // as sent by DigitalOcean
	Expires   string // clock time
	ExpiresIn string // "in 1 min 40 s", or "expired"
	Refreshed string // "not since you connected", or a clock time and how long ago
}

// stepDesc describes one step of the authorization-code flow.
type stepDesc struct {
	kind, name, why, file, fn string
}

// stepInfo describes the five steps of the authorization-code flow, named
// and numbered as in DigitalOcean's "An Introduction to OAuth 2".
func stepInfo() [5]stepDesc {
	return [5]stepDesc{
		{kindLink, "Authorization code link",
			"The app sends you to DigitalOcean with who it is, where to come back, what it asks for, and a state and PKCE challenge that tie the answer to this browser.",
			"handlers/auth.go", "handleConnect"},
		{kindDecision, "User authorizes application",
			"Only you can grant access, on DigitalOcean's own page, so the app never sees your password.",
			"sandbox/authorize.go", "decide"},
		{kindCallback, "Application receives authorization code",
			"DigitalOcean sends your browser back with a one-time code; the app checks the state first, so nobody can slip their own code into your browser.",
			"handlers/auth.go", "handleCallback"},
		{kindTokenRequest, "Application requests access token",
			"The code alone is not enough: the app proves who it is with its client secret, and that it started this login with the PKCE verifier, in a request your browser never sees.",
			"doclient/doclient.go", "Client.Exchange"},
		{kindTokenResponse, "Application receives access token",
			"The access token authorizes API calls and the refresh token renews it; both go straight into an encrypted cookie, never into a page.",
			"handlers/session.go", "sessionStore.start"},
	}
}

// eventTitle names an event after the login.
func eventTitle(kind string) string {
	switch kind {
	case kindAPI:
		return "API call"
	case kindPages:
		return "Droplet list"
	case kindRefresh:
		return "Token refreshed"
	case kindRevoke:
		return "Token revoked (Disconnect)"
	}
	return kind
}

// panel builds the panel from rec. sandbox says whether the sandbox plays
// DigitalOcean, so step 2 is this program's code.
func panel(rec *flowRecord, open, sandbox bool) *flowPanel {
	if rec == nil {
		return nil
	}
	p := &flowPanel{Open: open, Disconnected: len(rec.Steps) == 0}
	for i, info := range stepInfo() {
		ps := panelStep{Number: i + 1, Name: info.name, Why: info.why, File: info.file, Func: info.fn,
			AtDigitalOcean: info.kind == kindDecision && !sandbox}
		if st, ok := rec.step(info.kind); ok {
			ps.Done, ps.Note, ps.Fields, ps.Duration = true, st.Note, panelFields(st.Fields), formatDuration(st.duration())
		}
		ps.Class = "step"
		if ps.Note != "" {
			ps.Outcome = " · " + ps.Note
		}
		if !ps.Done {
			ps.Class += " step-skipped"
			ps.Outcome += " · not part of this record"
		}
		p.Steps = append(p.Steps, ps)
	}
	if rec.StepUp != "" {
		// Step 1 of a step-up starts at the action's button, not at Connect.
		p.StepUp = rec.StepUp
		p.Steps[0].File, p.Steps[0].Func = "handlers/actions.go", "handleStepUp"
	}
	if st, ok := rec.step(kindDecision); ok && st.Note == "denied" {
		p.Stopped = "Step 2: you chose Deny; DigitalOcean sent back error=" + fieldOf(st, "error") + ". The app got no code, so it asked for no token: steps 3 to 5 did not happen."
	}
	p.Timeline, p.Total = timeline(rec)
	for i := len(rec.Events) - 1; i >= 0; i-- { // newest first
		ev := rec.Events[i]
		pe := panelEvent{
			When: ev.at().Format("15:04:05"), Title: eventTitle(ev.Kind), Note: ev.Note,
			Fields: panelFields(ev.Fields), Duration: formatDuration(ev.duration()),
		}
		pe.Detail = pe.Note
		if pe.Duration != "" {
			pe.Detail += " · " + pe.Duration
		}
		p.Events = append(p.Events, pe)
	}
	return p
}

// timeline lays the login's steps end to end, from /connect to the first
// droplet list, each bar at least 0.5% wide so a fast step stays visible.
func timeline(rec *flowRecord) ([]timelineRow, string) {
	type seg struct {
		label string
		d     time.Duration
	}
	var segs []seg
	for i, info := range stepInfo() {
		if st, ok := rec.step(info.kind); ok {
			label := fmt.Sprintf("%d. %s", i+1, info.name)
			if info.kind == kindDecision {
				label = "2. At DigitalOcean (you decide)"
			}
			segs = append(segs, seg{label, st.duration()})
		}
	}
	if st, ok := rec.step(kindPages); ok {
		segs = append(segs, seg{"Droplet list (API calls)", st.duration()})
	}
	var total time.Duration
	for _, s := range segs {
		total += s.d
	}
	var rows []timelineRow
	var at time.Duration
	for _, s := range segs {
		x, w := 0.0, 100.0
		if total > 0 {
			x, w = 100*float64(at)/float64(total), 100*float64(s.d)/float64(total)
		}
		w = max(w, 0.5)
		x = min(x, 100-w)
		rows = append(rows, timelineRow{Label: s.label, X: fmt.Sprintf("%.2f", x), Width: fmt.Sprintf("%.2f", w), Duration: formatDuration(s.d)})
		at += s.d
	}
	return rows, formatDuration(total)
}

// newTokenStatus describes sess's token at now.
func newTokenStatus(sess *Session, now time.Time) *tokenStatus {
	ts := &tokenStatus{Access: accessLabel(sess.Scope), Scope: sess.Scope, Refreshed: "not since you connected"}
	if !sess.Expiry.IsZero() {
		ts.Expires = sess.Expiry.UTC().Format("15:04:05 MST")
		if left := sess.Expiry.Sub(now); left > 0 {
			ts.ExpiresIn = "in " + roughly(left)
		} else {
			ts.ExpiresIn = "expired; the next page view refreshes it"
		}
	}
	if !sess.Refreshed.IsZero() {
		ts.Refreshed = sess.Refreshed.UTC().Format("15:04:05 MST") + " (" + roughly(now.Sub(sess.Refreshed)) + " ago)"
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

// formatDuration shows a step's duration to a useful precision.
func formatDuration(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return roughly(d)
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(d.Microseconds())/1000), ".0") + " ms"
}
