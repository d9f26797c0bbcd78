package runbooks

import (
	"fmt"
	"strings"
	"time"
)

// Layouts of the wall-clock part of a timestamp; the zone comes separately.
var wallLayouts = []string{
	"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999",
}

// ParseTimestamp reads a point in time as the people in an incident write it:
// RFC 3339 ("2026-11-20T16:00:00+01:00", "...Z"), or a wall clock followed by
// an offset or an IANA zone ("2026-11-20 16:00 Europe/London",
// "2026-11-20 16:00 +01:00"). fallbackZone, when not empty, is used for a
// wall clock without a zone. A zoneless timestamp without a fallback is an
// error, not a guess; so is a wall-clock time that a daylight-saving change
// skips or repeats in that zone.
func ParseTimestamp(s, fallbackZone string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	wall, zone := s, fallbackZone
	if i := strings.LastIndexByte(s, ' '); i > 0 && looksLikeZone(s[i+1:]) {
		wall, zone = strings.TrimSpace(s[:i]), s[i+1:]
	} else if i := strings.LastIndexAny(s, "+-Z"); i > 10 {
		// "2026-11-20T16:00+01:00" or "...16:00Z": an offset glued on.
		if looksLikeZone(s[i:]) {
			wall, zone = s[:i], s[i:]
		}
	}
	var local time.Time
	var err error
	for _, layout := range wallLayouts {
		if local, err = time.Parse(layout, wall); err == nil {
			break
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a timestamp: write e.g. \"2026-11-20 16:00 Europe/London\" or \"2026-11-20T16:00:00Z\"", s)
	}
	if zone == "" {
		return time.Time{}, fmt.Errorf("%q has no time zone: add an offset or a zone name, e.g. %q", s, wall+" Europe/London")
	}
	if off, ok := parseOffset(zone); ok {
		return local.Add(-off).UTC(), nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return time.Time{}, fmt.Errorf("unknown time zone %q in %q: use an IANA name such as Europe/London, or an offset such as +01:00", zone, s)
	}
	return inZone(local, loc, s)
}

func looksLikeZone(z string) bool {
	if _, ok := parseOffset(z); ok {
		return true
	}
	return z == "UTC" || strings.Contains(z, "/") || len(z) >= 3 && strings.ToUpper(z) == z && !strings.ContainsAny(z, "0123456789:")
}

// parseOffset reads Z, +hh:mm, +hhmm or +hh.
func parseOffset(z string) (time.Duration, bool) {
	if z == "Z" {
		return 0, true
	}
	if len(z) < 3 || z[0] != '+' && z[0] != '-' {
		return 0, false
	}
	digits := strings.ReplaceAll(z[1:], ":", "")
	if len(digits) != 2 && len(digits) != 4 {
		return 0, false
	}
	var h, m int
	if _, err := fmt.Sscanf(digits[:2], "%02d", &h); err != nil || h > 14 {
		return 0, false
	}
	if len(digits) == 4 {
		if _, err := fmt.Sscanf(digits[2:], "%02d", &m); err != nil || m > 59 {
			return 0, false
		}
	}
	off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if z[0] == '-' {
		off = -off
	}
	return off, true
}

// inZone places a wall-clock time in loc, refusing times that do not exist
// (spring forward) or exist twice (fall back) there.
func inZone(local time.Time, loc *time.Location, orig string) (time.Time, error) {
	guess := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), loc)
	var matches []time.Time
	for _, probe := range []time.Time{guess.Add(-3 * time.Hour), guess, guess.Add(3 * time.Hour)} {
		_, off := probe.Zone()
		cand := local.Add(-time.Duration(off) * time.Second).UTC()
		if w := cand.In(loc); w.Format(time.DateTime) == local.Format(time.DateTime) && !containsTime(matches, cand) {
			matches = append(matches, cand)
		}
	}
	switch len(matches) {
	case 0:
		return time.Time{}, fmt.Errorf("%q does not exist in %s (the clocks skip it): give an offset", orig, loc)
	case 1:
		return matches[0], nil
	}
	return time.Time{}, fmt.Errorf("%q happens twice in %s (the clocks go back): give an offset, e.g. %s or %s",
		orig, loc, matches[0].In(loc).Format("-07:00"), matches[1].In(loc).Format("-07:00"))
}

func containsTime(ts []time.Time, t time.Time) bool {
	for _, x := range ts {
		if x.Equal(t) {
			return true
		}
	}
	return false
}
