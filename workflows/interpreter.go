package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// interpreterVersion marks behaviour changes of the interpreter for
// workflow.GetVersion; bump it, and branch on it, when a change would make
// an old history replay differently.
const interpreterVersion = 1

// errAborted ends a run at an operator's request or a rejected gate.
var errAborted = errors.New("aborted")

// inputsRefused is the error type of a retry whose changed inputs the
// step's types do not take.
const inputsRefused = "ChangedInputsRefused"

// runner holds one run's state; the query and update handlers read and
// change it between the interpreter's steps (the SDK runs them on the same
// cooperative thread, so no locking is needed).
type runner struct {
	in     RunInput
	id     string // the run's id, as expressions read run.id
	status Status
	steps  map[string]*StepStatus
	gates  map[string]*GateStatus
	// actions holds operator decisions for paused steps, by step id.
	actions map[string]ActionInput
	started time.Time
	// thread is the run's chat thread, opened by its first post (the
	// board, when the environment keeps one).
	thread string
	// boardWarned keeps a Slack outage to one warning in the timeline.
	boardWarned bool
	// checked holds the steps whose check has passed.
	checked map[string]bool
	// nonces are those of the signed decisions taken: each counts once.
	nonces map[string]bool
	// queue is the task queue of the run's environment, so only the
	// workers that serve that environment run its activities ("": the
	// run's own queue, as runs started before environments had queues).
	// host is the queue of the one host the run's steps are pinned to,
	// once the first worker to check the plan named it.
	queue, host string
}

// EnvQueue is the task queue of an environment's steps, beside queue, the
// interpreter's.
func EnvQueue(queue, env string) string { return queue + "/" + env }

// HostQueue is the task queue of an environment's steps on one host: a
// run's steps all go to the host whose worker checked its plan, where the
// instances a local provider made, and the files a step left, are.
func HostQueue(queue, env, host string) string { return EnvQueue(queue, env) + "@" + host }

// hostWait is how long a step pinned to a host waits for a worker there
// to take it before it fails, loudly, naming the host.
const hostWait = 10 * time.Minute

// on is opts on the environment's queue (any of its workers: chat posts,
// alarms, the plan's check) with, for the Web UI and the temporal CLI, a
// summary that says which step the activity is of.
func (r *runner) on(opts workflow.ActivityOptions, summary string) workflow.ActivityOptions {
	opts.TaskQueue = r.queue
	if r.queue != "" {
		opts.Summary = summary
	}
	return opts
}

// onHost is on, on the run's host once it has one: the steps and their
// checks.
func (r *runner) onHost(opts workflow.ActivityOptions, summary string) workflow.ActivityOptions {
	opts = r.on(opts, summary)
	if r.host != "" {
		opts.TaskQueue, opts.ScheduleToStartTimeout = r.host, hostWait
	}
	return opts
}

// hostGone says why a step pinned to a host never started.
func (r *runner) hostGone(err error) error {
	var timeout *temporal.TimeoutError
	if r.host == "" || !errors.As(err, &timeout) || timeout.TimeoutType() != enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
		return err
	}
	host := r.host[strings.LastIndex(r.host, "@")+1:]
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("no worker on host %s took the step within %s: this run's steps run on the host that checked its plan; start its worker there again (drctl worker --env %s --host %s), then retry the step",
		host, hostWait, r.in.Plan.Environment, host), "HostGone", err)
}

