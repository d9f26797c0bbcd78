package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/testsuite"
)

// asPostgresCmd runs a command as the postgres user, as pgBackRest and
// Postgres's archive_command do.
func asPostgresCmd(t *testing.T, args ...string) {
	t.Helper()
	if os.Geteuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// TestPITRBothBackends archives production's WAL both through drctl and
// through pgBackRest, then recovers to the same moment before a
// destructive DELETE with each backend: both bring back exactly the rows
// of that moment. It logs how long each took, start to promoted.
func TestPITRBothBackends(t *testing.T) {
	testsuite.Need(t, "pgbackrest", "apt-get install -y pgbackrest")
	f, _ := pitrFixture(t)
	dir, err := os.MkdirTemp("", "drctl-pgbackrest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, sub := range []string{"repo", "log", "lock"} {
		os.Mkdir(filepath.Join(dir, sub), 0o750)
		chownPostgres(filepath.Join(dir, sub))
	}
	conf := filepath.Join(dir, "pgbackrest.conf")
	prodDir := filepath.Join(f.targets["production"].Instance.DataDir, postgres.MainInstance)
	os.WriteFile(conf, []byte(fmt.Sprintf("[global]\nrepo1-path=%s/repo\nlog-path=%s/log\nlock-path=%s/lock\nlog-level-console=warn\nstart-fast=y\n\n[register]\npg1-path=%s/data\npg1-port=%d\npg1-socket-path=%s\n",
		dir, dir, dir, prodDir, f.prod.Port, prodDir)), 0o644)
	// Archive through both: drctl's own archive and pgBackRest's.
	archive := fmt.Sprintf("'%s' --config '%s' wal-push --env production %%p && pgbackrest --config=%s --stanza=register archive-push %%p",
		f.pg.WALCommand[0], f.pg.WALCommand[2], conf)
	sql(t, f.prod, "postgres", "alter system set archive_command = '"+strings.ReplaceAll(archive, "'", "''")+"'")
	sql(t, f.prod, "postgres", "select pg_reload_conf()")
	asPostgresCmd(t, "pgbackrest", "--config="+conf, "--stanza=register", "stanza-create")

	seed(t, f.prod, 100)
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Base: true, Run: runCtx("production")}, nil)
	asPostgresCmd(t, "pgbackrest", "--config="+conf, "--stanza=register", "backup", "--type=full")
	sql(t, f.prod, "register", "insert into users (email, name) select 'late'||g||'@example.org', 'Late '||g from generate_series(1, 100) g")
	good := dbNow(t, f.prod)
	// pgBackRest's archive times are whole seconds: the destructive
	// delete must land in a later second than the target.
	testsuite.Eventually(t, 10*time.Second, func() bool { return dbNow(t, f.prod).Sub(good.Truncate(time.Second)) > 1100*time.Millisecond },
		"the clock to pass the target's second")
	sql(t, f.prod, "register", "delete from users where id > 10")
	switchAndWaitArchived(t, f.prod)
	f.targets["production"].Instance.PgBackRest = &postgres.PgBackRestConfig{Stanza: "register", Config: conf}

	took := map[string]time.Duration{}
	for _, backend := range []string{"native", "pgbackrest"} {
		start := time.Now()
		var out postgres.PITROutput
		f.must(f.pg.PITR, postgres.PITRInput{Target: good, Instance: "pitr-" + backend, Database: "register", Backend: backend, Run: runCtx("production")}, &out)
		took[backend] = time.Since(start)
		l, ok, _ := postgres.OpenLocal(f.targets["production"].Instance.DataDir, "pitr-"+backend)
		if !ok || !out.Promoted {
			t.Fatalf("%s: %+v", backend, out)
		}
		t.Cleanup(func() { l.Destroy(context.Background()) })
		if n := queryInt(t, l, "register", "select count(*) from users"); n != 200 {
			t.Fatalf("%s recovered %d users, want 200", backend, n)
		}
	}
	t.Logf("point-in-time recovery, start to promoted: native %s, pgBackRest %s (ratio %.2f)",
		took["native"].Round(time.Millisecond), took["pgbackrest"].Round(time.Millisecond), took["native"].Seconds()/took["pgbackrest"].Seconds())

	err = f.run(f.pg.PITR, postgres.PITRInput{Target: time.Now().Add(time.Hour), Instance: "late", Backend: "pgbackrest", Run: runCtx("production")}, nil)
	if errType(err) != "TargetTooLate" {
		t.Fatalf("pgbackrest, target after the archive: %v", err)
	}
}
