package runbooks

import (
	"encoding/json"
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

// A plan that brings its own keys, its own approvers or no need to sign
// would vouch for itself: the worker holds it to its own file.
func TestWorkerRefusesAPlanWithItsOwnSigners(t *testing.T) {
	compile := func() (*Config, *workflows.Plan) {
		return compileLibrary(t, "data-loss-pitr.yaml", "production", map[string]string{"failure_time": "2026-11-20 16:00"})
	}
	cfg, honest := compile()
	if !honest.Signed || len(honest.Signers["ana"]) == 0 || len(honest.Approvers) == 0 {
		t.Fatalf("the plan of a production recovery does not say who signs: signed %v, signers %v, approvers %v", honest.Signed, honest.Signers, honest.Approvers)
	}
	for name, tamper := range map[string]func(*workflows.Plan){
		"mallory's key for ana": func(p *workflows.Plan) {
			p.Signers["ana"] = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFpO/FrmvZSIQMjezHEyfjs/za5nZ04Jz/+fCh06s4Nc mallory"}
		},
		"mallory an approver":    func(p *workflows.Plan) { p.Approvers = append(p.Approvers, "mallory") },
		"unsigned":               func(p *workflows.Plan) { p.Signed = false },
		"its own last-vote rule": func(p *workflows.Plan) { p.LastVoteCLI = !p.LastVoteCLI },
		"serve's key replaced": func(p *workflows.Plan) {
			p.Vouchers = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFpO/FrmvZSIQMjezHEyfjs/za5nZ04Jz/+fCh06s4Nc mallory"}
		},
	} {
		_, p := compile()
		tamper(p)
		p.Hash = HashPlan(p)
		if problems := strings.Join(CheckPlan(cfg, p), "\n"); !strings.Contains(problems, "signing policy, keys or approvers are not those") {
			t.Errorf("a plan with %s, hashed again: %s", name, problems)
		}
	}
}

// An operator's changed inputs are held to the step's types.
func TestCheckInputs(t *testing.T) {
	for with, want := range map[string]string{
		`{"database": "register_next", "new_name": "register"}`:             ``,
		`{"database": "register_next", "new_name": "register", "bogus": 1}`: `unknown field "bogus"`,
		`{"database": 5, "new_name": "register"}`:                           `cannot unmarshal number`,
		`{"database": "register_next", "new_name": "../../etc/passwd"}`:     `"../../etc/passwd" is refused`,
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(with), &m); err != nil {
			t.Fatal(err)
		}
		err := CheckInputs("postgres.rename", m)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", with, err, want)
		}
	}
}
