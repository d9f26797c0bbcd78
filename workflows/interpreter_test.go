package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// harness runs plans on the SDK's test environment with activities faked by
// their registered names; calls records which steps ran, in order.
type harness struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	mu    sync.Mutex
	calls []string
}

func newHarness(t *testing.T) *harness {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	h := &harness{t: t, env: s.NewTestWorkflowEnvironment()}
	h.env.RegisterWorkflowWithOptions(Runbook, workflow.RegisterOptions{Name: WorkflowName})
	// The worker's check of the plan passes here; worker and runbooks test
	// it with an environments file.
	h.env.RegisterActivityWithOptions(func(context.Context, Plan) error { return nil }, activity.RegisterOptions{Name: "plan.Verify"})
	h.env.RegisterActivityWithOptions(func(context.Context, CheckInputsInput) error { return nil }, activity.RegisterOptions{Name: "plan.CheckInputs"})
	return h
}

// on registers fn as the activity name; fn gets the resolved inputs.
func (h *harness) on(name string, fn func(ctx context.Context, in map[string]any) (map[string]any, error)) {
	h.env.RegisterActivityWithOptions(func(ctx context.Context, in map[string]any) (map[string]any, error) {
		h.mu.Lock()
		h.calls = append(h.calls, fmt.Sprint(in["id"]))
		h.mu.Unlock()
		return fn(ctx, in)
	}, activity.RegisterOptions{Name: name})
}

func (h *harness) run(p Plan, initiator string) (RunResult, Status) {
	h.t.Helper()
	p.Version = PlanVersion
	h.env.ExecuteWorkflow(Runbook, RunInput{Plan: p, Initiator: initiator})
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	res := runResult(h.t, h.env.GetWorkflowResult)
	v, err := h.env.QueryWorkflow(QueryStatus)
	if err != nil {
		h.t.Fatal(err)
	}
	var st Status
	if err := v.Get(&st); err != nil {
		h.t.Fatal(err)
	}
	return res, st
}

// update sends an update at workflow time `after` and records its outcome.
func (h *harness) update(after time.Duration, name string, arg any, outcome *error) {
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { *outcome = err },
			OnComplete: func(any, error) {},
		}, arg)
	}, after)
}

func op(id string, with map[string]any) Step {
	w := map[string]any{"id": id}
	for k, v := range with {
		w[k] = v
	}
	return Step{ID: id, Uses: "test.op", Activity: "test.Op", With: w, Timeout: Duration(time.Minute), Retry: Retry{Attempts: 1}, OnError: OnErrorAbort}
}

func echo(_ context.Context, in map[string]any) (map[string]any, error) { return in, nil }

func stateOf(st Status, id string) StepStatus {
	for _, s := range st.Steps {
		if s.ID == id {
			return s
		}
	}
	return StepStatus{}
}

func TestSequenceOutputsAndIf(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", echo)
	skipped := op("never", nil)
	skipped.If = "steps.first.outputs.n > 5"
	res, st := h.run(Plan{Steps: []Step{
		op("first", map[string]any{"n": 2}),
		op("second", map[string]any{"from_first": "${{ steps.first.outputs.n + 1 }}", "who": "${{ run.initiator }}"}),
		skipped,
	}}, "ana")
	if res.State != StateSucceeded {
		t.Fatalf("%+v", res)
	}
	if got := fmt.Sprint(h.calls); got != "[first second]" {
		t.Fatalf("ran %s", got)
	}
	out := stateOf(st, "second").Outputs
	if fmt.Sprint(out["from_first"]) != "3" || out["who"] != "ana" {
		t.Fatalf("outputs did not flow: %v", out)
	}
	if stateOf(st, "never").State != StateSkipped {
		t.Fatalf("never: %+v", stateOf(st, "never"))
	}
}

