package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/handlers/learn"
)

// The learn pages (/learn): the authorization-code flow one step per
// page, in the words and numbering of "An Introduction to OAuth 2", then
// the API, a refresh and a revocation, the mistakes to try, and the two
// grants only the sandbox offers. In sandbox mode each page acts on the
// sandbox through the learn pages' own clients (package learn), over
// HTTP, with the learn state in its own cookie (learnstate.go); with
// DigitalOcean (s.learn is nil) the pages explain the same steps with
// placeholders, and neither send anything nor show anything secret.
//
// Every GET only shows (a few pages make read-only API calls, which
// change nothing); every POST does one thing, sends each request once
// however often it is pressed (learn.Client.SendOnce), and redirects to
// the page that shows what it did.

// maxLearnCallback bounds the learn callback's query: the sandbox's is
// under 200 bytes, and it is kept in the learn cookie.
const maxLearnCallback = 1 << 10

// learnBase is what every learn page's data has.
type learnBase struct {
	// Live: the pages act, on the sandbox. With DigitalOcean they
	// explain only.
	Live bool
	Nav  []learnNavItem
	// Missing, when set, says what a step needs first and where to do it.
	Missing *learnMissing
}

type learnNavItem struct {
	Path, Label string
	Current     bool
}

// learnMissing is why a step cannot be done yet.
type learnMissing struct {
	Why, Link, LinkText string
}

// ptr returns a copy of m for a page's data.
func (m learnMissing) ptr() *learnMissing { return &m }

func (s *Server) learnBase(here string) learnBase {
	items := []learnNavItem{
		{Path: "/learn", Label: "Overview"},
		{Path: "/learn/1", Label: "1 Link"},
		{Path: "/learn/2", Label: "2 Authorize"},
		{Path: "/learn/3", Label: "3 Code"},
		{Path: "/learn/4", Label: "4 Token request"},
		{Path: "/learn/5", Label: "5 Token"},
		{Path: "/learn/api", Label: "Call the API"},
		{Path: "/learn/refresh", Label: "Refresh"},
		{Path: "/learn/revoke", Label: "Revoke"},
		{Path: "/learn/device", Label: "Device code"},
		{Path: "/learn/client-credentials", Label: "Client credentials"},
		{Path: "/learn/implicit", Label: "Implicit"},
	}
	for i := range items {
		items[i].Current = items[i].Path == here
	}
	return learnBase{Live: s.learn != nil, Nav: items}
}

// endpoints are the learn requests' endpoints: the sandbox's, or
// DigitalOcean's with placeholders.
func (s *Server) endpoints() learn.Endpoints {
	if s.learn != nil {
		return s.learn.Endpoints
	}
	return learn.Placeholders()
}

// learnOnly refuses a POST with DigitalOcean: the learn pages act on the
// sandbox only.
func (s *Server) learnOnly() error {
	if s.learn != nil {
		return nil
	}
	return &Problem{Status: http.StatusNotFound, Title: "Only in sandbox mode",
		Message: "The learn pages act only against the sandbox: this app is configured for DigitalOcean, so they explain each step and send nothing. Run the app without credentials (go run .) to do the steps yourself.",
		Link:    "/learn", LinkText: "Back to the learn pages"}
}

// Missing steps, each with where to go (read-only: pages get copies,
// see ptr).
var (
	missingFlow = learnMissing{Why: "No flow has started in this browser, or it has ended: a flow lasts 10 minutes after your last press.",
		Link: "/learn/1", LinkText: "Step 1: build the link"}
	missingCallback = learnMissing{Why: "The callback has not arrived yet: open the consent page and press Authorize (or Deny).",
		Link: "/learn/2", LinkText: "Step 2: the consent page"}
	missingCode = learnMissing{Why: "The callback brought no code (you pressed Deny, or the sandbox refused the request), so there is nothing to trade for tokens. Build a new link to start again.",
		Link: "/learn/1", LinkText: "Step 1: build a new link"}
	missingCheck = learnMissing{Why: "Check the state first: the app never sends the code to the token endpoint before the callback's state matches the one it kept.",
		Link: "/learn/3", LinkText: "Step 3: check the state"}
	missingTokens = learnMissing{Why: "There are no tokens yet: send step 4's request first.",
		Link: "/learn/4", LinkText: "Step 4: send the token request"}
	missingSpentCode = learnMissing{Why: "This flow's code was spent by a mistake you tried: the sandbox allows one try per code, right or wrong, so there will be no tokens from it. Build a new link for a new code.",
		Link: "/learn/1", LinkText: "Step 1: build a new link"}
)

