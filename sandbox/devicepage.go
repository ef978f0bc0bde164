package sandbox

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// devicePagePath is the user-code page, relative to the sandbox's root:
// /device standalone, /sandbox/device inside the app.
const devicePagePath = "/device"

// Steps of the user-code page.
const (
	deviceStepEnter    = "enter"    // a field for the code
	deviceStepConfirm  = "confirm"  // who asks for what; choose the account; Approve or Deny
	deviceStepApproved = "approved" // after Approve
	deviceStepDenied   = "denied"   // after Deny
)

// devicePage is the data of the user-code page.
type devicePage struct {
	Step     string
	UserCode string // as XXXX-XXXX, or what the user typed when it was malformed
	Problem  string // why the code was not accepted; shown above the field

	// The confirm step's.
	AppName      string
	Registered   bool
	Access       string
	CustomScopes []string
	Accounts     []Account
	CSRFToken    string

	Interval int // the approved step's: seconds between the device's polls
}

// handleDevicePage serves /device, step 2 of the device grant: GET shows
// the page (with ?user_code=, the code is looked up; with ?done=, the
// outcome), POST records the user's decision.
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.showDevicePage(w, r)
	case http.MethodPost:
		s.decideDevice(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.renderDevicePage(w, http.StatusMethodNotAllowed, devicePage{Step: deviceStepEnter, Problem: "This page accepts GET and POST only."})
	}
}

// showDevicePage shows the step the query asks for: the outcome, the
// confirm step for a pending code, or the entry step (again, with why the
// code was refused).
func (s *Server) showDevicePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch q.Get("done") {
	case deviceStepApproved, deviceStepDenied:
		s.renderDevicePage(w, http.StatusOK, devicePage{Step: q.Get("done"), Interval: int(s.deviceInterval / time.Second)})
		return
	}
	if !q.Has("user_code") {
		s.renderDevicePage(w, http.StatusOK, devicePage{Step: deviceStepEnter})
		return
	}
	raw := q.Get("user_code")
	code, problem := checkUserCode(raw)
	if problem != "" {
		s.renderDevicePage(w, http.StatusBadRequest, devicePage{Step: deviceStepEnter, UserCode: typed(raw), Problem: problem})
		return
	}
	f, err := s.devices.find(s.now(), clientAddress(r), code)
	if err != nil {
		s.refuseUserCode(w, r, formatUserCode(code), err)
		return
	}
	scopes, _ := parseScope(f.scope) // validated when the device asked
	access, custom := describeScope(scopes)
	s.renderDevicePage(w, http.StatusOK, devicePage{
		Step:         deviceStepConfirm,
		UserCode:     formatUserCode(code),
		AppName:      f.clientName,
		Registered:   f.registered,
		Access:       access,
		CustomScopes: custom,
		Accounts:     s.Accounts(),
		CSRFToken:    s.csrf.token(w, r),
	})
}

// decideDevice handles the confirm step's form, with the consent form's
// defences: the Sec-Fetch-Site check and the CSRF token (csrf.go), both
// before anything else. Then the code is looked up again, as nothing in
// the form is trusted, and the decision recorded; the browser is sent to
// the outcome (POST-redirect-GET, so reloading it does nothing).
func (s *Server) decideDevice(w http.ResponseWriter, r *http.Request) {
	if !sameOriginOrUnknown(r) {
		s.renderDevicePage(w, http.StatusForbidden, devicePage{Step: deviceStepEnter, Problem: "The form was submitted from another site, so it was ignored."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderDevicePage(w, http.StatusBadRequest, devicePage{Step: deviceStepEnter, Problem: "The form could not be read."})
		return
	}
	form := r.PostForm
	for _, k := range []string{"user_code", "account", "decision", csrfFieldName} {
		if len(form[k]) > 1 {
			s.renderDevicePage(w, http.StatusBadRequest, devicePage{Step: deviceStepEnter, Problem: "The form repeats the " + k + " field."})
			return
		}
	}
	if !s.csrf.valid(r, form.Get(csrfFieldName)) {
		s.renderDevicePage(w, http.StatusForbidden, devicePage{Step: deviceStepEnter, Problem: "The form has expired or did not come from this page. Enter the code again."})
		return
	}
	code, problem := checkUserCode(form.Get("user_code"))
	if problem != "" {
		s.renderDevicePage(w, http.StatusBadRequest, devicePage{Step: deviceStepEnter, UserCode: typed(form.Get("user_code")), Problem: problem})
		return
	}
	var approve bool
	switch form.Get("decision") {
	case "approve":
		approve = true
	case "deny":
	default:
		s.renderDevicePage(w, http.StatusBadRequest, devicePage{Step: deviceStepEnter, UserCode: formatUserCode(code), Problem: "Choose Approve or Deny."})
		return
	}
	account := 0 // the default account, checked on the page
	if uuid := form.Get("account"); uuid != "" {
		if account = s.accountByUUID(uuid); account < 0 {
			s.renderDevicePage(w, http.StatusBadRequest, devicePage{Step: deviceStepEnter, UserCode: formatUserCode(code), Problem: "The chosen account is not one of the sandbox's accounts."})
			return
		}
	}
	f, err := s.devices.decide(s.now(), clientAddress(r), code, approve, account)
	if err != nil {
		s.refuseUserCode(w, r, formatUserCode(code), err)
		return
	}
	done := deviceStepDenied
	if approve {
		done = deviceStepApproved
		s.log.Info("sandbox: user approved device", "client_id", f.clientID, "scope", f.scope, "account", s.accounts[account].Email)
	} else {
		s.store.countDenial()
		s.log.Info("sandbox: user denied device", "client_id", f.clientID)
	}
	// A relative Location, so that it works under any mount prefix; set by
	// hand, as http.Redirect would make it absolute from r.URL.Path, which
	// http.StripPrefix has shortened.
	h := w.Header()
	h.Set("Location", "device?"+url.Values{"done": {done}}.Encode())
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
}

// refuseUserCode shows the entry step again with why the code was refused:
// 429 with Retry-After once the address has entered too many wrong codes,
// 400 otherwise.
func (s *Server) refuseUserCode(w http.ResponseWriter, r *http.Request, code string, err error) {
	var limited codeAttemptsError
	if errors.As(err, &limited) {
		s.log.Warn("sandbox: too many wrong user codes", "address", clientAddress(r))
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((limited.retryAfter+time.Second-1)/time.Second))))
		s.renderDevicePage(w, http.StatusTooManyRequests, devicePage{Step: deviceStepEnter, UserCode: code, Problem: err.Error()})
		return
	}
	s.renderDevicePage(w, http.StatusBadRequest, devicePage{Step: deviceStepEnter, UserCode: code, Problem: err.Error()})
}

// checkUserCode normalizes what the user typed, or says why it cannot be a
// code. A malformed code is not counted against the address: it cannot
// match, so it guesses nothing.
func checkUserCode(raw string) (code, problem string) {
	if strings.Trim(raw, " \t-") == "" {
		return "", "Type the code your device shows."
	}
	code, ok := normalizeUserCode(raw)
	if !ok {
		return "", "That is not a code the sandbox gives: codes are 8 letters with no vowels, such as BCDF-GHJK."
	}
	return code, ""
}

// typed is what the user typed, to show in the field again: nothing when
// it is too long to be a code mistyped.
func typed(raw string) string {
	if len(raw) > 64 {
		return ""
	}
	return raw
}

func (s *Server) renderDevicePage(w http.ResponseWriter, status int, page devicePage) {
	s.renderPage(w, status, "device.html", "", page)
}
