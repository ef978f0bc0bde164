// Package devicecli is `dosignin device`: a small command that plays a
// device (a TV, a CLI on a server: something with no browser) signing in
// with the OAuth 2 device authorization grant (RFC 8628) at the
// DigitalOcean sandbox. DigitalOcean does not offer this grant; the sandbox
// shows how it works.
//
// It does what any device client does, with golang.org/x/oauth2's device
// flow support:
//
//  1. reads the server's metadata (RFC 8414) to find its endpoints, and
//     stops if there is no device_authorization_endpoint;
//  2. registers itself as a public client (RFC 7591): a device has no
//     secret it could keep;
//  3. asks for a device code and a user code (oauth2.Config.DeviceAuth);
//  4. shows the user where to go and what to type;
//  5. polls the token endpoint until the user approves or denies
//     (oauth2.Config.DeviceAccessToken, which waits through
//     authorization_pending and slows down on slow_down);
//  6. prints the granted scope and the account's email, from the token
//     response's info object, which DigitalOcean's token responses have.
//
// It revokes the tokens at the end only when asked (-revoke), and it never
// prints a token. It talks to the sandbox over HTTP only, as to any server,
// and knows nothing of the sandbox package.
package devicecli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultURL is the standalone sandbox's root (`go run . sandbox`).
const DefaultURL = "http://localhost:5050"

// requestTimeout bounds each HTTP request; polling as a whole is bounded
// by the code's lifetime.
const requestTimeout = 10 * time.Second

// maxBody bounds what is read of a response.
const maxBody = 1 << 20

const usage = `usage: dosignin device [-url URL] [-scope SCOPE] [-revoke]

Plays a device (a TV, a CLI on a server) that signs in to the DigitalOcean
sandbox with the device authorization grant (RFC 8628): it prints a web
address and a code, you approve the code in your browser, and it prints the
scope it was granted and the account's email. DigitalOcean does not offer
this grant; the sandbox shows how it works.

  go run . sandbox    # in one terminal: the standalone sandbox, on http://localhost:5050
  go run . device     # in another

For the sandbox inside the app (go run .), give its address:

  SANDBOX_URL=http://localhost:5000/sandbox go run . device
  go run . device -url http://localhost:5000/sandbox

Flags:
`

// Run is `dosignin device` with its arguments (after "device"): it writes
// what the user must do and the outcome to stdout, problems to stderr, and
// returns the exit status (0 signed in, 1 not, 2 bad usage). Cancelling
// ctx (Ctrl-C) stops it.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("device", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	def := getenv("SANDBOX_URL")
	if def == "" {
		def = DefaultURL
	}
	base := fs.String("url", def, "the sandbox's root URL; SANDBOX_URL sets the default")
	scope := fs.String("scope", "read", `the scope to ask for, such as "read" or "read write"`)
	revoke := fs.Bool("revoke", false, "revoke the tokens once signed in (RFC 7009)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "device: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	root, err := checkURL(*base)
	if err != nil {
		fmt.Fprintln(stderr, "device:", err)
		return 2
	}
	d := &device{
		root:   root,
		scopes: strings.Fields(*scope),
		http:   &http.Client{Timeout: requestTimeout},
		out:    stdout,
	}
	if err := d.signIn(ctx, *revoke); err != nil {
		fmt.Fprintln(stderr, "device:", err)
		return 1
	}
	return 0
}

// checkURL validates the sandbox's root URL and returns it without a
// trailing slash.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("-url %q must be an http or https URL such as %s, with no query", raw, DefaultURL)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// device is one run of the command.
type device struct {
	root   string
	scopes []string
	http   *http.Client
	out    io.Writer
}

