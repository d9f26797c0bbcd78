package testsuite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// ShiftClockTo makes the processes the test starts from now on (Postgres
// servers and their tools) see a wall clock that runs from the most recent
// past occurrence of month/day, through libfaketime. It is how a test puts
// real events on a date it cannot wait for, such as a summer-time day in
// winter. Go code (the test itself, drctl) keeps the real clock: Go reads
// the clock without going through libc.
func ShiftClockTo(t testing.TB, month time.Month, day int) {
	t.Helper()
	Need(t, "faketime", "apt-get install -y faketime")
	libs, _ := filepath.Glob("/usr/lib/*/faketime/libfaketime.so.1")
	if len(libs) == 0 {
		t.Fatal("faketime is installed but its library libfaketime.so.1 is not under /usr/lib/*/faketime")
	}
	now := time.Now().UTC()
	then := time.Date(now.Year(), month, day, now.Hour(), now.Minute(), now.Second(), 0, time.UTC)
	if then.After(now) {
		then = then.AddDate(-1, 0, 0)
	}
	days := int(now.Sub(then).Hours()/24 + 0.5)
	t.Setenv("LD_PRELOAD", libs[0])
	t.Setenv("FAKETIME", fmt.Sprintf("-%dd", days))
	// Monotonic clocks measure timeouts and durations: they stay real.
	t.Setenv("DONT_FAKE_MONOTONIC", "1")
}