// callbackQuery parses the stored callback query (it was checked when it
// arrived).
func (f *learnFlow) callbackQuery() url.Values {
	q, _ := url.ParseQuery(f.Callback)
	return q
}

func (f *learnFlow) code() string { return f.callbackQuery().Get("code") }

// missingFor says what the flow lacks to reach step (3, 4 or 5), or nil.
func missingFor(f *learnFlow, step int) *learnMissing {
	switch {
	case f == nil:
		return missingFlow.ptr()
	case step >= 3 && f.Callback == "":
		return missingCallback.ptr()
	case step >= 4 && f.code() == "":
		return missingCode.ptr()
	case step >= 4 && !f.Checked:
		return missingCheck.ptr()
	case step >= 5 && f.Access == "" && f.Spent:
		return missingSpentCode.ptr()
	case step >= 5 && f.Access == "":
		return missingTokens.ptr()
	}
	return nil
}

// learnExchange is a request and, once sent, its answer.
type learnExchange struct {
	Request learn.Request
	Answer  *learn.Answer
}

// mistakeView is a mistake's button on its page and, once pressed, what
// happened.
type mistakeView struct {
	learn.Mistake
	Ready   bool           // its button can be pressed now
	Needs   string         // what it needs first, when it is not ready
	Request *learn.Request // what it sends (nil for the state check)
	Result  *learnResult   // what the last press did, when it was this
	Proof   *learnExchange // a read of the API that shows its effect
}

// mistakes returns the views of the mistakes on page.
func (s *Server) mistakes(c echo.Context, st *learnState, page string) []mistakeView {
	var views []mistakeView
	for _, m := range learn.MistakesOn(page) {
		v := mistakeView{Mistake: m, Ready: s.mistakeReady(st, m.Name)}
		if !v.Ready && s.learn != nil {
			v.Needs = mistakeNeeds(m.Name)
		}
		if r := st.lastFor(m.Name); r != nil {
			v.Result = r
			v.Proof = s.mistakeProof(c, st, m.Name)
		}
		// What it sends, or sent: only then are its values there.
		if req, ok := s.mistakeRequest(st, m.Name); ok && (v.Ready || v.Result != nil) {
			v.Request = &req
		}
		views = append(views, v)
	}
	return views
}

// mistakeRequest is what a mistake sends.
func (s *Server) mistakeRequest(st *learnState, name string) (learn.Request, bool) {
	ep, f := s.endpoints(), st.Flow
	switch {
	case name == learn.MistakeExpiredCode:
		if q := st.Quick; q != nil && q.Code != "" {
			return ep.Exchange(learn.QuickClientID, q.Code, q.Verifier, ep.RedirectURL), true
		}
	case f == nil:
	case name == learn.MistakeWrongRedirectURI:
		return ep.Exchange(learn.ClientID, f.code(), f.Verifier, learn.ElsewhereURI), true
	case name == learn.MistakeWrongVerifier:
		return ep.Exchange(learn.ClientID, f.code(), wrongVerifier(f.Verifier), ep.RedirectURL), true
	case name == learn.MistakeCodeTwice:
		return ep.Exchange(learn.ClientID, f.code(), f.Verifier, ep.RedirectURL), true
	case name == learn.MistakeOldRefreshToken && f.OldRefresh != "":
		return ep.Refresh(f.OldRefresh), true
	}
	return learn.Request{}, false
}

