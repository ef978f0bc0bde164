package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// The sandbox knows two kinds of OAuth clients: those of its
// configuration (the app's own, a confidential client as registered in
// DigitalOcean's control panel, and Config.Clients), and any number of clients registered at run time through Dynamic
// Client Registration (RFC 7591, POST /v1/oauth/register), which is how a
// CLI, a desktop app or another developer's web app gets a client_id.
//
// A registered client is public (token_endpoint_auth_method "none": no
// secret, so it must use PKCE S256) or confidential (it is issued a secret
// and authenticates with it like the app's client). Registrations are kept
// in memory, at most maxClients of them, until the sandbox restarts.

// Limits of a registration.
const (
	maxClients          = 1000
	maxRegisterBytes    = 16 << 10
	maxRedirectURIs     = 10
	maxRedirectURIBytes = 2000
	maxClientName       = 100
)

// Token endpoint authentication methods (RFC 7591 §2).
const (
	authNone        = "none"
	authSecretPost  = "client_secret_post"
	authSecretBasic = "client_secret_basic"
)

var errTooManyClients = errors.New("sandbox: too many registered clients")

// client is an OAuth client the sandbox accepts.
type client struct {
	id           string
	secret       secretKey // hash of the secret; unused for a public client
	public       bool
	name         string
	redirectURIs []string
	scope        string        // registered scope: the most it may ask for; "" for no bound
	registered   bool          // through /v1/oauth/register, rather than Config
	grantTypes   []string      // registered grant types; see allowsGrant
	codeTTL      time.Duration // lifetime of its authorization codes; zero: codeTTL
}

func (c *client) allowsRedirect(uri string) bool {
	return slices.Contains(c.redirectURIs, uri)
}

// clientRegistry holds every client, behind one lock.
type clientRegistry struct {
	mu      sync.RWMutex
	byID    map[string]*client
	dynamic int // how many were registered at run time
}

func newClientRegistry() *clientRegistry {
	return &clientRegistry{byID: make(map[string]*client)}
}

func (cr *clientRegistry) get(id string) *client {
	cr.mu.RLock()
	defer cr.mu.RUnlock()
	return cr.byID[id]
}

// registered returns how many clients were registered at run time.
func (cr *clientRegistry) registered() int {
	cr.mu.RLock()
	defer cr.mu.RUnlock()
	return cr.dynamic
}

// add registers c; registered clients are refused past maxClients.
func (cr *clientRegistry) add(c *client) error {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if c.registered {
		if cr.dynamic >= maxClients {
			return errTooManyClients
		}
		cr.dynamic++
	}
	cr.byID[c.id] = c
	return nil
}

// registration is the client metadata of RFC 7591 §2 that the sandbox
// reads; other members are ignored, as §2 allows.
type registration struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope"`
}

// registrationResponse is RFC 7591 §3.2.1's answer: the metadata as
// registered, plus the client's credentials.
type registrationResponse struct {
	ClientID                string   `json:"client_id"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"` // 0: never; only with a secret
	ClientName              string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris,omitempty"` // none for a client without the authorization-code grant
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope,omitempty"`
}

// handleRegister serves POST /v1/oauth/register (RFC 7591 §3). Anyone may
// register, as at DigitalOcean for public clients: a client is only a name
// and the redirect URIs codes may go to, and the user still has to approve
// every sign-in on the consent page.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeOAuthError(w, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", description: "This endpoint accepts POST only."})
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeOAuthError(w, invalidMetadata("The body must be a JSON object (Content-Type: application/json)."))
		return
	}
	var reg registration
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRegisterBytes))
	if err := dec.Decode(&reg); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeOAuthError(w, invalidMetadata("The body is larger than 16 KiB."))
			return
		}
		writeOAuthError(w, invalidMetadata("The body is not a JSON object of client metadata (RFC 7591 §2)."))
		return
	}
	if dec.More() {
		writeOAuthError(w, invalidMetadata("The body must hold one JSON object."))
		return
	}
	resp, oerr := s.register(r, reg)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	s.log.Info("sandbox: registered client", "client_id", resp.ClientID, "auth_method", resp.TokenEndpointAuthMethod, "redirect_uris", len(resp.RedirectURIs))
	writeTokenJSON(w, http.StatusCreated, resp)
}

