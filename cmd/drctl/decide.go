package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/workflows"
)

// update sends a command's update: a refusal fails it with the reason.
func update(ctx context.Context, cl *runs.Client, id, name string, arg any, result any) error {
	if err := cl.Update(ctx, id, name, arg, result); err != nil {
		return failed("refused: %v", err)
	}
	return nil
}

func newVoteCmd(g *globals, approve bool) *cobra.Command {
	var (
		c       conn
		as      string
		comment string
		key     string
	)
	use, short := "approve RUN [GATE]", "approve the open (or named) approval gate of a run"
	if !approve {
		use, short = "reject RUN [GATE]", "reject the open (or named) approval gate of a run"
	}
	cmd := &cobra.Command{
		Use: use + " --as USER [--comment TEXT]",
		Example: `  drctl approve loss-of-instance-production --as ana --comment "backup of 02:00 checked"
  drctl reject 7f3e --as ben --comment "wrong backup date"   # any unique start of a run id`,
		Short:             short,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeRuns(&c),
		RunE: func(cmd *cobra.Command, args []string) error {
			vote := workflows.VoteInput{User: as, Approve: approve, Comment: comment}
			if len(args) == 2 {
				vote.Gate = args[1]
			}
			cl, id, err := c.openRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer cl.Close()
			args[0] = id
			// What is signed names the gate, so the open one is looked up.
			if vote.Gate == "" {
				if vote.Gate, err = cl.OpenGate(cmd.Context(), args[0]); err != nil {
					return failed("%w", err)
				}
			}
			if vote.Signature, err = signDecision(g, key, workflows.VoteStatement(args[0], vote)); err != nil {
				return err
			}
			var gate workflows.GateStatus
			if err := update(cmd.Context(), cl, args[0], workflows.UpdateVote, vote, &gate); err != nil {
				return err
			}
			n := 0
			for _, v := range gate.Votes {
				if v.Approve {
					n++
				}
			}
			verb := "approved"
			if !approve {
				verb = "rejected"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s by %s (%d of %d approvals)\n", gate.Step, verb, as, n, gate.Quorum)
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().StringVar(&as, "as", whoami(), "who votes")
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the timeline")
	cmd.Flags().StringVar(&key, "key", "", "private SSH key file to sign the vote with (default: your key in ssh-agent)")
	return cmd
}

// openGate is the gate of run id that is open for votes.
func newActionCmd(g *globals, action string) *cobra.Command {
	var (
		c      conn
		as     string
		reason string
		with   []string
		key    string
	)
	cmd := &cobra.Command{
		Use: action + " RUN STEP --as USER [--reason TEXT]",
		Example: `  drctl retry nightly-restore-staging-2026 restore --as ana --with jobs=2
  drctl skip data-loss-pitr-production-2026 freeze --as ana --reason "pipeline already frozen by hand"
  drctl abort loss-of-instance-production-2026 restore --as ana --reason "wrong instance"`,
		Short: map[string]string{workflows.ActionRetry: "retry a paused step, optionally with changed inputs",
			workflows.ActionSkip:  "skip a paused step (needs --reason)",
			workflows.ActionAbort: "abort the run at a paused step: on_failure and finally run"}[action],
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeRuns(&c),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := parseWith(with)
			if err != nil {
				return err
			}
			cl, id, err := c.openRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer cl.Close()
			args[0] = id
			in := workflows.ActionInput{Step: args[1], Action: action, By: as, Reason: reason, With: w}
			in.Signature, err = signDecision(g, key, workflows.Statement{Run: args[0], Action: action, Target: args[1], User: as, Comment: reason, With: w})
			if err != nil {
				return err
			}
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
	cmd.Flags().StringVar(&key, "key", "", "private SSH key file to sign the action with (default: your key in ssh-agent)")
	if action == workflows.ActionRetry {
		cmd.Flags().StringArrayVar(&with, "with", nil, "change an input for the retry, as name=value (repeatable)")
	}
	return cmd
}

func newCancelCmd() *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:               "cancel RUN",
		Example:           `  drctl cancel nightly-restore-staging-20261207T021234Z-fe2d20`,
		Short:             "cancel a run; its finally steps still run",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns(&c),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, id, err := c.openRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer cl.Close()
			args[0] = id
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
