package handlers

import (
	"fmt"
	"html/template"
	"strconv"
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
//
// Most of a step is HTML built here, every value escaped with
// template.HTMLEscapeString. That escaper knows no context: it is safe for
// element text and double-quoted attribute values, which is all it is used
// for here, and not for URLs (href, src), style, script or unquoted
// attributes, which need html/template's contextual escaping. html/template
// pays about a
// microsecond for each {{...}} it runs, the panel is on every droplet page
// view, open or not, and a step written field by field in the template ran
// a dozen actions, plus two for every row of its table.
type panelStep struct {
	Class   string        // the list item's class: "step", plus " step-skipped"
	Heading template.HTML // the number, the name and the duration, for <h3>
	Why     string        // one sentence: why the step exists
	// Hint says where the step is implemented (at DigitalOcean, whose
	// part the sandbox emulates, for step 2 against DigitalOcean) and how
	// it ended.
	Hint   template.HTML
	Fields template.HTML // the recorded values, a <table class="fields">; "" if none
}

// panelEvent is one event after the login.
type panelEvent struct {
	// Summary is its time, title, note and duration, for its <p>.
	Summary template.HTML
	Fields  template.HTML // as panelStep.Fields
}

// fieldTable is the table of a step's or an event's recorded fields: name
// and masked value. The names and values come from the flow record, and so
// partly from DigitalOcean (the account's name, email and team, paths):
// every one is escaped.
func fieldTable(fields [][2]string) template.HTML {
	if len(fields) == 0 {
		return ""
	}
	const head, row, tail = "\n<table class=\"fields\">\n  <tbody>", "\n    <tr><th class=\"field\" scope=\"row\"><code></code></th><td></td></tr>", "\n  </tbody>\n</table>"
	n := len(head) + len(tail)
	for _, f := range fields {
		n += len(row) + len(f[0]) + len(f[1]) // enough unless escaping lengthens them
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(head)
	for _, f := range fields {
		b.WriteString("\n    <tr><th class=\"field\" scope=\"row\"><code>")
		b.WriteString(template.HTMLEscapeString(f[0]))
		b.WriteString("</code></th><td>")
		b.WriteString(template.HTMLEscapeString(f[1]))
		b.WriteString("</td></tr>")
	}
	b.WriteString(tail)
	return template.HTML(b.String()) // escaped above
}

// stepHeading is a step's <h3> content: its number, its name and, if the
// record has it, how long it took.
func stepHeading(number int, name, duration string) template.HTML {
	h := `<span class="step-number">` + strconv.Itoa(number) + `</span> ` + template.HTMLEscapeString(name)
	if duration != "" {
		h += ` <span class="step-duration">` + template.HTMLEscapeString(duration) + `</span>`
	}
	return template.HTML(h) // escaped above
}

// stepHint says where a step is implemented, then its outcome: the note,
// and whether the record has the step at all.
func stepHint(info stepDesc, atDigitalOcean, done bool, note string) template.HTML {
	where := `<code>` + template.HTMLEscapeString(info.fn) + `</code> in <code>` + template.HTMLEscapeString(info.file) + `</code>`
	h := "Implemented by " + where
	if atDigitalOcean {
		h = "On DigitalOcean's consent page, not in this app (the sandbox's stand-in is " + where + ")"
	}
	if note != "" {
		h += " · " + template.HTMLEscapeString(note)
	}
	if !done {
		h += " · not part of this record"
	}
	return template.HTML(h) // escaped above
}

// eventSummary is an event's line: when, what, and its note and duration.
func eventSummary(when, title, note, duration string) template.HTML {
	h := `<time>` + template.HTMLEscapeString(when) + `</time> <strong>` + template.HTMLEscapeString(title) + `</strong> · ` + template.HTMLEscapeString(note)
	if duration != "" {
		h += " · " + template.HTMLEscapeString(duration)
	}
	return template.HTML(h) // escaped above
}

// timelineRow is one bar of the timeline: X and Width are in percent of the
// whole, drawn as SVG attributes (the CSP forbids inline styles).
type timelineRow struct {
	Label    string
	X, Width string
	Duration string
}

// tokenStatus is the data of the token status box on the droplet page.
type tokenStatus struct {
	Access string // in words
	Scope  string // as sent by DigitalOcean
	// Expires is the clock time and how far off it is ("in 1 min 40 s",
	// or "expired"), in one string: one template action, not three.
	Expires   string
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
		if i == 0 && rec.StepUp != "" {
			// Step 1 of a step-up starts at the action's button, not at Connect.
			info.file, info.fn = "handlers/actions.go", "handleStepUp"
		}
		st, done := rec.step(info.kind)
		ps := panelStep{Class: "step", Why: info.why}
		duration := ""
		if done {
			duration, ps.Fields = formatDuration(st.duration()), fieldTable(st.Fields)
		} else {
			ps.Class += " step-skipped"
		}
		ps.Heading = stepHeading(i+1, info.name, duration)
		ps.Hint = stepHint(info, info.kind == kindDecision && !sandbox, done, st.Note)
		p.Steps = append(p.Steps, ps)
	}
	p.StepUp = rec.StepUp
	if st, ok := rec.step(kindDecision); ok && st.Note == "denied" {
		p.Stopped = "Step 2: you chose Deny; DigitalOcean sent back error=" + fieldOf(st, "error") + ". The app got no code, so it asked for no token: steps 3 to 5 did not happen."
	}
	p.Timeline, p.Total = timeline(rec)
	for i := len(rec.Events) - 1; i >= 0; i-- { // newest first
		ev := rec.Events[i]
		p.Events = append(p.Events, panelEvent{
			Summary: eventSummary(ev.at().Format("15:04:05"), eventTitle(ev.Kind), ev.Note, formatDuration(ev.duration())),
			Fields:  fieldTable(ev.Fields),
		})
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
		rows = append(rows, timelineRow{Label: s.label, X: strconv.FormatFloat(x, 'f', 2, 64), Width: strconv.FormatFloat(w, 'f', 2, 64), Duration: formatDuration(s.d)})
		at += s.d
	}
	return rows, formatDuration(total)
}

// newTokenStatus describes sess's token at now.
func newTokenStatus(sess *Session, now time.Time) *tokenStatus {
	ts := &tokenStatus{Access: accessLabel(sess.Scope), Scope: sess.Scope, Expires: "no expiry given", Refreshed: "not since you connected"}
	if !sess.Expiry.IsZero() {
		ts.Expires = sess.Expiry.UTC().Format("15:04:05 MST") + ", "
		if left := sess.Expiry.Sub(now); left > 0 {
			ts.Expires += "in " + roughly(left)
		} else {
			ts.Expires += "expired; the next page view refreshes it"
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
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	// strconv, not fmt: the panel formats a dozen durations on every view.
	return strings.TrimSuffix(strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64), ".0") + " ms"
}
