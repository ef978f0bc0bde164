package learn

import (
	"net/url"
	"strings"
)

// Link is step 1, the authorization code link, with each parameter
// explained.
type Link struct {
	URL    string  // the whole link, as the browser opens it
	Params []Param // in the order the link has them
}

// Param is one parameter of a request, with what it is and what happens
// without it.
type Param struct {
	Name, Value string
	What        string // what it is, in a sentence
	Without     string // what happens without it, in a sentence
}

// AuthorizeLink builds step 1's link for the learn flow: client (ClientID
// or QuickClientID) asks for read access, with state and the S256
// challenge of verifier.
func (e Endpoints) AuthorizeLink(client, state, verifier string) Link {
	return e.LinkWith(client, state, Challenge(verifier))
}

// LinkWith builds the link with a challenge as it is given: with
// Placeholders, the learn pages show the link's shape with words for the
// values.
func (e Endpoints) LinkWith(client, state, challenge string) Link {
	oauthURL, redirectURI := e.OAuthURL, e.RedirectURL
	values := []string{"code", client, redirectURI, Scope, state, challenge, "S256"}
	l := Link{Params: make([]Param, len(linkParams))}
	query := make([]string, len(linkParams))
	for i, p := range linkParams {
		p.Value = values[i]
		l.Params[i] = p
		query[i] = p.Name + "=" + url.QueryEscape(p.Value)
	}
	l.URL = strings.TrimRight(oauthURL, "/") + "/authorize?" + strings.Join(query, "&")
	return l
}

// linkParams are step 1's parameters, in the article's order (response
// type, client, redirect URI, scope), then the two this app adds: state
// and PKCE.
var linkParams = [...]Param{
	{Name: "response_type",
		What:    "Asks for an authorization code: this is the authorization code grant.",
		Without: "The sandbox sends you back with error=invalid_request; response_type=token, the implicit grant, gets unsupported_response_type."},
	{Name: "client_id",
		What:    "Names the application: the consent page shows its name, and the code will work for this client only.",
		Without: "The sandbox cannot tell who is asking, so it shows an error page and sends you nowhere."},
	{Name: "redirect_uri",
		What:    "Where to send the browser back with the code; it must equal, character for character, a callback URL registered for the client.",
		Without: "The sandbox shows an error page: it never sends a code to an address it has not checked."},
	{Name: "scope",
		What:    "The access asked for: read lists droplets, read write may also change them. The consent page says which.",
		Without: "DigitalOcean, and the sandbox, grant read."},
	{Name: "state",
		What:    "A one-time random value the application keeps (here, in the learn cookie) and expects back with the code in step 3.",
		Without: "Nothing ties the answer to this browser: an attacker could finish a login of their own in your browser (login CSRF). The sandbox would not notice: checking it is the application's job."},
	{Name: "code_challenge",
		What:    "BASE64URL(SHA-256(code_verifier)): the hash of a secret that only this flow knows. The verifier itself is sent in step 4.",
		Without: "A code stolen on its way back could be redeemed by whoever also holds the client secret; a public client (no secret) is refused with invalid_request."},
	{Name: "code_challenge_method",
		What:    "How the challenge was made: S256, SHA-256, the only method the sandbox accepts.",
		Without: "The sandbox sends you back with error=invalid_request: a challenge must say S256 (\"plain\" would protect nothing)."},
}
