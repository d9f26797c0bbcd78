package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

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
		Use:   "drill FILE --env NAME --cron SPEC [--param name=value]... [--now]",
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
				Action: &client.ScheduleWorkflowAction{ID: fmt.Sprintf("%s-%s-drill", plan.Runbook, plan.Environment),
					Workflow: workflows.WorkflowName, Args: []any{in}, TaskQueue: c.queue,
					TypedSearchAttributes: workflows.SearchAttributes(in)},
			}
			sched := cl.ScheduleClient()
			_, err = sched.Create(cmd.Context(), opts)
			if err != nil && strings.Contains(strings.ToLower(err.Error()), "already") {
				// Replace the drill's schedule with the newly compiled plan.
				if derr := sched.GetHandle(cmd.Context(), id).Delete(cmd.Context()); derr != nil {
					return failed("replacing schedule %s: %v", id, derr)
				}
				_, err = sched.Create(cmd.Context(), opts)
			}
			if err != nil {
				return failed("scheduling %s: %v", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schedule %s: %s on %s at %q (plan %.12s)\n", id, plan.Runbook, plan.Environment, cron, plan.Hash)
			return nil
		},
	}
	f.register(cmd)
	c.register(cmd)
	cmd.Flags().StringVar(&cron, "cron", "0 3 * * *", "when to run, as a cron expression (UTC)")
	cmd.Flags().BoolVar(&now, "now", false, "also run once right away")
	cmd.Flags().DurationVar(&pauseTimeout, "pause-timeout", time.Hour, "a step paused this long without an operator's answer fails the drill")
	return cmd
}
