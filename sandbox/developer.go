package sandbox

import (
	"net/http"
	"time"
)

// developerPage is the data of the Developer page: what a developer needs
// to point a client of their own at the sandbox.
type developerPage struct {
	Root     string // absolute URL of the sandbox's root, as the browser reached it
	Token    string // the personal access token
	Accounts []developerAccount

	TokenTTL    time.Duration
	ActionDelay time.Duration
	RateLimit   int // -1: off
	BurstLimit  int // -1: off
	MaxClients  int

	DeviceGrant    string        // the device grant's grant_type
	DeviceInterval time.Duration // its polling interval
	DeviceCodeTTL  time.Duration // how long its codes last
	MaxCodeTries   int           // wrong user codes per address before the page waits

	SignIn signInFigures
}

// signInFigures are the limits on signing in (limits.go, shares.go), for
// the Developer page.
type signInFigures struct {
	Off                                     bool
	ApprovalsPerAddress, ApprovalsPerClient int
	TokensPerAddress, TokensPerClient       int
	RegistrationsPerAddress                 int
	AppShare, ClientShare                   int // grants kept for the app's client, and for one registered client
}

type developerAccount struct {
	Account
	Droplets int // now, created ones included
}

// handleDeveloper serves GET /developer: the personal access token, the
// endpoints, how to register a client, and how to try the grants only the
// sandbox offers. The token is shown on purpose:
// it reaches only the sandbox's made-up account, and the page says so.
func (s *Server) handleDeveloper(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.renderPage(w, http.StatusMethodNotAllowed, "developer-error", "", errorPage{Title: "Method not allowed", Message: "The Developer page accepts GET only."})
		return
	}
	page := developerPage{
		Root:        rootURL(r, "/developer"),
		Token:       s.pat,
		TokenTTL:    s.tokenTTL,
		ActionDelay: s.actionDelay,
		RateLimit:   s.limits.hourly,
		BurstLimit:  s.limits.perMinute,
		MaxClients:  maxClients,

		DeviceGrant:    grantDeviceCode,
		DeviceInterval: s.deviceInterval,
		DeviceCodeTTL:  deviceCodeTTL,
		MaxCodeTries:   maxCodeFailures,

		SignIn: signInFigures{
			Off:                     s.throttle.off,
			ApprovalsPerAddress:     s.throttle.consent.budget,
			ApprovalsPerClient:      s.throttle.consentBy.budget,
			TokensPerAddress:        s.throttle.token.budget,
			TokensPerClient:         s.throttle.tokenBy.budget,
			RegistrationsPerAddress: s.throttle.register.budget,
			AppShare:                s.store.grantShares.appShare,
			ClientShare:             s.store.grantShares.perClient,
		},
	}
	for _, a := range s.accounts {
		page.Accounts = append(page.Accounts, developerAccount{Account: a.Account, Droplets: a.live()})
	}
	s.renderPage(w, http.StatusOK, "developer.html", "", page)
}
