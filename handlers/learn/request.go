package learn

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// Request is one request the learn pages send, in the order a reader
// expects its parts. It is built from what the learner's flow holds, so
// that a page can show it before it is sent and the page after can show
// it again, identical.
type Request struct {
	Method string
	URL    string
	Header []Field // set by the client, in this order
	Form   []Field // the form body of a POST, in this order
}

// Field is a name and its value: a header, a form field, a parameter.
type Field struct {
	Name  string `json:"n"`
	Value string `json:"v"`
}

// Form returns the value of the form field name, or "".
func (r Request) FormValue(name string) string {
	for _, f := range r.Form {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// body is the form, URL-encoded in its order (url.Values.Encode would sort
// it, and the pages list the fields in the order that explains them).
func (r Request) body() string {
	parts := make([]string, len(r.Form))
	for i, f := range r.Form {
		parts[i] = url.QueryEscape(f.Name) + "=" + url.QueryEscape(f.Value)
	}
	return strings.Join(parts, "&")
}

// build makes the net/http request.
func (r Request) build(ctx context.Context) (*http.Request, error) {
	var req *http.Request
	var err error
	if r.Form != nil {
		req, err = http.NewRequestWithContext(ctx, r.Method, r.URL, strings.NewReader(r.body()))
	} else {
		req, err = http.NewRequestWithContext(ctx, r.Method, r.URL, nil)
	}
	if err != nil {
		return nil, err
	}
	for _, h := range r.Header {
		req.Header.Set(h.Name, h.Value)
	}
	return req, nil
}

// HTTP is the request as Go's transport writes it on the wire: the
// request line, every header (those it adds, such as Host,
// Content-Length and Accept-Encoding, too) and the body.
func (r Request) HTTP() string {
	req, err := r.build(context.Background())
	if err != nil {
		return ""
	}
	dump, err := httputil.DumpRequestOut(req, true)
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(string(dump), "\r\n", "\n")
}

// Curl is the request as a curl command that works from a terminal: -i
// prints the answer's status and headers, each header is an -H, and each
// form field a -d, already URL-encoded (curl then POSTs them as
// application/x-www-form-urlencoded, joined with &). Every argument is in
// single quotes, so no shell expands it.
func (r Request) Curl() string {
	lines := []string{"curl -i"}
	if r.Method != http.MethodGet && r.Form == nil {
		lines[0] += " -X " + r.Method
	}
	lines[0] += " " + shellQuote(r.URL)
	for _, h := range r.Header {
		if h.Name == "Content-Type" && r.Form != nil {
			continue // -d sets it
		}
		if h.Name == "User-Agent" {
			continue // curl's own is as good
		}
		lines = append(lines, "-H "+shellQuote(h.Name+": "+h.Value))
	}
	for _, f := range r.Form {
		lines = append(lines, "-d "+shellQuote(url.QueryEscape(f.Name)+"="+url.QueryEscape(f.Value)))
	}
	return strings.Join(lines, " \\\n  ")
}

// shellQuote puts s in single quotes for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// keyOf identifies a press: the action and everything the request sends.
func keyOf(action string, r Request) string {
	var b strings.Builder
	b.WriteString(action + "\x00" + r.Method + " " + r.URL + "\x00")
	for _, h := range r.Header {
		b.WriteString(h.Name + ": " + h.Value + "\x00")
	}
	b.WriteString(r.body())
	return b.String()
}

// post is a form POST to the OAuth server, as DigitalOcean takes it: the
// parameters (client credentials too) in the body, never in the URL, where
// they would end up in logs.
func (e Endpoints) post(path string, form ...Field) Request {
	return Request{
		Method: http.MethodPost,
		URL:    e.OAuthURL + path,
		Header: []Field{
			{"Accept", "application/json"},
			{"Content-Type", "application/x-www-form-urlencoded"},
			{"User-Agent", userAgent},
		},
		Form: form,
	}
}

// Exchange is step 4: the authorization code, with the PKCE verifier, the
// redirect URI of step 1 and the client's credentials, for tokens. client
// is ClientID or QuickClientID; redirectURI is RedirectURL, unless a
// mistake changes it.
func (e Endpoints) Exchange(client, code, verifier, redirectURI string) Request {
	return e.post("/token",
		Field{"grant_type", "authorization_code"},
		Field{"code", code},
		Field{"redirect_uri", redirectURI},
		Field{"code_verifier", verifier},
		Field{"client_id", client},
		Field{"client_secret", e.Secret},
	)
}

// Refresh trades a refresh token for a new pair.
func (e Endpoints) Refresh(refreshToken string) Request {
	return e.post("/token",
		Field{"grant_type", "refresh_token"},
		Field{"refresh_token", refreshToken},
		Field{"client_id", ClientID},
		Field{"client_secret", e.Secret},
	)
}

// Revoke revokes the grant of an access token, authenticated by the token
// itself, as the app's Disconnect does and DigitalOcean documents.
func (e Endpoints) Revoke(accessToken string) Request {
	r := e.post("/revoke", Field{"token", accessToken})
	r.Header = append(r.Header, Field{"Authorization", "Bearer " + accessToken})
	return r
}

// ClientCredentials asks for a token for the client itself (sandbox
// only). Without withSecret it asks as a public client would, with no
// secret, which the sandbox refuses.
func (e Endpoints) ClientCredentials(client string, withSecret bool) Request {
	form := []Field{{"grant_type", "client_credentials"}, {"scope", Scope}, {"client_id", client}}
	if withSecret {
		form = append(form, Field{"client_secret", e.Secret})
	}
	return e.post("/token", form...)
}

// DeviceAuthorization is the device grant's first request (sandbox only):
// the device, a public client, asks for its codes.
func (e Endpoints) DeviceAuthorization() Request {
	return e.post("/device_authorization", Field{"client_id", PublicClientID}, Field{"scope", Scope})
}

// DevicePoll is the device's poll of the token endpoint.
func (e Endpoints) DevicePoll(deviceCode string) Request {
	return e.post("/token",
		Field{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
		Field{"device_code", deviceCode},
		Field{"client_id", PublicClientID},
	)
}

// API is a GET of the API (path with its query, e.g. "/v2/account") with
// an access token.
func (e Endpoints) API(path, accessToken string) Request {
	return Request{
		Method: http.MethodGet,
		URL:    e.APIURL + path,
		Header: []Field{
			{"Accept", "application/json"},
			{"Authorization", "Bearer " + accessToken},
			{"User-Agent", userAgent},
		},
	}
}
