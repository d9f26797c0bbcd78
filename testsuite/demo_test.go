package testsuite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `drctl demo`, from outside the repository (its runbooks
// are the binary's own): the shipped nightly-backup and nightly-restore
// runbooks end to end on real Postgres clusters and the embedded server,
// ending with an empty backup refused.
func TestDemo(t *testing.T) {
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	dir := filepath.Join(PostgresBase(t), "demo")
	code, out := RunIn(t, t.TempDir(), nil, "demo", "--dir", dir, "--ui-port", "-1")
	if code != 0 {
		t.Fatalf("drctl demo: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"nightly-backup on production — succeeded",
		"nightly-restore on staging — succeeded",
		"5000 users scrubbed", // all but the test account, kept for QA
		"report.html",         // the drill's evidence, for a browser too
		"refusing to store an empty backup",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo did not show %q:\n%s", want, out)
		}
	}
	// The worker's own log of the refused backup is in its file, not
	// among what the demo tells its reader.
	log, err := os.ReadFile(filepath.Join(dir, "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "EmptyDatabase") {
		t.Errorf("the worker's log does not hold the refused backup:\n%s", log)
	}
	if strings.Contains(out, "Activity error") {
		t.Errorf("the worker's log is in the demo's output:\n%s", out)
	}
}
