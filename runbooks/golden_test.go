package runbooks

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenOptions reads the options of a golden case from its first line:
// "# drctl: --env NAME --param k=v ..." compiles against testdata/drctl.yaml;
// without it the file is only validated.
func goldenOptions(t *testing.T, src []byte) (Options, bool) {
	t.Helper()
	first, _, _ := strings.Cut(string(src), "\n")
	args, ok := strings.CutPrefix(first, "# drctl:")
	if !ok {
		return Options{}, false
	}
	cfg, err := LoadConfig("testdata/drctl.yaml")
	if err != nil {
		t.Fatalf("testdata/drctl.yaml: %v", err)
	}
	opts := Options{Config: cfg, Params: map[string]string{}}
	fields := strings.Fields(args)
	for i := 0; i+1 < len(fields); i += 2 {
		switch fields[i] {
		case "--env":
			opts.Env = fields[i+1]
		case "--param":
			k, v, _ := strings.Cut(strings.ReplaceAll(fields[i+1], "_SP_", " "), "=")
			opts.Params[k] = v
		default:
			t.Fatalf("golden header: unknown option %q", fields[i])
		}
	}
	return opts, true
}

func compileGolden(t *testing.T, file string) ([]byte, Diagnostics) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	opts, bound := goldenOptions(t, src)
	if !bound {
		return nil, Validate(file, src)
	}
	plan, diags := Compile(file, src, opts)
	if plan == nil {
		return nil, diags
	}
	b, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n'), diags
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./runbooks -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./runbooks -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGoldenOK(t *testing.T) {
	files, _ := filepath.Glob("testdata/ok/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/ok/*.yaml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			got, diags := compileGolden(t, file)
			if len(diags) > 0 {
				t.Fatalf("unexpected problems:\n%s", diags.Lines())
			}
			if got == nil {
				t.Fatal("a golden ok case must carry a '# drctl: --env ...' header so it compiles to a plan")
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".plan.json", got)
		})
	}
}

func TestGoldenBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 25 {
		t.Fatalf("want at least 25 bad cases, have %d", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, diags := compileGolden(t, file)
			if len(diags) == 0 {
				t.Fatal("compiled without problems; a bad case must fail")
			}
			for _, d := range diags {
				if d.File != file || strings.Contains(d.Msg, "internal error") {
					t.Errorf("diagnostic does not point into the file, or is internal: %s", d)
				}
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".errors", []byte(diags.Lines()))
		})
	}
}

// TestPlanHashStable proves the hash depends on content only: compiling the
// same input twice gives the same hash, and changing a param changes it.
func TestPlanHashStable(t *testing.T) {
	cfg, err := LoadConfig("testdata/drctl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../runbooks/library/loss-of-instance.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hash := func(date string) string {
		p, diags := Compile("loss-of-instance.yaml", src, Options{Config: cfg, Env: "production", Params: map[string]string{"backup_date": date}})
		if len(diags) > 0 {
			t.Fatalf("%s", diags.Lines())
		}
		if p.Hash != HashPlan(p) {
			t.Fatal("plan hash does not match its content")
		}
		return p.Hash
	}
	a, b, c := hash("2026-11-20"), hash("2026-11-20"), hash("2026-11-21")
	if a != b || a == c || len(a) != 64 {
		t.Fatalf("hashes: %s %s %s", a, b, c)
	}
}
