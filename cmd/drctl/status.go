package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/workflows"
)

func newStatusCmd() *cobra.Command {
	var (
		c      conn
		follow bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:               "status RUN [--follow]",
		Short:             "show a run's steps, gates and timeline",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns(&c),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			if args[0], err = resolveRun(cmd.Context(), cl, c.namespace, args[0]); err != nil {
				return err
			}
			last := ""
			for {
				st, done, err := queryStatus(cmd.Context(), cl, args[0])
				if err != nil {
					return err
				}
				var b strings.Builder
				if asJSON {
					_ = printJSON(&b, st)
				} else {
					printStatus(&b, st)
					printTimeline(&b, st)
				}
				if b.String() != last {
					fmt.Fprint(cmd.OutOrStdout(), b.String())
					last = b.String()
				}
				if !follow || done {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&follow, "follow", false, "keep drawing until the run ends")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// queryStatus asks a run for its status; done is true once it has ended.
func queryStatus(ctx context.Context, cl client.Client, id string) (workflows.Status, bool, error) {
	var st workflows.Status
	v, err := cl.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return st, false, failed("run %s: %w", id, err)
	}
	if err := v.Get(&st); err != nil {
		return st, false, failed("run %s: reading its status: %v", id, err)
	}
	desc, err := cl.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return st, false, failed("run %s: %v", id, err)
	}
	done := desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	// Long steps heartbeat their progress; show the latest beside the step.
	for _, pa := range desc.PendingActivities {
		for i := range st.Steps {
			if st.Steps[i].ID != pa.ActivityId || st.Steps[i].State != workflows.StateRunning {
				continue
			}
			if p := pa.GetHeartbeatDetails().GetPayloads(); len(p) > 0 {
				var progress any
				if json.Unmarshal(p[len(p)-1].GetData(), &progress) == nil {
					b, _ := json.Marshal(progress)
					st.Steps[i].Progress = string(b)
				}
			}
			if pa.GetLastFailure() != nil {
				st.Steps[i].Error = fmt.Sprintf("retrying: attempt %d failed: %s", pa.GetAttempt()-1, pa.GetLastFailure().GetMessage())
			}
		}
	}
	return st, done, nil
}

func printStatus(w io.Writer, st workflows.Status) {
	fmt.Fprintf(w, "%s on %s — %s (plan %.12s, started by %s)\n", st.Runbook, st.Environment, st.State, st.PlanHash, st.Initiator)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range st.Steps {
		took := ""
		if !s.Started.IsZero() && !s.Ended.IsZero() {
			took = s.Ended.Sub(s.Started).Round(time.Millisecond).String()
		}
		note := s.Error
		if s.Progress != "" {
			note = s.Progress + " " + note
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", chat.StateMarks[s.State], s.ID, s.State, took, truncate(note, 80))
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

// printTimeline prints what happened in the run, in order.
func printTimeline(w io.Writer, st workflows.Status) {
	if len(st.Timeline) > 0 {
		fmt.Fprintln(w, "  timeline:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range st.Timeline {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.TimeOnly), e.Step, e.Kind, e.By, truncate(e.Message, 100))
		}
		tw.Flush()
	}
}
