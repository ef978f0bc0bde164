package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// authRequest is an authorization request (RFC 6749 §4.1.1 with PKCE,
// RFC 7636 §4.3) after validation. Scope is normalized ("read" when the
// client asked for nothing).
type authRequest struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	Scope               string
	State               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              string // "" or "select_account"
}

// Descriptions of DigitalOcean's OAuth errors, in the wording of the Rails
// OAuth server (Doorkeeper) DigitalOcean's responses come from.
const (
	descAccessDenied    = "The resource owner or authorization server denied the request."
	descInvalidScope    = "The requested scope is invalid, unknown, or malformed."
	descUnsupportedResp = "The authorization server does not support this response type."
)

// handleAuthorize serves /v1/oauth/authorize: GET shows the consent page,
// POST records the user's decision.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.showConsent(w, r)
	case http.MethodPost:
		s.decide(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.renderError(w, http.StatusMethodNotAllowed, "Method not allowed", "The authorization endpoint accepts GET and POST only.")
	}
}

// showConsent is step 2 of the authorization-code flow, seen from
// DigitalOcean's side: the app's authorization link (step 1) sent the user
// here; check the request and ask the user whether to let the app in.
func (s *Server) showConsent(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	c, redirectURI, problem := s.checkClient(params)
	if problem != "" {
		s.renderError(w, http.StatusBadRequest, "Invalid authorization request", problem)
		return
	}
	req, oerr := s.parseAuthRequest(params, c, redirectURI)
	if oerr != nil {
		s.requestError(w, r, c, redirectURI, params.Get("state"), oerr)
		return
	}
	scopes, _ := parseScope(req.Scope) // already validated
	access, custom := describeScope(scopes)
	page := consentPage{
		AppName:       c.name,
		Registered:    c.registered,
		ReturnTo:      origin(redirectURI),
		Access:        access,
		CustomScopes:  custom,
		Account:       s.accounts[0].Account,
		SelectAccount: req.Prompt == "select_account",
		Request:       req,
		CSRFToken:     s.csrf.token(w, r),
	}
	if page.AppName == "" {
		page.AppName = "An unnamed application"
	}
	if page.SelectAccount {
		page.Accounts = s.Accounts()
	}
	s.renderPage(w, http.StatusOK, "consent.html", origin(redirectURI), page)
}

// decide handles the consent form. Nothing in the form is trusted: the
// request is validated again exactly as on GET, then the CSRF checks run,
// and only then does the user's choice count. Step 3 of the flow: send the
// user back to the app with a code, or with error=access_denied.
func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	if !sameOriginOrUnknown(r) {
		s.renderError(w, http.StatusForbidden, "Request refused", "The authorization form was submitted from another site.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, "Invalid authorization request", "The form could not be read.")
		return
	}
	form := r.PostForm // never the URL query: the decision must come from the form
	c, redirectURI, problem := s.checkClient(form)
	if problem != "" {
		s.renderError(w, http.StatusBadRequest, "Invalid authorization request", problem)
		return
	}
	if !s.csrf.valid(r, form.Get(csrfFieldName)) {
		s.renderError(w, http.StatusForbidden, "Request refused", "The authorization form has expired or did not come from this page.")
		return
	}
	req, oerr := s.parseAuthRequest(form, c, redirectURI)
	if oerr != nil {
		s.requestError(w, r, c, redirectURI, form.Get("state"), oerr)
		return
	}
	account, problem := s.chosenAccount(req, form)
	if problem != "" {
		s.renderError(w, http.StatusBadRequest, "Invalid authorization request", problem)
		return
	}

	switch form.Get("decision") {
	case "approve":
		if refused := s.throttle.approve(s.now(), r, c); refused != nil {
			s.tooManyApprovals(w, c, refused)
			return
		}
		code := s.store.newCode(s.now(), authCode{
			clientID:    req.ClientID,
			redirectURI: req.RedirectURI,
			scope:       req.Scope,
			challenge:   req.CodeChallenge,
			account:     account,
			lifetime:    c.codeTTL,
		})
		s.log.Info("sandbox: user authorized app", "client_id", req.ClientID, "scope", req.Scope, "account", s.accounts[account].Email)
		s.redirect(w, r, redirectURI, url.Values{"code": {code}}, req.State)
	case "deny":
		s.store.countDenial()
		s.log.Info("sandbox: user denied app", "client_id", req.ClientID)
		s.redirectError(w, r, redirectURI, req.State, &oauthError{code: "access_denied", description: descAccessDenied})
	default:
		s.renderError(w, http.StatusBadRequest, "Invalid authorization request", "Choose Authorize or Deny.")
	}
}

