package sandbox

import (
	"container/list"
	"crypto/rand"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The device authorization grant (RFC 8628), in the sandbox only:
// DigitalOcean does not offer it. It signs in a device that has no browser
// or no keyboard (a TV, a CLI on a server) with the help of a phone or a
// computer:
//
//  1. The device asks for a code (§3.1):
//
//     POST /v1/oauth/device_authorization
//     client_id=...[&scope=read]
//
//     {"device_code":"<64 hex digits>","user_code":"BCDF-GHJK",
//     "verification_uri":"http://localhost:5050/device",
//     "verification_uri_complete":"http://localhost:5050/device?user_code=BCDF-GHJK",
//     "expires_in":600,"interval":5}
//
//  2. It shows the user the verification URI and the user code (§3.3). The
//     user opens the URI in a browser, types the code, checks which
//     application asks for what, chooses the account, and approves or
//     denies (GET and POST /device, the user-code page).
//
//  3. Meanwhile the device polls the token endpoint every interval seconds
//     (§3.4):
//
//     POST /v1/oauth/token
//     grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=...&client_id=...
//
//     and gets, as §3.5 says, 400 authorization_pending until the user
//     decides; slow_down when it polls sooner than the interval (which then
//     grows by 5 seconds); access_denied after Deny; expired_token once the
//     code has expired (10 minutes); and after Approve the same token
//     response as the authorization-code grant's (access and refresh
//     token, scope, info). The device code is single-use: a poll after
//     the tokens were issued gets invalid_grant.
//
// The client authenticates as at the token endpoint: a public client with
// its client_id, a confidential one with its secret too. A client that
// registered itself must have registered for the grant (grant_types). A
// scope parameter on the poll, which some libraries repeat, is ignored: the
// grant has the scope asked for in step 1.
//
// The user code is short so that people can type it, so it could be
// guessed where the device code could not: 8 letters from 20 consonants
// (about 2^34 codes; no vowels, so no words, and no digits to confuse with
// letters, as RFC 8628 §6.1 suggests), and each client address may enter
// only 5 wrong codes in 5 minutes (§5.1): past that, the page refuses every
// code, the right one too, until the 5 minutes are over. The page ignores
// case, spaces and dashes.

// Limits and timings of the device grant.
const (
	deviceCodeTTL         = 10 * time.Minute // expires_in
	defaultDeviceInterval = 5 * time.Second  // interval, RFC 8628 §3.2's default
	slowDownStep          = 5 * time.Second  // RFC 8628 §3.5: slow_down adds 5 seconds
	deviceKeepExpired     = 10 * time.Minute // how long an expired code still answers expired_token rather than invalid_grant

	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8

	maxCodeFailures     = 5 // wrong user codes an address may enter per window
	codeFailureWindow   = 5 * time.Minute
	maxFailureAddresses = 10_000 // addresses tracked; past it they share one budget
)

// deviceAuthorizationPath is the device authorization endpoint, relative to
// the sandbox's root.
const deviceAuthorizationPath = "/v1/oauth/device_authorization"

// Descriptions of the device grant's errors (RFC 8628 §3.5).
const (
	descExpiredToken  = "The device_code has expired: ask the device authorization endpoint for a new one."
	descDeviceGrantNo = "This client did not register for the device grant: its grant_types must include " + grantDeviceCode + "."
)

// deviceState is where a device authorization stands.
type deviceState int

const (
	devicePending  deviceState = iota // waiting for the user
	deviceApproved                    // approved; the next poll gets the tokens
	deviceDenied                      // denied; polls get access_denied
	deviceIssued                      // the tokens were issued; the device code is spent
)

// deviceFlow is one device authorization: what the device asked for, and
// what the user decided. The codes themselves are not kept, only their
// hashes, as the maps' keys.
type deviceFlow struct {
	clientID   string
	clientName string
	registered bool // the client registered itself: its name is its own claim
	scope      string
	userKey    secretKey
	expires    time.Time
	interval   time.Duration // grows by slowDownStep at each slow_down
	lastPoll   time.Time     // zero before the first poll
	state      deviceState
	account    int // the account that approved

	deviceKey secretKey     // the hash of its device code, its key in byDevice
	elem      *list.Element // its place among its client's flows (shares)
}

// deviceFlows holds the device authorizations and the count of wrong user
// codes per client address, behind one mutex. When a poll finds an approved
// flow it issues the tokens from the store while holding this lock; the
// store never calls back, so the two locks are always taken in that order.
type deviceFlows struct {
	mu        sync.Mutex
	byDevice  map[secretKey]*deviceFlow // by hash of the device code
	byUser    map[secretKey]*deviceFlow // by hash of the normalized user code
	failures  map[string]*failureWindow // by client address
	shares    *shares[*deviceFlow]      // the bound on flows, per client (shares.go)
	lastSweep time.Time
}

// failureWindow counts an address's wrong user codes since start.
type failureWindow struct {
	start time.Time
	n     int
}

// codeProblem is why the user-code page did not find a pending
// authorization; its text is shown on the page.
type codeProblem string

func (p codeProblem) Error() string { return string(p) }

const (
	errUserCodeUnknown codeProblem = "No device is waiting for that code. Check it against the one your device shows."
	errUserCodeExpired codeProblem = "That code has expired. Ask your device for a new one."
	errUserCodeUsed    codeProblem = "That code has already been used. If your device is still waiting, ask it for a new one."
)

// codeAttemptsError is the user-code page's refusal once an address has
// entered too many wrong codes.
type codeAttemptsError struct{ retryAfter time.Duration }

func (e codeAttemptsError) Error() string {
	minutes := max(1, int((e.retryAfter+time.Minute-1)/time.Minute))
	unit := "minutes"
	if minutes == 1 {
		unit = "minute"
	}
	return "Too many wrong codes were entered from your address. Wait " + strconv.Itoa(minutes) + " " + unit + ", then try again."
}

// newDeviceFlows keeps at most bound flows, shared between the app's
// client (app, "" for none) and the registered clients as codes and
// grants are (shares.go): a client past its share loses its own oldest
// flow, so one client's flood of device authorizations never refuses
// another's.
func newDeviceFlows(bound int, app string) *deviceFlows {
	return &deviceFlows{
		byDevice: make(map[secretKey]*deviceFlow),
		byUser:   make(map[secretKey]*deviceFlow),
		failures: make(map[string]*failureWindow),
		shares:   newShares[*deviceFlow](bound, app),
	}
}

// start records a new device authorization and returns its device code
// and user code (normalized, without the dash), making room first by
// forgetting the flow that must go, if any.
func (d *deviceFlows) start(now time.Time, f deviceFlow) (deviceCode, userCode string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sweepLocked(now)
	if old, full := d.shares.victim(f.clientID); full {
		d.forgetLocked(old)
	}
	// A new user code must not be one a pending or recent authorization
	// has; with 2^34 codes and at most Config.MaxGrants in use, a collision
	// is rare and a second draw ends it.
	for {
		userCode = newUserCode()
		if d.byUser[keyOf(userCode)] == nil {
			break
		}
	}
	deviceCode = randomHex(32)
	f.userKey = keyOf(userCode)
	f.expires = now.Add(deviceCodeTTL)
	f.state, f.lastPoll = devicePending, time.Time{}
	f.deviceKey = keyOf(deviceCode)
	d.byDevice[f.deviceKey] = &f
	d.byUser[f.userKey] = &f
	f.elem = d.shares.push(f.clientID, &f)
	return deviceCode, userCode
}

// forgetLocked drops a flow from every index; d.mu is held.
func (d *deviceFlows) forgetLocked(f *deviceFlow) {
	delete(d.byDevice, f.deviceKey)
	delete(d.byUser, f.userKey)
	d.shares.remove(f.clientID, f.elem)
	f.elem = nil
}

// find returns the pending authorization with the user code (normalized),
// for the user-code page. A code that is not pending counts as a wrong one
// against addr, and once addr has entered too many every code is refused
// with codeAttemptsError until its window ends.
func (d *deviceFlows) find(now time.Time, addr, userCode string) (deviceFlow, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := d.pendingLocked(now, addr, userCode)
	if err != nil {
		return deviceFlow{}, err
	}
	return *f, nil
}

// decide records the user's decision on the pending authorization with
// the user code, under the same rules as find. A code already decided is
// refused, so a second submission of the form changes nothing.
func (d *deviceFlows) decide(now time.Time, addr, userCode string, approve bool, account int) (deviceFlow, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := d.pendingLocked(now, addr, userCode)
	if err != nil {
		return deviceFlow{}, err
	}
	if approve {
		f.state, f.account = deviceApproved, account
	} else {
		f.state = deviceDenied
	}
	return *f, nil
}

// pendingLocked is find's and decide's lookup: the budget first, so that a
// refused address learns nothing about the code, then the code.
func (d *deviceFlows) pendingLocked(now time.Time, addr, userCode string) (*deviceFlow, error) {
	key := d.failureKeyLocked(now, addr)
	if w := d.failures[key]; w != nil && w.n >= maxCodeFailures && now.Before(w.start.Add(codeFailureWindow)) {
		return nil, codeAttemptsError{retryAfter: w.start.Add(codeFailureWindow).Sub(now)}
	}
	f := d.byUser[keyOf(userCode)]
	var err error
	switch {
	case f == nil:
		err = errUserCodeUnknown
	case !now.Before(f.expires):
		err = errUserCodeExpired
	case f.state != devicePending:
		err = errUserCodeUsed
	default:
		return f, nil
	}
	w := d.failures[key]
	if w == nil || !now.Before(w.start.Add(codeFailureWindow)) {
		w = &failureWindow{start: now}
		d.failures[key] = w
	}
	w.n++
	return nil, err
}

// failureKeyLocked is the key addr's wrong codes are counted under: addr
// itself, or, when maxFailureAddresses other addresses are being counted,
// one key they all share, so that the map stays bounded and an attacker
// with many addresses gains nothing from them.
func (d *deviceFlows) failureKeyLocked(now time.Time, addr string) string {
	if _, ok := d.failures[addr]; ok || len(d.failures) < maxFailureAddresses {
		return addr
	}
	for k, w := range d.failures {
		if !now.Before(w.start.Add(codeFailureWindow)) {
			delete(d.failures, k)
		}
	}
	if len(d.failures) < maxFailureAddresses {
		return addr
	}
	return "overflow"
}

// poll answers a device's token request for deviceCode (RFC 8628 §3.5).
// issue makes the tokens of an approved authorization; when it fails the
// authorization stays approved, so the device may poll again.
func (d *deviceFlows) poll(now time.Time, deviceCode, clientID string, issue func(*deviceFlow) (tokens, error)) (tokens, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.byDevice[keyOf(deviceCode)]
	switch {
	case f == nil || f.clientID != clientID:
		return tokens{}, errInvalidGrant
	case !now.Before(f.expires):
		return tokens{}, &oauthError{status: http.StatusBadRequest, code: "expired_token", description: descExpiredToken}
	case f.state == deviceIssued:
		return tokens{}, errInvalidGrant
	case f.state == deviceDenied:
		return tokens{}, &oauthError{status: http.StatusBadRequest, code: "access_denied", description: descAccessDenied}
	case f.state == devicePending:
		// A tenth of the interval's grace, so that a device polling on
		// time is not refused for network delays.
		early := !f.lastPoll.IsZero() && now.Sub(f.lastPoll) < f.interval-f.interval/10
		f.lastPoll = now
		if early {
			f.interval += slowDownStep
			return tokens{}, &oauthError{status: http.StatusBadRequest, code: "slow_down",
				description: "Polling too fast: wait at least " + seconds(f.interval) + " between requests from now on."}
		}
		return tokens{}, &oauthError{status: http.StatusBadRequest, code: "authorization_pending",
			description: "The user has not approved or denied the request yet: poll again in " + seconds(f.interval) + "."}
	}
	t, err := issue(f)
	if err != nil {
		return tokens{}, err
	}
	f.state = deviceIssued
	return t, nil
}

// sweepLocked drops authorizations expired for longer than
// deviceKeepExpired (all expired ones when force is set: the cap is
// reached), and failure windows that have ended. Like the store's, it runs
// at most once a minute unless forced.
func (d *deviceFlows) sweepLocked(now time.Time) {
	if now.Sub(d.lastSweep) < sweepEvery {
		return
	}
	d.lastSweep = now
	keep := deviceKeepExpired
	for _, f := range d.byDevice {
		if !now.Before(f.expires.Add(keep)) {
			d.forgetLocked(f)
		}
	}
	for k, w := range d.failures {
		if !now.Before(w.start.Add(codeFailureWindow)) {
			delete(d.failures, k)
		}
	}
}

// newUserCode returns userCodeLength letters of userCodeAlphabet, each
// drawn uniformly from crypto/rand: bytes of 240 or more are drawn again,
// so that the modulo favours no letter.
func newUserCode() string {
	const unbiased = 256 - 256%len(userCodeAlphabet)
	code := make([]byte, 0, userCodeLength)
	var b [1]byte
	for len(code) < userCodeLength {
		rand.Read(b[:]) // never fails; see randomHex
		if int(b[0]) < unbiased {
			code = append(code, userCodeAlphabet[int(b[0])%len(userCodeAlphabet)])
		}
	}
	return string(code)
}

// normalizeUserCode turns what the user typed into a user code: case,
// spaces and dashes do not matter (RFC 8628 §6.1). ok is false when the
// result cannot be a code the sandbox issued.
func normalizeUserCode(raw string) (code string, ok bool) {
	b := make([]byte, 0, userCodeLength)
	for _, r := range raw {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case 'a' <= r && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 'Z' || !strings.ContainsRune(userCodeAlphabet, r) {
			return "", false
		}
		b = append(b, byte(r))
	}
	return string(b), len(b) == userCodeLength
}

// formatUserCode shows a normalized code as the device does: XXXX-XXXX.
func formatUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// seconds formats a whole number of seconds for the error descriptions.
func seconds(d time.Duration) string {
	return strconv.Itoa(int(d/time.Second)) + " seconds"
}

// clientAddress is who the wrong-code budget belongs to: the client's IP
// address, or its /64 network for IPv6, where one host has many addresses.
// The sandbox trusts no proxy header, so behind a proxy every visitor
// shares the proxy's budget, which errs on the safe side.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// deviceAuthResponse is RFC 8628 §3.2's answer.
type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// handleDeviceAuthorization serves POST /v1/oauth/device_authorization,
// step 1 of the device grant: the device gets its codes.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	c, form, oerr := s.readClientRequest(w, r)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	if !c.allowsGrant(grantDeviceCode) {
		writeOAuthError(w, unauthorizedClient(descDeviceGrantNo))
		return
	}
	// Counted with the token requests: each one makes state, like a code.
	if refused := s.throttle.tokenRequest(s.now(), r, c); refused != nil {
		s.tooManyRequests(w, c, refused, "device authorizations")
		return
	}
	scope, oerr := scopeToGrant(c, form.Get("scope"))
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	name := c.name
	if name == "" {
		name = "An unnamed application"
	}
	deviceCode, userCode := s.devices.start(s.now(), deviceFlow{
		clientID: c.id, clientName: name, registered: c.registered, scope: scope, interval: s.deviceInterval,
	})
	s.log.Info("sandbox: device authorization started", "client_id", c.id, "scope", scope)
	page := rootURL(r, deviceAuthorizationPath) + devicePagePath
	writeTokenJSON(w, http.StatusOK, deviceAuthResponse{
		DeviceCode:              deviceCode,
		UserCode:                formatUserCode(userCode),
		VerificationURI:         page,
		VerificationURIComplete: page + "?" + url.Values{"user_code": {formatUserCode(userCode)}}.Encode(),
		ExpiresIn:               int(deviceCodeTTL / time.Second),
		Interval:                int(s.deviceInterval / time.Second),
	})
}

// pollDevice implements grant_type=urn:ietf:params:oauth:grant-type:device_code
// at the token endpoint, step 3 of the device grant.
func (s *Server) pollDevice(w http.ResponseWriter, c *client, form url.Values) {
	deviceCode := form.Get("device_code")
	if deviceCode == "" {
		writeOAuthError(w, invalidRequest("Missing required parameter: device_code."))
		return
	}
	now := s.now()
	t, err := s.devices.poll(now, deviceCode, c.id, func(f *deviceFlow) (tokens, error) {
		return s.store.issueGrant(now, f.clientID, f.scope, f.account, s.tokenTTL, true), nil
	})
	if err != nil {
		writeOAuthError(w, storeError(err))
		return
	}
	s.log.Info("sandbox: exchanged device code for tokens", "client_id", c.id, "scope", t.scope)
	s.writeTokens(w, t)
}