func TestParallelLimit(t *testing.T) {
	h := newHarness(t)
	var running, peak atomic.Int32
	h.on("test.Op", func(ctx context.Context, in map[string]any) (map[string]any, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		// Hold the slot until the limit is reached (or 5 s pass), so that
		// a broken limit shows as a peak above 2 and a serial run as 1.
		deadline := time.Now().Add(5 * time.Second)
		for peak.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return in, nil
	})
	var children []Step
	for i := range 5 {
		children = append(children, op(fmt.Sprintf("c%d", i), nil))
	}
	res, _ := h.run(Plan{Steps: []Step{{ID: "p", Parallel: &Parallel{Limit: 2, Steps: children}}, op("after", nil)}}, "ana")
	if res.State != StateSucceeded || peak.Load() != 2 {
		t.Fatalf("result %+v, peak concurrency %d, want 2", res, peak.Load())
	}
	if h.calls[len(h.calls)-1] != "after" {
		t.Fatalf("the step after the block ran before the block finished: %v", h.calls)
	}
}

func TestRetryThenSucceed(t *testing.T) {
	h := newHarness(t)
	var n atomic.Int32
	h.on("test.Op", func(_ context.Context, in map[string]any) (map[string]any, error) {
		if n.Add(1) < 3 {
			return nil, errors.New("transient")
		}
		return in, nil
	})
	s := op("flaky", nil)
	s.Retry = Retry{Attempts: 3, Backoff: Duration(time.Second), MaxBackoff: Duration(2 * time.Second)}
	res, _ := h.run(Plan{Steps: []Step{s}}, "ana")
	if res.State != StateSucceeded || n.Load() != 3 {
		t.Fatalf("%+v after %d calls", res, n.Load())
	}
}

func TestTimeoutFailsAndOnFailureAndFinallyRun(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", func(ctx context.Context, in map[string]any) (map[string]any, error) {
		if in["id"] == "slow" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return in, nil
	})
	slow := op("slow", nil)
	slow.Timeout = Duration(time.Second)
	res, st := h.run(Plan{Steps: []Step{slow, op("not_reached", nil)},
		OnFailure: []Step{op("alarm", map[string]any{"failed": "${{ steps.slow.outcome }}", "reached": "${{ steps.not_reached.outcome }}"})},
		Finally:   []Step{op("unfreeze", nil)}}, "ana")
	if res.State != StateFailed || res.Failed != "slow" || !strings.Contains(res.Error, "timeout") {
		t.Fatalf("%+v", res)
	}
	if got := fmt.Sprint(h.calls); got != "[slow alarm unfreeze]" {
		t.Fatalf("ran %s", got)
	}
	if out := stateOf(st, "alarm").Outputs; out["failed"] != StateFailed || out["reached"] != StateNotRun {
		t.Fatalf("on_failure did not see the outcomes: %v", out)
	}
	if got := stateOf(st, "not_reached").State; got != StateNotRun {
		t.Fatalf("the step after the failure is %s", got)
	}
}

// A run that succeeds leaves its on_failure steps not run, not pending as
// if it might still get to them.
func TestSucceededRunLeavesOnFailureNotRun(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", echo)
	res, st := h.run(Plan{Steps: []Step{op("work", nil)},
		OnFailure: []Step{op("alarm", nil)}, Finally: []Step{op("unfreeze", nil)}}, "ana")
	if res.State != StateSucceeded || fmt.Sprint(h.calls) != "[work unfreeze]" {
		t.Fatalf("%+v, ran %v", res, h.calls)
	}
	for id, want := range map[string]string{"work": StateSucceeded, "alarm": StateNotRun, "unfreeze": StateSucceeded} {
		if got := stateOf(st, id).State; got != want {
			t.Errorf("%s is %s, want %s", id, got, want)
		}
	}
}

func TestOnErrorContinueAndAbort(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", func(_ context.Context, in map[string]any) (map[string]any, error) {
		if strings.HasPrefix(fmt.Sprint(in["id"]), "bad") {
			return nil, temporal.NewNonRetryableApplicationError("boom", "Test", nil)
		}
		return in, nil
	})
	cont := op("bad_continue", nil)
	cont.OnError = OnErrorContinue
	res, st := h.run(Plan{Steps: []Step{cont, op("next", nil), op("bad_abort", nil), op("never", nil)}}, "ana")
	if res.State != StateFailed || res.Failed != "bad_continue" && res.Failed != "bad_abort" {
		t.Fatalf("%+v", res)
	}
	if got := fmt.Sprint(h.calls); got != "[bad_continue next bad_abort]" {
		t.Fatalf("ran %s", got)
	}
	if got := stateOf(st, "never").State; got != StateNotRun {
		t.Fatalf("a step after an aborting failure is %s, not %s", got, StateNotRun)
	}
}