// wrongVerifier is a verifier that is not this flow's, and that the page
// after can show again: the flow's, backwards.
func wrongVerifier(v string) string {
	b := []byte(v)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// mistakeReady reports whether a mistake's button can be pressed: it
// needs what the real request would (a code not yet spent, tokens, an
// old refresh token).
func (s *Server) mistakeReady(st *learnState, name string) bool {
	f := st.Flow
	switch name {
	case learn.MistakeWrongState:
		return f != nil && f.Callback != ""
	case learn.MistakeWrongRedirectURI, learn.MistakeWrongVerifier:
		return missingFor(f, 4) == nil && !f.Spent
	case learn.MistakeExpiredCode:
		return st.Quick != nil && st.Quick.Code != "" && !st.Quick.Sent
	case learn.MistakeCodeTwice:
		return missingFor(f, 5) == nil && f.Ended == ""
	case learn.MistakeOldRefreshToken:
		return f != nil && f.OldRefresh != ""
	}
	return false
}

// mistakeNeeds says what a mistake's button waits for.
func mistakeNeeds(name string) string {
	switch name {
	case learn.MistakeWrongState:
		return "Its button appears once the callback has arrived (step 2)."
	case learn.MistakeWrongRedirectURI, learn.MistakeWrongVerifier:
		return "Its button appears once there is a code not yet sent, with its state checked (steps 1 to 3)."
	case learn.MistakeExpiredCode:
		return "Its button appears with a code that expires in 20 seconds: get one below."
	case learn.MistakeCodeTwice:
		return "Its button appears once step 4's request has got tokens, while their grant lasts."
	case learn.MistakeOldRefreshToken:
		return "Its button appears after a refresh: press Refresh first."
	}
	return ""
}

// mistakeProof reads the API to show what a mistake changed: after the
// code was sent twice, the flow's token is refused (the sandbox revoked
// the grant); after the old refresh token, so is the old access token.
func (s *Server) mistakeProof(c echo.Context, st *learnState, name string) *learnExchange {
	if s.learn == nil || st.Flow == nil {
		return nil
	}
	token := ""
	switch name {
	case learn.MistakeCodeTwice:
		token = st.Flow.Access
	case learn.MistakeOldRefreshToken:
		token = st.Flow.OldAccess
	}
	if token == "" {
		return nil
	}
	return s.learnRead(c, "/v2/account", token)
}

// learnRead sends a read-only API request, as the page is shown.
func (s *Server) learnRead(c echo.Context, path, token string) *learnExchange {
	req := s.learn.API(path, token)
	a := s.learn.Send(c.Request().Context(), req)
	return &learnExchange{Request: req, Answer: &a}
}

// learnRender renders a learn page. The learn pages know nothing of the
// session: whoever is signed in, the learner's flow is the learn cookie's.
func (s *Server) learnRender(c echo.Context, page, title string, data any) error {
	return s.render(c, http.StatusOK, page, title, nil, data)
}

// seeOther ends a POST: the browser goes to the page that shows what it
// did, so a reload does nothing.
func seeOther(c echo.Context, to string) error { return c.Redirect(http.StatusSeeOther, to) }

// The overview.

type learnIndexPage struct {
	learnBase
	Resume   string // where the flow in progress stands, "" when there is none
	Mistakes []learn.Mistake
}

// handleLearn serves GET /learn: what the pages teach, where to start, and
// the mistakes to try.
func (s *Server) handleLearn(c echo.Context) error {
	data := learnIndexPage{learnBase: s.learnBase("/learn"), Mistakes: learn.Mistakes()}
	if s.learn != nil {
		if f := s.loadLearn(c.Request()).Flow; f != nil {
			data.Resume = resumeAt(f)
		}
	}
	return s.learnRender(c, "learn", "Learn OAuth 2 by doing", data)
}

// resumeAt is the step page where a flow stands.
func resumeAt(f *learnFlow) string {
	for step := 5; step > 1; step-- {
		if missingFor(f, step) == nil {
			return "/learn/" + strconv.Itoa(step)
		}
	}
	return "/learn/2"
}

// handleLearnStart serves POST /learn/start: a new flow, with a fresh
// state and PKCE verifier (step 1). The device and client-credentials
// grants are kept.
func (s *Server) handleLearnStart(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	st.Flow = &learnFlow{State: learn.NewState(), Verifier: learn.NewVerifier(), Started: s.now()}
	st.Quick, st.Last = nil, nil
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/1")
}

// handleLearnStep serves GET /learn/1 to /learn/5, the flow's five steps.
func (s *Server) handleLearnStep(c echo.Context) error {
	st := &learnState{}
	if s.learn != nil {
		st = s.loadLearn(c.Request())
	}
	switch c.Param("step") {
	case "1":
		return s.learnStep1(c, st)
	case "2":
		return s.learnStep2(c, st)
	case "3":
		return s.learnStep3(c, st)
	case "4":
		return s.learnStep4(c, st)
	case "5":
		return s.learnStep5(c, st)
	}
	return echo.ErrNotFound
}

// Step 1: Authorization Code Link.

type learnStep1Page struct {
	learnBase
	Link                       learn.Link
	State, Verifier, Challenge string // the flow's, in full (sandbox only)
}

func (s *Server) learnStep1(c echo.Context, st *learnState) error {
	data := learnStep1Page{learnBase: s.learnBase("/learn/1")}
	switch f := st.Flow; {
	case s.learn == nil:
		data.Link = learn.Placeholders().LinkWith("CLIENT_ID", "STATE", "CODE_CHALLENGE")
	case f == nil:
		data.Missing = missingFlow.ptr()
	default:
		data.Link = s.learn.AuthorizeLink(learn.ClientID, f.State, f.Verifier)
		data.State, data.Verifier, data.Challenge = f.State, f.Verifier, learn.Challenge(f.Verifier)
	}
	return s.learnRender(c, "learn_step1", "Step 1: Authorization Code Link", data)
}

// Step 2: User Authorizes Application.

type learnStep2Page struct {
	learnBase
	Link string // the authorization link, which opens the consent page
}

func (s *Server) learnStep2(c echo.Context, st *learnState) error {
	data := learnStep2Page{learnBase: s.learnBase("/learn/2")}
	if s.learn != nil {
		if f := st.Flow; f == nil {
			data.Missing = missingFlow.ptr()
		} else {
			data.Link = s.learn.AuthorizeLink(learn.ClientID, f.State, f.Verifier).URL
		}
	}
	return s.learnRender(c, "learn_step2", "Step 2: User Authorizes Application", data)
}

// Step 3: Application Receives Authorization Code.

type learnStep3Page struct {
	learnBase
	Callback string        // the request as it arrived: GET /learn/callback?...
	Query    []learn.Field // its parameters
	Error    string        // the callback's error (access_denied, ...), if it brought one
	Check    *learnCheck   // the last "Check the state"
	Checked  bool
	Mistakes []mistakeView
}

func (s *Server) learnStep3(c echo.Context, st *learnState) error {
	data := learnStep3Page{learnBase: s.learnBase("/learn/3")}
	if s.learn != nil {
		f := st.Flow
		data.Missing = missingFor(f, 3)
		if data.Missing == nil {
			data.Callback = "GET " + learn.CallbackPath + "?" + f.Callback
			q := f.callbackQuery()
			for _, name := range []string{"code", "state", "error", "error_description"} {
				if q.Has(name) {
					data.Query = append(data.Query, learn.Field{Name: name, Value: q.Get(name)})
				}
			}
			data.Error = q.Get("error")
			data.Checked = f.Checked
			if r := st.lastFor(learnDidCheck); r != nil {
				data.Check = r.Check
			}
		}
	}
	data.Mistakes = s.mistakes(c, st, "/learn/3")
	return s.learnRender(c, "learn_step3", "Step 3: Application Receives Authorization Code", data)
}

// learnCallbackProblem answers a learn callback that cannot be taken.
func learnCallbackProblem(why string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Title: "This callback was not taken",
		Message: why, Link: "/learn/1", LinkText: "Step 1: build the link"}
}

