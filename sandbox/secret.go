package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Prefixes of DigitalOcean's tokens: "doo" for an OAuth access token,
// "dor" for a refresh token, "dop" for a personal access token, then a
// version and 64 hex digits. Secret scanners recognise them, which is the
// point of prefixed tokens.
const (
	accessTokenPrefix   = "doo_v1_"
	refreshTokenPrefix  = "dor_v1_"
	personalTokenPrefix = "dop_v1_"
)

// randomHex returns n random bytes from crypto/rand as 2n hex digits.
// crypto/rand.Read never returns an error (it crashes the program if the
// operating system's generator fails), so there is nothing to handle.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSecret returns a 256-bit random secret with a prefix: authorization
// codes, access and refresh tokens. 256 bits is far beyond guessing range
// (RFC 6749 §10.10 asks for at least 128).
func newSecret(prefix string) string {
	return prefix + randomHex(32)
}

// secretKey is how the store indexes a code or token: by its SHA-256 hash.
// The store never holds a usable secret, so a memory dump or a debug print
// of it leaks nothing, and a map lookup by hash leaks nothing through timing
// about how much of a guessed token was right.
type secretKey [sha256.Size]byte

func keyOf(secret string) secretKey {
	return sha256.Sum256([]byte(secret))
}

// newRequestID returns a random UUID (version 4) identifying one API
// request, like DigitalOcean's x-request-id.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
