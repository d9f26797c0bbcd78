package runbooks

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in, zone, want string
	}{
		{"2026-11-20T16:00:00Z", "", "2026-11-20T16:00:00Z"},
		{"2026-11-20T16:00:00+01:00", "", "2026-11-20T15:00:00Z"},
		{"2026-07-20 16:00 Europe/London", "", "2026-07-20T15:00:00Z"}, // BST
		{"2026-11-20 16:00 Europe/London", "", "2026-11-20T16:00:00Z"}, // GMT
		{"2026-07-20 16:00", "Europe/London", "2026-07-20T15:00:00Z"},
		{"2026-07-20 16:00:30 America/New_York", "", "2026-07-20T20:00:30Z"},
		{"2026-11-20 16:00 +05:30", "", "2026-11-20T10:30:00Z"},
		{"2026-11-20T16:00-0500", "", "2026-11-20T21:00:00Z"},
		{"2026-11-20 16:00 UTC", "", "2026-11-20T16:00:00Z"},
		{"2026-10-25 01:30 +01:00", "", "2026-10-25T00:30:00Z"}, // ambiguous wall clock made exact by an offset
	} {
		got, err := ParseTimestamp(tc.in, tc.zone)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if s := got.Format(time.RFC3339); s != tc.want {
			t.Errorf("%q = %s, want %s", tc.in, s, tc.want)
		}
	}
}

func TestParseTimestampRefuses(t *testing.T) {
	for _, tc := range []struct{ in, zone, why string }{
		{"2026-11-20 16:00", "", "no time zone"},
		{"2026-11-20 16:00 Mars/Olympus", "", "unknown time zone"},
		{"2026-10-25 01:30 Europe/London", "", "happens twice"},
		{"2026-03-29 01:30 Europe/London", "", "does not exist"},
		{"yesterday at four", "UTC", "not a timestamp"},
		{"2026-13-01 10:00 UTC", "", "not a timestamp"},
		{"2026-11-20 16:00", "Not/AZone", "unknown time zone"},
	} {
		_, err := ParseTimestamp(tc.in, tc.zone)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%q: got %v, want an error saying %q", tc.in, err, tc.why)
		}
	}
}