// Runbook is the interpreter: it runs any compiled plan, then its on_failure
// steps if it failed, then its finally steps whatever happened, including
// cancellation.
func Runbook(ctx workflow.Context, in RunInput) (RunResult, error) {
	workflow.GetVersion(ctx, "interpreter", workflow.DefaultVersion, interpreterVersion)
	if in.Plan.Version < oldestPlanVersion || in.Plan.Version > PlanVersion {
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("plan format version %d; this worker runs versions %d to %d", in.Plan.Version, oldestPlanVersion, PlanVersion), "PlanVersion", nil)
	}
	if in.Plan.Version == 1 {
		in.Plan = upgradeV1(in.Plan)
	}
	r := &runner{in: in, steps: map[string]*StepStatus{}, gates: map[string]*GateStatus{}, actions: map[string]ActionInput{},
		started: workflow.Now(ctx), id: workflow.GetInfo(ctx).WorkflowExecution.ID, checked: map[string]bool{},
		nonces: map[string]bool{}}
	p := in.Plan
	if workflow.GetVersion(ctx, "env-queues", workflow.DefaultVersion, 1) >= 1 {
		r.queue = EnvQueue(workflow.GetInfo(ctx).TaskQueueName, p.Environment)
	}
	r.status = Status{Runbook: p.Runbook, Environment: p.Environment, PlanHash: p.Hash, Initiator: in.Initiator,
		Incident: in.Incident, State: StateRunning, Targets: p.Targets}
	for _, block := range [][]Step{p.Steps, p.OnFailure, p.Finally} {
		r.declare(block)
	}
	if err := r.register(ctx); err != nil {
		return RunResult{}, err
	}
	r.event(ctx, "", "started", in.Initiator, fmt.Sprintf("%s on %s (plan %s)", p.Runbook, p.Environment, short(p.Hash)))
	r.board(ctx, "")

	if workflow.GetVersion(ctx, "preflight", workflow.DefaultVersion, 1) >= 1 {
		problems := r.preflight(ctx)
		if len(problems) > 0 || in.CheckOnly {
			return r.refuse(ctx, problems)
		}
	}
	err := r.block(ctx, p.Steps)
	result := RunResult{State: StateSucceeded}
	cleanup := ctx
	if err != nil {
		r.notRun(ctx, p.Steps)
		result = RunResult{State: StateFailed, Error: err.Error(), Failed: r.failedStep()}
		if temporal.IsCanceledError(err) || ctx.Err() != nil {
			result.State = StateCancelled
			// Clean-up must run although the run was cancelled.
			cleanup, _ = workflow.NewDisconnectedContext(ctx)
		}
		r.event(cleanup, result.Failed, result.State, "", err.Error())
		if ferr := r.block(cleanup, p.OnFailure); ferr != nil {
			r.event(cleanup, "", "on_failure failed", "", ferr.Error())
		}
	}
	r.notRun(cleanup, p.OnFailure)
	if ferr := r.block(cleanup, p.Finally); ferr != nil {
		r.event(cleanup, "", "finally failed", "", ferr.Error())
		if err == nil {
			result = RunResult{State: StateFailed, Error: ferr.Error(), Failed: r.failedStep()}
		}
	}
	r.notRun(cleanup, p.Finally)
	r.status.State = result.State
	r.event(cleanup, "", "ended", "", result.State)
	r.measureRun(cleanup, result.State)
	r.board(cleanup, "")
	if result.State != StateSucceeded {
		r.board(cleanup, fmt.Sprintf(":x: %s %s: %s", p.Runbook, result.State, result.Error))
	}
	if result.State == StateFailed && workflow.GetVersion(cleanup, "loud-pause", workflow.DefaultVersion, 1) >= 1 {
		r.alarm(cleanup, StateFailed, result.Failed, fmt.Sprintf("%s on %s failed: %s", p.Runbook, p.Environment, result.Error))
	}
	// End in the matching Temporal state, so the Web UI and `drctl list`
	// show a failed or cancelled run as such; the RunResult rides along.
	switch result.State {
	case StateCancelled:
		return result, temporal.NewCanceledError(result)
	case StateFailed:
		return result, temporal.NewNonRetryableApplicationError(result.Error, "RunFailed", nil, result)
	}
	return result, nil
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

func (r *runner) declare(steps []Step) {
	for _, s := range steps {
		st := &StepStatus{ID: s.ID, Uses: s.Uses, State: StatePending, Pos: s.Pos}
		r.steps[s.ID] = st
		r.status.Steps = append(r.status.Steps, *st)
		if s.Parallel != nil {
			r.declare(s.Parallel.Steps)
		}
	}
}

