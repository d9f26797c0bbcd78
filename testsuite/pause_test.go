package testsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/workflows"
)

// TestNightlyBackupOfAnEmptyDatabaseIsLoud runs the shipped nightly backup
// on a production whose database is empty, with on_error: pause: drctl run
// --wait comes back at the pause (exit 3) with what to do; nobody answers,
// so after the pause timeout the run fails, and the environment's alarm
// hears of the pause and of the failure.
func TestNightlyBackupOfAnEmptyDatabaseIsLoud(t *testing.T) {
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	var mu sync.Mutex
	var alarms []map[string]string
	pager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a map[string]string
		json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		alarms = append(alarms, a)
		mu.Unlock()
	}))
	defer pager.Close()

	prod := StartPostgres(t, filepath.Join(PostgresBase(t), "production"), postgres.MainInstance, nil)
	if err := execSQL(prod.URL("postgres"), "create database register"); err != nil {
		t.Fatal(err)
	}
	if err := execSQL(prod.URL("register"), "create table users (id int)"); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "drctl.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_TEST_PROD_URL"}
    stores:
      backups: {type: local, path: %[1]q, recipients: [%[2]q]}
      offsite: {type: local, path: %[4]q, recipients: [%[2]q]}
    policy:
      on_error: pause
      pause_timeout: 3s
      retention: {keep_daily: 14, keep_weekly: 8}
      alarm: {url: %[3]q}
`, dir, id.Recipient().String(), pager.URL, filepath.Join(dir, "offsite"))), 0o644)
	env := []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_PROD_URL=" + prod.URL("register")}
	dev := StartDevEnv(t, env, filepath.Join(dir, "temporal.db"), 0)
	env = append(env, dev.Env()...)

	code, out := Run(t, env, "run", "runbooks/library/nightly-backup.yaml", "--env", "production", "--as", "cron", "--wait")
	if code != 3 || !strings.Contains(out, "paused at step to_") || !strings.Contains(out, "drctl retry") || !strings.Contains(out, "no rows") {
		t.Fatalf("run --wait on a pause: exit %d\n%s", code, out)
	}
	runID := runIDOf(out)
	Eventually(t, 60*time.Second, func() bool {
		return status(t, env, runID).State == workflows.StateFailed
	}, "the unanswered pause to fail the run")
	Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		kinds := map[string]bool{}
		for _, a := range alarms {
			kinds[a["kind"]] = true
		}
		return kinds[workflows.StatePaused] && kinds[workflows.StateFailed]
	}, "the alarm to hear of the pause and the failure: %v", alarms)
	st := status(t, env, runID)
	if got := stepState(st, "alarm"); got != workflows.StateSucceeded {
		t.Fatalf("the runbook's own alarm (on_failure) is %s", got)
	}
}

func execSQL(url, q string) error {
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(context.Background(), q)
	return err
}

func queryRow(url, q string, dest ...any) error {
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.QueryRow(context.Background(), q).Scan(dest...)
}
