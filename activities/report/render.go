package report

import (
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/drctl/drctl/workflows"
)

// view is a report laid out once, for every format that shows it to
// people: Markdown for the incident's record, HTML for those who read it
// in a browser.
type view struct {
	Title string
	// Chart draws where the time went, one bar a step, as inline SVG.
	Chart chart
	// Banner is the run's outcome in one line, first thing a reader sees.
	Banner, BannerClass string
	Facts               []fact
	Steps               []stepRow
	Gates               []gateRow
	Tables              []table
	Timeline            []eventRow
}

type fact struct {
	Label, Value string
	// Met is the verdict on an objective: nil where there is no target.
	Met *bool
}

type stepRow struct {
	ID, Uses, State, Took string
	Attempts              int
	Note                  string
}

type gateRow struct {
	Step, Users, Prompt, Outcome string
	Quorum                       int
	Votes                        []voteRow
}

type voteRow struct{ User, Verb, At, Comment, How string }

// table is a step's rows output (postgres.latest_events), in the order of
// its columns.
type table struct {
	Step    string
	Columns []string
	Rows    [][]string
}

type eventRow struct{ At, Step, Kind, By, Message string }

func newView(title, id string, s RunStatus, m measurements) view {
	if title == "" {
		title = fmt.Sprintf("%s on %s", s.Runbook, s.Environment)
	}
	v := view{Title: title, Facts: []fact{
		{Label: "runbook", Value: s.Runbook},
		{Label: "environment", Value: s.Environment},
		{Label: "run", Value: id},
		{Label: "started by", Value: s.Initiator},
	}}
	if s.Incident != "" {
		v.Facts = append(v.Facts, fact{Label: "incident", Value: s.Incident})
	}
	v.Facts = append(v.Facts,
		fact{Label: "plan", Value: "sha256:" + s.PlanHash},
		fact{Label: "started", Value: m.Started.UTC().Format(time.RFC3339)})
	if s.ended() {
		v.Facts = append(v.Facts, fact{Label: "ended", Value: s.State + " at " + s.lastEvent().UTC().Format(time.RFC3339)})
	}
	v.Facts = append(v.Facts,
		fact{Label: "RTO", Value: fmt.Sprintf("%s (target %s)", m.RTO, orDash(s.Targets.RTO)), Met: m.RTOMet},
		fact{Label: "RPO", Value: fmt.Sprintf("%s (target %s)", orDash(m.RPO), orDash(s.Targets.RPO)), Met: m.RPOMet},
		fact{Label: "RPO is", Value: rpoDefinition(s)})
	v.Banner, v.BannerClass = banner(s)
	v.Chart = newChart(s, m.Started)
	written := false
	for _, st := range s.Steps {
		took := ""
		if !st.Started.IsZero() && !st.Ended.IsZero() {
			took = st.Ended.Sub(st.Started).Round(time.Millisecond).String()
		}
		state := st.State
		switch {
		case st.Uses == "report.write" && st.State == "running":
			// The report a run writes of itself says what it is.
			state, written = "written (this report)", true
		case written && st.State == "pending":
			state = "after this report"
		}
		v.Steps = append(v.Steps, stepRow{ID: st.ID, Uses: orDash(st.Uses), State: state, Took: took, Attempts: st.Attempts, Note: st.Error})
		if st.Uses == "backup.latest" && st.Outputs["key"] != nil {
			v.Facts = append(v.Facts, backupFacts(st.Outputs)...)
		}
		if checks, ok := st.Outputs["checks"].([]any); ok && st.Uses == "postgres.verify" {
			t := table{Step: "what " + st.ID + " checked", Columns: []string{"check", "expected", "actual", "pass"}}
			for _, c := range checks {
				m, _ := c.(map[string]any)
				pass := "✗ FAILED"
				if ok, _ := m["ok"].(bool); ok {
					pass = "✓"
				}
				t.Rows = append(t.Rows, []string{workflows.Text(m["name"]), workflows.Text(m["expected"]), workflows.Text(m["actual"]), pass})
			}
			v.Tables = append(v.Tables, t)
		}
		rows, ok := st.Outputs["rows"].([]any)
		cols, _ := st.Outputs["columns"].([]any)
		if !ok || len(cols) == 0 {
			continue
		}
		t := table{Step: st.ID}
		for _, c := range cols {
			t.Columns = append(t.Columns, fmt.Sprint(c))
		}
		for _, r := range rows {
			row, _ := r.(map[string]any)
			cells := make([]string, len(t.Columns))
			for i, c := range t.Columns {
				cells[i] = workflows.Text(row[c])
			}
			t.Rows = append(t.Rows, cells)
		}
		v.Tables = append(v.Tables, t)
	}
	for _, g := range s.Gates {
		gr := gateRow{Step: g.Step, Users: strings.Join(g.Users, ", "), Prompt: g.Prompt, Outcome: orDash(g.Outcome), Quorum: g.Quorum}
		for _, vote := range g.Votes {
			verb := "approved"
			if !vote.Approve {
				verb = "rejected"
			}
			how := "unsigned"
			if vote.Signature != nil {
				how = "signed " + vote.Signer + " via " + cmp.Or(vote.Signature.Via, "cli")
			}
			gr.Votes = append(gr.Votes, voteRow{User: vote.User, Verb: verb, At: vote.At.UTC().Format(time.RFC3339), Comment: vote.Comment, How: how})
		}
		v.Gates = append(v.Gates, gr)
	}
	for _, e := range s.Timeline {
		v.Timeline = append(v.Timeline, eventRow{At: e.At.UTC().Format("15:04:05"), Step: orDash(e.Step), Kind: e.Kind, By: e.By, Message: e.Message})
	}
	return v
}

