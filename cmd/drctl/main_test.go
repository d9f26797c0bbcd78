package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/workflows"
)

// repoRoot is where an operator runs drctl from.
var repoRoot, _ = filepath.Abs("../..")

// TestMain lets the test binary stand in for drctl when a command under
// test starts drctl as a process of its own (wal-fetch's background
// fetch).
func TestMain(m *testing.M) {
	if os.Getenv("DRCTL_TEST_AS_DRCTL") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// drctl runs the CLI in the repository root, as an operator would.
func drctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	t.Chdir(repoRoot)
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidate(t *testing.T) {
	files, _ := filepath.Glob("../../runbooks/library/*.yaml")
	for i := range files {
		files[i] = strings.TrimPrefix(files[i], "../../")
	}
	code, out, errs := drctl(t, append([]string{"validate"}, files...)...)
	if code != 0 || strings.Count(out, ": ok") != len(files) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}

	code, _, errs = drctl(t, "validate", "runbooks/testdata/bad/unknown-field.yaml", "runbooks/library/nightly-backup.yaml")
	want := `runbooks/testdata/bad/unknown-field.yaml:5:5: unknown field "timout" in steps[0]; did you mean "timeout"?`
	if code != exitFailed || !strings.Contains(errs, want) || !strings.Contains(errs, "1 of 2 runbooks are invalid") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	if code, _, _ := drctl(t, "validate"); code != exitUsage {
		t.Fatalf("validate without files: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := drctl(t, "validate", "no/such/file.yaml"); code != exitFailed {
		t.Fatalf("missing file: exit %d", code)
	}
}

func TestPlanShowsLocalAndUTC(t *testing.T) {
	code, out, errs := drctl(t, "plan", "runbooks/library/data-loss-pitr.yaml", "--env", "production",
		"--param", "failure_time=2026-07-20 16:00", "--param", "zone=Europe/London")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		`failure_time = 2026-07-20T15:00:00Z   (UTC; given as "2026-07-20 16:00")`,
		"target=2026-07-20T15:00:00Z",
		"postgres.drop !",
		"initiator may not approve; 2 of ana, ben, chen, dev, eli",
		"finally (always):",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	code, out, errs := drctl(t, "plan", "runbooks/library/loss-of-instance.yaml", "--env", "production", "--param", "backup_date=2026-11-20", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var p workflows.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if p.Hash == "" || p.Environment != "production" || p.Steps[0].Pos.Line == 0 {
		t.Fatalf("plan: %+v", p)
	}
}

func TestPlanRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plan", "runbooks/library/nightly-restore.yaml", "--env", "production"}, exitFailed, "a source environment"},
		{[]string{"plan", "runbooks/library/loss-of-instance.yaml", "--env", "production"}, exitFailed, `param "backup_date" is required`},
		{[]string{"plan", "runbooks/library/loss-of-instance.yaml"}, exitUsage, `"env" not set`},
		{[]string{"plan", "runbooks/library/loss-of-instance.yaml", "--env", "production", "--param", "backup_date"}, exitUsage, "write name=value"},
		{[]string{"plan", "runbooks/library/loss-of-instance.yaml", "--env", "production", "--bogus"}, exitUsage, "unknown flag"},
		{[]string{"plan", "runbooks/library/loss-of-instance.yaml", "--env", "production", "--config", "missing.yaml"}, exitFailed, "cannot read the environments file"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		// Configuration a step needs is a plan-time error naming the file,
		// the line and what is missing.
		{[]string{"plan", "runbooks/testdata/bad/missing-pipeline.yaml", "--env", "staging", "--config", "runbooks/testdata/drctl.yaml"},
			exitFailed, `missing-pipeline.yaml:5:5: step "freeze" (pipeline.freeze) needs environment "staging"'s pipeline: section`},
		{[]string{"plan", "runbooks/library/loss-of-instance.yaml", "--env", "production", "--param", "backup_date=2026-11-20", "--config", webhookWithoutKey(t)},
			exitFailed, `drctl.yaml:5:15: environment "production": pipeline: provider webhook needs hmac_key`},
	} {
		code, _, errs := drctl(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

// webhookWithoutKey is an environments file whose webhook pipeline has no
// hmac_key.
func webhookWithoutKey(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "drctl.yaml")
	err := os.WriteFile(p, []byte("environments:\n  production:\n    role: source\n    database: {name: register, url: env:X}\n"+
		"    pipeline: {provider: webhook, url: https://ci.example.org/freeze}\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSchema proves the generated schema accepts every shipped runbook and
// rejects one with a misspelt field, as an editor would show it.
func TestSchema(t *testing.T) {
	code, out, errs := drctl(t, "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("drctl.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("drctl.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	load := func(path string) any {
		src, err := os.ReadFile(filepath.Join(repoRoot, path))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(src, &v); err != nil {
			t.Fatal(err)
		}
		// Round-trip through JSON so the validator sees JSON types.
		b, _ := json.Marshal(v)
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		return doc
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot, "runbooks/library/*.yaml"))
	for _, f := range files {
		rel, _ := filepath.Rel(repoRoot, f)
		if err := schema.Validate(load(rel)); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
	for _, bad := range []string{"runbooks/testdata/bad/unknown-field.yaml", "runbooks/testdata/bad/unknown-input.yaml", "runbooks/testdata/bad/bad-enum-and-date-input.yaml"} {
		if err := schema.Validate(load(bad)); err == nil {
			t.Errorf("%s: the schema accepts it", bad)
		}
	}
}

// Every state a step can be in has its mark on the board and in status.
func TestEveryStepStateHasAMark(t *testing.T) {
	for _, s := range []string{workflows.StatePending, workflows.StateRunning, workflows.StateWaiting, workflows.StatePaused,
		workflows.StateSucceeded, workflows.StateFailed, workflows.StateSkipped, workflows.StateNotRun} {
		if chat.StateMarks[s] == "" {
			t.Errorf("step state %q has no mark", s)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := drctl(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "drctl version ") || !strings.Contains(out, "go1.") {
		t.Fatalf("drctl --version: exit %d, %q", code, out)
	}
}
