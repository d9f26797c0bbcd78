package runbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drctl/drctl/workflows"
)

// libraryCases binds each shipped runbook to the environment it is written
// for, with the params an operator would pass.
var libraryCases = []struct {
	file   string
	env    string
	params map[string]string
}{
	{"loss-of-instance.yaml", "production", map[string]string{"backup_date": "2026-11-20"}},
	{"loss-of-instance.yaml", "staging", map[string]string{"backup_date": "2026-11-20", "store": "backups"}},
	{"data-loss-pitr.yaml", "production", map[string]string{"failure_time": "2026-11-20 16:00"}},
	{"nightly-restore.yaml", "staging", nil},
	{"nightly-backup.yaml", "production", nil},
	{"storage-compare.yaml", "production", nil},
	{"base-backup.yaml", "production", nil},
}

// TestLibraryCompiles proves every shipped runbook validates on its own and
// plans against the shipped example environments file.
func TestLibraryCompiles(t *testing.T) {
	files, _ := filepath.Glob("library/*.yaml")
	if len(files) < 5 {
		t.Fatalf("library holds %d runbooks", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if diags := Validate(f, src); len(diags) > 0 {
			t.Errorf("%s", diags.Lines())
		}
	}
	cfg, err := LoadConfig("../drctl.yaml")
	if err != nil {
		t.Fatalf("the example drctl.yaml: %v", err)
	}
	planned := map[string]bool{}
	for _, tc := range libraryCases {
		file := filepath.Join("library", tc.file)
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		plan, diags := Compile(file, src, Options{Config: cfg, Env: tc.env, Params: tc.params})
		if len(diags) > 0 {
			t.Errorf("%s on %s:\n%s", tc.file, tc.env, diags.Lines())
			continue
		}
		if len(plan.Steps) == 0 || plan.Hash == "" {
			t.Errorf("%s: empty plan", tc.file)
		}
		planned[file] = true
	}
	for _, f := range files {
		if !planned[f] {
			t.Errorf("%s is not planned by this test: add it to libraryCases", f)
		}
	}
}

// TestLibraryRefusals proves the environment rules hold for the shipped
// runbooks: the nightly restore never runs against production, and the
// nightly backup never backs up staging.
func TestLibraryRefusals(t *testing.T) {
	cfg, err := LoadConfig("../drctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, env string }{
		{"nightly-restore.yaml", "production"},
		{"nightly-backup.yaml", "staging"},
	} {
		src, _ := os.ReadFile(filepath.Join("library", tc.file))
		if plan, diags := Compile(tc.file, src, Options{Config: cfg, Env: tc.env}); plan != nil || len(diags) == 0 {
			t.Errorf("%s on %s compiled; it must be refused", tc.file, tc.env)
		}
	}
}

// TestREADMERunbook keeps the README's example honest: it validates and
// plans against the example environments file.
func TestREADMERunbook(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	src, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the README has no runbook example")
	}
	cfg, err := LoadConfig("../drctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, diags := Compile("README.md", []byte(src), Options{Config: cfg, Env: "production",
		Params: map[string]string{"failure_time": "2026-11-20 16:00"}}); len(diags) > 0 {
		t.Fatalf("the README's runbook:\n%s", diags.Lines())
	}
}

// compileLibrary plans a shipped runbook against the example environments
// file, failing the test on any diagnostic.
func compileLibrary(t *testing.T, file, env string, params map[string]string) (*Config, *workflows.Plan) {
	t.Helper()
	cfg, err := LoadConfig("../drctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("library", file))
	if err != nil {
		t.Fatal(err)
	}
	plan, diags := Compile(file, src, Options{Config: cfg, Env: env, Params: params})
	if len(diags) > 0 {
		t.Fatal(diags.Lines())
	}
	return cfg, plan
}

// TestStepReferenceIsCurrent fails when docs/steps.md or the field docs
// drctl schema shows no longer match the catalogue and the steps' doc
// comments: run go generate ./runbooks.
func TestStepReferenceIsCurrent(t *testing.T) {
	docs, err := ParseFieldDocs("..")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"fielddocs_gen.go": FieldDocsSource(docs), "../docs/steps.md": StepsMarkdown(docs)} {
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Errorf("%s is stale (%v): run go generate ./runbooks", file, err)
		}
	}
}
