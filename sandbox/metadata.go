package sandbox

import (
	"net/http"
	"net/url"
	"strings"
)

// metadataPath is where RFC 8414 §3 puts an authorization server's
// metadata, here relative to the sandbox's root.
const metadataPath = "/.well-known/oauth-authorization-server"

// serverMetadata is the RFC 8414 §2 document, with the members
// DigitalOcean's has, plus the device grant's endpoint and the two grants
// only the sandbox offers.
type serverMetadata struct {
	Issuer                                 string   `json:"issuer"`
	AuthorizationEndpoint                  string   `json:"authorization_endpoint"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	RegistrationEndpoint                   string   `json:"registration_endpoint"`
	DeviceAuthorizationEndpoint            string   `json:"device_authorization_endpoint"` // RFC 8628 §4; sandbox only
	ScopesSupported                        []string `json:"scopes_supported"`
	ResponseTypesSupported                 []string `json:"response_types_supported"`
	ResponseModesSupported                 []string `json:"response_modes_supported"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported          []string `json:"code_challenge_methods_supported"`
	ServiceDocumentation                   string   `json:"service_documentation"`
}

// handleMetadata serves GET /.well-known/oauth-authorization-server, so
// that a client given only the sandbox's address can find every endpoint.
// The URLs are absolute, on the host the client used, like the pagination
// links.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeOAuthError(w, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", description: "This endpoint accepts GET only."})
		return
	}
	root := rootURL(r, metadataPath)
	auth := []string{authSecretPost, authSecretBasic, authNone}
	writeJSON(w, http.StatusOK, serverMetadata{
		Issuer:                                 root,
		AuthorizationEndpoint:                  root + "/v1/oauth/authorize",
		TokenEndpoint:                          root + "/v1/oauth/token",
		RevocationEndpoint:                     root + "/v1/oauth/revoke",
		RegistrationEndpoint:                   root + "/v1/oauth/register",
		DeviceAuthorizationEndpoint:            root + deviceAuthorizationPath,
		ScopesSupported:                        []string{"read", "write", "account:read", "actions:read", "droplet:read", "droplet:update", "droplet:create", "droplet:delete", "regions:read", "sizes:read", "image:read", "ssh_key:read", "tag:create", "vpc:read"},
		ResponseTypesSupported:                 []string{"code"},
		ResponseModesSupported:                 []string{"query"},
		GrantTypesSupported:                    grantTypes(),
		TokenEndpointAuthMethodsSupported:      auth,
		RevocationEndpointAuthMethodsSupported: auth,
		CodeChallengeMethodsSupported:          []string{"S256"},
		ServiceDocumentation:                   root + "/developer",
	})
}

// rootURL is the absolute URL of the sandbox's root as the client reached
// it, given the path (relative to the root) the request was for: with the
// sandbox mounted at /sandbox, a request for /sandbox/developer has the
// root http://host/sandbox.
func rootURL(r *http.Request, path string) string {
	u := requestURL(r)
	u.Path = strings.TrimSuffix(u.Path, path)
	u.RawPath = ""
	return strings.TrimSuffix((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), "/")
}
