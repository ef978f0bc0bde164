package sandbox

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// The grants the token endpoint knows. DigitalOcean offers the first two;
// the sandbox adds the two other grants the OAuth articles teach, so that
// they can be tried (device.go, clientcredentials.go). The implicit grant
// (response_type=token) is not offered: RFC 9700 §2.1.2 says not to use it,
// since it puts the access token in the browser's URL.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"                           // RFC 6749 §4.4, sandbox only
	grantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code" // RFC 8628 §3.4, sandbox only
)

// grantTypes lists them as the server metadata's grant_types_supported.
func grantTypes() []string {
	return []string{grantAuthorizationCode, grantRefreshToken, grantClientCredentials, grantDeviceCode}
}

// allowsGrant reports whether the client may use a sandbox-only grant. A
// client that registered itself uses only the grant types it registered
// (RFC 7591 §2); a client of the sandbox's configuration (the app's own,
// Config.Clients), which the configuration vouches for, may use every
// grant. The authorization-code and refresh
// grants are open to every client, as at DigitalOcean.
func (c *client) allowsGrant(grantType string) bool {
	return !c.registered || slices.Contains(c.grantTypes, grantType)
}

// registeredGrants checks the grant_types and response_types of a
// registration (RFC 7591 §2, §2.1) and returns what is registered. With no
// grant_types a client is registered for the authorization-code and refresh
// grants, DigitalOcean's pair. public is a client with no secret.
func registeredGrants(reg registration, public bool) (grants, responses []string, oerr *oauthError) {
	// The sandbox issues refresh tokens with every code, so a client that
	// names no grant types is registered for both (RFC 7591 §3.2.1 lets
	// the server say what it registered).
	grants = reg.GrantTypes
	if len(grants) == 0 {
		grants = []string{grantAuthorizationCode, grantRefreshToken}
	}
	for _, g := range grants {
		if !slices.Contains(grantTypes(), g) {
			return nil, nil, invalidMetadata("grant_types may hold authorization_code and refresh_token, and, in the sandbox only, client_credentials and " + grantDeviceCode + ".")
		}
	}
	code, device := slices.Contains(grants, grantAuthorizationCode), slices.Contains(grants, grantDeviceCode)
	switch {
	case !code && !device && !slices.Contains(grants, grantClientCredentials):
		return nil, nil, invalidMetadata("grant_types must include a grant that issues tokens: authorization_code (or, in the sandbox only, client_credentials or " + grantDeviceCode + ").")
	case slices.Contains(grants, grantRefreshToken) && !code && !device:
		return nil, nil, invalidMetadata("refresh_token comes only with authorization_code or the device grant: client_credentials issues no refresh token.")
	case slices.Contains(grants, grantClientCredentials) && public:
		return nil, nil, invalidMetadata("client_credentials is for confidential clients (RFC 6749 §4.4): register with token_endpoint_auth_method client_secret_post or client_secret_basic.")
	}

	// response_types go with the authorization endpoint, which only the
	// authorization-code grant uses (RFC 7591 §2.1).
	responses = reg.ResponseTypes
	if !code {
		if len(responses) > 0 {
			return nil, nil, invalidMetadata("response_types must be empty: the code response type goes with the authorization_code grant, which grant_types does not include.")
		}
		return grants, []string{}, nil
	}
	if len(responses) == 0 {
		responses = []string{"code"}
	}
	if len(responses) != 1 || responses[0] != "code" {
		return nil, nil, invalidMetadata(`response_types must be ["code"].`)
	}
	return grants, responses, nil
}

// scopeToGrant validates the scope a client asks for at the device
// authorization or the token endpoint: "read" when it asks for none, as at
// DigitalOcean; at most the scope it registered (RFC 7591 §2), which is
// also what it gets when it asks for none (RFC 6749 §3.3 lets the server
// choose the default). parseAuthRequest applies the same rule at the
// authorization endpoint.
func scopeToGrant(c *client, raw string) (string, *oauthError) {
	scopes, ok := parseScope(raw)
	if !ok {
		return "", &oauthError{status: http.StatusBadRequest, code: "invalid_scope", description: descInvalidScope}
	}
	if c.scope != "" {
		switch {
		case strings.TrimSpace(raw) == "":
			return c.scope, nil
		case !scopeCovers(c.scope, scopes):
			return "", &oauthError{status: http.StatusBadRequest, code: "invalid_scope", description: "The requested scope exceeds the scope the client registered: " + c.scope + "."}
		}
	}
	return joinScope(scopes), nil
}

// issueGrant starts a grant that no authorization code came before: the
// device grant's, once the user approved, and the client-credentials
// grant's. It is bounded like a code exchange's: a client past its share
// of grants loses its own oldest (shares.go).
//
// Without withRefresh the grant has no refresh token (RFC 6749 §4.4.3):
// the store still makes one, because it indexes and counts live grants by
// their refresh token, but it is returned to no one, and it expires with
// the access token. (The sweep walks a client's grants oldest first and
// stops at the first live one, so such a grant may be kept past its
// expiry until the ones before it expire or it is evicted: bounded by the
// client's share either way.)
func (st *store) issueGrant(now time.Time, clientID, scope string, account int, ttl time.Duration, withRefresh bool) tokens {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweepLocked(now)
	g := &grant{clientID: clientID, scope: scope, account: account, rateWindowStart: now, burstStart: now}
	if old, full := st.grantShares.victim(clientID); full {
		st.dropLocked(old)
		st.counters.Evictions++
	}
	g.elem = st.grantShares.push(clientID, g)
	t := st.rotateLocked(now, g, ttl)
	if !withRefresh {
		g.refreshExpires = g.accessExpires
		t.refresh = ""
	}
	return t
}
