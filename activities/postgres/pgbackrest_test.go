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
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

// asPostgresCmd runs a command as the postgres user, as pgBackRest and
// Postgres's archive_command do.
func asPostgresCmd(t testing.TB, args ...string) {
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

// archiveThroughBoth makes production archive its WAL both through drctl
// (pitrFixture's archive) and into a pgBackRest stanza "register" of a
// repository in a temporary folder, and returns pgBackRest's config file.
// The repository uses zstd, as drctl's archive does, rather than
// pgBackRest's default gzip.
func archiveThroughBoth(t testing.TB, f *fixture) string {
	t.Helper()
	testsuite.Need(t, "pgbackrest", "apt-get install -y pgbackrest")
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
	os.WriteFile(conf, []byte(fmt.Sprintf("[global]\nrepo1-path=%s/repo\nlog-path=%s/log\nlock-path=%s/lock\nlog-level-console=warn\nstart-fast=y\ncompress-type=zst\n\n[register]\npg1-path=%s/data\npg1-port=%d\npg1-socket-path=%s\n",
		dir, dir, dir, prodDir, f.prod.Port, prodDir)), 0o644)
	archive := fmt.Sprintf("'%s' --config '%s' wal-push --env production %%p && pgbackrest --config=%s --stanza=register archive-push %%p",
		f.pg.WALCommand[0], f.pg.WALCommand[2], conf)
	sql(t, f.prod, "postgres", "alter system set archive_command = '"+strings.ReplaceAll(archive, "'", "''")+"'")
	sql(t, f.prod, "postgres", "select pg_reload_conf()")
	asPostgresCmd(t, "pgbackrest", "--config="+conf, "--stanza=register", "stanza-create")
	f.targets["production"].Instance.PgBackRest = &postgres.PgBackRestConfig{Stanza: "register", Config: conf}
	return conf
}

// TestPITRBothBackends archives production's WAL both through drctl and
// through pgBackRest, then recovers to the same moment before a
// destructive DELETE with each backend: both bring back exactly the rows
// of that moment. BenchmarkPITR times them.
func TestPITRBothBackends(t *testing.T) {
	f, _ := pitrFixture(t)
	conf := archiveThroughBoth(t, f)

	seed(t, f.prod, 100)
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Base: true, Run: runCtx("production")}, nil)
	asPostgresCmd(t, "pgbackrest", "--config="+conf, "--stanza=register", "backup", "--type=full")
	sql(t, f.prod, "register", "insert into users (email, name) select 'late'||g||'@example.org', 'Late '||g from generate_series(1, 100) g")
	good := dbNow(t, f.prod)
	pastTheSecondOf(t, f.prod, good)
	sql(t, f.prod, "register", "delete from users where id > 10")
	switchAndWaitArchived(t, f.prod)

	for _, backend := range []string{"native", "pgbackrest"} {
		var out postgres.PITROutput
		f.must(f.pg.PITR, postgres.PITRInput{Target: good, Instance: "pitr-" + backend, Database: "register", Backend: backend, Run: runCtx("production")}, &out)
		l, ok, _ := pglocal.Open(f.targets["production"].Instance.DataDir, "pitr-"+backend)
		if !ok || !out.Promoted {
			t.Fatalf("%s: %+v", backend, out)
		}
		t.Cleanup(func() { l.Destroy(context.Background()) })
		if n := queryInt(t, l, "register", "select count(*) from users"); n != 200 {
			t.Fatalf("%s recovered %d users, want 200", backend, n)
		}
	}
	err := f.run(f.pg.PITR, postgres.PITRInput{Target: time.Now().Add(time.Hour), Instance: "late", Backend: "pgbackrest", Run: runCtx("production")}, nil)
	if errType(err) != "TargetTooLate" {
		t.Fatalf("pgbackrest, target after the archive: %v", err)
	}
}
