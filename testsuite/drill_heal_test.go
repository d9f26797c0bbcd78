package testsuite

import (
	"strings"
	"testing"

	"github.com/drctl/drctl/workflows"
)

// TestFailedDrillHeals runs the shipped nightly drill three times: a good
// one; one that fails verification (the backup is held to more rows than
// it has), which leaves no scratch database behind; and, after the next
// nightly backup, a good one again, which passes with no hand work.
func TestFailedDrillHeals(t *testing.T) {
	r := newDrillRig(t, nil)
	run, env, prod := r.run, r.env, r.prod
	if code, out := run("nightly-backup.yaml", "production"); code != 0 {
		t.Fatalf("nightly backup: exit %d\n%s", code, out)
	}
	if code, out := run("nightly-restore.yaml", "staging"); code != 0 {
		t.Fatalf("first drill: exit %d\n%s", code, out)
	}
	code, out := run("nightly-restore.yaml", "staging", "min_rows=1000000")
	if code != 1 || !strings.Contains(out, "did not succeed") {
		t.Fatalf("a drill held to more rows than the backup has: exit %d\n%s", code, out)
	}
	st := status(t, env, runIDOf(out))
	if stepState(st, "verify") != workflows.StateFailed || stepState(st, "clean_scratch") != workflows.StateSucceeded {
		t.Fatalf("the failed drill: %+v", st.Steps)
	}
	// Production gets on, a new backup is taken, and the next drill
	// restores it.
	if err := execSQL(prod.URL("register"), "insert into events (kind) select 'login' from generate_series(1, 10)"); err != nil {
		t.Fatal(err)
	}
	if code, out := run("nightly-backup.yaml", "production"); code != 0 {
		t.Fatalf("the next nightly backup: exit %d\n%s", code, out)
	}
	if code, out := run("nightly-restore.yaml", "staging"); code != 0 {
		t.Fatalf("the drill after a failed one: exit %d\n%s", code, out)
	}
}
