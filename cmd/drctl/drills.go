package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/workflows"
)

// drillPrefix starts the id of every drill's schedule.
const drillPrefix = "drill-"

// drillID accepts a drill's schedule id with or without its prefix.
func drillID(name string) string {
	if strings.HasPrefix(name, drillPrefix) {
		return name
	}
	return drillPrefix + name
}

// drillSummary is one drill as drctl drill list shows it.
type drillSummary struct {
	ID          string    `json:"id"`
	Cron        []string  `json:"cron"`
	Paused      bool      `json:"paused"`
	Note        string    `json:"note,omitempty"`
	Next        time.Time `json:"next,omitzero"`
	LastRun     string    `json:"last_run,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Overdue says a drill has not succeeded for longer than its schedule
	// allows: two of its periods.
	Overdue bool `json:"overdue"`
	// Envs are the environments the drill runs on and restores from.
	Envs []string `json:"envs"`
}

func newDrillListCmd() *cobra.Command {
	var (
		c      conn
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list the drills: schedule, state, next run, last success; OVERDUE when a drill has not passed for two of its periods",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cl, err := c.dial(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			drills, err := listDrills(ctx, cl, c.namespace, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), drills)
			}
			printDrills(cmd.OutOrStdout(), drills)
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the drills as JSON")
	return cmd
}

func listDrills(ctx context.Context, cl client.Client, namespace string, now time.Time) ([]drillSummary, error) {
	it, err := cl.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return nil, failed("listing drills: %v", err)
	}
	drills := []drillSummary{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, failed("listing drills: %v", err)
		}
		if !strings.HasPrefix(e.ID, drillPrefix) {
			continue
		}
		d := drillSummary{ID: e.ID, Paused: e.Paused, Note: e.Note, Cron: []string{}, Envs: []string{}}
		if desc, err := cl.ScheduleClient().GetHandle(ctx, e.ID).Describe(ctx); err == nil {
			if a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
				if p, ok := a.Memo["cron"].(*commonpb.Payload); ok {
					var cron string
					if converter.GetDefaultDataConverter().FromPayload(p, &cron) == nil {
						d.Cron = append(d.Cron, cron)
					}
				}
				d.Envs = drillEnvs(a.Args)
			}
		}
		if len(e.NextActionTimes) > 0 {
			d.Next = e.NextActionTimes[0]
		}
		if n := len(e.RecentActions); n > 0 && e.RecentActions[n-1].StartWorkflowResult != nil {
			d.LastRun = e.RecentActions[n-1].StartWorkflowResult.WorkflowID
		}
		passed, err := drillRuns(ctx, cl, namespace, e.ID, "ExecutionStatus = 'Completed'", 1)
		if err != nil {
			return nil, err
		}
		if len(passed) > 0 {
			d.LastSuccess = passed[0].GetCloseTime().AsTime()
		}
		var firstRun time.Time
		if len(e.RecentActions) > 0 {
			firstRun = e.RecentActions[0].ActualTime
		}
		d.Overdue = overdue(d.LastSuccess, firstRun, e.NextActionTimes, e.Paused, now)
		drills = append(drills, d)
	}
	return drills, nil
}

// overdue says whether a drill has gone two of its periods (the gap
// between its next two runs) without a success: since its last success,
// or, never having passed, since its first run. A paused drill is not
// expected to run.
func overdue(lastSuccess, firstRun time.Time, next []time.Time, paused bool, now time.Time) bool {
	if len(next) < 2 || paused {
		return false
	}
	since := lastSuccess
	if since.IsZero() {
		since = firstRun
	}
	return !since.IsZero() && now.Sub(since) > 2*next[1].Sub(next[0])
}

// drillEnvs are the environments a drill's plan names: the one it runs on
// and those its params name (the source it restores from).
func drillEnvs(args []any) []string {
	var in workflows.RunInput
	if len(args) != 1 {
		return []string{}
	}
	p, ok := args[0].(*commonpb.Payload)
	if !ok || converter.GetDefaultDataConverter().FromPayload(p, &in) != nil {
		return []string{}
	}
	envs := []string{in.Plan.Environment}
	for _, v := range in.Plan.Params {
		if name, ok := v.Value.(string); ok && v.Type == "environment" && !slices.Contains(envs, name) {
			envs = append(envs, name)
		}
	}
	return envs
}

func printDrills(w io.Writer, drills []drillSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DRILL\tSCHEDULE\tSTATE\tNEXT (UTC)\tLAST SUCCESS (UTC)")
	for _, d := range drills {
		state := "active"
		if d.Paused {
			state = "paused"
		}
		last := "never"
		if !d.LastSuccess.IsZero() {
			last = d.LastSuccess.UTC().Format(time.DateTime)
		}
		if d.Overdue {
			last += "  OVERDUE"
		}
		next := "—"
		if !d.Next.IsZero() && !d.Paused {
			next = d.Next.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, strings.Join(d.Cron, " "), state, next, last)
	}
	tw.Flush()
}

// newDrillStateCmd pauses, resumes, triggers or deletes a drill's schedule.
func newDrillStateCmd(verb, short string) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   verb + " DRILL",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.dial(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			id := drillID(args[0])
			h := cl.ScheduleClient().GetHandle(ctx, id)
			note := fmt.Sprintf("%s by %s", verb, whoami())
			switch verb {
			case "pause":
				err = h.Pause(ctx, client.SchedulePauseOptions{Note: note})
			case "resume":
				err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
			case "trigger":
				err = h.Trigger(ctx, client.ScheduleTriggerOptions{})
			case "delete":
				err = h.Delete(ctx)
			}
			if err != nil {
				return failed("%s %s: %v", verb, id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", id, note)
			return nil
		},
	}
	c.register(cmd)
	return cmd
}

func newDrillHistoryCmd() *cobra.Command {
	var (
		c      conn
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "history [DRILL]",
		Short: "each run of the drills (or of one), newest first: result, backup, RTO, RPO, rows",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.dial(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			id := ""
			if len(args) == 1 {
				id = drillID(args[0])
			}
			execs, err := drillRuns(ctx, cl, c.namespace, id, "", limit)
			if err != nil {
				return err
			}
			list := []runs.Summary{}
			for _, e := range execs {
				r := runs.Summary{Run: e.GetExecution().GetWorkflowId(), Started: e.GetStartTime().AsTime(),
					State: strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))}
				if st, _, err := cl.Status(ctx, r.Run); err == nil {
					r.Fill(st)
				}
				list = append(list, r)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "STARTED (UTC)\tRESULT\tRTO\tRPO\tROWS\tBACKUP\tRUN")
			for _, r := range list {
				rows := "—"
				if r.Rows != nil {
					rows = fmt.Sprint(r.Rows)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Started.UTC().Format(time.DateTime), r.State,
					dash(r.RTO), dash(r.RPO), rows, dash(r.Backup), r.Run)
			}
			return tw.Flush()
		},
	}
	c.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON")
	return cmd
}

// fill takes what a drill's run found from its status: the backup it
// restored, what verification counted and measured, how long it took.
func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// drillRuns lists the runs a drill's schedule (or any drill's) started,
// newest first, that also match where (a visibility query, or "").
func drillRuns(ctx context.Context, cl client.Client, namespace, id, where string, limit int) ([]*workflowpb.WorkflowExecutionInfo, error) {
	q := fmt.Sprintf("WorkflowType = '%s' and TemporalScheduledById is not null", workflows.WorkflowName)
	if id != "" {
		q = fmt.Sprintf("WorkflowType = '%s' and TemporalScheduledById = '%s'", workflows.WorkflowName, id)
	}
	if where != "" {
		q += " and " + where
	}
	resp, err := cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: int32(limit), Query: q})
	if err != nil {
		return nil, failed("listing the drills' runs: %v", err)
	}
	return resp.Executions, nil
}
