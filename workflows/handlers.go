package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"
)

// register installs the status query and the vote and operator updates.
// Updates are validated first, so a refused vote or action changes nothing,
// is never written to history, and its caller learns why at once.
func (r *runner) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return r.snapshot(), nil }); err != nil {
		return err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateVote,
		func(ctx workflow.Context, v VoteInput) (GateStatus, error) {
			g, _ := r.openGate(v.Gate)
			g.Votes = append(g.Votes, Vote{User: v.User, Approve: v.Approve, Comment: v.Comment, At: workflow.Now(ctx)})
			kind := "approved"
			if !v.Approve {
				kind = "rejected"
			}
			r.event(ctx, g.Step, kind, v.User, fmt.Sprintf("%s (%d of %d)", v.Comment, approvals(g), g.Quorum))
			return *g, nil
		},
		workflow.UpdateHandlerOptions{Validator: r.validateVote})
	if err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateAction,
		func(ctx workflow.Context, a ActionInput) (string, error) {
			r.actions[a.Step] = a
			r.event(ctx, a.Step, a.Action, a.By, a.Reason)
			return fmt.Sprintf("%s of step %s accepted", a.Action, a.Step), nil
		},
		workflow.UpdateHandlerOptions{Validator: r.validateAction})
}

// openGate finds the gate a vote is for: the named one, or the one open.
func (r *runner) openGate(id string) (*GateStatus, error) {
	if id == "" {
		for _, s := range r.status.Steps {
			if g, ok := r.gates[s.ID]; ok && g.Open {
				return g, nil
			}
		}
		return nil, fmt.Errorf("no approval gate is open")
	}
	g, ok := r.gates[id]
	if !ok {
		if _, isStep := r.steps[id]; isStep {
			return nil, fmt.Errorf("gate %s is not open yet", id)
		}
		return nil, fmt.Errorf("this run has no gate %s", id)
	}
	if !g.Open {
		return nil, fmt.Errorf("gate %s is closed (%s)", id, g.Outcome)
	}
	return g, nil
}

func (r *runner) validateVote(v VoteInput) error {
	g, err := r.openGate(v.Gate)
	if err != nil {
		return err
	}
	switch {
	case v.User == "":
		return fmt.Errorf("a vote needs the voter's name")
	case !slices.Contains(g.Users, v.User):
		return fmt.Errorf("%s is not an approver of gate %s (approvers: %v)", v.User, g.Step, g.Users)
	case v.User == r.in.Initiator && !g.AllowInitiator:
		return fmt.Errorf("%s started this run and may not approve gate %s", v.User, g.Step)
	case slices.ContainsFunc(g.Votes, func(x Vote) bool { return x.User == v.User }):
		return fmt.Errorf("%s has already voted on gate %s", v.User, g.Step)
	}
	return nil
}

func (r *runner) validateAction(a ActionInput) error {
	st, ok := r.steps[a.Step]
	switch {
	case !ok:
		return fmt.Errorf("this run has no step %s", a.Step)
	case st.State != StatePaused:
		return fmt.Errorf("step %s is %s, not paused", a.Step, st.State)
	case a.Action != ActionRetry && a.Action != ActionSkip && a.Action != ActionAbort:
		return fmt.Errorf("unknown action %q: use retry, skip or abort", a.Action)
	case a.Action == ActionSkip && a.Reason == "":
		return fmt.Errorf("skipping step %s needs a reason", a.Step)
	case a.By == "":
		return fmt.Errorf("an action needs the operator's name")
	}
	if _, pending := r.actions[a.Step]; pending {
		return fmt.Errorf("step %s already has an action pending", a.Step)
	}
	return nil
}
