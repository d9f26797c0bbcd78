package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report holds the report.write activity; the worker registers it with
// the prefix "report.".
type Report struct {
	// Dir is where reports go when a step names no dir.
	Dir string
}

// Write writes the run's evidence so far: what ran, how long each step
// took, who approved what and when, and the measured RTO and RPO against
// the runbook's targets, as Markdown and JSON (and HTML when asked).
func (r *Report) Write(ctx context.Context, in WriteInput) (WriteOutput, error) {
	dir := in.Dir
	if dir == "" {
		dir = r.Dir
	}
	return Files(dir, in.Title, in.Run.ID, in.Status, in.Formats, time.Now())
}

// Formats are the report formats this version writes, by name, with the
// file each is written to.
var Formats = map[string]string{"markdown": "report.md", "json": "report.json", "html": "report.html"}

// FormatNames lists the formats, for an error that names them.
func FormatNames() string { return strings.Join(slices.Sorted(maps.Keys(Formats)), ", ") }

// Files writes the report of run id, whose status is s, into its own
// folder under dir (.drctl/reports when empty), in the given formats
// (Markdown and JSON when none), measured as of now. Each file appears
// complete or not at all, so a report rewritten after the run ended
// replaces the one written during it.
func Files(dir, title, id string, s RunStatus, formats []string, now time.Time) (WriteOutput, error) {
	if dir == "" {
		dir = filepath.Join(".drctl", "reports")
	}
	if len(formats) == 0 {
		formats = []string{"markdown", "json"}
	}
	for _, f := range formats {
		if Formats[f] == "" {
			return WriteOutput{}, fmt.Errorf("report format %q is not written by this version (it writes %s)", f, FormatNames())
		}
	}
	dir = filepath.Join(dir, safeName(id))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return WriteOutput{}, err
	}
	m := measure(s, now)
	v := newView(title, id, s, m)
	out := WriteOutput{Files: []string{}, RTO: m.RTO, RPO: m.RPO}
	for _, f := range formats {
		var body []byte
		switch f {
		case "markdown":
			body = []byte(v.markdown())
		case "json":
			body, _ = json.MarshalIndent(map[string]any{"title": v.Title, "id": id, "run": s, "measured": m}, "", "  ")
		case "html":
			var b bytes.Buffer
			if err := v.html(&b); err != nil {
				return out, err
			}
			body = b.Bytes()
		}
		path := filepath.Join(dir, Formats[f])
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, body, 0o640); err != nil {
			return out, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return out, err
		}
		out.Files = append(out.Files, path)
	}
	return out, nil
}

func safeName(s string) string {
	if s == "" {
		return "run"
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, s)
}

// Measure is the run's RTO and RPO as its report states them.
func Measure(s RunStatus, now time.Time) (rto, rpo string) {
	m := measure(s, now)
	return m.RTO, m.RPO
}

// measurements are the recovery objectives as this run met them.
type measurements struct {
	Started time.Time `json:"started"`
	RTO     string    `json:"rto"`
	RPO     string    `json:"rpo,omitempty"`
	RTOMet  *bool     `json:"rto_met,omitempty"`
	RPOMet  *bool     `json:"rpo_met,omitempty"`
}

// measure takes the RTO as the run's start to the end of its last passed
// postgres.verify step: recovered means verified. A run with no such step
// is measured to its end, or to now while it runs (report.write comes
// near the end), and says so; a run whose verification failed has not
// recovered, which misses any target. The RPO is the newest verified
// event's distance from the moment the data was lost.
func measure(s RunStatus, now time.Time) measurements {
	var m measurements
	for _, e := range s.Timeline {
		if m.Started.IsZero() || e.At.Before(m.Started) {
			m.Started = e.At
		}
	}
	var verified time.Time
	verifyFailed := false
	for _, st := range s.Steps {
		if st.Uses != "postgres.verify" {
			continue
		}
		switch st.State {
		case "succeeded":
			if st.Ended.After(verified) {
				verified = st.Ended
			}
		case "failed":
			verifyFailed = true
		}
	}
	if !m.Started.IsZero() {
		var rto time.Duration
		recovered := true
		switch {
		case !verified.IsZero():
			rto = verified.Sub(m.Started)
			m.RTO = readable(rto)
		case verifyFailed:
			recovered = false
			m.RTO = "not recovered: verification failed"
		case s.ended():
			rto = s.lastEvent().Sub(m.Started)
			m.RTO = readable(rto) + " to the end of the run (no verification)"
		default:
			rto = now.Sub(m.Started)
			m.RTO = readable(rto) + " to this report (no verification)"
		}
		if d, err := time.ParseDuration(s.Targets.RTO); err == nil && d > 0 {
			ok := recovered && rto <= d
			m.RTOMet = &ok
		}
	}
	// RPO is the data lost: from the newest restored event to the moment
	// the data was lost, or to the run's start, when the loss was acted on.
	// The event's age at verification would count the recovery's own time
	// too.
	lost := m.Started
	if s.Targets.LostAt != nil {
		lost = *s.Targets.LostAt
	}
	for _, st := range s.Steps {
		if st.Uses != "postgres.verify" || st.State != "succeeded" {
			continue
		}
		rpo, _ := st.Outputs["rpo"].(string)
		got, err := time.ParseDuration(rpo)
		if newest, ok := st.Outputs["newest_event"].(string); ok && !lost.IsZero() {
			if t, perr := time.Parse(time.RFC3339Nano, newest); perr == nil && !t.IsZero() {
				got, err = max(lost.Sub(t), 0), nil
				rpo = readable(got)
			}
		}
		if rpo == "" {
			continue
		}
		m.RPO = rpo
		if d, perr := time.ParseDuration(s.Targets.RPO); err == nil && perr == nil && d > 0 {
			ok := got <= d
			m.RPOMet = &ok
		}
	}
	return m
}

// readable rounds a duration to what a reader can use: hundredths of a
// second under a minute, seconds above.
func readable(d time.Duration) string {
	if d < time.Minute {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
