package report

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
// the runbook's targets, as Markdown and JSON.
func (r *Report) Write(ctx context.Context, in WriteInput) (WriteOutput, error) {
	dir := in.Dir
	if dir == "" {
		dir = r.Dir
	}
	if dir == "" {
		dir = filepath.Join(".drctl", "reports")
	}
	dir = filepath.Join(dir, safeName(in.Run.ID))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return WriteOutput{}, err
	}
	m := measure(in.Status, time.Now())
	formats := in.Formats
	if len(formats) == 0 {
		formats = []string{"markdown", "json"}
	}
	out := WriteOutput{Files: []string{}, RTO: m.RTO, RPO: m.RPO}
	for _, f := range formats {
		var name string
		var body []byte
		switch f {
		case "markdown":
			name, body = "report.md", []byte(markdown(in, m))
		case "json":
			name = "report.json"
			body, _ = json.MarshalIndent(map[string]any{"title": in.Title, "run": in.Status, "measured": m}, "", "  ")
		default:
			return out, fmt.Errorf("report format %q is not written by this version", f)
		}
		path := filepath.Join(dir, name)
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
// yet is measured to now (the report is written near the end) and says
// so; a run whose verification failed has not recovered, which misses any
// target. The RPO is the newest verified event's age.
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
		default:
			rto = now.Sub(m.Started)
			m.RTO = readable(rto) + " to this report (no verification)"
		}
		if d, err := time.ParseDuration(s.Targets.RTO); err == nil && d > 0 {
			ok := recovered && rto <= d
			m.RTOMet = &ok
		}
	}
	for _, st := range s.Steps {
		if rpo, ok := st.Outputs["rpo"].(string); ok && st.State == "succeeded" {
			m.RPO = rpo
			if got, err := time.ParseDuration(rpo); err == nil {
				if d, err := time.ParseDuration(s.Targets.RPO); err == nil && d > 0 {
					ok := got <= d
					m.RPOMet = &ok
				}
			}
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

func markdown(in WriteInput, m measurements) string {
	s := in.Status
	var b strings.Builder
	title := in.Title
	if title == "" {
		title = fmt.Sprintf("%s on %s", s.Runbook, s.Environment)
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "| | |\n|---|---|\n| runbook | %s |\n| environment | %s |\n| run | %s |\n| started by | %s |\n", s.Runbook, s.Environment, in.Run.ID, s.Initiator)
	if s.Incident != "" {
		fmt.Fprintf(&b, "| incident | %s |\n", s.Incident)
	}
	fmt.Fprintf(&b, "| plan | sha256:%s |\n| started | %s |\n", s.PlanHash, m.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "| RTO | %s (target %s)%s |\n", m.RTO, orDash(s.Targets.RTO), verdict(m.RTOMet))
	fmt.Fprintf(&b, "| RPO | %s (target %s)%s |\n\n", orDash(m.RPO), orDash(s.Targets.RPO), verdict(m.RPOMet))
	b.WriteString("## Steps\n\n| step | type | state | took | attempts | note |\n|---|---|---|---|---|---|\n")
	for _, st := range s.Steps {
		took := ""
		if !st.Started.IsZero() && !st.Ended.IsZero() {
			took = st.Ended.Sub(st.Started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s |\n", st.ID, orDash(st.Uses), st.State, took, st.Attempts, cell(st.Error))
	}
	if len(s.Gates) > 0 {
		b.WriteString("\n## Approvals\n\n")
		for _, g := range s.Gates {
			fmt.Fprintf(&b, "- **%s** (%d of %s): %s — %s\n", g.Step, g.Quorum, strings.Join(g.Users, ", "), cell(g.Prompt), orDash(g.Outcome))
			for _, v := range g.Votes {
				verb := "approved"
				if !v.Approve {
					verb = "rejected"
				}
				fmt.Fprintf(&b, "  - %s %s at %s: %s\n", v.User, verb, v.At.UTC().Format(time.RFC3339), cell(v.Comment))
			}
		}
	}
	for _, st := range s.Steps {
		rows, ok := st.Outputs["rows"].([]any)
		cols, _ := st.Outputs["columns"].([]any)
		if !ok || len(cols) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n|", st.ID)
		for _, c := range cols {
			fmt.Fprintf(&b, " %v |", c)
		}
		b.WriteString("\n|" + strings.Repeat("---|", len(cols)) + "\n")
		for _, r := range rows {
			row, _ := r.(map[string]any)
			b.WriteString("|")
			for _, c := range cols {
				fmt.Fprintf(&b, " %s |", cell(fmt.Sprint(row[fmt.Sprint(c)])))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n## Timeline\n\n")
	for _, e := range s.Timeline {
		by := ""
		if e.By != "" {
			by = " by " + e.By
		}
		fmt.Fprintf(&b, "- %s %s %s%s: %s\n", e.At.UTC().Format("15:04:05"), orDash(e.Step), e.Kind, by, cell(e.Message))
	}
	return b.String()
}

func verdict(met *bool) string {
	switch {
	case met == nil:
		return ""
	case *met:
		return " ✓ met"
	}
	return " ✗ MISSED"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}
