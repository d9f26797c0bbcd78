package testsuite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `drctl demo`, from outside the repository (its runbooks
// are the binary's own): the three incidents end to end on real Postgres
// clusters and the embedded server. Data loss: recovered by PITR to a
// moment given on New York's clock, exactly the rows of that moment served
// at production's address, -old dropped after its gate. Loss of the
// instance: recreated where the application connects and restored, WAL
// archiving again. The nightly drill, ending with an empty backup
// refused. It closes with one table of the three.
func TestDemo(t *testing.T) {
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	dir := filepath.Join(PostgresBase(t), "demo")
	code, out := RunIn(t, t.TempDir(), nil, "demo", "--dir", dir, "--ui-port", "-1")
	if code != 0 {
		t.Fatalf("drctl demo: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"data-loss-pitr on production — refused",
		"✗ recover: the recovery target",
		"refused; production still has register",
		"data-loss-pitr on production — succeeded",
		"demo-approver approves gate approve_drop",
		"production's URL now serves the recovered data: 5001 users, 50 rows from before the moment, 0 from after",
		"loss-of-instance on production — succeeded",
		"production is back on a new instance: every table's rows and checksum as before the loss",
		"is inside the archive: from base backup production/base/", // PITR armed again after the rebuild
		"every check passed; nothing was changed",
		"nightly-restore on staging — succeeded",
		"5000 users scrubbed", // all but the test account, kept for QA
		"report.html",         // the drill's evidence, for a browser too
		"refusing to store an empty backup",
		"INCIDENT", "data loss (PITR)", "loss of instance", "nightly drill",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo did not show %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "recovered\n") != 3 {
		t.Errorf("not every incident recovered:\n%s", out)
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