// handleLearnCallback serves GET /learn/callback, the learn clients'
// redirect URI: where the sandbox sends the browser back after step 2. It
// keeps the query as it arrived, for step 3 to show and check, and sends
// the browser there: the learner checks the state by pressing a button,
// so nothing is checked or sent here. (The app's own callback checks at
// once, before anything else: see handleCallback.) A callback for the
// expiring-code mistake, whose state this handler does check, goes back
// to step 4.
func (s *Server) handleLearnCallback(c echo.Context) error {
	if s.learn == nil {
		return echo.ErrNotFound
	}
	raw := c.Request().URL.RawQuery
	if len(raw) > maxLearnCallback {
		return learnCallbackProblem("The callback's query is longer than any the sandbox sends.")
	}
	q, err := parseCallback(raw)
	if err != nil || !isCallback(q) {
		return learnCallbackProblem("The callback's query is not one the sandbox sends: it needs code and state (or error), each once.")
	}
	st := s.loadLearn(c.Request())
	if quick := st.Quick; quick != nil && quick.Code == "" && sameState(q.Get("state"), quick.State) {
		if code := bounded(q.Get("code")); code != "" {
			quick.Code, quick.Arrived = code, s.now()
		} else {
			st.Quick = nil
		}
		st.Last = nil
		if err := s.saveLearn(c, st); err != nil {
			return err
		}
		return seeOther(c, "/learn/4#"+learn.MistakeExpiredCode)
	}
	f := st.Flow
	if f == nil {
		return learnCallbackProblem("No learn flow has started in this browser (or it has ended), so there is nothing to take this callback for. Build a new link at step 1.")
	}
	if raw != f.Callback {
		// A new callback (after Back, a second approval) starts step 3
		// afresh; the same one again changes nothing.
		*f = learnFlow{State: f.State, Verifier: f.Verifier, Started: f.Started, Callback: raw, Arrived: s.now()}
		st.Last = nil
		if err := s.saveLearn(c, st); err != nil {
			return err
		}
	}
	// 303 to a clean URL, so the code leaves the address bar.
	return seeOther(c, "/learn/3")
}

