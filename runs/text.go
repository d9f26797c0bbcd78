package runs

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/workflows"
)

// PrintStatus prints a run's status as a terminal and a Slack reply show
// it: its steps, why it was refused, its open gates.
func PrintStatus(w io.Writer, st workflows.Status) {
	fmt.Fprintf(w, "%s on %s — %s (plan %.12s, started by %s)\n", st.Runbook, st.Environment, st.State, st.PlanHash, st.Initiator)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range st.Steps {
		took := ""
		if !s.Started.IsZero() && !s.Ended.IsZero() {
			took = s.Ended.Sub(s.Started).Round(time.Millisecond).String()
		}
		note := s.Error
		if s.Progress != "" {
			text := s.Progress // what a caller drew already
			if p, ok := ParseProgress(s.Progress); ok {
				text = p.String()
			}
			note = strings.TrimSpace(text + " " + note)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", chat.StateMarks[s.State], s.ID, s.State, took, Truncate(note, 80))
	}
	tw.Flush()
	// A refused run changed nothing; what refused it is all its reader
	// needs.
	if st.State == workflows.StateRefused {
		fmt.Fprintln(w, "  refused before its first step; nothing was changed:")
		for _, e := range st.Timeline {
			if e.Kind == "check failed" {
				fmt.Fprintf(w, "  ✗ %s: %s\n", cmp.Or(e.Step, "plan"), e.Message)
			}
		}
	}
	for _, g := range st.Gates {
		if !g.Open {
			continue
		}
		var votes []string
		for _, v := range g.Votes {
			votes = append(votes, v.User)
		}
		fmt.Fprintf(w, "  gate %s waits for %d of %s (votes: %s), until %s: %s\n", g.Step, g.Quorum,
			strings.Join(g.Users, ", "), strings.Join(votes, ", "), g.Deadline.Format(time.RFC3339), g.Prompt)
	}
}

// PrintTimeline prints what happened in the run, in order.
func PrintTimeline(w io.Writer, st workflows.Status) {
	if len(st.Timeline) > 0 {
		fmt.Fprintln(w, "  timeline:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range st.Timeline {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.TimeOnly), e.Step, e.Kind, e.By, Truncate(e.Message, 100))
		}
		tw.Flush()
	}
}

// Truncate cuts s to n characters, marking the cut, for a line of a
// terminal.
func Truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
