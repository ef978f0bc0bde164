package handlers

import (
	"crypto/rand"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/doclient"
)

// Confirmation forms. A page that asks "Reboot web-1?" carries a fresh
// one-time token in its form, and the browser keeps the token, bound to
// what it confirms, in a short-lived cookie: any instance can check it,
// and it is spent at the first use, so a resubmitted form acts once.
// Several confirmations may be open at once (tabs, a link sent to
// oneself); the oldest is replaced past maxPendingConfirmations, and a
// token that was used or replaced is remembered (by its hash) long
// enough to say which, rather than "already used" for both.

// confirmTTL bounds how long a confirmation form may be left open.
const confirmTTL = doclient.ActionOnceFor

const (
	maxPendingConfirmations    = 5  // open at once, per browser
	maxRememberedConfirmations = 10 // used or replaced tokens remembered, each
)

// confirmations is the confirmation cookie's value.
type confirmations struct {
	Pending  []confirmation `json:"pending,omitempty"`
	Used     []string       `json:"used,omitempty"`     // hashes of tokens used, oldest first
	Replaced []string       `json:"replaced,omitempty"` // hashes of tokens dropped for newer ones
}

// confirmation is one open confirmation form.
type confirmation struct {
	Token  string    `json:"token"`
	For    string    `json:"for"` // what it confirms, e.g. "reboot droplet 123"
	Issued time.Time `json:"issued"`
}

// issueConfirmation opens a confirmation for purpose and returns its token.
func (s *Server) issueConfirmation(c echo.Context, purpose string) (string, error) {
	all := s.loadConfirmations(c)
	all.Pending = slices.DeleteFunc(all.Pending, func(p confirmation) bool { return s.now().Sub(p.Issued) > confirmTTL })
	if len(all.Pending) >= maxPendingConfirmations {
		all.Replaced = remember(all.Replaced, stateHash(all.Pending[0].Token))
		all.Pending = all.Pending[1:]
	}
	conf := confirmation{Token: rand.Text(), For: purpose, Issued: s.now()}
	all.Pending = append(all.Pending, conf)
	return conf.Token, s.saveConfirmations(c, all)
}

// spendConfirmation spends token, which must be an open confirmation of
// this browser for purpose. It returns nil when it was, and otherwise
// the page that says what happened (nothing was done); doing names the
// action for that page ("reboot the droplet"), and back the page to go
// to. The token is spent whatever happens: one confirmation, one try.
func (s *Server) spendConfirmation(c echo.Context, token, purpose, doing, back string) error {
	all := s.loadConfirmations(c)
	i := slices.IndexFunc(all.Pending, func(p confirmation) bool { return sameState(token, p.Token) })
	var found confirmation
	if i >= 0 {
		found = all.Pending[i]
		all.Pending = slices.Delete(all.Pending, i, i+1)
		all.Used = remember(all.Used, stateHash(token))
		if err := s.saveConfirmations(c, all); err != nil {
			return err
		}
	}
	refused := func(title, message string) error {
		return &Problem{Status: http.StatusConflict, Title: title, Message: message, Link: back, LinkText: "Go back"}
	}
	switch {
	case i >= 0 && found.For == purpose && s.now().Sub(found.Issued) <= confirmTTL:
		return nil
	case i >= 0 && found.For != purpose:
		return refused("This confirmation was for something else",
			"Nothing was done. A confirmation works only for what its page named, so that a form changed after you confirmed it cannot "+doing+". Go back and confirm again.")
	case i >= 0:
		return refused("This confirmation has expired",
			"Nothing was done. A confirmation works for 10 minutes after its page was shown. Go back and confirm again.")
	case slices.Contains(all.Used, stateHash(token)):
		return refused("This confirmation was already used",
			"Nothing more was done. A confirmation works once, so that a form sent twice (a double click, Back and send again) cannot "+doing+" twice. If you pressed the button twice, the first press counted: go back to see where things stand.")
	case slices.Contains(all.Replaced, stateHash(token)):
		return refused("This confirmation was replaced",
			"Nothing was done. This browser keeps the last "+wordForNumber(maxPendingConfirmations)+" confirmation pages it opened, and you opened more since this one. Go back and confirm again.")
	}
	return refused("This confirmation is not valid here",
		"Nothing was done. It has expired, or it was not shown in this browser: a confirmation works for 10 minutes, in the browser that opened its page. Go back and confirm again.")
}

// loadConfirmations reads the confirmation cookie; an unreadable one
// counts as none.
func (s *Server) loadConfirmations(c echo.Context) confirmations {
	var all confirmations
	if found, err := s.sessions.read(c.Request(), s.sessions.short, confirmCookie, &all); !found || err != nil {
		return confirmations{}
	}
	return all
}

// saveConfirmations writes the confirmation cookie.
func (s *Server) saveConfirmations(c echo.Context, all confirmations) error {
	return s.sessions.write(c.Response(), s.sessions.short, confirmCookie, all, loginTTL)
}

// remember appends hash to a bounded list, dropping the oldest.
func remember(list []string, hash string) []string {
	list = append(list, hash)
	if n := len(list) - maxRememberedConfirmations; n > 0 {
		list = list[n:]
	}
	return list
}

// wordForNumber spells small numbers for sentences.
func wordForNumber(n int) string {
	if words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}; n >= 0 && n < len(words) {
		return words[n]
	}
	return "many"
}
