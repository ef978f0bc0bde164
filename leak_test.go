package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Goroutines return to their baseline after the tests, the fault tests
// included (three instances, Redis stopped, a Redis that hangs): no
// instance, connection pool, refresh or store call is left running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
