package sandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"
)

// The consent form is protected against cross-site request forgery in two
// independent ways, because a forged "Authorize" click would hand an
// attacker's app a code for the victim's account:
//
//  1. Fetch metadata: browsers send Sec-Fetch-Site with every request; a
//     POST that is not same-origin is refused. (Clients that send no
//     Sec-Fetch-Site, such as Go tests, fall through to the second check.)
//  2. A double-submit token: the consent page sets a random cookie and puts a
//     token derived from it in a hidden csrf_token input. A POST must carry
//     both, and they must match. Another site can read neither the cookie
//     nor the page, so it cannot produce the token; and as the cookie is
//     SameSite=Strict, browsers don't even send it with a cross-site POST.
//
// The token is an HMAC of the cookie under a per-process key rather than the
// cookie itself ("signed double-submit", as OWASP recommends), so a cookie
// planted by a sibling subdomain is useless without the key.

const (
	csrfCookieName = "sandbox_csrf"
	csrfCookieTTL  = 30 * time.Minute // long enough to read the consent page
	csrfFieldName  = "csrf_token"
)

type csrfGuard struct {
	key []byte
}

func newCSRFGuard() csrfGuard {
	key := make([]byte, 32)
	rand.Read(key) // never fails; see randomHex
	return csrfGuard{key: key}
}

// token returns the csrf_token for the consent form, setting (or renewing)
// the browser's CSRF cookie. An existing cookie is kept so that two open
// consent pages both stay valid.
func (g csrfGuard) token(w http.ResponseWriter, r *http.Request) string {
	value := ""
	if c, err := r.Cookie(csrfCookieName); err == nil && len(c.Value) == 64 {
		value = c.Value
	} else {
		value = randomHex(32)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     csrfCookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   int(csrfCookieTTL / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return g.tokenFor(value)
}

// valid reports whether the POSTed form token matches the request's cookie.
// The comparison takes constant time so that timing reveals nothing about
// how close a guess was.
func (g csrfGuard) valid(r *http.Request, formToken string) bool {
	c, err := r.Cookie(csrfCookieName)
	if err != nil || c.Value == "" || formToken == "" {
		return false
	}
	want := g.tokenFor(c.Value)
	return subtle.ConstantTimeCompare([]byte(want), []byte(formToken)) == 1
}

func (g csrfGuard) tokenFor(cookie string) string {
	mac := hmac.New(sha256.New, g.key)
	mac.Write([]byte("sandbox consent form:" + cookie))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// sameOriginOrUnknown applies check 1 above: it refuses a request a browser
// labelled as coming from another origin.
func sameOriginOrUnknown(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin"
}