// metadata is what the command reads of the server metadata (RFC 8414 §2,
// RFC 8628 §4).
type metadata struct {
	Issuer                      string `json:"issuer"`
	TokenEndpoint               string `json:"token_endpoint"`
	RegistrationEndpoint        string `json:"registration_endpoint"`
	RevocationEndpoint          string `json:"revocation_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
}

func (d *device) signIn(ctx context.Context, revoke bool) error {
	md, err := d.metadata(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "Signing a device in to %s with the device authorization grant (RFC 8628).\nDigitalOcean does not offer this grant; the sandbox shows how it works.\n\n", d.root)
	clientID, err := d.register(ctx, md.RegistrationEndpoint)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "Registered as a public client (RFC 7591, no secret): client_id %s\n\n", clientID)
	conf := &oauth2.Config{
		ClientID: clientID,
		Scopes:   d.scopes,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: md.DeviceAuthorizationEndpoint,
			TokenURL:      md.TokenEndpoint,
			AuthStyle:     oauth2.AuthStyleInParams, // a public client sends its client_id in the body
		},
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, d.http)

	// Step 1 of RFC 8628: the codes.
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		return describe("asking for a device code", err)
	}
	// Step 2: the user's part.
	fmt.Fprintf(d.out, "To sign this device in, open\n\n    %s\n\nin a browser and enter the code\n\n    %s\n\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(d.out, "(or open %s, which fills the code in).\n", da.VerificationURIComplete)
	}
	interval := da.Interval
	if interval == 0 {
		interval = 5 // RFC 8628 §3.2's default
	}
	every := "every second"
	if interval != 1 {
		every = fmt.Sprintf("every %d seconds", interval)
	}
	fmt.Fprintf(d.out, "Waiting for approval: asking the token endpoint %s", every)
	if !da.Expiry.IsZero() {
		fmt.Fprintf(d.out, "; the code expires in %d minutes", int(math.Round(time.Until(da.Expiry).Minutes())))
	}
	fmt.Fprint(d.out, ". Ctrl-C stops.\n")

	// Step 3: poll. DeviceAccessToken stops at the code's expiry.
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		return describePoll(ctx, err)
	}

	// DigitalOcean's token response says who signed in (info), so no API
	// call is needed to find out.
	scope, _ := tok.Extra("scope").(string)
	info, _ := tok.Extra("info").(map[string]any)
	email, _ := info["email"].(string)
	name, _ := info["name"].(string)
	if email == "" {
		return errors.New("signed in, but the token response has no info object saying which account approved")
	}
	fmt.Fprintf(d.out, "\nSigned in.\n  Granted scope: %s\n  Account: %s", scope, email)
	if name != "" {
		fmt.Fprintf(d.out, " (%s)", name)
	}
	fmt.Fprint(d.out, "\n  Tokens: an access token")
	if !tok.Expiry.IsZero() {
		fmt.Fprintf(d.out, " valid for %s", time.Until(tok.Expiry).Round(time.Second))
	}
	if tok.RefreshToken != "" {
		fmt.Fprint(d.out, " and a refresh token")
	}
	fmt.Fprint(d.out, " (not shown).\n")

	if !revoke {
		return nil
	}
	if err := d.revoke(ctx, md.RevocationEndpoint, clientID, tok); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "Revoked the tokens (RFC 7009).")
	return nil
}

// metadata reads the server metadata at the sandbox's root and checks it
// is the server asked for (RFC 8414 §3.3) and offers the device grant.
func (d *device) metadata(ctx context.Context) (metadata, error) {
	where := d.root + "/.well-known/oauth-authorization-server"
	var md metadata
	if err := d.do(ctx, http.MethodGet, where, nil, "", http.StatusOK, &md); err != nil {
		return metadata{}, fmt.Errorf("reading the server metadata at %s: %w (is the sandbox running? go run . sandbox)", where, err)
	}
	switch {
	case md.Issuer != d.root:
		return metadata{}, fmt.Errorf("the server metadata at %s names the issuer %q, not %s: refusing to use it (RFC 8414 §3.3)", where, md.Issuer, d.root)
	case md.DeviceAuthorizationEndpoint == "":
		return metadata{}, fmt.Errorf("%s does not offer the device grant (its metadata has no device_authorization_endpoint); DigitalOcean does not either — use the sandbox: go run . sandbox", d.root)
	case md.TokenEndpoint == "" || md.RegistrationEndpoint == "":
		return metadata{}, fmt.Errorf("the server metadata at %s has no token_endpoint or registration_endpoint", where)
	}
	return md, nil
}

// register registers the command as a public client for the device grant
// (RFC 7591) and returns its client_id.
func (d *device) register(ctx context.Context, endpoint string) (string, error) {
	body, _ := json.Marshal(map[string]any{ // cannot fail: strings only
		"client_name":                "dosignin device (go run . device)",
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"},
	})
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if err := d.do(ctx, http.MethodPost, endpoint, bytes.NewReader(body), "application/json", http.StatusCreated, &reg); err != nil {
		return "", fmt.Errorf("registering a client at %s: %w", endpoint, err)
	}
	if reg.ClientID == "" {
		return "", fmt.Errorf("registering a client at %s: the answer has no client_id", endpoint)
	}
	return reg.ClientID, nil
}

// revoke revokes the grant; revoking the refresh token revokes its access
// token too (RFC 7009 §2.1).
func (d *device) revoke(ctx context.Context, endpoint, clientID string, tok *oauth2.Token) error {
	if endpoint == "" {
		return errors.New("the server metadata has no revocation_endpoint: nothing was revoked")
	}
	token := tok.RefreshToken
	if token == "" {
		token = tok.AccessToken
	}
	form := url.Values{"token": {token}, "client_id": {clientID}}
	if err := d.do(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", http.StatusOK, nil); err != nil {
		return fmt.Errorf("revoking the tokens: %w", err)
	}
	return nil
}

// do sends a request and decodes a JSON answer with the wanted status.
func (d *device) do(ctx context.Context, method, target string, body io.Reader, contentType string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s%s", resp.Status, errorDetail(raw))
	}
	if out == nil {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("the answer is %q, not JSON", mt)
	}
	return json.Unmarshal(raw, out)
}

// errorDetail is the error code and description of an OAuth or
// DigitalOcean API error body, for a message: ": invalid_client (...)".
func errorDetail(raw []byte) string {
	var e struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ID               string `json:"id"`
		Message          string `json:"message"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	switch {
	case e.Error != "":
		return ": " + e.Error + " (" + e.ErrorDescription + ")"
	case e.ID != "":
		return ": " + e.ID + " (" + e.Message + ")"
	}
	return ""
}

// describe explains an error of x/oauth2's.
func describe(what string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return fmt.Errorf("%s: %s (%s)", what, re.ErrorCode, re.ErrorDescription)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// describePoll explains why polling ended without tokens.
func describePoll(ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	switch {
	case ctx.Err() != nil:
		return errors.New("stopped before the code was approved; nothing was issued")
	case errors.Is(err, context.DeadlineExceeded):
		// DeviceAccessToken's own deadline: the code's expiry.
		return errors.New("the code expired before it was approved: run the command again for a new one")
	case errors.As(err, &re) && re.ErrorCode == "access_denied":
		return errors.New("access was denied on the sandbox's page: the device got no token")
	case errors.As(err, &re) && re.ErrorCode == "expired_token":
		return errors.New("the code expired before it was approved: run the command again for a new one")
	}
	return describe("waiting for approval", err)
}