// notRun marks the steps still pending, at any depth, as never to run.
// A history that passed this point before it existed replays without it:
// a later step's condition may read these outcomes, and must decide as it
// did then.
func (r *runner) notRun(ctx workflow.Context, steps []Step) {
	if workflow.GetVersion(ctx, "not-run", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	r.markNotRun(steps)
}

func (r *runner) markNotRun(steps []Step) {
	for _, s := range steps {
		if st := r.steps[s.ID]; st.State == StatePending {
			st.State = StateNotRun
		}
		if s.Parallel != nil {
			r.markNotRun(s.Parallel.Steps)
		}
	}
}

func (r *runner) failedStep() string {
	for _, s := range r.status.Steps {
		if st := r.steps[s.ID]; st.State == StateFailed {
			return st.ID
		}
	}
	return ""
}

func (r *runner) event(ctx workflow.Context, step, kind, by, msg string) {
	r.status.Timeline = append(r.status.Timeline, Event{At: workflow.Now(ctx), Step: step, Kind: kind, By: by, Message: msg})
}

// signedEvent is an event of a decision, with its signature; the message
// says whether it was signed, and by which key.
func (r *runner) signedEvent(ctx workflow.Context, step, kind, by, msg, signer string, sig *Signature) {
	how := "unsigned"
	if sig != nil {
		how = "signed " + signer + " via " + sig.Via
	}
	r.status.Timeline = append(r.status.Timeline, Event{At: workflow.Now(ctx), Step: step, Kind: kind, By: by,
		Message: strings.TrimSpace(msg + " [" + how + "]"), Signature: sig})
}

// snapshot is the status as the query returns it.
func (r *runner) snapshot() Status {
	s := r.status
	s.Thread = r.thread
	s.Steps = make([]StepStatus, len(r.status.Steps))
	for i, st := range r.status.Steps {
		s.Steps[i] = *r.steps[st.ID]
	}
	s.Gates = nil
	for _, st := range r.status.Steps {
		if g, ok := r.gates[st.ID]; ok {
			s.Gates = append(s.Gates, *g)
		}
	}
	return s
}

// vars is what expressions read at this point of the run.
func (r *runner) vars() map[string]any {
	params := map[string]any{}
	for _, p := range r.in.Plan.Params {
		params[p.Name] = p.Value
	}
	steps := map[string]any{}
	for _, s := range r.status.Steps {
		st := r.steps[s.ID]
		outcome := ""
		if st.State == StateSucceeded || st.State == StateFailed || st.State == StateSkipped || st.State == StateNotRun {
			outcome = st.State
		}
		steps[st.ID] = map[string]any{"outputs": st.Outputs, "outcome": outcome}
	}
	run := map[string]any{"id": r.id, "initiator": r.in.Initiator, "incident": r.in.Incident,
		"started_at": r.started.UTC().Format(time.RFC3339)}
	return map[string]any{"params": params, "env": r.in.Plan.Env, "steps": steps, "run": run}
}

// block runs steps in order; the first error that is not continued past
// ends it.
func (r *runner) block(ctx workflow.Context, steps []Step) error {
	for _, s := range steps {
		if err := r.step(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) step(ctx workflow.Context, s Step) error {
	err := r.runStep(ctx, s)
	if s.Parallel == nil {
		r.board(ctx, "")
	}
	return err
}

func (r *runner) runStep(ctx workflow.Context, s Step) error {
	st := r.steps[s.ID]
	if s.If != "" {
		v, err := EvalExpr(s.If, r.vars()) //workflowcheck:ignore see ExprOptions
		if err != nil {
			return r.fail(ctx, st, s, fmt.Errorf("%s: if %s: %w", s.Pos, s.If, err))
		}
		if ok, _ := v.(bool); !ok {
			st.State = StateSkipped
			r.event(ctx, s.ID, "skipped", "", "condition is false: "+s.If)
			return nil
		}
	}
	switch {
	case s.Parallel != nil:
		return r.parallel(ctx, s)
	case s.Approval != nil:
		return r.gate(ctx, s)
	case s.Timer:
		return r.timer(ctx, s)
	}
	// changed are the inputs operators changed, kept across retries;
	// before is what they were until the last retry's, which are dropped
	// again when refused.
	var changed, before map[string]any
	for {
		err := r.activity(ctx, s, changed)
		if err == nil {
			return nil
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == inputsRefused {
			changed = before
		}
		if ctx.Err() != nil {
			return r.fail(ctx, st, s, err)
		}
		switch s.OnError {
		case OnErrorContinue:
			r.fail(ctx, st, s, err)
			r.event(ctx, s.ID, "continued", "", "on_error: continue")
			return nil
		case OnErrorPause:
			st.State, st.Error = StatePaused, reason(err)
			r.event(ctx, s.ID, "paused", "", st.Error)
			r.board(ctx, fmt.Sprintf(":double_vertical_bar: step %s failed and waits for an operator (retry, skip or abort): %s", s.ID, st.Error))
			loud := workflow.GetVersion(ctx, "loud-pause", workflow.DefaultVersion, 1) >= 1
			timeout := time.Duration(0)
			if loud {
				// A pause is never silent: the worker's log and the
				// environment's alarm hear of it, and one nobody answers
				// in time fails the step, so on_failure fires.
				workflow.GetLogger(ctx).Warn("step paused", "run", r.id, "step", s.ID, "error", st.Error)
				r.alarm(ctx, StatePaused, s.ID, fmt.Sprintf("%s on %s: step %s (%s) failed and waits for an operator: %s",
					r.in.Plan.Runbook, r.in.Plan.Environment, s.ID, s.Pos, st.Error))
				timeout = r.pauseTimeout()
			}
			act, answered, werr := r.awaitAction(ctx, s.ID, timeout)
			if werr != nil {
				return r.fail(ctx, st, s, err)
			}
			if !answered {
				return r.fail(ctx, st, s, fmt.Errorf("paused for %s and nobody answered: %s", timeout, st.Error))
			}
			// The run's thread hears who decided what, with any changed
			// inputs, as the timeline and the report do.
			if workflow.GetVersion(ctx, "announce-action", workflow.DefaultVersion, 1) >= 1 {
				r.board(ctx, actionNote(act))
			}
			switch act.Action {
			case ActionRetry:
				// Changed inputs replace only the keys given; they are
				// data, never evaluated as templates.
				if len(act.With) > 0 {
					merged := make(map[string]any, len(changed)+len(act.With))
					for _, k := range workflow.DeterministicKeys(changed) {
						merged[k] = changed[k]
					}
					for _, k := range workflow.DeterministicKeys(act.With) {
						merged[k] = act.With[k]
					}
					before, changed = changed, merged
				}
				continue
			case ActionSkip:
				st.State = StateSkipped
				return nil
			}
			r.fail(ctx, st, s, err)
			return fmt.Errorf("%w by %s: %s", errAborted, act.By, act.Reason)
		}
		return r.fail(ctx, st, s, err)
	}
}

// actionNote is an operator's action as the run's Slack thread shows it.
func actionNote(a ActionInput) string {
	note := fmt.Sprintf(":wrench: %s decided to %s step %s", a.By, a.Action, a.Step)
	if len(a.With) > 0 {
		b, _ := json.Marshal(a.With) //workflowcheck:ignore JSON of a value: sorted keys, no clock, no I/O
		note += " with " + string(b)
	}
	if a.Reason != "" {
		note += ": " + a.Reason
	}
	if a.Signature == nil {
		return note + " (unsigned)"
	}
	return note + " (signed, via " + a.Signature.Via + ")"
}

func (r *runner) fail(ctx workflow.Context, st *StepStatus, s Step, err error) error {
	msg := reason(err)
	st.State, st.Error, st.Ended = StateFailed, msg, workflow.Now(ctx)
	r.event(ctx, s.ID, "failed", "", msg)
	r.measureStep(ctx, s, st)
	return &stepError{msg: fmt.Sprintf("step %s (%s): %s", s.ID, s.Pos, msg), err: err}
}

// stepError keeps the cause for errors.As while its message says only what
// an operator needs: which step, where it is written, and why.
type stepError struct {
	msg string
	err error
}

func (e *stepError) Error() string { return e.msg }
func (e *stepError) Unwrap() error { return e.err }

// reason is the part of an activity's error worth showing: the activity's
// own message, without the SDK's wrapping (event ids, worker identity).
func reason(err error) string {
	var step *stepError
	if errors.As(err, &step) {
		return step.msg
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + timeout.TimeoutType().String() + "): " + timeout.Message()
	}
	return err.Error()
}

// awaitAction waits for an operator's retry, skip or abort of a paused
// step, for at most timeout (0: for ever); answered is false when nobody
// answered in time.
func (r *runner) awaitAction(ctx workflow.Context, id string, timeout time.Duration) (act ActionInput, answered bool, err error) {
	delete(r.actions, id)
	given := func() bool { _, ok := r.actions[id]; return ok }
	if timeout > 0 {
		if answered, err = workflow.AwaitWithTimeout(ctx, timeout, given); err != nil || !answered {
			return ActionInput{}, false, err
		}
	} else if err := workflow.Await(ctx, given); err != nil {
		return ActionInput{}, false, err
	}
	act = r.actions[id]
	delete(r.actions, id)
	return act, true, nil
}

// pauseTimeout is how long a paused step waits: the run's own (a drill's
// schedule gives one), else the environment's policy.
func (r *runner) pauseTimeout() time.Duration {
	if r.in.PauseTimeout > 0 {
		return time.Duration(r.in.PauseTimeout)
	}
	return time.Duration(r.in.Plan.PauseTimeout)
}

// alarm raises the environment's alarm, where it has one; trouble raising
// it is a warning in the timeline, never the run's failure.
func (r *runner) alarm(ctx workflow.Context, kind, step, msg string) {
	if !r.in.Plan.Alarm {
		return
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: 5 * time.Second},
	}
	in := map[string]any{"kind": kind, "step": step, "message": msg, "run": r.runContext(ctx)}
	var out struct {
		Sent []string `json:"sent"`
	}
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, r.on(opts, "alarm")), "ops.Alarm", in).Get(ctx, &out); err != nil {
		r.event(ctx, step, "warning", "", "the alarm could not be raised: "+reason(err))
		return
	}
	r.event(ctx, step, "alarm", "", fmt.Sprintf("%s raised (%s)", kind, strings.Join(out.Sent, ", ")))
}

// activity runs a step's activity with its inputs resolved, then the
// operator's changed inputs laid over them.
func (r *runner) activity(ctx workflow.Context, s Step, changed map[string]any) error {
	st := r.steps[s.ID]
	st.State, st.Started, st.Error = StateRunning, workflow.Now(ctx), ""
	with, err := r.inputs(ctx, s, changed)
	if err != nil {
		return err
	}
	// Inputs an operator changed are held to the step's types, as the
	// compiler held the runbook's: an unknown or mistyped one is refused
	// and the step fails (or pauses again) saying which.
	if len(changed) > 0 && workflow.GetVersion(ctx, "check-changed-inputs", workflow.DefaultVersion, 1) >= 1 {
		opts := workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: time.Second}}
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, r.onHost(opts, s.ID+" · "+s.Uses+" · changed inputs")), "plan.CheckInputs", CheckInputsInput{Uses: s.Uses, With: with}).Get(ctx, nil)
		if err != nil {
			return temporal.NewNonRetryableApplicationError("the changed inputs are refused (a retry goes back to the inputs before them): "+reason(err), inputsRefused, nil)
		}
	}
	// A step whose inputs were not known before the run is checked now,
	// before it changes anything.
	if s.Check != "" && !r.checked[s.ID] && workflow.GetVersion(ctx, "preflight", workflow.DefaultVersion, 1) >= 1 {
		if err := r.check(ctx, s, with).Get(ctx, nil); err != nil {
			return temporal.NewNonRetryableApplicationError("refused before it changed anything: "+reason(err), "Refused", nil)
		}
		r.checked[s.ID] = true
	}
	attempts := max(s.Retry.Attempts, 1)
	opts := workflow.ActivityOptions{
		// The step id names the activity, so `drctl status` can match a
		// pending activity's heartbeat (its progress) to its step.
		ActivityID:          s.ID,
		StartToCloseTimeout: time.Duration(s.Timeout),
		HeartbeatTimeout:    time.Duration(s.HeartbeatTimeout),
		RetryPolicy: &temporal.RetryPolicy{
			MaximumAttempts:    int32(attempts),
			InitialInterval:    max(time.Duration(s.Retry.Backoff), time.Second),
			BackoffCoefficient: 2,
			MaximumInterval:    time.Duration(s.Retry.MaxBackoff),
		},
	}
	if opts.StartToCloseTimeout == 0 {
		opts.StartToCloseTimeout = 10 * time.Minute
	}
	// A cancelled run waits until the step has stopped (killed its
	// pg_restore, say) before on_failure and finally start.
	opts.WaitForCancellation = workflow.GetVersion(ctx, "wait-cancel", workflow.DefaultVersion, 1) >= 1
	r.event(ctx, s.ID, "started", "", s.Uses)
	var out map[string]any
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, r.onHost(opts, s.ID+" · "+s.Uses)), s.Activity, with).Get(ctx, &out)
	err = r.hostGone(err)
	st.Attempts++ // runs of the step; Temporal's own retries are in the history
	if err != nil {
		return err
	}
	st.State, st.Outputs, st.Ended = StateSucceeded, out, workflow.Now(ctx)
	r.measureStep(ctx, s, st)
	r.event(ctx, s.ID, "succeeded", "", st.Ended.Sub(st.Started).Round(time.Millisecond).String())
	// Chat steps never fail a run; what went wrong is a warning here.
	if w := r.chatOutcome(out); w != "" {
		r.event(ctx, s.ID, "warning", "", w)
	}
	return nil
}

