package sandbox

import (
	"slices"
	"strings"
)

// DigitalOcean scopes are "read" (the default), "write" (together with read:
// full access), or granular "resource:action" scopes such as
// "droplet:read". A scope parameter is a space-separated list of them
// (RFC 6749 §3.3).

// parseScope validates a scope parameter and returns its scopes, without
// duplicates, in the order given. An empty parameter means "read", as at
// DigitalOcean. ok is false when a scope is not one DigitalOcean could know.
func parseScope(raw string) (scopes []string, ok bool) {
	for _, sc := range strings.Fields(raw) {
		if !validScope(sc) {
			return nil, false
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if len(scopes) == 0 {
		scopes = []string{"read"}
	}
	return scopes, true
}

// validScope accepts "read", "write" and "resource:action" made of
// lowercase letters, digits and underscores.
func validScope(sc string) bool {
	if sc == "read" || sc == "write" {
		return true
	}
	resource, action, found := strings.Cut(sc, ":")
	return found && isScopeWord(resource) && isScopeWord(action)
}

func isScopeWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

func joinScope(scopes []string) string {
	return strings.Join(scopes, " ")
}

// scopeCovers reports whether the granted scope string includes every
// scope in want (used to stop a refresh from widening a grant).
func scopeCovers(granted string, want []string) bool {
	have := strings.Fields(granted)
	for _, sc := range want {
		if !slices.Contains(have, sc) {
			return false
		}
	}
	return true
}

// scopeAllows reports whether a grant's scope lets it call an endpoint that
// needs the granular scope need (e.g. "droplet:read", "droplet:update").
// The legacy scopes cover whole classes of endpoint: "read" every read,
// "write" (granted as "read write") every endpoint. write marks an endpoint
// that changes something, which "read" alone doesn't cover.
func scopeAllows(granted, need string, write bool) bool {
	for _, sc := range strings.Fields(granted) {
		if sc == need || sc == "write" || (sc == "read" && !write) {
			return true
		}
	}
	return false
}

// describeScope says in words what the consent page asks for, the way
// DigitalOcean's consent screen does: "Read", "Read & write" or "Custom",
// plus the granular scopes, listed one by one.
func describeScope(scopes []string) (access string, custom []string) {
	switch {
	case slices.Contains(scopes, "write"):
		access = "Read & write"
	case slices.Contains(scopes, "read"):
		access = "Read"
	default:
		access = "Custom"
	}
	for _, sc := range scopes {
		if sc != "read" && sc != "write" {
			custom = append(custom, sc)
		}
	}
	return access, custom
}
