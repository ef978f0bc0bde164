package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/handlers/learn"
)

// The learn pages' state (handlers/learn.go): the learner's flows in
// progress, with the learn clients' state, verifier, code and tokens,
// live in a cookie of their own, never in the session, so that a learner
// may be signed in and learning at once and neither can stand for the
// other. The cookie is sealed like the others (signed and encrypted, with
// its name in the signature, so that its value decodes under no other
// cookie's name and no other cookie's value decodes under its name),
// lives loginTTL after the learner's last press, and is bounded to
// maxLearnCookie. Nothing in it is worth protecting beyond the sandbox's
// made-up data, but it is sealed all the same: a pattern is copied
// whatever it holds.

// learnCookie is the learn state's cookie.
const learnCookie = "do_learn"

// maxLearnCookie bounds the learn cookie's value, as maxRecordCookie
// bounds the flow record's.
const maxLearnCookie = 4000

// maxLearnValue bounds a token or code taken from an answer; the
// sandbox's are under 80 characters.
const maxLearnValue = 256

// learnState is the learn cookie's value.
type learnState struct {
	// Saved is when the learner last pressed a button; the state ends
	// loginTTL later, checked on the server with the app's clock.
	Saved  time.Time    `json:"saved"`
	Flow   *learnFlow   `json:"flow,omitempty"`   // the authorization code flow
	Quick  *learnQuick  `json:"quick,omitempty"`  // a code that expires quickly, for that mistake
	Device *learnDevice `json:"device,omitempty"` // the device grant
	App    *learnApp    `json:"app,omitempty"`    // the client-credentials grant
	Last   *learnResult `json:"last,omitempty"`   // what the last press did, for the page after its redirect
}

// learnFlow is the authorization code flow, step by step.
type learnFlow struct {
	// Step 1: made up here and shown in full (the app never shows its own).
	State    string    `json:"state"`
	Verifier string    `json:"verifier"`
	Started  time.Time `json:"started"`
	// Step 3: the callback's query as it arrived, and whether the state
	// check passed.
	Callback string    `json:"cb,omitempty"`
	Arrived  time.Time `json:"arrived,omitzero"`
	Checked  bool      `json:"checked,omitempty"`
	// Step 4: the code was sent to the token endpoint (by Send or a
	// mistake), which spends it.
	Spent bool `json:"spent,omitempty"`
	// Step 5: Send's answer, and the tokens it (or the last refresh)
	// gave.
	Answer  *learn.Answer `json:"answer,omitempty"`
	Access  string        `json:"at,omitempty"`
	Refresh string        `json:"rt,omitempty"`
	// The pair the last refresh replaced, for its mistake.
	OldAccess  string `json:"oat,omitempty"`
	OldRefresh string `json:"ort,omitempty"`
	// Ended says why the grant ended: endedRevoked, endedReplayed.
	Ended string `json:"ended,omitempty"`
}

// Why a learn grant ended.
const (
	endedRevoked  = "revoked"
	endedReplayed = "replayed"
)

// learnQuick is a code of learn.QuickClientID, asked for to be sent
// once it has expired.
type learnQuick struct {
	State    string    `json:"state"`
	Verifier string    `json:"verifier"`
	Code     string    `json:"code,omitempty"`
	Arrived  time.Time `json:"arrived,omitzero"`
	Sent     bool      `json:"sent,omitempty"` // the mistake was sent with it
}

// learnDevice is the device grant: the device authorization's answer, as
// the device keeps it.
type learnDevice struct {
	DeviceCode      string    `json:"dc"`
	UserCode        string    `json:"uc"`
	VerificationURI string    `json:"uri"`
	Complete        string    `json:"uric"`
	Interval        int       `json:"interval"`
	Expires         time.Time `json:"expires"`
	Polls           int       `json:"polls,omitempty"`
	Done            bool      `json:"done,omitempty"` // tokens issued, or denied, or expired: polling is over
}

// learnApp is the client-credentials grant's token.
type learnApp struct {
	Access string `json:"at"`
}

// learnResult is what a press did, shown by the page its redirect goes to.
type learnResult struct {
	For    string        `json:"for"` // the action: a mistake's name, or one of the learnDid* names
	Answer *learn.Answer `json:"answer,omitempty"`
	Note   string        `json:"note,omitempty"`  // what the app did instead of sending, in words
	Used   string        `json:"used,omitempty"`  // the credential the request sent, to show it again
	Check  *learnCheck   `json:"check,omitempty"` // a state comparison
}

// Actions whose results a page shows.
const (
	learnDidCheck         = "check"
	learnDidRefresh       = "refresh"
	learnDidRevoke        = "revoke"
	learnDidDeviceStart   = "device"
	learnDidDevicePoll    = "device-poll"
	learnDidAppToken      = "client-credentials"
	learnDidPublicAppAuth = "client-credentials-public"
)

// learnCheck is step 3's comparison.
type learnCheck struct {
	Received string `json:"got"`
	Kept     string `json:"kept"`
	Match    bool   `json:"match"`
}

// lastFor returns the last result when it is one of actions, else nil.
func (st *learnState) lastFor(actions ...string) *learnResult {
	if st.Last == nil {
		return nil
	}
	for _, a := range actions {
		if st.Last.For == a {
			return st.Last
		}
	}
	return nil
}

// loadLearn returns the browser's learn state: an empty one when it has
// none, or one that cannot be read or has ended, so that a learner starts
// over rather than seeing an error.
func (s *Server) loadLearn(r *http.Request) *learnState {
	var st learnState
	found, err := s.sessions.read(r, s.sessions.short, learnCookie, &st)
	if !found || err != nil || s.now().Sub(st.Saved) > loginTTL {
		return &learnState{}
	}
	return &st
}

// saveLearn writes the learn state. When it would not fit the cookie,
// its answers are shrunk (learn.Answer.Shrink: the headers that say
// nothing of OAuth first, then the others, then the bodies), the older
// first at each level, so that the page after the press shows its
// own answer whole; each page says what it left out. A state that does not
// fit even then is a server problem.
func (s *Server) saveLearn(c echo.Context, st *learnState) error {
	st.Saved = s.now()
	var answers []*learn.Answer // the older first
	if st.Flow != nil && st.Flow.Answer != nil {
		answers = append(answers, st.Flow.Answer)
	}
	if st.Last != nil && st.Last.Answer != nil && st.Last.Answer != st.Flow.answer() {
		answers = append(answers, st.Last.Answer)
	}
	for level := 0; level <= learn.ShrinkLevels; level++ {
		for i := -1; i < len(answers); i++ {
			if i >= 0 && !answers[i].Shrink(level) {
				continue
			}
			encoded, err := s.sessions.encode(s.sessions.short, learnCookie, st)
			if err == nil && len(encoded) <= maxLearnCookie {
				s.sessions.setCookie(c.Response(), learnCookie, encoded, loginTTL)
				return nil
			}
			if level == 0 {
				break
			}
		}
	}
	return errors.New("saving cookie " + learnCookie + ": too large even without its answers")
}

// answer is the flow's step-5 answer, nil without a flow.
func (f *learnFlow) answer() *learn.Answer {
	if f == nil {
		return nil
	}
	return f.Answer
}

// bounded returns v, or "" when it is too long to be the sandbox's.
func bounded(v string) string {
	if len(v) > maxLearnValue {
		return ""
	}
	return v
}
