package runbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCompile feeds arbitrary bytes to the compiler, validating and binding
// to an environment: it must never panic (Compile turns a panic into an
// "internal error" diagnostic, which this treats as a failure) and must
// either produce a plan or say why not.
func FuzzCompile(f *testing.F) {
	for _, pattern := range []string{"testdata/ok/*.yaml", "testdata/bad/*.yaml", "library/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	cfg, err := LoadConfig("testdata/drctl.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, opts := range []Options{{}, {Config: cfg, Env: "production", Params: map[string]string{"date": "2026-11-20"}}} {
			plan, diags := Compile("fuzz.yaml", src, opts)
			for _, d := range diags {
				if strings.Contains(d.Msg, "internal error") {
					t.Fatalf("%s\ninput:\n%s", d, src)
				}
			}
			if plan == nil && len(diags) == 0 && opts.Config != nil {
				t.Fatalf("no plan and no reason for:\n%s", src)
			}
		}
	})
}