// inputs resolves a step's inputs, then lays the operator's changed
// inputs over them and adds what only the run knows.
func (r *runner) inputs(ctx workflow.Context, s Step, changed map[string]any) (map[string]any, error) {
	input, err := EvalValue(s.With, r.vars()) //workflowcheck:ignore see ExprOptions
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("resolving inputs: %v", err), "BadInput", nil)
	}
	with, _ := input.(map[string]any)
	if with == nil {
		with = map[string]any{}
	}
	for _, k := range workflow.DeterministicKeys(changed) {
		with[k] = changed[k]
	}
	if len(s.ExpectedErrors) > 0 {
		with["expected_errors"] = s.ExpectedErrors
	}
	// Which environment a step acts on comes from the plan, never from a
	// runbook's inputs.
	with["run"] = r.runContext(ctx)
	for _, what := range s.Gets {
		switch what {
		case GetsRunStatus:
			// The evidence is the run itself, which only the workflow knows.
			with[GetsRunStatus] = r.snapshot()
		case GetsThread:
			with[GetsThread] = r.thread
		}
	}
	return with, nil
}

// parallel runs the block's steps at most Limit at a time and waits for all
// of them; the first error (in author order) is the block's.
func (r *runner) parallel(ctx workflow.Context, s Step) error {
	st := r.steps[s.ID]
	st.State, st.Started = StateRunning, workflow.Now(ctx)
	n := len(s.Parallel.Steps)
	limit := s.Parallel.Limit
	if limit <= 0 || limit > n {
		limit = n
	}
	errs := make([]error, n)
	running, done := 0, 0
	for i, child := range s.Parallel.Steps {
		if err := workflow.Await(ctx, func() bool { return running < limit }); err != nil {
			return r.fail(ctx, st, s, err)
		}
		running++
		workflow.Go(ctx, func(ctx workflow.Context) {
			errs[i] = r.step(ctx, child)
			running--
			done++
		})
	}
	if err := workflow.Await(ctx, func() bool { return done == n }); err != nil {
		return r.fail(ctx, st, s, err)
	}
	for _, err := range errs {
		if err != nil {
			return r.fail(ctx, st, s, err)
		}
	}
	st.State, st.Ended = StateSucceeded, workflow.Now(ctx)
	return nil
}

