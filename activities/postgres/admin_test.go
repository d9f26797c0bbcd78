package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

// TestRenameWithLiveConnections renames a database that sessions are
// using; running it again says it is done.
func TestRenameWithLiveConnections(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 10)
	ctx := context.Background()
	var sessions []*pgx.Conn
	for range 3 {
		c, err := pgx.Connect(ctx, f.Prod.URL("register"))
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, c)
	}
	defer func() {
		for _, c := range sessions {
			c.Close(ctx)
		}
	}()
	in := postgres.RenameInput{Database: "register", NewName: "register-old", Run: testsuite.RunContext("production")}
	var out postgres.RenameOutput
	f.Must(f.PG.Rename, in, &out)
	if out.Terminated != 3 || out.AlreadyDone {
		t.Fatalf("rename: %+v", out)
	}
	if n := testsuite.QueryInt(t, f.Prod, "register-old", "select count(*) from users"); n != 10 {
		t.Fatalf("renamed database has %d users", n)
	}
	f.Must(f.PG.Rename, in, &out)
	if !out.AlreadyDone {
		t.Fatalf("second rename: %+v", out)
	}
	// Both names taken: refused rather than guessed.
	sql(t, f.Prod, "postgres", "create database register")
	if err := f.Run(f.PG.Rename, in, nil); errType(err) != "Conflict" {
		t.Fatalf("both exist: %v", err)
	}
}

// TestDropOnlyOld drops the set-aside database and refuses any other.
func TestDropOnlyOld(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 10)
	if err := f.Run(f.PG.Drop, postgres.DropInput{Database: "register", Run: testsuite.RunContext("production")}, nil); errType(err) != "Refused" {
		t.Fatalf("drop of the live database: %v", err)
	}
	sql(t, f.Prod, "postgres", "alter database register rename to \"register-old\"")
	var out postgres.DropOutput
	f.Must(f.PG.Drop, postgres.DropInput{Database: "register-old", Run: testsuite.RunContext("production")}, &out)
	if !out.Dropped {
		t.Fatalf("drop: %+v", out)
	}
	f.Must(f.PG.Drop, postgres.DropInput{Database: "register-old", Run: testsuite.RunContext("production")}, &out)
	if !out.AlreadyGone {
		t.Fatalf("second drop: %+v", out)
	}
}

// TestExecProvider runs the configured commands of the exec provider, with
// their output kept for an approval gate and the database password
// redacted from it.
func TestExecProvider(t *testing.T) {
	f := testsuite.NewFixture(t)
	t.Setenv("DRCTL_TEST_EXEC_URL", "postgres://app:pa55word-xyz@127.0.0.1:5432/register")
	f.Targets["exec"] = &postgres.Target{Name: "exec", Role: "source", Database: "register", URL: "env:DRCTL_TEST_EXEC_URL",
		Instance: &postgres.InstanceConfig{Provider: "exec", Exec: map[string][]string{
			"create":   {"sh", "-c", `echo "plan: create $DRCTL_INSTANCE in $DRCTL_ENVIRONMENT with password pa55word-xyz"`},
			"failover": {"sh", "-c", "echo switching; exit 4"},
			"pitr":     {"sh", "-c", `echo "restoring $DRCTL_INSTANCE to $DRCTL_TARGET_TIME"`},
		}}}
	var out postgres.InstanceOutput
	f.Must(f.PG.CreateInstance, postgres.CreateInstanceInput{Run: testsuite.RunContext("exec")}, &out)
	if !strings.Contains(out.Log, "plan: create main in exec with password [redacted]") {
		t.Fatalf("log: %q", out.Log)
	}
	err := f.Run(f.PG.Failover, postgres.FailoverInput{To: "replica", Run: testsuite.RunContext("exec")}, nil)
	if err == nil || !strings.Contains(err.Error(), "switching") {
		t.Fatalf("failing failover: %v", err)
	}
	var pitr postgres.PITROutput
	f.Must(f.PG.PITR, postgres.PITRInput{Target: time.Date(2026, 7, 20, 15, 0, 0, 0, time.UTC), Instance: "recovered", Run: testsuite.RunContext("exec")}, &pitr)
	if !strings.Contains(pitr.Log, "restoring recovered to 2026-07-20T15:00:00Z") || !pitr.Promoted {
		t.Fatalf("exec pitr: %+v", pitr)
	}
	if err := f.Run(f.PG.Reboot, postgres.RebootInput{Run: testsuite.RunContext("exec")}, nil); errType(err) != "NotConfigured" {
		t.Fatalf("reboot without a command: %v", err)
	}
}

