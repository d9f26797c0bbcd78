package runbooks

import (
	"strings"
	"testing"

	"github.com/drctl/drctl/workflows"
)

// A worker refuses a plan tampered with after it was compiled: its hash
// no longer matches; and when the tamperer hashes it again, a gate removed
// before a destructive step, or a step made non-destructive, still shows.
func TestWorkerRefusesATamperedPlan(t *testing.T) {
	compile := func() (*Config, *workflows.Plan) {
		return compileLibrary(t, "data-loss-pitr.yaml", "production", map[string]string{"failure_time": "2026-11-20 16:00"})
	}
	if problems := CheckPlan(compile()); len(problems) > 0 {
		t.Fatalf("an honest plan: %v", problems)
	}
	cfg, p := compile()
	p.Steps = p.Steps[1:]
	if problems := CheckPlan(cfg, p); len(problems) == 0 || !strings.Contains(problems[0], "hash") {
		t.Fatalf("a plan changed without its hash: %v", problems)
	}
	_, p = compile()
	var kept []workflows.Step
	for _, s := range p.Steps {
		if s.Approval == nil {
			kept = append(kept, s)
		}
	}
	p.Steps = kept
	p.Hash = HashPlan(p)
	if problems := strings.Join(CheckPlan(cfg, p), "\n"); !strings.Contains(problems, "no approval gate runs before it") {
		t.Fatalf("a plan without its gates, hashed again: %s", problems)
	}
	_, p = compile()
	for i := range p.Steps {
		p.Steps[i].Destructive = false
	}
	for i := range p.Steps {
		if p.Steps[i].Approval != nil {
			p.Steps[i].Approval.Users = append(p.Steps[i].Approval.Users, "mallory")
		}
	}
	p.Hash = HashPlan(p)
	problems := strings.Join(CheckPlan(cfg, p), "\n")
	if !strings.Contains(problems, "step set_aside") || !strings.Contains(problems, "mallory is not among environment production's approvers") {
		t.Fatalf("a plan made non-destructive with another approver, hashed again: %s", problems)
	}
}
