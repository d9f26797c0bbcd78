package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/workflows"
)

// sendUpdate sends a validated update to a run and waits for its result;
// a refusal comes back as the validator's reason (plainReason tells it
// without Temporal's wrapping).
func sendUpdate(ctx context.Context, cl client.Client, id, name string, arg any, result any) error {
	h, err := cl.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(ctx, result)
}

// update is sendUpdate for a command: a refusal fails it with the reason.
func update(ctx context.Context, cl client.Client, id, name string, arg any, result any) error {
	if err := sendUpdate(ctx, cl, id, name, arg, result); err != nil {
		return failed("refused: %v", err)
	}
	return nil
}

func newVoteCmd(approve bool) *cobra.Command {
	var (
		c       conn
		as      string
		comment string
	)
	use, short := "approve RUN [GATE]", "approve the open (or named) approval gate of a run"
	if !approve {
		use, short = "reject RUN [GATE]", "reject the open (or named) approval gate of a run"
	}
	cmd := &cobra.Command{
		Use:   use + " --as USER [--comment TEXT]",
		Short: short,
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			vote := workflows.VoteInput{User: as, Approve: approve, Comment: comment}
			if len(args) == 2 {
				vote.Gate = args[1]
			}
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			var g workflows.GateStatus
			if err := update(cmd.Context(), cl, args[0], workflows.UpdateVote, vote, &g); err != nil {
				return err
			}
			n := 0
			for _, v := range g.Votes {
				if v.Approve {
					n++
				}
			}
			verb := "approved"
			if !approve {
				verb = "rejected"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s by %s (%d of %d approvals)\n", g.Step, verb, as, n, g.Quorum)
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().StringVar(&as, "as", whoami(), "who votes")
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the timeline")
	return cmd
}

func newActionCmd(action string) *cobra.Command {
	var (
		c      conn
		as     string
		reason string
		with   []string
	)
	cmd := &cobra.Command{
		Use:   action + " RUN STEP --as USER [--reason TEXT]",
		Short: action + " a paused step",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := parseWith(with)
			if err != nil {
				return err
			}
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			in := workflows.ActionInput{Step: args[1], Action: action, By: as, Reason: reason, With: w}
			var msg string
			if err := update(cmd.Context(), cl, args[0], workflows.UpdateAction, in, &msg); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().StringVar(&as, "as", whoami(), "who decides")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the timeline")
	if action == workflows.ActionRetry {
		cmd.Flags().StringArrayVar(&with, "with", nil, "change an input for the retry, as name=value (repeatable)")
	}
	return cmd
}

func newCancelCmd() *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: "cancel a run; its finally steps still run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.CancelWorkflow(cmd.Context(), args[0], ""); err != nil {
				return failed("cancelling %s: %v", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cancel requested for %s; its finally steps will run\n", args[0])
			return nil
		},
	}
	c.register(cmd)
	return cmd
}

func jsonOrString(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		return v
	}
	return s
}
