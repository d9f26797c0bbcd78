package runbooks

import (
	"fmt"

	"github.com/drctl/drctl/workflows"
)

// checkEnvironmentRules applies what the environment demands of a plan:
// restores never land in a source environment (unless a recovery runbook
// restores it after a disaster), scrubbing never touches one, backups are never taken of a target, and
// where the policy demands approval, an unconditional approval gate runs
// before every destructive step.
func (c *compiler) checkEnvironmentRules(p *workflows.Plan) {
	required := c.env.Policy.Approval != nil && c.env.Policy.Approval.Required
	for _, block := range [][]workflows.Step{p.Steps, p.OnFailure, p.Finally} {
		gated := false
		var walk func([]workflows.Step)
		walk = func(steps []workflows.Step) {
			for _, s := range steps {
				if s.Parallel != nil {
					walk(s.Parallel.Steps)
					continue
				}
				if s.Approval != nil && s.If == "" {
					gated = true
				}
				t, ok := lookupStepType(s.Uses)
				if !ok {
					continue
				}
				if t.Restores && c.env.Role == RoleSource && c.kind != "recovery" {
					c.atPos(s.Pos, "step %q (%s) would restore into %s, a source environment: only a runbook of kind recovery may, and only behind an approval gate", s.ID, s.Uses, c.envName)
				}
				if t.Restores && c.env.Role == RoleSource && c.kind == "recovery" && !gated {
					c.atPos(s.Pos, "step %q (%s) restores into %s, a source environment, but no approval gate runs before it", s.ID, s.Uses, c.envName)
				}
				if t.TargetOnly && c.env.Role == RoleSource {
					c.atPos(s.Pos, "step %q (%s) is for restored copies and never runs on %s, a source environment", s.ID, s.Uses, c.envName)
				}
				if t.BacksUp && c.env.Role == RoleTarget {
					c.atPos(s.Pos, "step %q (%s) would back up %s, a target environment whose data is a restored copy: back up the source instead", s.ID, s.Uses, c.envName)
				}
				if required && s.Destructive && !gated && !((t.Restores || t.TargetOnly) && c.env.Role == RoleSource) {
					c.atPos(s.Pos, "step %q (%s) changes %s, whose policy requires approval, but no approval gate runs before it", s.ID, stepKind(s), c.envName)
				}
			}
		}
		walk(block)
	}
}

func stepKind(s workflows.Step) string {
	if s.Uses != "" {
		return s.Uses
	}
	return "marked destructive"
}

func (c *compiler) atPos(p workflows.Pos, format string, args ...any) {
	*c.r.diags = append(*c.r.diags, Diagnostic{File: p.File, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)})
}
