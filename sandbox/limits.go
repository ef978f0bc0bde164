package sandbox

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits on signing in. Anyone can reach a public sandbox (SANDBOX=1 on a
// server) and register a client, so each request that makes the sandbox
// keep something (a code, a grant, a client) is counted, per address and
// per registered client, in windows of a minute (an hour for
// registrations). Past a budget the answer is 429 with Retry-After, as
// DigitalOcean answers its API's clients: an HTML page on the consent
// form, an OAuth error at the token and registration endpoints.
//
// Every budget is derived from the memory bound N (Config.MaxGrants,
// 10,000 by default), so that a sandbox given more room admits more:
//
//	what is counted                                   budget     at N = 10,000
//	consent approvals per address, a minute           N/500      20
//	consent approvals per registered client, a minute N/50       200
//	token requests per address, a minute              N/100      100
//	token requests per registered client, a minute    N/10       1,000
//	registrations per address, an hour                N/1,000    10
//
// One address can then hold about N/50 outstanding codes (its budget for
// each minute of a code's ten), a twenty-fifth of the app's half of the
// bound (see shares). At each address, approvals for registered clients
// are counted apart from approvals for the app's client, so a registered
// client never uses up the app's budget. Only requests that would keep
// something are counted: an approval (not a denial or a rejected form), a
// token request from an authenticated client, a valid registration.
//
// The app's own client is not limited per client, nor at the token
// endpoint at all: every visitor of the demo signs in with it, and its
// token requests all come from the app's server, so any limit there would
// be a limit on every visitor at once. Its codes are limited where they
// are minted, per visitor's address, and its codes and grants are bounded
// by its share. A registered client's budget can be spent by anyone who
// knows its client_id (a public value), which takes many addresses since
// it is ten times an address's; that is the price of bounding what one
// client, flooded from everywhere, can churn through.
//
// The address is the connection's (http.Request.RemoteAddr), not the
// X-Forwarded-For header: any client can write that header, and a flooder
// that picks a new address for every request is limited by nothing.
// Behind a reverse proxy (App Platform's load balancer, say) every request
// comes from the proxy, so all visitors share one address's budget; set
// Config.TrustedProxies to the number of proxies in front, and the address
// is taken from X-Forwarded-For, counting that many entries from the right
// (each proxy appends the address it received the request from; the
// entries further left are whatever the client sent). IPv6 addresses are
// counted by their /64, the block one subscriber usually gets.

// throttle holds the sign-in limits of a Server.
type throttle struct {
	off       bool // Config.DisableSignInLimits
	proxies   int  // Config.TrustedProxies
	consent   *rateLimiter
	consentBy *rateLimiter // per registered client
	token     *rateLimiter
	tokenBy   *rateLimiter // per registered client
	register  *rateLimiter
	refused   atomic.Int64 // for Stats.Throttled
}

// throttled is a request refused by a limit.
type throttled struct {
	wait     time.Duration // until the window ends
	byClient bool          // the client's budget ran out, not the address's
	first    bool          // the first refusal of this window, worth a log line
}

// newThrottle derives every budget from the memory bound n.
func newThrottle(n, proxies int, off bool) *throttle {
	budget := func(div int) int { return max(n/div, 1) }
	return &throttle{
		off:       off,
		proxies:   proxies,
		consent:   newRateLimiter(budget(500), time.Minute, n),
		consentBy: newRateLimiter(budget(50), time.Minute, n),
		token:     newRateLimiter(budget(100), time.Minute, n),
		tokenBy:   newRateLimiter(budget(10), time.Minute, n),
		register:  newRateLimiter(budget(1000), time.Hour, n),
	}
}

// approve spends one consent approval for client c from r's address. The
// app's client and registered clients are counted apart at each address.
func (t *throttle) approve(now time.Time, r *http.Request, c *client) *throttled {
	if t.off {
		return nil
	}
	key := "app " + t.address(r)
	if c.registered {
		key = "registered " + t.address(r)
	}
	return t.take(now, t.consent, key, t.consentBy, c)
}

// tokenRequest spends one token request of an authenticated registered
// client; the app's client is not limited here (see above).
func (t *throttle) tokenRequest(now time.Time, r *http.Request, c *client) *throttled {
	if t.off || !c.registered {
		return nil
	}
	return t.take(now, t.token, t.address(r), t.tokenBy, c)
}

// registration spends one registration from r's address.
func (t *throttle) registration(now time.Time, r *http.Request) *throttled {
	if t.off {
		return nil
	}
	return t.take(now, t.register, t.address(r), nil, nil)
}

// take spends one request of the address's budget and, for a registered
// client, of the client's.
func (t *throttle) take(now time.Time, byAddr *rateLimiter, addrKey string, byClient *rateLimiter, c *client) *throttled {
	if wait, first := byAddr.take(now, addrKey); wait > 0 {
		t.refused.Add(1)
		return &throttled{wait: wait, first: first}
	}
	if byClient != nil && c.registered {
		if wait, first := byClient.take(now, c.id); wait > 0 {
			t.refused.Add(1)
			return &throttled{wait: wait, byClient: true, first: first}
		}
	}
	return nil
}

// address returns the key r's sender is counted by; see above.
func (t *throttle) address(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if t.proxies > 0 {
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		// Fewer entries than proxies: the request did not come through
		// them all, and the connection's address is the sender.
		if len(hops) >= t.proxies {
			if a, ok := parseAddr(strings.TrimSpace(hops[len(hops)-t.proxies])); ok {
				return addressKey(a)
			}
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return addressKey(a)
	}
	return host
}

// parseAddr reads an address as proxies write it in X-Forwarded-For:
// bare, or with a port (some add one).
func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	ap, err := netip.ParseAddrPort(s)
	return ap.Addr(), err == nil
}

// addressKey is an IPv4 address, or the /64 of an IPv6 one.
func addressKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // cannot fail for an IPv6 address
	return p.String()
}