// pauseCase fails a step under on_error: pause once, then sends action.
func pauseCase(t *testing.T, action ActionInput) (RunResult, Status, []string, *harness) {
	h := newHarness(t)
	var tries atomic.Int32
	h.on("test.Op", func(_ context.Context, in map[string]any) (map[string]any, error) {
		if in["id"] == "fragile" && tries.Add(1) == 1 {
			return nil, temporal.NewNonRetryableApplicationError("disk full", "Test", nil)
		}
		return in, nil
	})
	s := op("fragile", map[string]any{"size": 1})
	s.OnError = OnErrorPause
	var early, refused error
	// An action on a step that is not paused is refused.
	h.update(time.Millisecond, UpdateAction, ActionInput{Step: "after", Action: ActionRetry, By: "ops"}, &early)
	h.update(time.Minute, UpdateAction, action, &refused)
	res, st := h.run(Plan{Steps: []Step{s, op("after", nil)}}, "ana")
	if early == nil || !strings.Contains(early.Error(), "not paused") {
		t.Fatalf("action on a pending step: %v", early)
	}
	if refused != nil {
		t.Fatalf("action refused: %v", refused)
	}
	return res, st, h.calls, h
}

func TestPauseRetryWithNewInputs(t *testing.T) {
	res, st, calls, _ := pauseCase(t, ActionInput{Step: "fragile", Action: ActionRetry, By: "ops", With: map[string]any{"id": "fragile", "size": 2}})
	if res.State != StateSucceeded || fmt.Sprint(calls) != "[fragile fragile after]" {
		t.Fatalf("%+v %v", res, calls)
	}
	if fmt.Sprint(stateOf(st, "fragile").Outputs["size"]) != "2" {
		t.Fatalf("retry did not use the changed inputs: %v", stateOf(st, "fragile").Outputs)
	}
}

func TestPauseSkip(t *testing.T) {
	res, st, calls, _ := pauseCase(t, ActionInput{Step: "fragile", Action: ActionSkip, By: "ops", Reason: "done by hand"})
	if res.State != StateSucceeded || fmt.Sprint(calls) != "[fragile after]" || stateOf(st, "fragile").State != StateSkipped {
		t.Fatalf("%+v %v", res, calls)
	}
	if !hasEvent(st, "fragile", "skip", "ops") {
		t.Fatalf("skip not in the timeline: %+v", st.Timeline)
	}
}

func TestPauseAbort(t *testing.T) {
	res, _, calls, _ := pauseCase(t, ActionInput{Step: "fragile", Action: ActionAbort, By: "ops", Reason: "wrong backup"})
	if res.State != StateFailed || !strings.Contains(res.Error, "wrong backup") || fmt.Sprint(calls) != "[fragile]" {
		t.Fatalf("%+v %v", res, calls)
	}
}

func hasEvent(st Status, step, kind, by string) bool {
	for _, e := range st.Timeline {
		if e.Step == step && e.Kind == kind && e.By == by {
			return true
		}
	}
	return false
}

func gatePlan(quorum int, allowInitiator bool) Plan {
	return Plan{Steps: []Step{
		{ID: "gate", Approval: &Approval{Prompt: "restore?", Users: []string{"ana", "ben", "chen"}, Quorum: quorum,
			AllowInitiator: allowInitiator, Timeout: Duration(time.Hour)}},
		op("restore", nil),
	}, Finally: []Step{op("unfreeze", nil)}}
}

