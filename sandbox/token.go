package sandbox

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
)

// maxFormBytes bounds the body of form posts; real requests are far smaller.
const maxFormBytes = 64 << 10

// oauthError is an OAuth 2 error (RFC 6749 §4.1.2.1 and §5.2). The token
// and revoke endpoints send it as JSON with status; the authorization
// endpoint puts code and description on the redirect URI.
type oauthError struct {
	status      int
	code        string
	description string
	retryAfter  string // the Retry-After of a 429, in seconds
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

// Descriptions of the token endpoint's errors, in Doorkeeper's wording
// where it has one.
const (
	descInvalidClient = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."
	descInvalidGrant  = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	descUnsupported   = "The authorization grant type is not supported by the authorization server."
)

func invalidRequest(description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: description}
}

func invalidGrant(description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", description: description}
}

// tokenResponse is DigitalOcean's token response: RFC 6749 §5.1 plus an
// info object describing the account that authorized the app.
type tokenResponse struct {
	AccessToken  string   `json:"access_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int      `json:"expires_in"`
	RefreshToken string   `json:"refresh_token"`
	Scope        string   `json:"scope"`
	Info         infoJSON `json:"info"`
}

// handleToken serves POST /v1/oauth/token: steps 4 and 5 of the flow (code
// for tokens) and refreshing (refresh token for a new pair), and, in the
// sandbox only, the client-credentials grant and the device's polls.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	c, form, oerr := s.readClientRequest(w, r)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	if refused := s.throttle.tokenRequest(s.now(), r, c); refused != nil {
		s.tooManyRequests(w, c, refused, "token requests")
		return
	}
	switch form.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, c, form)
	case "refresh_token":
		s.refreshToken(w, c, form)
	case grantClientCredentials: // sandbox only
		s.clientCredentials(w, c, form)
	case grantDeviceCode: // sandbox only
		s.pollDevice(w, c, form)
	case "":
		writeOAuthError(w, invalidRequest("Missing required parameter: grant_type."))
	default:
		writeOAuthError(w, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", description: descUnsupported})
	}
}

// exchangeCode implements the authorization_code grant (RFC 6749 §4.1.3,
// RFC 7636 §4.6): the code must be unused, unexpired, issued to this
// client for this redirect_uri, and the code_verifier must hash to the
// challenge the app sent when it asked for the code.
func (s *Server) exchangeCode(w http.ResponseWriter, client *client, form url.Values) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "":
		writeOAuthError(w, invalidRequest("Missing required parameter: code."))
		return
	case redirectURI == "":
		writeOAuthError(w, invalidRequest("Missing required parameter: redirect_uri."))
		return
	}
	t, err := s.store.exchangeCode(s.now(), code, s.tokenTTL, func(c *authCode) error {
		switch {
		case c.clientID != client.id:
			return errWrongClient
		case c.redirectURI != redirectURI:
			return invalidGrant("The redirect_uri does not match the one used in the authorization request.")
		case c.challenge == "":
			return nil // no PKCE for this code; a verifier, if any, is ignored
		case verifier == "":
			return invalidGrant("Missing code_verifier: the authorization request had a code_challenge.")
		case !verifierMatches(verifier, c.challenge):
			return invalidGrant("The code_verifier does not match the code_challenge.")
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errCodeReplayed) {
			s.log.Warn("sandbox: authorization code presented twice; tokens issued from it are revoked")
		}
		writeOAuthError(w, storeError(err))
		return
	}
	s.log.Info("sandbox: exchanged code for tokens", "client_id", client.id, "scope", t.scope)
	s.writeTokens(w, t)
}

// refreshToken implements the refresh_token grant (RFC 6749 §6).
func (s *Server) refreshToken(w http.ResponseWriter, c *client, form url.Values) {
	refresh := form.Get("refresh_token")
	if refresh == "" {
		writeOAuthError(w, invalidRequest("Missing required parameter: refresh_token."))
		return
	}
	var scopes []string
	if raw := form.Get("scope"); raw != "" {
		var ok bool
		if scopes, ok = parseScope(raw); !ok {
			writeOAuthError(w, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", description: descInvalidScope})
			return
		}
	}
	t, err := s.store.refreshGrant(s.now(), refresh, c.id, scopes, s.tokenTTL)
	if err != nil {
		writeOAuthError(w, storeError(err))
		return
	}
	s.log.Info("sandbox: refreshed tokens", "client_id", c.id, "scope", t.scope)
	s.writeTokens(w, t)
}

// handleRevoke serves POST /v1/oauth/revoke (RFC 7009). It answers 200
// with an empty body whether or not the token was known, so that the
// response reveals nothing about tokens (RFC 7009 §2.2).
//
// The caller authenticates with the client credentials (in the body or with
// HTTP Basic) or, as DigitalOcean's own tools do, with "Authorization:
// Bearer <token>", the token being the one to revoke or a live access token
// of the same grant.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, oerr := readForm(w, r)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	bearer, clientID := "", ""
	if _, _, basic := r.BasicAuth(); !basic && !form.Has("client_secret") {
		bearer = bearerToken(r)
	}
	if bearer == "" {
		c, oerr := s.authenticateClient(r, form)
		if oerr != nil {
			writeOAuthError(w, oerr)
			return
		}
		clientID = c.id
	}
	token := form.Get("token")
	if token == "" {
		writeOAuthError(w, invalidRequest("Missing required parameter: token."))
		return
	}
	revoked, err := s.store.revoke(s.now(), token, clientID, bearer)
	if err != nil {
		writeOAuthError(w, &oauthError{status: http.StatusUnauthorized, code: "invalid_token", description: "The access token is invalid"})
		return
	}
	if revoked {
		s.log.Info("sandbox: revoked grant")
	}
	noStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

// readClientRequest reads a token endpoint request: a POST with a form
// body, from an authenticated client (RFC 6749 §2.3.1).
func (s *Server) readClientRequest(w http.ResponseWriter, r *http.Request) (*client, url.Values, *oauthError) {
	form, oerr := readForm(w, r)
	if oerr != nil {
		return nil, nil, oerr
	}
	c, oerr := s.authenticateClient(r, form)
	if oerr != nil {
		return nil, nil, oerr
	}
	return c, form, nil
}

// readForm reads the form body of a POST. Parameters in the URL query are
// refused rather than ignored: DigitalOcean's older documentation puts the
// client secret in the query, where it ends up in logs, and the point of
// this app is to show the right way.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", description: "This endpoint accepts POST only."}
	}
	if r.URL.RawQuery != "" {
		return nil, invalidRequest("Send the parameters in the POST body, not in the URL query.")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("The body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, invalidRequest("The form body could not be parsed.")
	}
	for k, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, invalidRequest("The " + k + " parameter must not be repeated.")
		}
	}
	return r.PostForm, nil
}

func invalidClient() *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: descInvalidClient}
}

// verifierMatches checks a PKCE code_verifier against an S256 challenge
// (RFC 7636 §4.6) in constant time.
func verifierMatches(verifier, challenge string) bool {
	if !validVerifier(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	computed := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(computed), []byte(challenge)) == 1
}

// validVerifier checks RFC 7636 §4.1: 43 to 128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// storeError maps the store's errors to OAuth errors.
func storeError(err error) *oauthError {
	var oerr *oauthError
	switch {
	case errors.As(err, &oerr):
		return oerr
	case errors.Is(err, errScopeWidening):
		return &oauthError{status: http.StatusBadRequest, code: "invalid_scope", description: "The requested scope exceeds the scope originally granted."}
	default: // unknown, expired, used, revoked, another client's
		return invalidGrant(descInvalidGrant)
	}
}

// writeTokens writes a successful token response (RFC 6749 §5.1).
func (s *Server) writeTokens(w http.ResponseWriter, t tokens) {
	writeTokenJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  t.access,
		TokenType:    "bearer",
		ExpiresIn:    int(t.expiresIn.Seconds()),
		RefreshToken: t.refresh,
		Scope:        t.scope,
		Info:         s.accounts[t.account].info(),
	})
}

// writeOAuthError writes an OAuth error response (RFC 6749 §5.2).
func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.code == "invalid_client" {
		// Required when the client tried Basic (RFC 6749 §5.2), harmless otherwise.
		w.Header().Set("WWW-Authenticate", `Basic realm="DigitalOcean sandbox"`)
	}
	switch {
	case e.retryAfter != "":
		w.Header().Set("Retry-After", e.retryAfter)
	case e.status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "60")
	}
	writeTokenJSON(w, e.status, struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}{e.code, e.description})
}

// writeTokenJSON writes a token endpoint response. Tokens must never be
// cached (RFC 6749 §5.1).
func writeTokenJSON(w http.ResponseWriter, status int, body any) {
	noStore(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
}