// gate opens an approval gate and waits for quorum, a rejection or expiry.
func (r *runner) gate(ctx workflow.Context, s Step) error {
	st := r.steps[s.ID]
	a := s.Approval
	vars := r.vars()
	prompt, _ := EvalString(a.Prompt, vars) //workflowcheck:ignore see ExprOptions
	show := ""
	if a.Show != "" {
		v, _ := EvalString(a.Show, vars) //workflowcheck:ignore see ExprOptions
		show = ShowText(v)               //workflowcheck:ignore JSON of a value: sorted keys, no clock, no I/O
	}
	now := workflow.Now(ctx)
	promptText := Text(prompt) //workflowcheck:ignore as above
	g := &GateStatus{Step: s.ID, Prompt: promptText, Show: show, Users: a.Users, Quorum: a.Quorum,
		AllowInitiator: a.AllowInitiator, Open: true, Deadline: now.Add(time.Duration(a.Timeout))}
	r.gates[s.ID] = g
	st.State, st.Started = StateWaiting, now
	r.event(ctx, s.ID, "approval requested", "", fmt.Sprintf("%d of %v: %s", a.Quorum, a.Users, g.Prompt))
	r.promptInChat(ctx, g)
	decided := func() bool {
		return approvals(g) >= g.Quorum || slices.ContainsFunc(g.Votes, func(v Vote) bool { return !v.Approve })
	}
	ok, err := workflow.AwaitWithTimeout(ctx, time.Duration(a.Timeout), decided)
	g.Open = false
	st.Ended = workflow.Now(ctx)
	r.metrics(ctx, map[string]string{"decided": fmt.Sprint(ok && err == nil)}).Timer(MetricGateWait).Record(st.Ended.Sub(st.Started))
	if err != nil {
		return r.fail(ctx, st, s, err)
	}
	if !ok {
		g.Outcome = "expired"
		return r.fail(ctx, st, s, fmt.Errorf("%w: approval expired after %s with %d of %d approvals", errAborted, a.Timeout, approvals(g), g.Quorum))
	}
	if approvals(g) < g.Quorum {
		g.Outcome = "rejected"
		i := slices.IndexFunc(g.Votes, func(v Vote) bool { return !v.Approve })
		return r.fail(ctx, st, s, fmt.Errorf("%w: rejected by %s: %s", errAborted, g.Votes[i].User, g.Votes[i].Comment))
	}
	g.Outcome = "approved"
	var by []string
	for _, v := range g.Votes {
		by = append(by, v.User)
	}
	st.State = StateSucceeded
	st.Outputs = map[string]any{"approved": true, "decided_by": by, "comment": g.Votes[len(g.Votes)-1].Comment}
	return nil
}

