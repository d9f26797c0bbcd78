package testsuite

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `drctl demo`: the shipped nightly-backup and
// nightly-restore runbooks end to end on real Postgres clusters and the
// embedded server, ending with an empty backup refused.
func TestDemo(t *testing.T) {
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	code, out := Run(t, nil, "demo", "--dir", filepath.Join(PostgresBase(t), "demo"), "--ui-port", "-1")
	if code != 0 {
		t.Fatalf("drctl demo: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"nightly-backup on production — succeeded",
		"nightly-restore on staging — succeeded",
		"5001 users scrubbed",
		"report.html", // the drill's evidence, for a browser too
		"refusing to store an empty backup",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo did not show %q:\n%s", want, out)
		}
	}
}
