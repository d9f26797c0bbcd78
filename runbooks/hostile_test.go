package runbooks

import (
	"reflect"
	"strings"
	"testing"

	"github.com/drctl/drctl/workflows"
)

const dataRunbook = `runbook: data
kind: check
params:
  p: {type: string, required: true}
  q: {type: string, default: "{{ run.initiator }}"}
steps:
  - id: first
    uses: exec
    with:
      command: [echo, "${{ params.p }}", "as ${{ params.p }} by ${{ run.initiator }}", "${{ params.q }}x", "$${{ params.q }}"]
`

// Params are data: a value that looks like an expression reaches the step
// as written, however the runbook splices it.
func TestParamsAreData(t *testing.T) {
	cfg, err := LoadConfig("testdata/drctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"${{ run.initiator }}", "${{ steps }}", `${{ repeat(repeat("ab",100000),100000) }}`} {
		plan, diags := Compile("data.yaml", []byte(dataRunbook), Options{Config: cfg, Env: "staging", Params: map[string]string{"p": p}})
		if len(diags) > 0 {
			t.Fatalf("%s", diags.Lines())
		}
		params := map[string]any{}
		for _, pv := range plan.Params {
			params[pv.Name] = pv.Value
		}
		vars := map[string]any{"params": params, "env": plan.Env, "steps": map[string]any{},
			"run": map[string]any{"initiator": "ana", "id": "r1"}}
		got, err := workflows.EvalValue(plan.Steps[0].With, vars)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want := []any{"echo", p, "as " + p + " by ana", "{{ run.initiator }}x", "${{ run.initiator }}"}
		if cmd := got.(map[string]any)["command"]; !reflect.DeepEqual(cmd, want) {
			t.Errorf("param %q reached the step as\n%#v, want\n%#v", p, cmd, want)
		}
	}
}

// An expression that would build gigabytes is refused when the plan is
// made, as a diagnostic at its line.
func TestExpressionBombRefusedAtPlanTime(t *testing.T) {
	cfg, err := LoadConfig("testdata/drctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(dataRunbook, `"${{ params.p }}",`, `"${{ repeat(repeat(params.p, 100000), 100000) }}",`, 1)
	_, diags := Compile("data.yaml", []byte(src), Options{Config: cfg, Env: "staging", Params: map[string]string{"p": "ab"}})
	if !strings.Contains(diags.Lines(), "data.yaml:10:") || !strings.Contains(diags.Lines(), "memory budget") {
		t.Fatalf("diagnostics: %s", diags.Lines())
	}
}

// A failure time keeps its fraction of a second: recovery stops at the
// moment given, not the second before it.
func TestTimestampKeepsFractions(t *testing.T) {
	_, plan := compileLibrary(t, "data-loss-pitr.yaml", "production",
		map[string]string{"failure_time": "2026-11-20 21:40:05.250 America/New_York"})
	got := ""
	for _, p := range plan.Params {
		if p.Name == "failure_time" {
			got, _ = p.Value.(string)
		}
	}
	if got != "2026-11-21T02:40:05.25Z" {
		t.Fatalf("failure_time is %q", got)
	}
}

// A check runs before the first step only where no earlier step changes
// what it reads: nightly-backup's confirmation of its own backups is
// checked when it runs; data-loss-pitr's recovery window before anything.
func TestPreflightOnlyWhatEarlierStepsCannotChange(t *testing.T) {
	for _, tc := range []struct {
		file, env string
		params    map[string]string
		want      map[string]bool
	}{
		{"nightly-backup.yaml", "production", nil, map[string]bool{"check_azure": false, "check_offsite": false}},
		{"data-loss-pitr.yaml", "production", map[string]string{"failure_time": "2026-11-20 16:00"}, map[string]bool{"set_aside": true, "recover": true, "switch": false}},
		{"nightly-restore.yaml", "staging", nil, map[string]bool{"find_backup": true, "retire_current": false, "go_live": false}},
	} {
		_, plan := compileLibrary(t, tc.file, tc.env, tc.params)
		var walk func([]workflows.Step)
		walk = func(steps []workflows.Step) {
			for _, s := range steps {
				if want, ok := tc.want[s.ID]; ok && s.Preflight != want {
					t.Errorf("%s: step %s checked before the first step: %v, want %v", tc.file, s.ID, s.Preflight, want)
				}
				if s.Parallel != nil {
					walk(s.Parallel.Steps)
				}
			}
		}
		walk(plan.Steps)
	}
}