func (v view) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n**%s**\n\n| | |\n|---|---|\n", v.Title, cell(v.Banner))
	for _, f := range v.Facts {
		fmt.Fprintf(&b, "| %s | %s%s |\n", f.Label, cell(f.Value), verdict(f.Met))
	}
	b.WriteString("\n## Steps\n\n| step | type | state | took | attempts | note |\n|---|---|---|---|---|---|\n")
	for _, st := range v.Steps {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s |\n", st.ID, st.Uses, st.State, st.Took, st.Attempts, cell(st.Note))
	}
	if len(v.Gates) > 0 {
		b.WriteString("\n## Approvals\n\n")
		for _, g := range v.Gates {
			fmt.Fprintf(&b, "- **%s** (%d of %s): %s — %s\n", g.Step, g.Quorum, g.Users, cell(g.Prompt), g.Outcome)
			for _, vote := range g.Votes {
				fmt.Fprintf(&b, "  - %s %s at %s (%s): %s\n", vote.User, vote.Verb, vote.At, vote.How, cell(vote.Comment))
			}
		}
	}
	for _, t := range v.Tables {
		fmt.Fprintf(&b, "\n## %s\n\n|", t.Step)
		for _, c := range t.Columns {
			fmt.Fprintf(&b, " %s |", cell(c))
		}
		b.WriteString("\n|" + strings.Repeat("---|", len(t.Columns)) + "\n")
		for _, r := range t.Rows {
			b.WriteString("|")
			for _, c := range r {
				fmt.Fprintf(&b, " %s |", cell(c))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n## Timeline\n\n")
	for _, e := range v.Timeline {
		by := ""
		if e.By != "" {
			by = " by " + e.By
		}
		fmt.Fprintf(&b, "- %s %s %s%s: %s\n", e.At, e.Step, e.Kind, by, cell(e.Message))
	}
	return b.String()
}

//go:embed report.html.tmpl
var templates embed.FS

// page is the HTML report: one self-contained file, with every value
// escaped by html/template (step errors and event rows are data, not
// markup).
var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{"verdict": verdict, "verdictClass": verdictClass}).ParseFS(templates, "report.html.tmpl"))

func (v view) html(w io.Writer) error { return page.Execute(w, v) }

func verdict(met *bool) string {
	switch {
	case met == nil:
		return ""
	case *met:
		return " ✓ met"
	}
	return " ✗ MISSED"
}