func approvals(g *GateStatus) int {
	n := 0
	for _, v := range g.Votes {
		if v.Approve {
			n++
		}
	}
	return n
}

// timer runs a wait step that only waits: a durable timer in the workflow,
// which survives worker and server restarts without holding a worker.
func (r *runner) timer(ctx workflow.Context, s Step) error {
	st := r.steps[s.ID]
	st.State, st.Started = StateRunning, workflow.Now(ctx)
	// The duration may be a run-time template, read as the compiler reads
	// a literal one.
	v, err := EvalValue(s.With["duration"], r.vars()) //workflowcheck:ignore see ExprOptions
	if err != nil {
		return r.fail(ctx, st, s, fmt.Errorf("wait: duration: %w", err))
	}
	text, _ := v.(string)
	d, err := ParseDuration(text)
	if err != nil {
		return r.fail(ctx, st, s, fmt.Errorf("wait: duration: %w", err))
	}
	r.event(ctx, s.ID, "started", "", "wait "+d.String())
	if err := workflow.Sleep(ctx, d); err != nil {
		return r.fail(ctx, st, s, err)
	}
	st.State, st.Ended = StateSucceeded, workflow.Now(ctx)
	st.Outputs = map[string]any{"waited": d.String(), "polls": 0}
	return nil
}

