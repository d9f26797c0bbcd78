package workflows

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

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
			signer, err := r.proven(ctx, v.Signature, voteStatement(g.Step, v))
			if err != nil {
				return *g, err
			}
			g.Votes = append(g.Votes, Vote{User: v.User, Approve: v.Approve, Comment: v.Comment, At: workflow.Now(ctx),
				Signer: signer, Signature: v.Signature})
			kind := "approved"
			if !v.Approve {
				kind = "rejected"
			}
			r.signedEvent(ctx, g.Step, kind, v.User, fmt.Sprintf("%s (%d of %d)", v.Comment, approvals(g), g.Quorum), signer, v.Signature)
			return *g, nil
		},
		workflow.UpdateHandlerOptions{Validator: r.validateVote})
	if err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateAction,
		func(ctx workflow.Context, a ActionInput) (string, error) {
			signer, err := r.proven(ctx, a.Signature, actionStatement(a))
			if err != nil {
				return "", err
			}
			r.actions[a.Step] = a
			msg := a.Reason
			if len(a.With) > 0 {
				b, _ := json.Marshal(a.With) //workflowcheck:ignore JSON of a value: sorted keys, no clock, no I/O
				msg = strings.TrimSpace(msg + " with " + string(b))
			}
			r.signedEvent(ctx, a.Step, a.Action, a.By, msg, signer, a.Signature)
			return fmt.Sprintf("%s of step %s accepted", a.Action, a.Step), nil
		},
		workflow.UpdateHandlerOptions{Validator: r.validateAction})
}

// voteStatement is what a vote on gate says, as its voter signs it.
func voteStatement(gate string, v VoteInput) Statement {
	action := DecideApprove
	if !v.Approve {
		action = DecideReject
	}
	return Statement{Action: action, Target: gate, User: v.User, Comment: v.Comment}
}

// actionStatement is what an operator's action says, as they sign it.
func actionStatement(a ActionInput) Statement {
	return Statement{Action: a.Action, Target: a.Step, User: a.By, Comment: a.Reason, With: a.With}
}

// proven checks a decision's signature against the plan's keys and
// returns the signing key's fingerprint ("" for an unsigned decision,
// which only a policy that does not require signing accepts). A decision
// that proves itself uses up its nonce.
func (r *runner) proven(ctx workflow.Context, sig *Signature, want Statement) (string, error) {
	if sig == nil {
		if r.in.Plan.Signed {
			return "", fmt.Errorf("environment %s takes only signed decisions: %s signs theirs with an SSH key the environments file lists (drctl %s --key FILE, or the key in ssh-agent)",
				r.in.Plan.Environment, want.User, want.Action)
		}
		return "", nil
	}
	keys := r.in.Plan.Signers[want.User]
	if Vouched(sig.Via) {
		keys = r.in.Plan.Vouchers
	}
	st, fp, err := sig.Verify(keys) //workflowcheck:ignore parsing and arithmetic on the given bytes: no clock, no I/O
	if err != nil {
		return fp, fmt.Errorf("%s's signature: %v", want.User, err)
	}
	want.Run = r.id
	err = st.proves(want, workflow.Now(ctx), r.nonces) //workflowcheck:ignore compares JSON values: no clock, no I/O
	if err != nil {
		return fp, fmt.Errorf("%s's signature: %v", want.User, err)
	}
	r.nonces[st.Nonce] = true
	return fp, nil
}

// checkSigned is proven without using up the nonce, for a validator, which may
// not change the run.
func (r *runner) checkSigned(ctx workflow.Context, sig *Signature, want Statement) error {
	saved := r.nonces
	r.nonces = maps.Clone(saved)
	defer func() { r.nonces = saved }()
	_, err := r.proven(ctx, sig, want)
	return err
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

func (r *runner) validateVote(ctx workflow.Context, v VoteInput) error {
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
	case r.in.Plan.LastVoteCLI && v.Approve && approvals(g)+1 >= g.Quorum && (v.Signature == nil || Vouched(v.Signature.Via)):
		return fmt.Errorf("the vote that passes gate %s is signed with the voter's own key: drctl approve %s %s --as %s", g.Step, r.id, g.Step, v.User)
	}
	return r.checkSigned(ctx, v.Signature, voteStatement(g.Step, v))
}

func (r *runner) validateAction(ctx workflow.Context, a ActionInput) error {
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
	// On a source environment, retrying (perhaps with other inputs) or
	// skipping a step is a decision only an approver may take.
	if p := r.in.Plan; p.Role == "source" && len(p.Approvers) > 0 && !slices.Contains(p.Approvers, a.By) {
		return fmt.Errorf("%s is not an approver of environment %s (approvers: %v): only they may %s its steps", a.By, p.Environment, p.Approvers, a.Action)
	}
	return r.checkSigned(ctx, a.Signature, actionStatement(a))
}
