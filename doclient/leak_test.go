package doclient_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Goroutines return to their baseline after the tests: no refresh, lease
// renewer or rate-limit wait is left running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
