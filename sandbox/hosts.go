package sandbox

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// A redirect URI's origin ends up in the consent page's Content Security
// Policy (form-action, see pageHeaders), and Go's url.Parse accepts hosts
// that are no hosts at all ("*", `a"b`, "<x>", "a..b"): registered, such a
// URI would turn the directive into "form-action 'self' https://*", which
// lets the form go anywhere, or break the policy's syntax. So a host must
// be one a browser can reach and a policy can name:
//
//   - a DNS name of RFC 1123 labels (letters, digits and inner hyphens, 1 to
//     63 of them, 253 in all), an internationalized one in its ASCII
//     (punycode, xn--) form, whose last label is not a number (a browser
//     would read "1.2.3" as an IPv4 address);
//   - an IPv4 address in dotted decimal, or a bracketed IPv6 address, each
//     as a browser writes it (no zone, no IPv4-mapped form, no leading zeros);
//
// with, optionally, a port from 1 to 65535.

// hostProblem says what is wrong with the host and port of u, or returns
// "" for a valid one.
func hostProblem(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	switch {
	case strings.HasSuffix(u.Host, ":"):
		return "A redirect URI's port must not be empty."
	case port != "" && !validPort(port):
		return "A redirect URI's port must be a number from 1 to 65535."
	case strings.HasPrefix(u.Host, "["):
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || a.String() != host {
			return "A redirect URI's IPv6 address must be written as a browser writes it, without a zone."
		}
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return ""
	}
	if !validHostname(host) {
		return "A redirect URI's host must be a DNS name (letters, digits, hyphens and dots; an internationalized name in its xn-- form) or an IP address."
	}
	return ""
}

// validHostname applies RFC 1123 §2.1 to a DNS name, and refuses a name
// that a browser would take for an IPv4 address.
func validHostname(host string) bool {
	if len(host) == 0 || len(host) > 253 {
		return false
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return !numeric(labels[len(labels)-1])
}

// numeric reports whether a label is a number in the WHATWG URL parser's
// eyes (decimal, or hexadecimal after 0x), which makes the host an IPv4
// address to a browser.
func numeric(label string) bool {
	digits := label
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		digits = label[2:]
		return strings.Trim(digits, "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(digits, "0123456789") == ""
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && port[0] != '0'
}

// origin returns the scheme://host[:port] of a redirect URI, for the
// consent page's form-action directive, or "" when the URI is not an
// absolute http(s) URL with a valid host: nothing unvalidated goes into
// the policy.
func origin(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host == "" || hostProblem(u) != "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// validOrigin reports whether o is an origin as origin returns it.
func validOrigin(o string) bool {
	return o != "" && origin(o) == o
}
