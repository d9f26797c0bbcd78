package runbooks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/drctl/drctl/activities/backup"
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
					if s.If != "false" {
						walk(s.Parallel.Steps)
					}
					continue
				}
				if s.If == "false" {
					continue // never runs, so cannot break a rule
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
				c.checkStoreAccess(s, t)
				c.checkStoresExist(s)
				if s.If != "false" && c.env.lacks(t.Needs) {
					c.atPos(s.Pos, "step %q (%s) needs environment %q's %s: section, which %s does not give it", s.ID, s.Uses, c.envName, t.Needs, c.opts.Config.File)
				}
				if t.StoreAccess == "change" && c.env.Role == RoleSource && !gated && !c.withinRetention(s) {
					c.atPos(s.Pos, "step %q (%s) may delete more of %s's backups than its retention policy keeps (policy.retention), but no approval gate runs before it", s.ID, s.Uses, c.envName)
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

// checkStoreAccess holds a step to the stores it may touch: it reads its
// own environment's, or a source's when the run restores a target from it;
// it changes its own environment's only.
func (c *compiler) checkStoreAccess(s workflows.Step, t StepType) {
	if t.StoreAccess == "" {
		return
	}
	for _, path := range [][]string{{"env"}, {"source", "env"}, {"copy", "env"}} {
		v := any(s.With)
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		name, ok := v.(string)
		if !ok || name == c.envName || workflows.IsTemplate(name) {
			// Names known only at run time are held by the activity.
			continue
		}
		where := strings.Join(path, ".")
		other, known := c.opts.Config.Environments[name]
		switch {
		case !known || other == nil:
			// The input's own check names an unknown environment.
		case t.StoreAccess == "change":
			c.atPos(s.Pos, "step %q (%s) would change the stores of environment %q (%s), but runs on %s: a run changes only its own environment's backups", s.ID, s.Uses, name, where, c.envName)
		case c.env.Role != RoleTarget || other.Role != RoleSource:
			c.atPos(s.Pos, "step %q (%s) reads the backups of environment %q (%s), but runs on %s: a run reads its own environment's backups, or a target its source's", s.ID, s.Uses, name, where, c.envName)
		}
	}
}

// checkStoresExist refuses a step that names a store its environment does
// not have: found at plan time, not when the step runs mid-incident.
func (c *compiler) checkStoresExist(s workflows.Step) {
	for _, in := range []string{"", "source", "copy"} {
		with := s.With
		if in != "" {
			with, _ = s.With[in].(map[string]any)
		}
		store, ok := with["store"].(string)
		if !ok || workflows.IsTemplate(store) {
			continue
		}
		if store == "" {
			store = backup.DefaultStore
		}
		// A store belongs to the environment the input names (env, or a
		// restore's from), else to the run's.
		env := c.envName
		for _, key := range []string{"env", "from"} {
			if name, ok := with[key].(string); ok && name != "" {
				env = name
			}
		}
		if workflows.IsTemplate(env) {
			continue
		}
		if e := c.opts.Config.Environments[env]; e != nil && e.Stores[store] == nil {
			field := strings.TrimPrefix(in+".store", ".")
			c.atPos(s.Pos, "step %q (%s): %s: environment %s has no store %q in %s (it has %s)", s.ID, s.Uses, field, env, store,
				c.opts.Config.File, strings.Join(slices.Sorted(maps.Keys(e.Stores)), ", "))
		}
	}
}

// withinRetention reports whether a prune keeps at least what the
// environment's retention policy asks; unknown counts do not.
func (c *compiler) withinRetention(s workflows.Step) bool {
	floor := c.env.Policy.Retention
	if floor == nil {
		return false
	}
	count := func(key string) (int, bool) {
		switch n := s.With[key].(type) {
		case nil:
			return 0, true
		case int:
			return n, true
		case int64:
			return int(n), true
		case float64:
			return int(n), n == float64(int(n))
		}
		return 0, false
	}
	daily, ok1 := count("keep_daily")
	weekly, ok2 := count("keep_weekly")
	return ok1 && ok2 && daily >= floor.KeepDaily && weekly >= floor.KeepWeekly
}

// lacks reports whether the environment has no section of that name.
func (e *Environment) lacks(section string) bool {
	switch section {
	case "pipeline":
		return e.Pipeline == nil
	case "maintenance":
		return e.Maintenance == nil
	case "instance":
		return e.Instance == nil
	}
	return false
}

// markPreflight marks the steps whose check can run before the run's first
// step: those no earlier step can invalidate by changing what the check
// reads (a backup.latest after a backup is checked when it runs). Steps
// of a parallel block run together, so each sees its siblings' changes.
func markPreflight(p *workflows.Plan) {
	changed := map[string]bool{}
	reads := func(s workflows.Step) bool {
		t, ok := lookupStepType(s.Uses)
		if !ok {
			return false
		}
		return slices.ContainsFunc(t.Reads, func(r string) bool { return changed[r] })
	}
	change := func(s workflows.Step) {
		if t, ok := lookupStepType(s.Uses); ok {
			for _, c := range t.Changes {
				changed[c] = true
			}
		}
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Parallel == nil {
			s.Preflight = s.Check != "" && !reads(*s)
			change(*s)
			continue
		}
		for _, child := range s.Parallel.Steps {
			change(child)
		}
		for j := range s.Parallel.Steps {
			child := &s.Parallel.Steps[j]
			child.Preflight = child.Check != "" && !reads(*child)
		}
	}
}