// tooManyApprovals answers an approval past a sign-in limit (limits.go)
// with the error page and 429, rather than on the redirect URI: the user
// is still on the sandbox's page, and waiting is theirs to do.
func (s *Server) tooManyApprovals(w http.ResponseWriter, c *client, refused *throttled) {
	whose := "from your address"
	if refused.byClient {
		whose = "for this application"
	}
	s.logRefusal("approvals", c.id, refused)
	w.Header().Set("Retry-After", refused.retryAfter())
	s.renderError(w, http.StatusTooManyRequests, "Too many sign-ins",
		"This sandbox has had too many sign-ins "+whose+" in the last minute. Try again in "+refused.retryAfter()+" seconds.")
}

// chosenAccount returns the index of the account that approves. With
// prompt=select_account the form names one of the sandbox's accounts (the
// radio buttons of the consent page, the default one checked, so a form
// without the field means the default, as the page showed it); without
// prompt the default account signs in, and a form that names another one
// was not made by the page.
func (s *Server) chosenAccount(req authRequest, form url.Values) (int, string) {
	values := form["account"]
	if len(values) > 1 {
		return 0, "The form repeats the account field."
	}
	uuid := form.Get("account")
	if req.Prompt != "select_account" {
		if uuid != "" && uuid != s.accounts[0].UUID {
			return 0, "The form chose an account, but the application did not ask to select one."
		}
		return 0, ""
	}
	if uuid == "" {
		return 0, ""
	}
	k := s.accountByUUID(uuid)
	if k < 0 {
		return 0, "The chosen account is not one of the sandbox's accounts."
	}
	return k, ""
}

// checkClient verifies client_id and redirect_uri. Until both are known to
// be right the sandbox must not redirect anywhere (RFC 6749 §4.1.2.1):
// an unchecked redirect_uri would make it an open redirector that delivers
// codes to an attacker. A non-empty problem is shown to the user instead.
func (s *Server) checkClient(params url.Values) (c *client, redirectURI, problem string) {
	for _, p := range []string{"client_id", "redirect_uri"} {
		if len(params[p]) > 1 {
			return nil, "", "The request repeats the " + p + " parameter."
		}
	}
	clientID, redirectURI := params.Get("client_id"), params.Get("redirect_uri")
	if clientID != "" {
		c = s.clients.get(clientID)
	}
	switch {
	case clientID == "":
		return nil, "", "The request has no client_id."
	case c == nil:
		return nil, "", "The client_id is not that of an application registered with this DigitalOcean sandbox, so the sandbox will not send you back to it."
	case redirectURI == "":
		return nil, "", "The request has no redirect_uri."
	case !c.allowsRedirect(redirectURI):
		return nil, "", "The redirect_uri does not exactly match a callback URL registered for this application, so the sandbox will not send you there."
	}
	return c, redirectURI, ""
}