// The exec provider's commands get a child's environment, never the
// worker's secrets, and the password is redacted before the output is
// cut, so none of it survives at the cut either.
func TestExecProviderKeepsSecrets(t *testing.T) {
	f := testsuite.NewFixture(t)
	const password = "pa55word-0123456789abcdef"
	t.Setenv("DRCTL_TEST_EXEC_URL", "postgres://app:"+password+"@127.0.0.1:5432/register")
	t.Setenv("DRCTL_TEST_WORKER_SECRET", "AGE-SECRET-KEY-1WORKERSECRET")
	// Head and tail keep 8 KiB each: the password starts 5 bytes before the
	// head ends, and ends 11 bytes after the tail starts.
	boundary := `head -c 8187 /dev/zero | tr '\0' x; echo "` + password + `"; head -c 20000 /dev/zero | tr '\0' y; echo "` + password + `"; head -c 8180 /dev/zero | tr '\0' z`
	f.Targets["exec"] = &postgres.Target{Name: "exec", Role: "source", Database: "register", URL: "env:DRCTL_TEST_EXEC_URL",
		Instance: &postgres.InstanceConfig{Provider: "exec", Exec: map[string][]string{
			"create": {"sh", "-c", "env | sort"},
			"reboot": {"sh", "-c", boundary},
		}}}
	var out postgres.InstanceOutput
	f.Must(f.PG.CreateInstance, postgres.CreateInstanceInput{Run: testsuite.RunContext("exec")}, &out)
	if strings.Contains(out.Log, "WORKERSECRET") || strings.Contains(out.Log, "DRCTL_TEST_EXEC_URL") || !strings.Contains(out.Log, "DRCTL_INSTANCE=main") {
		t.Fatalf("the provider saw the worker's environment:\n%s", out.Log)
	}
	f.Must(f.PG.Reboot, postgres.RebootInput{Run: testsuite.RunContext("exec")}, &out)
	for i := 0; i+6 <= len(password); i++ {
		if strings.Contains(out.Log, password[i:i+6]) {
			t.Fatalf("part of the password (%q) survived the cut:\n…%s…", password[i:i+6], out.Log[8000:8400])
		}
	}
	// The marker is what the cuts go through.
	if !strings.Contains(out.Log, "xxx[reda\n…") || !strings.Contains(out.Log, "cted]\nzzz") {
		t.Fatalf("the output was not cut where the password was:\n…%s…\n…%s…", out.Log[8100:8300], out.Log[len(out.Log)-8200:len(out.Log)-8100])
	}
}

// A local instance create_instance makes gets the environment's instance
// settings (WAL archiving, say), under the step's own.
func TestCreateInstanceAppliesTheEnvironmentsSettings(t *testing.T) {
	f := testsuite.NewFixture(t)
	f.Targets["staging"].Instance.Settings = map[string]string{"work_mem": "7MB", "maintenance_work_mem": "8MB"}
	var out postgres.InstanceOutput
	f.Must(f.PG.CreateInstance, postgres.CreateInstanceInput{Instance: "rebuilt", Settings: map[string]string{"maintenance_work_mem": "9MB"},
		Run: testsuite.RunContext("staging")}, &out)
	l, ok, err := pglocal.Open(f.Targets["staging"].Instance.DataDir, "rebuilt")
	if err != nil || !ok {
		t.Fatalf("no instance: %v", err)
	}
	t.Cleanup(func() { _ = l.Destroy(context.Background()) })
	c, err := pgx.Connect(context.Background(), l.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var work, maint string
	if err := c.QueryRow(context.Background(), "select current_setting('work_mem'), current_setting('maintenance_work_mem')").Scan(&work, &maint); err != nil {
		t.Fatal(err)
	}
	if work != "7MB" || maint != "9MB" {
		t.Fatalf("work_mem %s, maintenance_work_mem %s; want 7MB from the environment and 9MB from the step", work, maint)
	}
}
