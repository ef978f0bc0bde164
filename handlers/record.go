package handlers

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/handlers/flow"
)

// The flow record ("How this worked", package handlers/flow) lives in a
// cookie of its own, as JSON signed and encrypted like the others, for
// loginTTL after its last write. It is written when a request adds
// something new to it (recordEvents), and when the page that shows it
// open clears its Open (showPanel).

// maxRecordCookie bounds the flow cookie's value: browsers keep cookies of
// up to 4096 bytes, name and attributes included (RFC 6265 §6.1), and the
// name and attributes take under 80.
const maxRecordCookie = 4000

// loadRecord returns the browser's flow record, or nil. An unreadable one
// counts as none: losing it loses only the panel.
func (s *sessionStore) loadRecord(r *http.Request) *flow.Record {
	var rec flow.Record
	if found, err := s.read(r, s.short, flowCookie, &rec); !found || err != nil || len(rec.Steps)+len(rec.Events) == 0 {
		return nil
	}
	return &rec
}

// saveRecord writes the flow record. If its cookie would pass
// maxRecordCookie, it drops the oldest events until it fits, then cuts
// the login steps' values to 16 characters, then to none: the record is
// a teaching aid, and losing its tail beats losing the cookie. rec itself
// is left as it is.
//
// Each try is marshalled once and sealed only when sealedLen says it
// fits: a record is signed and encrypted once, not once per event dropped.
func (s *sessionStore) saveRecord(w http.ResponseWriter, rec *flow.Record) error {
	fit := *rec
	for _, shorten := range []int{-1, 16, 0} { // -1: as it is
		if shorten >= 0 {
			fit.Shorten(shorten)
		}
		for {
			raw, err := json.Marshal(&fit)
			if err != nil {
				return fmt.Errorf("saving cookie %s: %w", flowCookie, err)
			}
			if sealedLen(len(raw)) <= maxRecordCookie {
				encoded, err := s.seal(s.short, flowCookie, raw)
				if err != nil {
					return err
				}
				s.setCookie(w, flowCookie, encoded, loginTTL)
				return nil
			}
			if !fit.DropOldest() {
				break
			}
		}
	}
	return errors.New("saving cookie " + flowCookie + ": too large even without its values")
}

// sealedLen is the length of the cookie value securecookie makes of n
// bytes of JSON: it base64-encodes a 16-byte IV and the encrypted JSON,
// joins that with a 10-digit timestamp and a 32-byte MAC, and
// base64-encodes the whole again (TestSealedLenIsSecurecookies).
func sealedLen(n int) int {
	inner := base64.URLEncoding.EncodedLen(16 + n)
	return base64.URLEncoding.EncodedLen(10 + 1 + inner + 1 + 32)
}

// saveRecord saves rec, logging a failure: the page still works without
// its panel.
func (s *Server) saveRecord(c echo.Context, rec *flow.Record) {
	if err := s.sessions.saveRecord(c.Response(), rec); err != nil {
		s.log.Warn("saving the flow record failed", "error", err)
	}
}

// recordKeepAlive is how long a reload of the same page may go without
// rewriting the flow record (see recordEvents). It is well under loginTTL,
// so the record of an open page is rewritten, and kept, long before its
// cookie would expire.
const recordKeepAlive = time.Minute

// recordEvents adds a request's events to the browser's flow record, if
// it has one, and returns the record (nil: none). open asks the next page
// that shows the panel to show it open, on these events. A request that
// did nothing worth recording leaves the cookie as it is.
//
// So does a reload: a request whose events repeat the record's newest
// ones, within recordKeepAlive of them (flow.Record.Reload). Its panel
// shows this request's times, but the cookie keeps the first one's.
// Rewriting a record that says nothing new would encode, seal and send
// its 4 KB cookie on every view (BenchmarkDropletPageFlowRecord/with
// against /reload, docs/PERFORMANCE.md); the record is a teaching aid,
// and "you loaded this page again" teaches nothing.
func (s *Server) recordEvents(c echo.Context, events []flow.Step, open bool) *flow.Record {
	rec := s.sessions.loadRecord(c.Request())
	if rec == nil || len(events) == 0 {
		return rec
	}
	if !open && !rec.Open && rec.Reload(events, s.now().Add(-recordKeepAlive)) {
		return rec
	}
	rec.Add(events...)
	rec.Open = rec.Open || open
	s.saveRecord(c, rec)
	return rec
}

// showPanel returns the panel of rec for a page that shows it: open when
// the record asks for it, which it does once (the record is saved
// without the request).
func (s *Server) showPanel(c echo.Context, rec *flow.Record) *flow.Panel {
	if rec == nil {
		return nil
	}
	open := rec.Open
	if open {
		rec.Open = false
		s.saveRecord(c, rec)
	}
	return flow.NewPanel(rec, open, s.sandbox)
}