// register validates the metadata and registers the client, within the
// registrations r's address may make (limits.go).
func (s *Server) register(r *http.Request, reg registration) (registrationResponse, *oauthError) {
	method := reg.TokenEndpointAuthMethod
	switch method {
	case "":
		method = authSecretBasic // RFC 7591 §2's default
	case authNone, authSecretPost, authSecretBasic:
	default:
		return registrationResponse{}, invalidMetadata("token_endpoint_auth_method must be none (a public client, with PKCE), client_secret_post or client_secret_basic.")
	}
	grants, responses, oerr := registeredGrants(reg, method == authNone)
	if oerr != nil {
		return registrationResponse{}, oerr
	}
	// Redirect URIs are where the authorization endpoint sends codes: a
	// client without that grant (a device, a service) has none.
	if slices.Contains(grants, grantAuthorizationCode) {
		switch n := len(reg.RedirectURIs); {
		case n == 0:
			return registrationResponse{}, invalidRedirect("redirect_uris is required: list the callback URLs codes may be sent to.")
		case n > maxRedirectURIs:
			return registrationResponse{}, invalidRedirect("At most 10 redirect_uris may be registered.")
		}
		for _, uri := range reg.RedirectURIs {
			if problem := checkRegisteredRedirect(uri); problem != "" {
				return registrationResponse{}, invalidRedirect(problem)
			}
		}
	} else if len(reg.RedirectURIs) > 0 {
		return registrationResponse{}, invalidMetadata("redirect_uris are for the authorization_code grant, which grant_types does not include: leave them out.")
	}
	if !displayableName(reg.ClientName) {
		return registrationResponse{}, invalidMetadata("client_name must be at most 100 characters, without control or invisible formatting characters.")
	}
	scope := ""
	if reg.Scope != "" {
		scopes, ok := parseScope(reg.Scope)
		if !ok {
			return registrationResponse{}, invalidMetadata("scope must be space-separated DigitalOcean scopes, such as read or droplet:read.")
		}
		scope = joinScope(scopes)
	}
	if refused := s.throttle.registration(s.now(), r); refused != nil {
		s.logRefusal("registrations", "", refused)
		return registrationResponse{}, refused.oauthError("registrations")
	}

	c := &client{
		id:           randomHex(32), // DigitalOcean's client IDs are 64 hex digits too
		public:       method == authNone,
		name:         reg.ClientName,
		redirectURIs: slices.Clone(reg.RedirectURIs),
		scope:        scope,
		registered:   true,
		grantTypes:   grants,
	}
	resp := registrationResponse{
		ClientID:                c.id,
		ClientIDIssuedAt:        s.now().Unix(),
		ClientName:              reg.ClientName,
		RedirectURIs:            c.redirectURIs,
		TokenEndpointAuthMethod: method,
		GrantTypes:              grants,
		ResponseTypes:           responses,
		Scope:                   scope,
	}
	if !c.public {
		secret := randomHex(32)
		c.secret = keyOf(secret)
		never := int64(0)
		resp.ClientSecret, resp.ClientSecretExpiresAt = secret, &never
	}
	if err := s.clients.add(c); err != nil {
		s.log.Warn("sandbox: refusing registration", "reason", err)
		return registrationResponse{}, &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", description: "The sandbox holds the most client registrations it keeps (1000); restart it to start over."}
	}
	return resp, nil
}

// displayableName reports whether a client name may be shown on the
// consent page. The name is the client's own claim, so besides control
// characters it may hold no format characters (Unicode category Cf: bidi
// overrides, zero-width spaces), which would let it look like another
// application's name.
func displayableName(name string) bool {
	return utf8.RuneCountInString(name) <= maxClientName &&
		!strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) })
}

// checkRegisteredRedirect applies RFC 6749 §3.1.2 and RFC 8252 §7.3 to a
// redirect URI offered for registration: absolute, no fragment, a real
// host (see hostProblem), https, or plain http only to this machine's
// loopback interface (a CLI's local listener), where nobody can intercept
// the code on the network.
func checkRegisteredRedirect(raw string) string {
	if len(raw) > maxRedirectURIBytes {
		return "A redirect URI must be at most 2000 bytes."
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return "Each redirect URI must be an absolute URL."
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "A redirect URI must not have a fragment."
	case u.User != nil:
		return "A redirect URI must not have user info."
	case hostProblem(u) != "":
		return hostProblem(u)
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return "A redirect URI must use https, or http only to localhost, 127.0.0.1 or [::1]."
	default:
		return "A redirect URI must use https (or http to a loopback address)."
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func invalidRedirect(description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_redirect_uri", description: description}
}

func invalidMetadata(description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_client_metadata", description: description}
}

// authenticateClient identifies the client of a token or revoke request
// (RFC 6749 §2.3.1): client_id and client_secret in the body, as
// DigitalOcean expects, or HTTP Basic authentication, which every server
// must support; using both at once is an error (RFC 6749 §2.3). A public
// client sends only its client_id, and must send no secret.
func (s *Server) authenticateClient(r *http.Request, form url.Values) (*client, *oauthError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		if form.Has("client_secret") {
			return nil, invalidRequest("Use one client authentication method, not both Basic and the body.")
		}
		// RFC 6749 §2.3.1: Basic credentials are form-encoded before base64.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, invalidClient()
		}
		if bodyID := form.Get("client_id"); bodyID != "" && bodyID != id {
			return nil, invalidRequest("The client_id in the body differs from the one in the Authorization header.")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	c := s.clients.get(id)
	if c == nil {
		return nil, invalidClient()
	}
	if c.public {
		// A public client has no secret to send. Some libraries still use
		// Basic with an empty password for one, which proves nothing but
		// claims nothing either, so it is accepted.
		if secret != "" {
			return nil, invalidClient()
		}
		return c, nil
	}
	// Compare hashes in constant time: timing must not tell an attacker
	// how much of a guessed secret was right.
	got := keyOf(secret)
	if subtle.ConstantTimeCompare(got[:], c.secret[:]) != 1 {
		return nil, invalidClient()
	}
	return c, nil
}
