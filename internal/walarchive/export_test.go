package walarchive

import (
	"testing"
	"time"
)

// SegmentAfter names the WAL segment n after name, for segments of size
// bytes; "" when name is not a segment's.
func SegmentAfter(name string, n, size uint64) string {
	s, ok := parseSegment(name)
	if !ok {
		return ""
	}
	return s.after(n, size)
}

// SetPrefetchBytes changes the cap on wal-fetch's spool until the test
// ends.
func SetPrefetchBytes(t testing.TB, n int64) {
	old := prefetchBytes
	prefetchBytes = n
	t.Cleanup(func() { prefetchBytes = old })
}

// SetSpoolWait changes how long wal-fetch waits on a fetch in flight until
// the test ends.
func SetSpoolWait(t testing.TB, d time.Duration) {
	old := spoolWait
	spoolWait = d
	t.Cleanup(func() { spoolWait = old })
}

// OnSpoolWait calls f each time wal-fetch waits on a fetch in flight,
// until the test ends.
func OnSpoolWait(t testing.TB, f func()) {
	spoolWaiting = f
	t.Cleanup(func() { spoolWaiting = nil })
}
