package module

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops its workers in Cleanup; no goroutine may outlive them.
// (Module threads are C threads, invisible here, and by design.)
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
