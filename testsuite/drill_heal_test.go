package testsuite

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/workflows"
)

// TestFailedDrillHeals runs the shipped nightly drill three times: a good
// one; one that fails verification (the backup is held to more rows than
// it has), which leaves no scratch database behind; and, after the next
// nightly backup, a good one again, which passes with no hand work. Its
// metrics endpoint shows all of it: the SDK's series and drctl's, with the
// drill's RTO and RPO and the backup's size, rows and time.
func TestFailedDrillHeals(t *testing.T) {
	r := newDrillRig(t, nil, []string{"--metrics-listen=127.0.0.1:0"})
	base := metricsURL(t, r.dev)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz of a dev that is up: %d %s", code, body)
	}
	run, env, prod := r.run, r.env, r.prod
	if code, out := run("nightly-backup.yaml", "production"); code != 0 {
		t.Fatalf("nightly backup: exit %d\n%s", code, out)
	}
	if code, out := run("nightly-restore.yaml", "staging"); code != 0 {
		t.Fatalf("first drill: exit %d\n%s", code, out)
	}
	// The SDK hands measurements to the registry once a second.
	var m string
	Eventually(t, 10*time.Second, func() bool {
		_, m = get(t, base+"/metrics")
		n, _ := sample(m, "drctl_runs", `runbook="nightly-restore"`, `state="succeeded"`)
		return n == 1
	}, "the drill is not counted in the metrics:\n%s", drctlSeries(m))
	for _, want := range []struct {
		name   string
		labels []string
	}{
		{"temporal_workflow_completed", []string{`workflow_type="drctl.Runbook"`, `task_queue="drctl"`}},
		{"temporal_activity_execution_latency_count", []string{`activity_type="postgres.restore"`}},
		{"drctl_runs", []string{`runbook="nightly-backup"`, `environment="production"`, `state="succeeded"`}},
		{"drctl_runs", []string{`runbook="nightly-restore"`, `environment="staging"`, `state="succeeded"`}},
		{"drctl_step_duration_count", []string{`step_type="postgres.restore"`, `environment="staging"`, `state="succeeded"`}},
		{"drctl_drill_rto_seconds", []string{`runbook="nightly-restore"`, `environment="staging"`}},
		{"drctl_drill_rpo_seconds", []string{`runbook="nightly-restore"`, `environment="staging"`}},
		{"drctl_drill_last_success_timestamp_seconds", []string{`environment="staging"`}},
		{"drctl_backup_last_rows", []string{`environment="production"`, `store="backups"`, `datastore="register"`}},
		{"drctl_backup_last_size_bytes", []string{`environment="production"`, `store="backups"`}},
		{"drctl_backup_last_timestamp_seconds", []string{`environment="production"`, `store="backups"`}},
	} {
		if v, ok := sample(m, want.name, want.labels...); !ok || v <= 0 {
			t.Errorf("no %s{%s} above zero in the metrics (%v)", want.name, strings.Join(want.labels, ","), v)
		}
	}
	if rows, _ := sample(m, "drctl_backup_last_rows", `environment="production"`); rows != 251 {
		t.Errorf("the backup's rows: %v, want 251 (201 users, 50 events)", rows)
	}
	if t.Failed() {
		t.Fatalf("metrics after a backup and a drill:\n%s", drctlSeries(m))
	}
	code, out := run("nightly-restore.yaml", "staging", "min_rows=1000000")
	if code != 1 || !strings.Contains(out, "did not succeed") {
		t.Fatalf("a drill held to more rows than the backup has: exit %d\n%s", code, out)
	}
	Eventually(t, 10*time.Second, func() bool {
		_, m = get(t, base+"/metrics")
		n, _ := sample(m, "drctl_runs", `runbook="nightly-restore"`, `state="failed"`)
		return n == 1
	}, "the failed drill is not counted in the metrics:\n%s", drctlSeries(m))
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