// handleLearnCheck serves POST /learn/3/check, "Check the state": the
// callback's state against the one kept since step 1, in constant time.
func (s *Server) handleLearnCheck(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	f := st.Flow
	if missingFor(f, 3) != nil {
		return seeOther(c, "/learn/3")
	}
	got := f.callbackQuery().Get("state")
	f.Checked = sameState(got, f.State)
	st.Last = &learnResult{For: learnDidCheck, Check: &learnCheck{Received: got, Kept: f.State, Match: f.Checked}}
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/3#check")
}

// Step 4: Application Requests Access Token.

type learnStep4Page struct {
	learnBase
	Request      learn.Request
	Spent        bool // the code was sent already
	Quick        *learnQuick
	QuickSeconds int // learn.QuickCodeTTL
	// CanAskQuick shows the button that asks for a code expiring in
	// QuickSeconds, for the expired-code mistake.
	CanAskQuick bool
	Expires     time.Time // the quick code's expiry, as the app estimates it
	Mistakes    []mistakeView
}

func (s *Server) learnStep4(c echo.Context, st *learnState) error {
	ep := s.endpoints()
	data := learnStep4Page{learnBase: s.learnBase("/learn/4"), QuickSeconds: int(learn.QuickCodeTTL / time.Second)}
	if s.learn == nil {
		data.Request = ep.Exchange("CLIENT_ID", "AUTHORIZATION_CODE", "CODE_VERIFIER", ep.RedirectURL)
	} else {
		f := st.Flow
		data.Missing = missingFor(f, 4)
		if data.Missing == nil {
			data.Request = ep.Exchange(learn.ClientID, f.code(), f.Verifier, ep.RedirectURL)
			data.Spent = f.Spent
		}
		if q := st.Quick; q != nil && q.Code != "" {
			data.Quick, data.Expires = q, q.Arrived.Add(learn.QuickCodeTTL)
		}
		data.CanAskQuick = (st.Quick == nil || st.Quick.Code == "" || st.Quick.Sent)
	}
	data.Mistakes = s.mistakes(c, st, "/learn/4")
	return s.learnRender(c, "learn_step4", "Step 4: Application Requests Access Token", data)
}

// handleLearnSend serves POST /learn/4/send, "Send": step 4's request,
// once, and on to step 5 with the answer.
func (s *Server) handleLearnSend(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	f := st.Flow
	switch {
	case missingFor(f, 4) != nil:
		return seeOther(c, "/learn/4") // which says what is missing
	case f.Spent:
		return seeOther(c, "/learn/5") // sent already: step 5 shows the answer
	}
	req := s.learn.Exchange(learn.ClientID, f.code(), f.Verifier, s.learn.RedirectURL)
	a := s.learn.SendOnce(c.Request().Context(), "send", req, learn.ShareFor)
	f.Spent, f.Answer = true, &a
	if a.Issued() {
		f.Access, f.Refresh = bounded(a.Get("access_token")), bounded(a.Get("refresh_token"))
	}
	st.Last = nil
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/5")
}

// handleLearnQuickCode serves POST /learn/4/quick-code: a new
// authorization, by learn.QuickClientID, whose code expires in 20
// seconds, for the expired-code mistake. It goes to the consent page; the
// callback brings the browser back to step 4.
func (s *Server) handleLearnQuickCode(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	st.Quick = &learnQuick{State: learn.NewState(), Verifier: learn.NewVerifier()}
	st.Last = nil
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, s.learn.AuthorizeLink(learn.QuickClientID, st.Quick.State, st.Quick.Verifier).URL)
}

