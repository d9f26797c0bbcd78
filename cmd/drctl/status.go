package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/drctl/drctl/runs"
)

func newStatusCmd() *cobra.Command {
	var (
		c      conn
		follow bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use: "status RUN [--follow]",
		Example: `  drctl status loss-of-instance-production --follow
  drctl status 7f3e --json`,
		Short:             "show a run's steps, gates and timeline",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns(&c),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, id, err := c.openRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer cl.Close()
			args[0] = id
			if !follow || asJSON {
				st, _, err := cl.Status(cmd.Context(), args[0])
				if err != nil {
					return failed("%w", err)
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), st)
				}
				runs.PrintStatus(cmd.OutOrStdout(), st)
				runs.PrintTimeline(cmd.OutOrStdout(), st)
				return nil
			}
			return followRun(cmd.Context(), cmd.OutOrStdout(), cl, args[0])
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&follow, "follow", false, "keep drawing until the run ends")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// followRun shows a run until it ends. On a terminal it redraws the status
// in place, long steps with a bar, their rate and the time left; piped,
// it prints the status once and then a line for each new event of the
// timeline, for a log to keep.
func followRun(ctx context.Context, out io.Writer, cl *runs.Client, id string) error {
	f, isFile := out.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	type sample struct {
		bytes int64
		at    time.Time
	}
	seen, events, drawn := map[string]sample{}, 0, 0
	for first := true; ; first = false {
		st, done, err := cl.Status(ctx, id)
		if err != nil {
			return failed("%w", err)
		}
		var b strings.Builder
		switch {
		case tty:
			now := time.Now()
			for i, s := range st.Steps {
				p, ok := runs.ParseProgress(s.Progress)
				if !ok {
					continue
				}
				rate := 0.0
				if prev, ok := seen[s.ID]; ok && p.Bytes > prev.bytes {
					rate = float64(p.Bytes-prev.bytes) / now.Sub(prev.at).Seconds()
				}
				seen[s.ID] = sample{p.Bytes, now}
				st.Steps[i].Progress = p.Bar(rate)
			}
			runs.PrintStatus(&b, st)
			runs.PrintTimeline(&b, st)
			if drawn > 0 {
				fmt.Fprintf(out, "\x1b[%dF\x1b[J", drawn) // back to the first line drawn, and clear
			}
			drawn = strings.Count(b.String(), "\n")
		case first:
			runs.PrintStatus(&b, st)
			runs.PrintTimeline(&b, st)
			events = len(st.Timeline)
		default:
			for _, e := range st.Timeline[min(events, len(st.Timeline)):] {
				fmt.Fprintf(&b, "%s  %s  %s  %s  %s\n", e.At.Local().Format(time.TimeOnly), e.Step, e.Kind, e.By, runs.Truncate(e.Message, 100))
			}
			events = len(st.Timeline)
		}
		fmt.Fprint(out, b.String())
		if done {
			if !tty {
				fmt.Fprintf(out, "%s %s\n", id, st.State)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}
