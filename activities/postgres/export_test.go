package postgres

import (
	"testing"
	"time"
)

// SetOverlapAbove changes overlapAbove until the test ends: 0 makes a
// parallel restore load while it downloads however fast the download, an
// hour makes it wait for the download.
func SetOverlapAbove(t testing.TB, d time.Duration) {
	old := overlapAbove
	overlapAbove = d
	t.Cleanup(func() { overlapAbove = old })
}
