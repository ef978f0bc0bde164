// Package learn is the OAuth client behind the app's learn pages (/learn):
// a client of the DigitalOcean sandbox that builds each request of the
// authorization-code flow, and of the two grants only the sandbox offers,
// in front of the learner, sends it when they press a button, and keeps
// the answer as it came, so that every step of "An Introduction to OAuth
// 2" can be seen happening.
//
// The app itself signs in through package doclient, which hides the wire
// behind golang.org/x/oauth2 and godo, as a real client should. This
// package writes each request by hand with net/http instead, because the
// point is to show it: [Request.HTTP] is the request exactly as Go's
// transport writes it, [Request.Curl] the same request as a curl command
// for a terminal, and [Answer] the status, headers and body as received.
//
// It signs in as clients of its own, which the sandbox's configuration
// knows beside the app's ([ClientID], [PublicClientID], [QuickClientID]):
// never as the app, whose secret must stay secret. Their secret is made
// up for teaching, public like the sandbox's personal access token, and
// opens nothing but the sandbox's made-up data; a real client secret is
// random, kept out of source code, and never shown. The package only
// works against the sandbox: the app gives it no configuration when it
// talks to DigitalOcean.
//
// Every request has a timeout (Config.Timeout), and a request that spends
// a single-use credential is sent once however many presses of one button
// ask for it together ([Client.SendOnce]).
package learn

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// The learn pages' clients at the sandbox. main registers them in the
// sandbox's configuration (sandbox.Config.Clients).
const (
	// ClientID and ClientSecret are the confidential client of the
	// authorization-code flow and the client-credentials grant. The
	// secret is made up and public: see the package documentation.
	ClientID     = "learn-client"
	ClientSecret = "learn-secret-made-up-for-teaching"
	ClientName   = "Learn OAuth 2 (this app's learn pages)"

	// PublicClientID is a public client (no secret), as a device is:
	// the device page signs in with it, and the client-credentials page
	// shows the sandbox refusing it.
	PublicClientID   = "learn-device"
	PublicClientName = "Learn OAuth 2: a pretend device"

	// QuickClientID is ClientID's twin whose codes expire after
	// QuickCodeTTL, so that a learner can send an expired code without
	// waiting the usual ten minutes. It shares ClientSecret.
	QuickClientID   = "learn-quick-codes"
	QuickClientName = "Learn OAuth 2 (codes that expire in 20 seconds)"
	QuickCodeTTL    = 20 * time.Second

	// CallbackPath is the learn clients' redirect URI, on the app's
	// origin.
	CallbackPath = "/learn/callback"
)

// Scope is what the learn flow asks for: read, as the app does.
const Scope = "read"

// DefaultTimeout bounds each request when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// userAgent names the learn pages in the sandbox's logs.
const userAgent = "dosignin-learn (sandbox)"

// Config says where the sandbox is.
type Config struct {
	// OAuthURL is the sandbox's OAuth base URL, e.g.
	// "http://localhost:5000/sandbox/v1/oauth"; APIURL its API base URL,
	// e.g. "http://localhost:5000/sandbox".
	OAuthURL, APIURL string

	// RedirectURL is the learn clients' callback: the app's origin plus
	// CallbackPath.
	RedirectURL string

	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration

	// Transport carries the requests; nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper

	// Now is the clock of SendOnce's sharing; nil means time.Now.
	Now func() time.Time
}

// Endpoints builds the learn pages' requests for one server: the
// sandbox's, with the learn clients' made-up secret, or, to show their
// shape with DigitalOcean, placeholders (Placeholders). It only builds:
// sending takes a Client.
type Endpoints struct {
	OAuthURL    string // the OAuth base URL, without a trailing slash
	APIURL      string // the API base URL, without a trailing slash
	RedirectURL string // the learn clients' callback
	Secret      string // the client secret the requests carry
}

// Placeholders are DigitalOcean's endpoints with words in place of the
// values a real flow has: CLIENT_ID, CLIENT_SECRET, CALLBACK_URL,
// AUTHORIZATION_CODE and so on. With DigitalOcean the learn pages show
// the requests so, and send nothing.
func Placeholders() Endpoints {
	return Endpoints{
		OAuthURL:    "https://cloud.digitalocean.com/v1/oauth",
		APIURL:      "https://api.digitalocean.com",
		RedirectURL: "CALLBACK_URL",
		Secret:      "CLIENT_SECRET",
	}
}

// Client sends the learn pages' requests to the sandbox. It is safe for
// concurrent use.
type Client struct {
	Endpoints
	http *http.Client
	once *once
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	var problems []error
	for _, u := range []struct{ name, value string }{{"OAuthURL", cfg.OAuthURL}, {"APIURL", cfg.APIURL}, {"RedirectURL", cfg.RedirectURL}} {
		if p, err := url.Parse(u.value); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			problems = append(problems, fmt.Errorf("learn: %s %q is not an absolute http(s) URL", u.name, u.value))
		}
	}
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Errorf("learn: Timeout %v is negative", cfg.Timeout))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Client{
		Endpoints: Endpoints{
			OAuthURL:    strings.TrimRight(cfg.OAuthURL, "/"),
			APIURL:      strings.TrimRight(cfg.APIURL, "/"),
			RedirectURL: cfg.RedirectURL,
			Secret:      ClientSecret,
		},
		http: &http.Client{
			Transport: cfg.Transport,
			Timeout:   cfg.Timeout,
			// The answer is the lesson: a redirect is shown, not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		once: newOnce(cfg.Now),
	}, nil
}

// NewState returns a fresh state for step 1: 256 bits from crypto/rand,
// like the app's own.
func NewState() string { return rand.Text() + rand.Text() }

// NewVerifier returns a fresh PKCE code verifier: 32 random bytes, 43
// characters (oauth2.GenerateVerifier).
func NewVerifier() string { return oauth2.GenerateVerifier() }

// Challenge is the S256 code challenge of a verifier:
// BASE64URL(SHA-256(verifier)).
func Challenge(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }

// Send sends r and returns the answer. It never returns an error: a
// request that got no answer is an Answer whose Failed says why, in words
// (never the error's text).
func (c *Client) Send(ctx context.Context, r Request) Answer {
	req, err := r.build(ctx)
	if err != nil {
		return Answer{Failed: "The request could not be built."}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var timeout interface{ Timeout() bool }
		if errors.As(err, &timeout) && timeout.Timeout() {
			return Answer{Failed: "The sandbox did not answer in time."}
		}
		return Answer{Failed: "The sandbox could not be reached."}
	}
	defer resp.Body.Close()
	return readAnswer(resp)
}

// SendOnce is Send for a press of a button: presses that send the same
// request for the same action while one is in flight, or within keep of
// its answer, share that answer instead of sending it again. Use it for
// every request that spends or issues something (a code, a refresh token,
// a revocation), so that a double click does one thing; keep zero shares
// only requests in flight (a device's poll, which may be repeated).
//
// The request runs detached from ctx's cancellation, within the client's
// timeout, so that a press the browser abandons does not fail the others.
func (c *Client) SendOnce(ctx context.Context, action string, r Request, keep time.Duration) Answer {
	return c.once.do(keyOf(action, r), keep, func() Answer {
		return c.Send(context.WithoutCancel(ctx), r)
	})
}

// ShareFor is how long SendOnce shares the answer to a request that spends
// a single-use credential: longer than any double click.
const ShareFor = 5 * time.Second