func TestApprovalQuorumAndRefusals(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", echo)
	var self, outsider, twice, first, second, late error
	h.update(time.Minute, UpdateVote, VoteInput{User: "ana", Approve: true}, &self)           // initiator
	h.update(2*time.Minute, UpdateVote, VoteInput{User: "mallory", Approve: true}, &outsider) // not listed
	h.update(3*time.Minute, UpdateVote, VoteInput{User: "ben", Approve: true, Comment: "ok"}, &first)
	h.update(4*time.Minute, UpdateVote, VoteInput{User: "ben", Approve: true}, &twice) // second vote
	h.update(5*time.Minute, UpdateVote, VoteInput{Gate: "gate", User: "chen", Approve: true}, &second)
	h.update(6*time.Minute, UpdateVote, VoteInput{Gate: "gate", User: "ana", Approve: true}, &late) // closed
	h.update(7*time.Minute, UpdateVote, VoteInput{Gate: "gate2", User: "ben", Approve: true}, new(error))
	p := gatePlan(2, false)
	// A second gate keeps the run open while the late vote arrives.
	p.Steps = append(p.Steps, Step{ID: "gate2", Approval: &Approval{Prompt: "drop?", Users: []string{"ben"}, Quorum: 1, Timeout: Duration(time.Hour)}})
	res, st := h.run(p, "ana")
	for name, err := range map[string]error{"self": self, "outsider": outsider, "twice": twice, "late": late} {
		if err == nil {
			t.Errorf("%s vote was accepted", name)
		}
	}
	if first != nil || second != nil {
		t.Fatalf("valid votes refused: %v %v", first, second)
	}
	for want, err := range map[string]error{"may not approve": self, "not an approver": outsider, "already voted": twice, "closed": late} {
		if err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if res.State != StateSucceeded || fmt.Sprint(h.calls) != "[restore unfreeze]" {
		t.Fatalf("%+v %v", res, h.calls)
	}
	if !hasEvent(st, "gate", "approved", "ben") || !hasEvent(st, "gate", "approved", "chen") || len(st.Gates) != 2 || len(st.Gates[0].Votes) != 2 {
		t.Fatalf("votes not recorded: %+v", st.Gates)
	}
}

func TestApprovalRejectAndExpiry(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", echo)
	var rejectErr error
	h.update(time.Minute, UpdateVote, VoteInput{User: "ben", Approve: false, Comment: "wrong date"}, &rejectErr)
	res, _ := h.run(gatePlan(2, false), "ana")
	if rejectErr != nil || res.State != StateFailed || !strings.Contains(res.Error, "rejected by ben: wrong date") {
		t.Fatalf("%v %+v", rejectErr, res)
	}
	if fmt.Sprint(h.calls) != "[unfreeze]" {
		t.Fatalf("ran %v", h.calls)
	}

	h = newHarness(t)
	h.on("test.Op", echo)
	res, st := h.run(gatePlan(1, true), "ana") // nobody votes
	if res.State != StateFailed || !strings.Contains(res.Error, "expired") || st.Gates[0].Outcome != "expired" {
		t.Fatalf("%+v", res)
	}
}

func TestFinallyRunsOnCancel(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", echo)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 10*time.Minute)
	p := gatePlan(2, false)
	p.Version = PlanVersion
	h.env.ExecuteWorkflow(Runbook, RunInput{Plan: p, Initiator: "ana"})
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("not completed")
	}
	if res := runResult(t, h.env.GetWorkflowResult); res.State != StateCancelled {
		t.Fatalf("%+v", res)
	}
	if fmt.Sprint(h.calls) != "[unfreeze]" {
		t.Fatalf("finally did not run on cancel: %v", h.calls)
	}
}

// runResult reads how a run ended, whether it returned normally or ended in
// Temporal's failed or cancelled state with its RunResult as details.
func runResult(t *testing.T, get func(any) error) RunResult {
	t.Helper()
	var res RunResult
	err := get(&res)
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case err == nil:
	case errors.As(err, &appErr) && appErr.Type() == "RunFailed":
		if derr := appErr.Details(&res); derr != nil {
			t.Fatalf("failure details: %v", derr)
		}
	case errors.As(err, &canceled):
		if derr := canceled.Details(&res); derr != nil {
			t.Fatalf("cancel details: %v", derr)
		}
	default:
		t.Fatalf("workflow error: %v", err)
	}
	return res
}