func verdictClass(met *bool) string {
	if met != nil && *met {
		return "met"
	}
	return "missed"
}

// chart is the run's timeline as bars: each step from its start to its
// end, on one scale, so a reader sees where the time went.
type chart struct {
	Width, Height int
	Bars          []bar
	Total         string
}

type bar struct {
	Label, Took, Class string
	X, Y, W            int
	TextX              int
}

const (
	chartLabel = 160 // room for step ids
	chartWidth = 560 // the bars' scale
	chartRow   = 22
)

func newChart(s RunStatus, start time.Time) chart {
	var end time.Time
	for _, st := range s.Steps {
		if st.Ended.After(end) {
			end = st.Ended
		}
	}
	span := end.Sub(start)
	c := chart{Width: chartLabel + chartWidth + 80}
	if start.IsZero() || span <= 0 {
		return c
	}
	c.Total = readable(span)
	for _, st := range s.Steps {
		if st.Started.IsZero() || st.Ended.IsZero() {
			continue
		}
		x := chartLabel + int(float64(chartWidth)*float64(st.Started.Sub(start))/float64(span))
		w := max(int(float64(chartWidth)*float64(st.Ended.Sub(st.Started))/float64(span)), 2)
		b := bar{Label: st.ID, Took: readable(st.Ended.Sub(st.Started)), Class: st.State, X: x, Y: len(c.Bars) * chartRow, W: w, TextX: x + w + 4}
		c.Bars = append(c.Bars, b)
	}
	c.Height = len(c.Bars)*chartRow + 4
	return c
}

// banner is the run's outcome: SUCCEEDED, FAILED at a step and why,
// REFUSED before any step and why, or how far a running one got.
func banner(s RunStatus) (string, string) {
	firstFailed := func() (string, string) {
		for _, st := range s.Steps {
			if st.State == "failed" {
				return st.ID, st.Error
			}
		}
		return "", ""
	}
	switch s.State {
	case "succeeded":
		return "SUCCEEDED", "met"
	case "failed":
		id, why := firstFailed()
		return fmt.Sprintf("FAILED at step %s: %s", id, why), "missed"
	case "refused":
		var why []string
		for _, e := range s.Timeline {
			if e.Kind == "check failed" {
				why = append(why, e.Step+": "+e.Message)
			}
		}
		return "REFUSED before any step, nothing changed: " + strings.Join(why, "; "), "missed"
	case "cancelled":
		return "CANCELLED", "missed"
	}
	if id, why := firstFailed(); id != "" {
		return fmt.Sprintf("RUNNING, step %s failed: %s", id, why), "missed"
	}
	return "RUNNING, every step so far succeeded", "met"
}

// backupFacts names the backup a run restored, from backup.latest's
// output: what an auditor asks first.
func backupFacts(out map[string]any) []fact {
	facts := []fact{{Label: "backup", Value: workflows.Text(out["key"])}}
	if size, ok := out["size"].(float64); ok {
		facts = append(facts, fact{Label: "backup size", Value: humanize.IBytes(uint64(size))})
	}
	for _, k := range []string{"sha256", "stopped_at"} {
		if out[k] != nil {
			facts = append(facts, fact{Label: "backup " + strings.ReplaceAll(k, "_", " "), Value: workflows.Text(out[k])})
		}
	}
	if src, ok := out["source"].(map[string]any); ok {
		facts = append(facts, fact{Label: "backup of", Value: fmt.Sprintf("instance %s at %s, database OID %s, Postgres %s",
			workflows.Text(src["system_id"]), workflows.Text(src["server"]), workflows.Text(src["database_oid"]), workflows.Text(src["version"]))})
	}
	return facts
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// cell makes s one Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

// rpoDefinition says what the RPO measures in this report.
func rpoDefinition(s RunStatus) string {
	if s.Targets.LostAt != nil {
		return "the data lost: from the newest restored event to " + s.Targets.LostAt.UTC().Format("2006-01-02 15:04:05.000 UTC") + ", when it was lost (targets.lost_at)"
	}
	return "the data lost: from the newest restored event to the run's start"
}