// retryAfter is a wait in the whole seconds of the Retry-After header,
// rounded up: retrying before the window ends would only be refused again.
func (l *throttled) retryAfter() string {
	return strconv.Itoa(max(int(math.Ceil(l.wait.Seconds())), 1))
}

// oauthError is the refusal as the token and registration endpoints send
// it. RFC 6749 has no error code for a rate limit, so it is
// temporarily_unavailable, the OAuth error (RFC 6749 §4.1.2.1) that means
// "try again later", which a client that only knows OAuth's codes still
// understands; the status, 429 (RFC 6585), and Retry-After say it is a
// rate limit and when it ends. (RFC 8628's slow_down would tell a device
// client to poll less often, which other grants do not know.)
func (l *throttled) oauthError(what string) *oauthError {
	whose := "from this address"
	if l.byClient {
		whose = "for this client"
	}
	return &oauthError{
		status:      http.StatusTooManyRequests,
		code:        "temporarily_unavailable",
		description: fmt.Sprintf("Too many %s %s: try again in %s seconds.", what, whose, l.retryAfter()),
		retryAfter:  l.retryAfter(),
	}
}

// tooManyRequests answers a token request past a sign-in limit.
func (s *Server) tooManyRequests(w http.ResponseWriter, c *client, refused *throttled, what string) {
	s.logRefusal(what, c.id, refused)
	writeOAuthError(w, refused.oauthError(what))
}

// logRefusal logs the first refusal of each window of a limit, so that a
// flood costs one log line a minute rather than one per request.
func (s *Server) logRefusal(what, clientID string, refused *throttled) {
	if refused.first {
		s.log.Warn("sandbox: too many "+what+"; refusing with 429", "client_id", clientID, "per_client", refused.byClient)
	}
}

// rateLimiter counts requests per key (an address or a client ID) in
// fixed windows: at most budget requests per period, counted from a key's
// first request of the window. It keeps at most maxKeys windows.
type rateLimiter struct {
	mu        sync.Mutex
	budget    int
	period    time.Duration
	maxKeys   int
	windows   map[string]*window
	lastSweep time.Time
}

type window struct {
	start   time.Time
	used    int
	refused bool
}

func newRateLimiter(budget int, period time.Duration, maxKeys int) *rateLimiter {
	return &rateLimiter{budget: budget, period: period, maxKeys: maxKeys, windows: make(map[string]*window)}
}

// take spends one request of key's budget. When none is left it spends
// nothing and returns how long until the window ends (and whether this is
// the window's first refusal); otherwise it returns 0.
func (l *rateLimiter) take(now time.Time, key string) (wait time.Duration, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[key]
	if w == nil {
		l.makeRoomLocked(now)
		w = &window{start: now}
		l.windows[key] = w
	}
	if end := w.start.Add(l.period); !now.Before(end) {
		*w = window{start: now}
	}
	if w.used >= l.budget {
		first, w.refused = !w.refused, true
		return w.start.Add(l.period).Sub(now), first
	}
	w.used++
	return 0, false
}

// makeRoomLocked keeps the table within maxKeys: it drops the windows that
// have ended (walking the map at most once a period, so that a flood of
// new keys does not walk it on every request), and if that is not enough,
// any one window. Forgetting a key only gives it a fresh budget: it never
// refuses anyone.
func (l *rateLimiter) makeRoomLocked(now time.Time) {
	if len(l.windows) < l.maxKeys {
		return
	}
	if now.Sub(l.lastSweep) >= l.period {
		l.lastSweep = now
		for k, w := range l.windows {
			if !now.Before(w.start.Add(l.period)) {
				delete(l.windows, k)
			}
		}
	}
	for k := range l.windows {
		if len(l.windows) < l.maxKeys {
			break
		}
		delete(l.windows, k) // map order is unspecified: any one
	}
}