// An output that an expression blows up fails the step that reads it, and
// the run ends with on_failure and finally as for any other failure.
func TestExpressionOverBudgetFailsItsStep(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", echo)
	cleanup := op("cleanup", nil)
	res, st := h.run(Plan{
		Steps: []Step{
			op("first", map[string]any{"s": "abababab"}),
			op("bomb", map[string]any{"big": "${{ repeat(repeat(steps.first.outputs.s, 100000), 100000) }}"}),
			op("never", nil),
		},
		Finally: []Step{cleanup},
	}, "ana")
	if res.State != StateFailed || res.Failed != "bomb" || !strings.Contains(res.Error, "memory budget") {
		t.Fatalf("%+v", res)
	}
	if got := fmt.Sprint(h.calls); got != "[first cleanup]" {
		t.Fatalf("ran %s", got)
	}
	if got := stateOf(st, "never").State; got != StateNotRun {
		t.Fatalf("never: %s", got)
	}
}

// run.id is the run's id; a wait's duration is read as the compiler reads
// it ("2d"), also when it comes from an earlier step at run time.
func TestRunIDAndWaitDurations(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", echo)
	wait := func(id string, d any) Step {
		return Step{ID: id, Uses: "wait", Activity: "wait", With: map[string]any{"duration": d}, Retry: Retry{Attempts: 1}, Timer: true}
	}
	res, st := h.run(Plan{Steps: []Step{
		op("first", map[string]any{"reason": "(run ${{ run.id }})", "hours": "36h"}),
		wait("days", "2d"),
		wait("templated", "${{ steps.first.outputs.hours }}"),
	}}, "ana")
	if res.State != StateSucceeded {
		t.Fatalf("%+v", res)
	}
	if got := stateOf(st, "first").Outputs["reason"]; got != "(run default-test-workflow-id)" {
		t.Errorf("run.id reads as %q", got)
	}
	if got := stateOf(st, "days").Outputs["waited"]; got != "48h0m0s" {
		t.Errorf("2d waited %v", got)
	}
	if got := stateOf(st, "templated").Outputs["waited"]; got != "36h0m0s" {
		t.Errorf("a templated wait waited %v", got)
	}
}

