package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// view is a report laid out once, for every format that shows it to
// people: Markdown for the incident's record, HTML for those who read it
// in a browser.
type view struct {
	Title    string
	Facts    []fact
	Steps    []stepRow
	Gates    []gateRow
	Tables   []table
	Timeline []eventRow
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

type voteRow struct{ User, Verb, At, Comment string }

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
		fact{Label: "RPO", Value: fmt.Sprintf("%s (target %s)", orDash(m.RPO), orDash(s.Targets.RPO)), Met: m.RPOMet})
	for _, st := range s.Steps {
		took := ""
		if !st.Started.IsZero() && !st.Ended.IsZero() {
			took = st.Ended.Sub(st.Started).Round(time.Millisecond).String()
		}
		v.Steps = append(v.Steps, stepRow{ID: st.ID, Uses: orDash(st.Uses), State: st.State, Took: took, Attempts: st.Attempts, Note: st.Error})
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
				cells[i] = fmt.Sprint(row[c])
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
			gr.Votes = append(gr.Votes, voteRow{User: vote.User, Verb: verb, At: vote.At.UTC().Format(time.RFC3339), Comment: vote.Comment})
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
	fmt.Fprintf(&b, "# %s\n\n| | |\n|---|---|\n", v.Title)
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
				fmt.Fprintf(&b, "  - %s %s at %s: %s\n", vote.User, vote.Verb, vote.At, cell(vote.Comment))
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