// parseAuthRequest validates the rest of an authorization request once
// client_id and redirect_uri are known to be good; its errors are sent back
// to the redirect URI.
func (s *Server) parseAuthRequest(params url.Values, c *client, redirectURI string) (authRequest, *oauthError) {
	// Each parameter may appear at most once (RFC 6749 §3.1).
	for _, p := range []string{"response_type", "scope", "state", "code_challenge", "code_challenge_method", "prompt"} {
		if len(params[p]) > 1 {
			return authRequest{}, invalidRequest("The " + p + " parameter must not be repeated.")
		}
	}
	req := authRequest{
		ClientID:            params.Get("client_id"),
		RedirectURI:         redirectURI,
		ResponseType:        params.Get("response_type"),
		State:               params.Get("state"),
		CodeChallenge:       params.Get("code_challenge"),
		CodeChallengeMethod: params.Get("code_challenge_method"),
		Prompt:              params.Get("prompt"),
	}
	switch req.ResponseType {
	case "code":
	case "":
		return authRequest{}, invalidRequest("Missing required parameter: response_type.")
	default:
		return authRequest{}, &oauthError{code: "unsupported_response_type", description: descUnsupportedResp}
	}
	scopes, ok := parseScope(params.Get("scope"))
	if !ok {
		return authRequest{}, &oauthError{code: "invalid_scope", description: descInvalidScope}
	}
	// A client that registered a scope (RFC 7591 §2) gets at most that
	// scope, and gets it when it asks for none (RFC 6749 §3.3 lets the
	// server choose the default).
	if c.scope != "" {
		switch {
		case params.Get("scope") == "":
			scopes = strings.Fields(c.scope)
		case !scopeCovers(c.scope, scopes):
			return authRequest{}, &oauthError{code: "invalid_scope", description: "The requested scope exceeds the scope the client registered: " + c.scope + "."}
		}
	}
	req.Scope = joinScope(scopes)

	// PKCE (RFC 7636). Only S256 is accepted: "plain" would protect nothing
	// against an attacker who can read the authorization request.
	// A public client has no secret, so PKCE is what stops a stolen code
	// from being redeemed (RFC 9700 §2.1.1): it is required.
	switch {
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return authRequest{}, invalidRequest("code_challenge_method was sent without a code_challenge.")
	case req.CodeChallenge == "" && c.public:
		return authRequest{}, invalidRequest("A public client must use PKCE: send code_challenge and code_challenge_method=S256.")
	case req.CodeChallenge == "":
	case req.CodeChallengeMethod != "S256":
		return authRequest{}, invalidRequest("code_challenge_method must be S256.")
	case !isS256Challenge(req.CodeChallenge):
		return authRequest{}, invalidRequest("code_challenge must be the base64url-encoded SHA-256 of the code verifier (43 characters).")
	}
	// prompt (OpenID Connect Core §3.1.2.1): the sandbox supports
	// select_account, which lets the user pick which account signs in.
	if req.Prompt != "" && req.Prompt != "select_account" {
		return authRequest{}, invalidRequest("prompt must be select_account, the only prompt the sandbox supports.")
	}
	return req, nil
}

// isS256Challenge reports whether c has the shape of BASE64URL(SHA256(x))
// without padding: 43 characters of the base64url alphabet.
func isS256Challenge(c string) bool {
	if len(c) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

// redirect sends the user agent back to the app's redirect URI with params
// and state added to any query the registered URI already has.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, state string) {
	u, err := url.Parse(redirectURI) // validated by New; cannot fail
	if err != nil {
		s.renderError(w, http.StatusInternalServerError, "Sandbox error", "The redirect URI could not be parsed.")
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// requestError answers an authorization request that fails validation
// once its client and redirect URI are known good. A client of the
// sandbox's configuration (the app's own, Config.Clients), which the
// configuration vouches for, gets the error on its redirect URI, as RFC
// 6749 §4.1.2.1 says. A client that registered itself
// does not: anyone may register any https URI, so redirecting there without
// the user's say would turn every malformed link to this endpoint into an
// open redirector (RFC 9700 §4.11.2). Its error is shown here instead; only
// the user's own decision on the consent page sends them back to it.
func (s *Server) requestError(w http.ResponseWriter, r *http.Request, c *client, redirectURI, state string, e *oauthError) {
	if c.registered {
		s.renderError(w, http.StatusBadRequest, "Invalid authorization request",
			e.description+" ("+e.code+": the sandbox shows this here rather than sending you to an application that registered itself.)")
		return
	}
	s.redirectError(w, r, redirectURI, state, e)
}

// redirectError reports an error to the app as RFC 6749 §4.1.2.1 says: on
// the redirect URI, with error, error_description and state.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e *oauthError) {
	s.redirect(w, r, redirectURI, url.Values{"error": {e.code}, "error_description": {e.description}}, state)
}
