package learn

import (
	"net/http"
	"slices"
)

// The words of the learn pages that go with data: what each member of an
// answer means, and the mistakes to try. The pages' prose is in their
// templates (views/learn*.html).

// TokenFields explains step 5's token response, member by member, in the
// order DigitalOcean sends them.
func TokenFields() []Param {
	return []Param{
		{Name: "access_token", What: "The key to the API: every call sends it as Authorization: Bearer. doo_v1_ is DigitalOcean's prefix for OAuth access tokens. This one is the sandbox's, made up; the real app never shows one."},
		{Name: "token_type", What: "bearer: whoever holds the token may use it, so it travels only over HTTPS, server to server, and is kept secret."},
		{Name: "expires_in", What: "How many seconds the access token works: 2592000 (30 days) at DigitalOcean, 120 in the sandbox, so that you can watch it expire and refresh it."},
		{Name: "refresh_token", What: "Trades for a new pair when the access token expires, without the consent page. DigitalOcean's are single-use: each refresh returns a new one and ends the old pair."},
		{Name: "scope", What: "What was granted, which may be less than was asked. The API checks it on every call: read may list, not change."},
		{Name: "info", What: "DigitalOcean's addition to RFC 6749's answer: who approved (name, email, uuid) and the team the token acts on (team_uuid, team_name). An app needs no second call to know who signed in."},
	}
}

// DeviceFields explains the device authorization answer (RFC 8628 §3.2).
func DeviceFields() []Param {
	return []Param{
		{Name: "device_code", What: "The device's own secret for this sign-in: it polls the token endpoint with it. The person never sees it."},
		{Name: "user_code", What: "What the person types on the user-code page: short, 8 letters with no vowels, so no words and nothing to mistype."},
		{Name: "verification_uri", What: "Where the person goes, on any browser: the sandbox's user-code page."},
		{Name: "verification_uri_complete", What: "The same page with the code filled in, for a QR code or a link."},
		{Name: "expires_in", What: "Seconds until both codes expire: after that, polls get expired_token."},
		{Name: "interval", What: "Seconds the device waits between polls; polling sooner gets slow_down, and 5 more seconds to wait from then on."},
	}
}

// ClientCredentialsFields explains the client-credentials token response.
func ClientCredentialsFields() []Param {
	return []Param{
		{Name: "access_token", What: "A token for the application itself, acting for no user."},
		{Name: "token_type", What: "bearer, as always."},
		{Name: "expires_in", What: "Its lifetime; when it ends, the application asks again with its credentials."},
		{Name: "scope", What: "What it may do, at most what the client may ask for."},
		{Name: "(no refresh_token)", What: "None: the client can always ask again (RFC 6749 §4.4.3), so a refresh token would add a secret to keep and nothing else."},
		{Name: "(no info)", What: "None: no user signed in, so there is nobody to describe."},
	}
}

// Mistake is one of the mistakes to try: a button on the step it belongs
// to that sends a wrong request (or, for the state, makes the check fail),
// and what the sandbox, or the app, answers.
type Mistake struct {
	Name   string // its path: POST /learn/mistakes/{Name}
	Page   string // the page its button is on
	Button string // the button's words
	What   string // what the button does
	Error  string // the error code DigitalOcean would send (RFC 6749 §5.2); "" when the app's own check refuses
	Status int    // the HTTP status of the refusal
	Why    string // why the check exists
	// SpendsCode: the sandbox spends a code at its first redemption
	// attempt, right or wrong, so the flow needs a new one afterwards.
	SpendsCode bool
}

// The mistakes' names.
const (
	MistakeWrongState       = "wrong-state"
	MistakeWrongRedirectURI = "wrong-redirect-uri"
	MistakeWrongVerifier    = "wrong-verifier"
	MistakeExpiredCode      = "expired-code"
	MistakeCodeTwice        = "code-twice"
	MistakeOldRefreshToken  = "old-refresh-token"
)

// ElsewhereURI is the redirect_uri of the wrong-redirect-uri mistake: an
// address that is not the one the code was sent to.
const ElsewhereURI = "https://elsewhere.example/callback"

// Mistakes returns every mistake to try, in the order of the flow.
func Mistakes() []Mistake {
	return []Mistake{
		{Name: MistakeWrongState, Page: "/learn/3", Button: "Try a wrong state",
			What:   "Checks a callback whose state is not the one this flow kept, as a callback an attacker sends your browser would be.",
			Status: http.StatusForbidden,
			Why:    "Anyone can send your browser to the callback with a code of their own; only the state, unguessable and kept in this browser since step 1, tells their callback from yours. The app compares it before any token request (and refuses with 403), so the sandbox never hears of it."},
		{Name: MistakeWrongRedirectURI, Page: "/learn/4", Button: "Send it with another redirect_uri",
			What:  "Sends step 4's request with redirect_uri=" + ElsewhereURI + ".",
			Error: "invalid_grant", Status: http.StatusBadRequest, SpendsCode: true,
			Why: "A code is bound to the redirect_uri of step 1 (RFC 6749 §4.1.3): if someone had slipped their own address into a link, the code would have gone there, and the token endpoint would still refuse it with any other redirect_uri than that one."},
		{Name: MistakeWrongVerifier, Page: "/learn/4", Button: "Send it with a wrong code_verifier",
			What:  "Sends step 4's request with a fresh code_verifier instead of this flow's.",
			Error: "invalid_grant", Status: http.StatusBadRequest, SpendsCode: true,
			Why: "Only the flow that made the code_challenge knows the verifier (RFC 7636 §4.6): a code intercepted on its way back, by a malicious app or a proxy log, is useless without it, even to someone holding the client secret."},
		{Name: MistakeExpiredCode, Page: "/learn/4", Button: "Send the expired code",
			What:  "Sends a code of " + QuickClientID + ", whose codes expire after 20 seconds, once it has expired.",
			Error: "invalid_grant", Status: http.StatusBadRequest,
			Why: "A code lives a few minutes at most (RFC 6749 §4.1.2 says ten): one that leaks later, from a browser history or a log, is worthless. The sandbox's usual codes live ten minutes; this client's, 20 seconds, so that you need not wait."},
		{Name: MistakeCodeTwice, Page: "/learn/5", Button: "Send the same code again",
			What:  "Sends step 4's request again, with the code that was already traded for tokens.",
			Error: "invalid_grant", Status: http.StatusBadRequest,
			Why: "A code works once (RFC 6749 §4.1.2). Seeing it twice means it leaked, so the server refuses it and revokes the tokens it issued for it: the API refuses this flow's tokens from now on."},
		{Name: MistakeOldRefreshToken, Page: "/learn/refresh", Button: "Use the old refresh token again",
			What:  "Sends the refresh request again with the refresh token the last refresh replaced.",
			Error: "invalid_grant", Status: http.StatusBadRequest,
			Why: "DigitalOcean's refresh tokens are single-use and rotate: a refresh returns a new pair and ends the old one, access token included. A refresh token someone copied stops working as soon as you use yours (RFC 9700 §4.14.2)."},
	}
}

// MistakeNamed returns the mistake with that name.
func MistakeNamed(name string) (Mistake, bool) {
	all := Mistakes()
	i := slices.IndexFunc(all, func(m Mistake) bool { return m.Name == name })
	if i < 0 {
		return Mistake{}, false
	}
	return all[i], true
}

// MistakesOn returns the mistakes whose button is on page.
func MistakesOn(page string) []Mistake {
	return slices.DeleteFunc(Mistakes(), func(m Mistake) bool { return m.Page != page })
}
