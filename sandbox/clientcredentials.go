package sandbox

import (
	"net/http"
	"net/url"
)

// The client-credentials grant (RFC 6749 §4.4), in the sandbox only:
// DigitalOcean does not offer it. A confidential client trades its own
// credentials for an access token, with no user and no consent page:
//
//	POST /v1/oauth/token
//	grant_type=client_credentials&client_id=...&client_secret=...[&scope=read]
//
//	{"access_token":"doo_v1_...","token_type":"bearer","expires_in":120,"scope":"read"}
//
// There is no refresh token (RFC 6749 §4.4.3: the client can always ask
// again) and no info object, since no user signed in. The scope is the one
// asked for, at most the one the client registered; with none asked, the
// registered scope, or "read".
//
// The token acts for the client itself, which owns nothing at DigitalOcean
// and is no account. So the API answers it as it would answer an empty
// account that may change nothing:
//
//   - GET /v2/account: 403 forbidden, as there is no account to describe;
//   - list endpoints (/v2/droplets, /v2/actions): 200 with an empty list;
//   - one droplet or action: 404 not_found, as for another account's;
//   - anything that changes something (POST /v2/droplets/{id}/actions):
//     403 forbidden, whatever its scope.
//
// Scopes are checked first, as for any token: a "read" token gets the
// usual 403 for a write.

// descNoAccount and descNoAccountWrite are the API's 403 messages for a
// client-credentials token.
const (
	descNoAccount      = "This token was issued to an application by the client_credentials grant: it acts for no user, so there is no account to show."
	descNoAccountWrite = "This token was issued to an application by the client_credentials grant: it acts for no user's account, so it cannot change anything."
)

// noAccount is the account index of a grant that acts for no user.
const noAccount = -1

// appTokenResponse is the client-credentials token response: RFC 6749
// §5.1 without a refresh token, and without DigitalOcean's info object.
type appTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// clientCredentials implements grant_type=client_credentials for an
// authenticated client. A public client is refused: it has no secret, so
// anyone who knows its client_id could get its tokens.
func (s *Server) clientCredentials(w http.ResponseWriter, c *client, form url.Values) {
	switch {
	case c.public:
		writeOAuthError(w, unauthorizedClient("The client_credentials grant is for confidential clients (RFC 6749 §4.4): a public client has no secret to prove who it is."))
		return
	case !c.allowsGrant(grantClientCredentials):
		writeOAuthError(w, unauthorizedClient("This client did not register for the client_credentials grant (grant_types)."))
		return
	}
	scope, oerr := scopeToGrant(c, form.Get("scope"))
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	t := s.store.issueGrant(s.now(), c.id, scope, noAccount, s.tokenTTL, false)
	s.log.Info("sandbox: issued a token by client credentials", "client_id", c.id, "scope", scope)
	writeTokenJSON(w, http.StatusOK, appTokenResponse{
		AccessToken: t.access,
		TokenType:   "bearer",
		ExpiresIn:   int(t.expiresIn.Seconds()),
		Scope:       t.scope,
	})
}

// unauthorizedClient is RFC 6749 §5.2's error for a client that may not
// use the grant it asked for.
func unauthorizedClient(description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", description: description}
}

// actingAccount returns the account an API operation runs on for a token
// that acts for account (an index in s.accounts, or noAccount), or the
// message of a 403 refusal. A token of no account sees s.noAccount, which
// has no droplets and never gets any actions, since writes are refused;
// see the comment at the top of this file.
func (s *Server) actingAccount(account int, op operation) (*accountState, string) {
	switch {
	case account != noAccount:
		return s.accounts[account], ""
	case op.write:
		return nil, descNoAccountWrite
	case op.scope == "account:read": // GET /v2/account, the only operation that describes the user
		return nil, descNoAccount
	}
	return s.noAccount, ""
}
