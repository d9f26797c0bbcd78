package testsuite

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/drctl/drctl/workflows"
)

// TestNightlyRestoreSurvivesAKilledWorker kills drctl dev (server and
// worker, SIGKILL) while the shipped drill's restore runs pg_restore -j,
// downloading into a TMPDIR with room for one copy of the dump. No
// pg_restore outlives it; started again, the run retries the restore,
// which finds the room the dead attempt held, and the drill passes with
// every row and no temporary file left.
func TestNightlyRestoreSurvivesAKilledWorker(t *testing.T) {
	const rows = 1200000 // a dump of about 85 MiB once decrypted
	tmp := SmallDisk(t, PostgresBase(t), "tmp", 130)
	r := newDrillRig(t, []string{"TMPDIR=" + tmp}, nil,
		"create table bulk (id int primary key, a text)",
		fmt.Sprintf("insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, %d) g", rows))
	if code, out := r.run("nightly-backup.yaml", "production"); code != 0 {
		t.Fatalf("nightly backup: exit %d\n%s", code, out)
	}
	code, out := Run(t, r.env, "run", "runbooks/library/nightly-restore.yaml", "--env", "staging", "--as", "cron")
	id := runIDOf(out)
	if code != 0 || id == "" {
		t.Fatalf("drctl run: exit %d\n%s", code, out)
	}
	port := fmt.Sprintf("PGPORT=%d", r.stg.Port)
	Eventually(t, 2*time.Minute, func() bool { return len(restoresInto(port, true)) > 0 }, "pg_restore -j to load staging")
	r.dev.Kill()
	Eventually(t, 10*time.Second, func() bool { return len(restoresInto(port, false)) == 0 },
		"the killed worker's pg_restore to die with it: %v", lazy(func() string { return fmt.Sprint(restoresInto(port, false)) }))
	if left, _ := os.ReadDir(filepath.Join(tmp, "drctl-scratch")); len(left) == 0 {
		t.Fatal("the killed restore left nothing in TMPDIR: the test did not catch it downloading")
	}

	dev := StartDevEnv(t, r.devEnv, r.db, portOf(t, r.dev.Address))
	var st workflows.Status
	Eventually(t, 4*time.Minute, func() bool {
		st = status(t, r.env, id)
		return st.State != workflows.StateRunning
	}, "the run to end after the restart")
	if st.State != workflows.StateSucceeded {
		t.Fatalf("the drill after a killed worker: %s\n%s\n%s", st.State, outputOf(t, r.env, "status", id), dev)
	}
	if n := attempts(t, dev.Address, id, "restore"); n < 2 {
		t.Errorf("the restore's last attempt was its %d.: the kill did not interrupt it", n)
	}
	var n int64
	if err := queryRow(r.stg.URL("register"), "select count(*) from bulk", &n); err != nil || n != rows {
		t.Fatalf("staging holds %d rows of bulk (%v), want %d", n, err, rows)
	}
	var files []string
	filepath.WalkDir(tmp, func(path string, d os.DirEntry, err error) error {
		// The lock the attempts share stays; what they wrote must not.
		if err == nil && !d.IsDir() && d.Name() != ".lock" {
			files = append(files, path)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("temporary files outlived the drill: %v", files)
	}
}

// restoresInto lists the pg_restore processes loading the instance that
// env (its PGPORT=) names; with jobs, only pg_restore -j.
func restoresInto(env string, jobs bool) []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte("pg_restore")) || jobs && !bytes.Contains(cmdline, []byte("--jobs")) {
			continue
		}
		environ, _ := os.ReadFile(filepath.Join(p, "environ"))
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if string(kv) == env {
				found = append(found, filepath.Base(p)+" "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
			}
		}
	}
	return found
}

// attempts is the number of the attempt of activity activityID that ended
// it, from the run's history.
func attempts(t *testing.T, address, id, activityID string) int32 {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: address, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	scheduled := map[int64]string{}
	var last int32
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[e.GetEventId()] = a.GetActivityId()
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] == activityID {
			last = a.GetAttempt()
		}
	}
	return last
}

func portOf(t *testing.T, address string) int {
	t.Helper()
	var port int
	if i := strings.LastIndex(address, ":"); i < 0 || func() error { _, err := fmt.Sscan(address[i+1:], &port); return err }() != nil {
		t.Fatalf("no port in %q", address)
	}
	return port
}