// handleLearnMistake serves POST /learn/mistakes/{name}: one of the
// mistakes to try (learn.Mistakes), sent once, and back to its page with
// the sandbox's answer.
func (s *Server) handleLearnMistake(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	m, ok := learn.MistakeNamed(c.Param("name"))
	if !ok {
		return echo.ErrNotFound
	}
	back := m.Page + "#" + m.Name
	st := s.loadLearn(c.Request())
	if !s.mistakeReady(st, m.Name) {
		return seeOther(c, back) // the page says what the mistake needs
	}
	result := &learnResult{For: m.Name}
	switch m.Name {
	case learn.MistakeWrongState:
		// The app's own check: nothing is sent.
		result.Check = &learnCheck{Received: learn.NewState(), Kept: st.Flow.State}
	case learn.MistakeExpiredCode:
		if left := st.Quick.Arrived.Add(learn.QuickCodeTTL + time.Second).Sub(s.now()); left > 0 {
			// Sent now, it would work: nothing is sent.
			result.Note = "The code has not expired yet: " + waitWords(left) + " to go. Press again then."
			break
		}
		req, _ := s.mistakeRequest(st, m.Name)
		a := s.learn.SendOnce(c.Request().Context(), m.Name, req, learn.ShareFor)
		result.Answer = &a
		st.Quick.Sent = true
	default:
		req, _ := s.mistakeRequest(st, m.Name)
		a := s.learn.SendOnce(c.Request().Context(), m.Name, req, learn.ShareFor)
		result.Answer = &a
		switch m.Name {
		case learn.MistakeWrongRedirectURI, learn.MistakeWrongVerifier:
			st.Flow.Spent = true
		case learn.MistakeCodeTwice:
			if !a.Issued() {
				st.Flow.Ended = endedReplayed
			}
		}
	}
	st.Last = result
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, back)
}

// Step 5: Application Receives Access Token.

type learnStep5Page struct {
	learnBase
	Request  learn.Request
	Answer   *learn.Answer
	Fields   []learn.Param
	Ended    string
	Mistakes []mistakeView
}

func (s *Server) learnStep5(c echo.Context, st *learnState) error {
	ep := s.endpoints()
	data := learnStep5Page{learnBase: s.learnBase("/learn/5"), Fields: learn.TokenFields()}
	if s.learn == nil {
		data.Request = ep.Exchange("CLIENT_ID", "AUTHORIZATION_CODE", "CODE_VERIFIER", ep.RedirectURL)
	} else {
		f := st.Flow
		switch data.Missing = missingFor(f, 4); {
		case data.Missing != nil:
		case f.Answer == nil && f.Spent:
			data.Missing = missingSpentCode.ptr()
		case f.Answer == nil:
			data.Missing = missingTokens.ptr()
		default:
			data.Request = ep.Exchange(learn.ClientID, f.code(), f.Verifier, ep.RedirectURL)
			data.Answer, data.Ended = f.Answer, f.Ended
		}
	}
	data.Mistakes = s.mistakes(c, st, "/learn/5")
	return s.learnRender(c, "learn_step5", "Step 5: Application Receives Access Token", data)
}

// Then: call the API.

type learnAPIPage struct {
	learnBase
	Calls  []learnExchange
	Called bool
	Ended  string // why the flow's grant ended, if it did
}

// learnAPIPaths are what "Call the API" reads: the account, and the first
// droplet, whose page says how many there are and where the next page is.
var learnAPIPaths = [...]string{"/v2/account", "/v2/droplets?page=1&per_page=1"}

// handleLearnAPI serves GET /learn/api: the API requests with the flow's
// access token and, with ?call=1 ("Call the API"), their answers. The
// calls are GETs that change nothing, so they are made as the page is
// shown, and again at each reload; no answer is kept.
func (s *Server) handleLearnAPI(c echo.Context) error {
	data := learnAPIPage{learnBase: s.learnBase("/learn/api")}
	token := "ACCESS_TOKEN"
	if s.learn != nil {
		f := s.loadLearn(c.Request()).Flow
		if data.Missing = missingFor(f, 5); data.Missing != nil {
			return s.learnRender(c, "learn_api", "Then: call the API", data)
		}
		token, data.Ended = f.Access, f.Ended
	}
	data.Called = s.learn != nil && c.QueryParam("call") == "1"
	for _, path := range learnAPIPaths {
		req := s.endpoints().API(path, token)
		x := learnExchange{Request: req}
		if data.Called {
			a := s.learn.Send(c.Request().Context(), req)
			x.Answer = &a
		}
		data.Calls = append(data.Calls, x)
	}
	return s.learnRender(c, "learn_api", "Then: call the API", data)
}