// promptInChat puts an open gate before its approvers in the run's Slack
// thread, with Approve and Reject buttons, when the environment has a
// channel. Slack trouble is a warning: the CLI can always vote.
func (r *runner) promptInChat(ctx workflow.Context, g *GateStatus) {
	if ch, _ := r.in.Plan.Env["channel"].(string); ch == "" {
		return
	}
	if workflow.GetVersion(ctx, "gate-chat-prompt", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	in := map[string]any{"gate": g.Step, "prompt": g.Prompt, "show": g.Show, "users": g.Users, "quorum": g.Quorum, "thread": r.thread}
	if w := r.chat(ctx, "chat.Approval", in); w != "" {
		r.event(ctx, g.Step, "warning", "", "approval prompt: "+w)
	}
}

// board keeps the run's status board in Slack up to date, when the
// environment asks for one; with a note, it also replies in the thread.
// Slack trouble is one warning in the timeline, never a failure.
func (r *runner) board(ctx workflow.Context, note string) {
	if on, _ := r.in.Plan.Env["board"].(bool); !on {
		return
	}
	var warn string
	if note != "" {
		warn = r.chat(ctx, "chat.Post", map[string]any{"text": note, "thread": r.thread})
	} else {
		var steps []map[string]any
		for _, s := range r.status.Steps {
			st := r.steps[s.ID]
			took := ""
			if !st.Started.IsZero() && !st.Ended.IsZero() {
				took = st.Ended.Sub(st.Started).Round(time.Millisecond).String()
			}
			steps = append(steps, map[string]any{"id": st.ID, "state": st.State, "took": took})
		}
		warn = r.chat(ctx, "chat.Board", map[string]any{"runbook": r.in.Plan.Runbook, "incident": r.in.Incident,
			"initiator": r.in.Initiator, "url": r.in.URL, "state": r.status.State, "steps": steps, "board": r.thread})
	}
	if warn != "" && !r.boardWarned {
		r.boardWarned = true
		r.event(ctx, "", "warning", "", warn)
	}
}

// runContext is what every activity is told of its run.
func (r *runner) runContext(ctx workflow.Context) map[string]any {
	return map[string]any{"env": r.in.Plan.Environment, "id": workflow.GetInfo(ctx).WorkflowExecution.ID}
}

// chatOutcome takes the run's thread from a chat post's output (the first
// post opens it) and returns the post's warning, if any.
func (r *runner) chatOutcome(out map[string]any) string {
	if th, _ := out["thread"].(string); th != "" && r.thread == "" {
		r.thread = th
	}
	w, _ := out["warning"].(string)
	return w
}

// chat runs a chat activity the interpreter calls on its own (a gate's
// prompt, the board): one attempt, a minute at most, and whatever goes
// wrong comes back as a warning, never as a failure of the run.
func (r *runner) chat(ctx workflow.Context, activity string, in map[string]any) string {
	actx := workflow.WithActivityOptions(ctx, r.on(workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}}, activity))
	in["run"] = r.runContext(ctx)
	var out map[string]any
	if err := workflow.ExecuteActivity(actx, activity, in).Get(ctx, &out); err != nil {
		return reason(err)
	}
	return r.chatOutcome(out)
}
