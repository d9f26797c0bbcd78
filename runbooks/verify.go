package runbooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/workflows"
)

// CheckPlan holds a plan a worker is given against the worker's own
// environments file: anyone who reaches the Temporal frontend can start a
// run with any plan, so the worker checks that the plan is the one its
// hash names, that every step of a destructive type is marked so, that
// every gate asks at least what the environment's approval policy does,
// of no one else, and that the environment's rules hold (a destructive
// step behind a gate where approval is required). It returns every
// problem, or none.
func CheckPlan(cfg *Config, p *workflows.Plan) []string {
	var problems []string
	if HashPlan(p) != p.Hash {
		problems = append(problems, "the plan is not the one its hash names: it was changed after it was compiled")
	}
	env, err := cfg.Environment(p.Environment)
	if err != nil {
		return append(problems, err.Error())
	}
	if p.Role != env.Role {
		problems = append(problems, fmt.Sprintf("the plan says environment %s is a %s; %s says %s", p.Environment, p.Role, cfg.File, env.Role))
	}
	// Who may decide, and with which keys, is this file's to say: a plan
	// that brings its own keys or approvers would vouch for itself.
	var want workflows.Plan
	cfg.deciders(env).set(&want)
	if p.Signed != want.Signed || p.LastVoteCLI != want.LastVoteCLI || !reflect.DeepEqual(p.Signers, want.Signers) ||
		!slices.Equal(p.Approvers, want.Approvers) || !slices.Equal(p.Vouchers, want.Vouchers) {
		problems = append(problems, fmt.Sprintf("the plan's signing policy, keys or approvers are not those %s gives environment %s", cfg.File, p.Environment))
	}
	var policy ApprovalPolicy
	if env.Policy.Approval != nil {
		policy = *env.Policy.Approval
	}
	allowed, _ := cfg.resolveApprovers(policy.Approvers)
	var walk func([]workflows.Step)
	walk = func(steps []workflows.Step) {
		for _, s := range steps {
			if s.Parallel != nil {
				walk(s.Parallel.Steps)
			}
			if t, ok := lookupStepType(s.Uses); ok && (t.Destructive && !s.Destructive || s.Activity != t.Name && s.Activity != t.Activity ||
				s.Timer != (t.Timer && len(s.With) == 1 && s.With["duration"] != nil) || !slices.Equal(s.Gets, t.Gets)) {
				problems = append(problems, fmt.Sprintf("step %s (%s): not as step type %s is compiled", s.ID, s.Pos, s.Uses))
			}
			a := s.Approval
			if a == nil || env.Policy.Approval == nil {
				continue
			}
			if a.Quorum < policy.Quorum || a.AllowInitiator && !policy.AllowInitiator {
				problems = append(problems, fmt.Sprintf("gate %s (%s) asks less than environment %s's approval policy", s.ID, s.Pos, p.Environment))
			}
			if len(allowed) > 0 {
				for _, u := range a.Users {
					if !slices.Contains(allowed, u) {
						problems = append(problems, fmt.Sprintf("gate %s (%s): %s is not among environment %s's approvers", s.ID, s.Pos, u, p.Environment))
					}
				}
			}
		}
	}
	for _, block := range [][]workflows.Step{p.Steps, p.OnFailure, p.Finally} {
		walk(block)
	}
	var diags Diagnostics
	c := &compiler{env: env, envName: p.Environment, opts: Options{Config: cfg}, kind: p.Kind, r: reporter{diags: &diags}}
	c.checkEnvironmentRules(p)
	for _, d := range diags {
		problems = append(problems, strings.TrimPrefix(d.String(), ":0:0: "))
	}
	return problems
}

// CheckInputs holds a step's inputs as they will run (an operator's
// changes laid over the plan's) to its type's inputs, as the compiler held
// the runbook's: an unknown input, a value of the wrong type or a name
// that would leave its root is refused, naming it.
func CheckInputs(uses string, with map[string]any) error {
	t, ok := lookupStepType(uses)
	if !ok || t.Input == nil {
		return nil
	}
	b, err := json.Marshal(with)
	if err != nil {
		return err
	}
	v := reflect.New(t.Input)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return fmt.Errorf("%s: %v", uses, strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := stepio.CheckInput(v.Interface()); err != nil {
		return fmt.Errorf("%s: %v", uses, err)
	}
	return nil
}