// Every check whose inputs are known runs before the first step; any
// failure refuses the run with all of them listed, and no step, not even
// finally, runs. A step whose inputs come from an earlier step is checked
// just before it runs.
func TestPreflightRefusesBeforeAnyStep(t *testing.T) {
	checked := func(bad ...string) func(context.Context, map[string]any) (map[string]any, error) {
		return func(_ context.Context, in map[string]any) (map[string]any, error) {
			for _, b := range bad {
				if in["id"] == b {
					return nil, temporal.NewNonRetryableApplicationError(b+" cannot succeed", "Test", nil)
				}
			}
			return map[string]any{"checked": fmt.Sprint(in["id"], " ok")}, nil
		}
	}
	withCheck := func(s Step) Step { s.Check, s.Preflight = "test.Check", true; return s }
	plan := func() Plan {
		return Plan{
			Steps: []Step{
				op("freeze", nil),
				withCheck(op("set_aside", nil)),
				{ID: "both", Parallel: &Parallel{Steps: []Step{withCheck(op("recover", nil)), op("other", nil)}}},
				withCheck(op("later", map[string]any{"from": "${{ steps.freeze.outputs.id }}"})),
			},
			Finally: []Step{op("unfreeze", nil)},
		}
	}

	h := newHarness(t)
	h.on("test.Op", echo)
	h.on("test.Check", checked("set_aside", "recover"))
	res, st := h.run(plan(), "ana")
	if res.State != StateRefused || !strings.Contains(res.Error, "set_aside cannot succeed") || !strings.Contains(res.Error, "recover cannot succeed") {
		t.Fatalf("%+v", res)
	}
	// Only the checks ran: no step, and no clean-up of what was never done.
	if got := fmt.Sprint(h.calls); got != "[set_aside recover]" && got != "[recover set_aside]" {
		t.Fatalf("ran %s", got)
	}
	if stateOf(st, "freeze").State != StateNotRun || stateOf(st, "unfreeze").State != StateNotRun {
		t.Fatalf("steps after a refusal: %+v", st.Steps)
	}

	// All pass: the run goes on, and "later", whose input came from
	// "freeze", is checked just before it runs.
	h = newHarness(t)
	h.on("test.Op", echo)
	h.on("test.Check", checked())
	res, _ = h.run(plan(), "ana")
	if res.State != StateSucceeded {
		t.Fatalf("%+v", res)
	}
	// recover and other run side by side, in either order.
	if got := strings.Replace(fmt.Sprint(h.calls), "other recover", "recover other", 1); !strings.HasSuffix(got, "freeze set_aside recover other later later unfreeze]") {
		t.Fatalf("ran %s", got)
	}

	// A check that fails for a step checked at run time fails that step.
	h = newHarness(t)
	h.on("test.Op", echo)
	h.on("test.Check", checked("later"))
	res, _ = h.run(plan(), "ana")
	if res.State != StateFailed || res.Failed != "later" || !strings.Contains(res.Error, "refused before it changed anything") {
		t.Fatalf("%+v", res)
	}

	// Check only: the checks, and nothing else.
	h = newHarness(t)
	h.on("test.Op", echo)
	h.on("test.Check", checked())
	p := plan()
	p.Version = PlanVersion
	h.env.ExecuteWorkflow(Runbook, RunInput{Plan: p, Initiator: "ana", CheckOnly: true})
	if res := runResult(t, h.env.GetWorkflowResult); res.State != StateChecked {
		t.Fatalf("check only: %+v", res)
	}
	if got := fmt.Sprint(h.calls); got != "[set_aside recover]" && got != "[recover set_aside]" {
		t.Fatalf("check only ran %s", got)
	}
}

// A pause is loud: the environment's alarm hears of it; one nobody answers
// within the pause timeout fails the step, so on_failure runs, and the
// failure raises the alarm again.
func TestUnansweredPauseFailsAndAlarms(t *testing.T) {
	h := newHarness(t)
	h.on("test.Op", func(_ context.Context, in map[string]any) (map[string]any, error) {
		if in["id"] == "fragile" {
			return nil, temporal.NewNonRetryableApplicationError("database register is empty", "Test", nil)
		}
		return in, nil
	})
	var mu sync.Mutex
	var alarms []string
	h.env.RegisterActivityWithOptions(func(_ context.Context, in map[string]any) (map[string]any, error) {
		mu.Lock()
		alarms = append(alarms, fmt.Sprint(in["kind"], ": ", in["message"]))
		mu.Unlock()
		return map[string]any{"sent": []string{"pager"}}, nil
	}, activity.RegisterOptions{Name: "ops.Alarm"})
	s := op("fragile", nil)
	s.OnError = OnErrorPause
	res, st := h.run(Plan{Runbook: "nightly-backup", Environment: "production", PauseTimeout: Duration(time.Hour), Alarm: true,
		Steps: []Step{s, op("after", nil)}, OnFailure: []Step{op("page", nil)}}, "schedule")
	if res.State != StateFailed || res.Failed != "fragile" || !strings.Contains(res.Error, "paused for 1h0m0s and nobody answered") {
		t.Fatalf("%+v", res)
	}
	if got := fmt.Sprint(h.calls); got != "[fragile page]" {
		t.Fatalf("ran %s", got)
	}
	if len(alarms) != 2 || !strings.HasPrefix(alarms[0], "paused: nightly-backup on production: step fragile") ||
		!strings.HasPrefix(alarms[1], "failed: nightly-backup on production failed") {
		t.Fatalf("alarms: %q", alarms)
	}
	if stateOf(st, "after").State != StateNotRun {
		t.Fatalf("after: %+v", stateOf(st, "after"))
	}
}
