package sandbox

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests look inside the package to shrink the device grant's caps,
// as store_test.go does for codes and grants.

func TestDeviceFlowsBound(t *testing.T) {
	t.Parallel()
	// 20 flows: 10 for the app's client, 10 for registered ones, at most
	// one each (a tenth of their room).
	d := newDeviceFlows(20, "app")
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	first, _ := d.start(now, deviceFlow{clientID: "flooder", scope: "read", interval: time.Second})
	latest, _ := d.start(now, deviceFlow{clientID: "flooder", scope: "read", interval: time.Second})
	poll := func(code, client string) error {
		_, err := d.poll(now, code, client, func(*deviceFlow) (tokens, error) { return tokens{}, nil })
		return err
	}
	// A client past its share loses its own oldest flow, not another's.
	if err := poll(first, "flooder"); !errors.Is(err, errInvalidGrant) {
		t.Errorf("the flooder's first flow, after its second: %v, want it forgotten", err)
	}
	var oerr *oauthError
	if err := poll(latest, "flooder"); !errors.As(err, &oerr) || oerr.code != "authorization_pending" {
		t.Errorf("the flooder's latest flow: %v", err)
	}
	other, _ := d.start(now, deviceFlow{clientID: "other"})
	app, _ := d.start(now, deviceFlow{clientID: "app"})
	for range 100 {
		d.start(now, deviceFlow{clientID: "flooder"})
	}
	for _, f := range []struct{ code, client string }{{other, "other"}, {app, "app"}} {
		if err := poll(f.code, f.client); !errors.As(err, &oerr) || oerr.code != "authorization_pending" {
			t.Errorf("%s's flow after the flood: %v", f.client, err)
		}
	}
	if len(d.byDevice) > 20 || len(d.byUser) != len(d.byDevice) {
		t.Errorf("%d flows by device code, %d by user code; want at most 20, the same", len(d.byDevice), len(d.byUser))
	}
}

// Below the cap, an expired flow is kept for a while, so that its device
// hears expired_token rather than invalid_grant, then swept.
func TestDeviceFlowsSweep(t *testing.T) {
	t.Parallel()
	d := newDeviceFlows(100, "")
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	deviceCode, _ := d.start(now, deviceFlow{clientID: "c"})
	poll := func() error {
		_, err := d.poll(now, deviceCode, "c", func(*deviceFlow) (tokens, error) { return tokens{}, nil })
		return err
	}
	now = now.Add(deviceCodeTTL + time.Minute)
	d.start(now, deviceFlow{clientID: "c"}) // any write sweeps
	var oerr *oauthError
	if err := poll(); !errors.As(err, &oerr) || oerr.code != "expired_token" {
		t.Errorf("poll a minute after expiry: %v", err)
	}
	now = now.Add(deviceKeepExpired)
	d.start(now, deviceFlow{clientID: "c"})
	if err := poll(); !errors.Is(err, errInvalidGrant) {
		t.Errorf("poll once swept: %v", err)
	}
	if len(d.byDevice) != 2 || len(d.byUser) != 2 {
		t.Errorf("%d flows by device code, %d by user code; want 2 and 2", len(d.byDevice), len(d.byUser))
	}
}

// Wrong codes are counted per address, in a bounded map: past
// maxFailureAddresses, new addresses share one budget.
func TestDeviceFailureAddressesBounded(t *testing.T) {
	t.Parallel()
	d := newDeviceFlows(10, "")
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i := range maxFailureAddresses {
		d.failures["10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)] = &failureWindow{start: now, n: 1}
	}
	for range maxCodeFailures {
		if _, err := d.find(now, "192.0.2.1", "BBBBBBBB"); !errors.Is(err, errUserCodeUnknown) {
			t.Fatalf("find: %v", err)
		}
	}
	if _, err := d.find(now, "192.0.2.2", "BBBBBBBB"); !errors.As(err, new(codeAttemptsError)) {
		t.Errorf("another new address shares the budget: %v", err)
	}
	if _, err := d.find(now, "10.0.0.1", "BBBBBBBB"); !errors.Is(err, errUserCodeUnknown) {
		t.Errorf("a counted address keeps its own: %v", err)
	}
	if len(d.failures) != maxFailureAddresses+1 {
		t.Errorf("%d addresses counted", len(d.failures))
	}
	// Once their windows end, the addresses are forgotten.
	now = now.Add(codeFailureWindow)
	if _, err := d.find(now, "192.0.2.2", "BBBBBBBB"); !errors.Is(err, errUserCodeUnknown) {
		t.Errorf("after the window: %v", err)
	}
	if len(d.failures) != 1 {
		t.Errorf("%d addresses counted after the window", len(d.failures))
	}
}

func TestUserCodes(t *testing.T) {
	t.Parallel()
	seen := map[byte]bool{}
	for range 200 {
		code := newUserCode()
		norm, ok := normalizeUserCode(strings.ToLower(formatUserCode(code)))
		if !ok || norm != code || len(code) != userCodeLength {
			t.Fatalf("code %q normalizes to %q, %v", code, norm, ok)
		}
		for i := range len(code) {
			seen[code[i]] = true
		}
	}
	if len(seen) != len(userCodeAlphabet) {
		t.Errorf("200 codes use %d letters of %d", len(seen), len(userCodeAlphabet))
	}
	for in, want := range map[string]string{"bcdf-ghjk": "BCDFGHJK", " BCDF GHJK ": "BCDFGHJK", "b-c-d-f-g-h-j-k": "BCDFGHJK"} {
		if got, ok := normalizeUserCode(in); !ok || got != want {
			t.Errorf("normalizeUserCode(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "BCDFGHJ", "BCDFGHJKL", "BCDFGHJA", "BCDFGHJ1", "BCDFGHJſ", "ＢCDFGHJK"} {
		if got, ok := normalizeUserCode(in); ok {
			t.Errorf("normalizeUserCode(%q) = %q, accepted", in, got)
		}
	}
	for addr, want := range map[string]string{
		"192.0.2.7:5000":              "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:5000": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":  "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":       "::ffff:192.0.2.7",
		"not an address":              "not an address",
	} {
		if got := clientAddress(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("clientAddress(%q) = %q, want %q", addr, got, want)
		}
	}
}