// Then: refresh.

type learnRefreshPage struct {
	learnBase
	Request  learn.Request  // the next refresh
	Result   *learnExchange // the last one
	Ended    string         // why the flow's grant ended, if it did
	Mistakes []mistakeView
}

// handleLearnRefreshPage serves GET /learn/refresh: the refresh request
// with the flow's refresh token and, after "Refresh", its answer.
func (s *Server) handleLearnRefreshPage(c echo.Context) error {
	data := learnRefreshPage{learnBase: s.learnBase("/learn/refresh")}
	st := &learnState{}
	if s.learn == nil {
		data.Request = s.endpoints().Refresh("REFRESH_TOKEN")
	} else {
		st = s.loadLearn(c.Request())
		f := st.Flow
		if data.Missing = missingFor(f, 5); data.Missing == nil {
			data.Request, data.Ended = s.learn.Refresh(f.Refresh), f.Ended
			if r := st.lastFor(learnDidRefresh); r != nil {
				data.Result = &learnExchange{Request: s.learn.Refresh(r.Used), Answer: r.Answer}
			}
		}
	}
	data.Mistakes = s.mistakes(c, st, "/learn/refresh")
	return s.learnRender(c, "learn_refresh", "Then: refresh the access token", data)
}

// handleLearnRefresh serves POST /learn/refresh, "Refresh": the refresh
// token for a new pair, once; the old pair is kept for its mistake.
func (s *Server) handleLearnRefresh(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	f := st.Flow
	if missingFor(f, 5) != nil {
		return seeOther(c, "/learn/refresh")
	}
	used := f.Refresh
	a := s.learn.SendOnce(c.Request().Context(), "refresh", s.learn.Refresh(used), learn.ShareFor)
	if a.Issued() {
		f.OldAccess, f.OldRefresh = f.Access, f.Refresh
		f.Access, f.Refresh = bounded(a.Get("access_token")), bounded(a.Get("refresh_token"))
	}
	st.Last = &learnResult{For: learnDidRefresh, Answer: &a, Used: used}
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/refresh")
}

// Then: revoke.

type learnRevokePage struct {
	learnBase
	Request learn.Request
	Result  *learnExchange
	Proof   *learnExchange // the API, asked with the revoked token
}

// handleLearnRevokePage serves GET /learn/revoke: the revocation request
// and, after "Revoke", its answer and the API refusing the token.
func (s *Server) handleLearnRevokePage(c echo.Context) error {
	data := learnRevokePage{learnBase: s.learnBase("/learn/revoke")}
	if s.learn == nil {
		data.Request = s.endpoints().Revoke("ACCESS_TOKEN")
		return s.learnRender(c, "learn_revoke", "Then: revoke the token", data)
	}
	st := s.loadLearn(c.Request())
	f := st.Flow
	if data.Missing = missingFor(f, 5); data.Missing == nil {
		data.Request = s.learn.Revoke(f.Access)
		if r := st.lastFor(learnDidRevoke); r != nil {
			data.Result = &learnExchange{Request: data.Request, Answer: r.Answer}
			data.Proof = s.learnRead(c, "/v2/account", f.Access)
		}
	}
	return s.learnRender(c, "learn_revoke", "Then: revoke the token", data)
}

// handleLearnRevoke serves POST /learn/revoke, "Revoke": the access
// token's grant ends, refresh token included.
func (s *Server) handleLearnRevoke(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	f := st.Flow
	if missingFor(f, 5) != nil {
		return seeOther(c, "/learn/revoke")
	}
	a := s.learn.SendOnce(c.Request().Context(), "revoke", s.learn.Revoke(f.Access), learn.ShareFor)
	if a.OK() {
		f.Ended = endedRevoked
	}
	st.Last = &learnResult{For: learnDidRevoke, Answer: &a}
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/revoke")
}
