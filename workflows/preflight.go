package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// preflight runs, side by side, the check of every step that the compiler
// found no earlier step can invalidate and whose inputs are known before
// the run starts (no run-time expression in them, no condition): a PITR
// target inside the archive, a database to rename there, a backup to
// restore. It returns every failure, one line each; nothing has been
// changed when it returns.
func (r *runner) preflight(ctx workflow.Context) []string {
	// First the plan itself, against the worker's environments file:
	// whoever started the run may have compiled it anywhere.
	if workflow.GetVersion(ctx, "verify-plan", workflow.DefaultVersion, 1) >= 1 {
		opts := workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: time.Second}}
		// The worker that checks the plan names its host's queue: the
		// run's steps go there, all on one host.
		// Runs from before pinning ignore the host a newer worker names.
		var host string
		pin := workflow.GetVersion(ctx, "pin-host", workflow.DefaultVersion, 1) >= 1
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, r.on(opts, "plan check")), "plan.Verify", r.in.Plan).Get(ctx, &host); err != nil {
			r.event(ctx, "", "check failed", "", reason(err))
			return []string{reason(err)}
		}
		if pin && host != "" && r.queue != "" {
			r.host = host
			r.event(ctx, "", "pinned", "", "steps run on host "+host[strings.LastIndex(host, "@")+1:])
		}
	}
	// Whoever starts a run on a source environment whose decisions are
	// signed proves it is them, as approvers do: the plan's keys, checked
	// above against the worker's own file, say whose key is whose.
	p := r.in.Plan
	if workflow.GetVersion(ctx, "signed-start", workflow.DefaultVersion, 1) >= 1 && p.Signed && p.Role == "source" && !r.in.CheckOnly {
		signer, err := r.proven(ctx, r.in.Signature, Statement{Action: DecideStart, Target: p.Hash, User: r.in.Initiator})
		if err != nil {
			msg := "the run's start is not proven: " + err.Error()
			r.event(ctx, "", "check failed", "", msg)
			return []string{msg}
		}
		r.signedEvent(ctx, "", "initiator", r.in.Initiator, "started this plan", signer, r.in.Signature)
	}
	var todo []Step
	var collect func([]Step)
	collect = func(steps []Step) {
		for _, s := range steps {
			switch {
			case s.Parallel != nil && s.If == "":
				collect(s.Parallel.Steps)
			case s.Preflight && s.If == "" && !HasTemplate(s.With):
				todo = append(todo, s)
			}
		}
	}
	collect(r.in.Plan.Steps)
	if len(todo) == 0 {
		return nil
	}
	futures := make([]workflow.Future, len(todo))
	for i, s := range todo {
		with, err := r.inputs(ctx, s, nil)
		if err != nil {
			f, set := workflow.NewFuture(ctx)
			set.SetError(err)
			futures[i] = f
			continue
		}
		futures[i] = r.check(ctx, s, with)
	}
	var problems []string
	for i, s := range todo {
		var out struct {
			Checked string `json:"checked"`
		}
		if err := futures[i].Get(ctx, &out); err != nil {
			msg := fmt.Sprintf("%s (%s, %s): %s", s.ID, s.Uses, s.Pos, reason(err))
			problems = append(problems, msg)
			r.event(ctx, s.ID, "check failed", "", reason(err))
			continue
		}
		r.checked[s.ID] = true
		r.event(ctx, s.ID, "checked", "", out.Checked)
	}
	return problems
}

// check starts a step's check activity with the step's inputs.
func (r *runner) check(ctx workflow.Context, s Step, with map[string]any) workflow.Future {
	opts := workflow.ActivityOptions{
		ActivityID:          s.ID + ".check",
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 2, InitialInterval: time.Second},
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, r.onHost(opts, s.ID+" · "+s.Uses+" · check")), s.Check, with)
}

// refuse ends a run after its checks, before its first step: refused with
// every problem, or, for a check-only run that found none, checked.
func (r *runner) refuse(ctx workflow.Context, problems []string) (RunResult, error) {
	p := r.in.Plan
	r.markNotRun(p.Steps)
	r.markNotRun(p.OnFailure)
	r.markNotRun(p.Finally)
	if len(problems) == 0 {
		r.status.State = StateChecked
		r.event(ctx, "", "ended", "", StateChecked)
		return RunResult{State: StateChecked}, nil
	}
	msg := "refused before any step, nothing changed:\n" + strings.Join(problems, "\n")
	r.status.State = StateRefused
	r.event(ctx, "", StateRefused, "", msg)
	r.board(ctx, fmt.Sprintf(":no_entry: %s on %s %s", p.Runbook, p.Environment, msg))
	r.alarm(ctx, StateRefused, "", fmt.Sprintf("%s on %s %s", p.Runbook, p.Environment, msg))
	result := RunResult{State: StateRefused, Error: msg}
	return result, temporal.NewNonRetryableApplicationError(msg, "RunFailed", nil, result)
}
