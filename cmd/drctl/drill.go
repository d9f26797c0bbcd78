package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/workflows"
)

// newDrillCmd schedules a runbook as a drill: a Temporal Schedule that runs
// the compiled plan on a target environment, e.g. every night, never two
// at once. Running it again replaces the schedule with the new plan.
func newDrillCmd(g *globals) *cobra.Command {
	var (
		f            planFlags
		c            conn
		cron         string
		now          bool
		pauseTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use: "drill FILE --env NAME --cron SPEC [--param name=value]... [--now]",
		Example: `  drctl drill runbooks/library/nightly-restore.yaml --env staging --cron "30 3 * * *"
  drctl drill list
  drctl drill history --json`,
		Short: "schedule a runbook as a recurring drill on a target environment (a Temporal Schedule)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := f.compile(g, args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if plan.Role != runbooks.RoleTarget {
				return failed("drills run on target environments; %s is a %s", plan.Environment, plan.Role)
			}
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			id := fmt.Sprintf("drill-%s-%s", plan.Runbook, plan.Environment)
			// No one watches a scheduled run: a pause nobody answers fails
			// it, so its alarms fire.
			in := workflows.RunInput{Plan: *plan, Initiator: "schedule:" + id, PauseTimeout: workflows.Duration(pauseTimeout)}
			opts := client.ScheduleOptions{
				ID:                 id,
				Spec:               client.ScheduleSpec{CronExpressions: []string{cron}},
				Overlap:            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
				TriggerImmediately: now,
				Note:               "plan sha256:" + plan.Hash,
				// The cron as written: the server keeps the spec in another
				// form, which drctl drill list would otherwise show.
				Action: &client.ScheduleWorkflowAction{ID: fmt.Sprintf("%s-%s-drill", plan.Runbook, plan.Environment),
					Workflow: workflows.WorkflowName, Args: []any{in}, TaskQueue: c.queue, Memo: map[string]any{"cron": cron},
					TypedSearchAttributes: workflows.SearchAttributes(in)},
			}
			sched := cl.ScheduleClient()
			verb := "created"
			_, err = sched.Create(cmd.Context(), opts)
			if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
				// The drill exists: it gets the new plan and times, and
				// keeps its state (paused stays paused) and its history.
				verb = "updated"
				err = sched.GetHandle(cmd.Context(), id).Update(cmd.Context(), client.ScheduleUpdateOptions{
					DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
						s := in.Description.Schedule
						s.Action, s.Spec = opts.Action, &opts.Spec
						if s.Policy == nil {
							s.Policy = &client.SchedulePolicies{}
						}
						s.Policy.Overlap = opts.Overlap
						return &client.ScheduleUpdate{Schedule: &s}, nil
					},
				})
				if err == nil && now {
					err = sched.GetHandle(cmd.Context(), id).Trigger(cmd.Context(), client.ScheduleTriggerOptions{})
				}
			}
			if err != nil {
				return failed("scheduling %s: %v", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schedule %s %s: %s on %s at %q (plan %.12s)\n", id, verb, plan.Runbook, plan.Environment, cron, plan.Hash)
			return nil
		},
	}
	f.register(cmd)
	c.register(cmd)
	cmd.Flags().StringVar(&cron, "cron", "0 3 * * *", "when to run, as a cron expression (UTC)")
	cmd.Flags().BoolVar(&now, "now", false, "also run once right away")
	cmd.Flags().DurationVar(&pauseTimeout, "pause-timeout", time.Hour, "a step paused this long without an operator's answer fails the drill")
	cmd.AddCommand(newDrillListCmd(), newDrillHistoryCmd(),
		newDrillStateCmd("pause", "pause a drill's schedule (its runs stop until resumed)"),
		newDrillStateCmd("resume", "resume a paused drill's schedule"),
		newDrillStateCmd("trigger", "run a drill now, besides its schedule"),
		newDrillStateCmd("delete", "delete a drill's schedule (its past runs stay)"))
	return cmd
}
