package testsuite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
)

// What the tests and benchmarks of point-in-time recovery share: WAL
// archived on demand, the servers' clock, and pgBackRest beside drctl.

// AsPostgres runs a command as the postgres user, as pgBackRest and
// Postgres's archive_command do.
func AsPostgres(t testing.TB, args ...string) {
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

// ArchiveThroughPgBackRest makes production archive its WAL both through drctl
// (NewArchivingFixture's archive) and into a pgBackRest stanza "register" of a
// repository in a temporary folder, and returns pgBackRest's config file.
// The repository uses zstd, as drctl's archive does, rather than
// pgBackRest's default gzip.
func ArchiveThroughPgBackRest(t testing.TB, f *Fixture) string {
	t.Helper()
	Need(t, "pgbackrest", "apt-get install -y pgbackrest")
	dir, err := os.MkdirTemp("", "drctl-pgbackrest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, sub := range []string{"repo", "log", "lock"} {
		os.Mkdir(filepath.Join(dir, sub), 0o750)
		pglocal.ChownToPostgres(filepath.Join(dir, sub))
	}
	conf := filepath.Join(dir, "pgbackrest.conf")
	prodDir := filepath.Join(f.Targets["production"].Instance.DataDir, postgres.MainInstance)
	os.WriteFile(conf, []byte(fmt.Sprintf("[global]\nrepo1-path=%s/repo\nlog-path=%s/log\nlock-path=%s/lock\nlog-level-console=warn\nstart-fast=y\ncompress-type=zst\n\n[register]\npg1-path=%s/data\npg1-port=%d\npg1-socket-path=%s\n",
		dir, dir, dir, prodDir, f.Prod.Port, prodDir)), 0o644)
	archive := fmt.Sprintf("'%s' --config '%s' wal-push --env production %%p && pgbackrest --config=%s --stanza=register archive-push %%p",
		f.PG.WALCommand[0], f.PG.WALCommand[2], conf)
	SQL(t, f.Prod.URL("postgres"), "alter system set archive_command = '"+strings.ReplaceAll(archive, "'", "''")+"'")
	SQL(t, f.Prod.URL("postgres"), "select pg_reload_conf()")
	AsPostgres(t, "pgbackrest", "--config="+conf, "--stanza=register", "stanza-create")
	f.Targets["production"].Instance.PgBackRest = &postgres.PgBackRestConfig{Stanza: "register", Config: conf}
	return conf
}

// SwitchAndWaitArchived ends the current WAL segment and waits until it
// is in the archive.
func SwitchAndWaitArchived(t testing.TB, l *pglocal.Instance) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, l.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var segment string
	if err := c.QueryRow(ctx, "select pg_walfile_name(pg_switch_wal())").Scan(&segment); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, func() bool {
		var last *string
		var failed int64
		if err := c.QueryRow(ctx, "select last_archived_wal, failed_count from pg_stat_archiver").Scan(&last, &failed); err != nil {
			t.Fatal(err)
		}
		return last != nil && *last >= segment
	}, "segment %s to be archived", segment)
}

// DBNow is the time on l's clock.
func DBNow(t testing.TB, l *pglocal.Instance) time.Time {
	t.Helper()
	c, err := pgx.Connect(context.Background(), l.URL("register"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var now time.Time
	if err := c.QueryRow(context.Background(), "select now()").Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now.UTC()
}

// PastTheSecondOf waits until l's clock is in a later second than at: a
// change made after it is in the archive after the target at, whose
// times pgBackRest keeps in whole seconds.
func PastTheSecondOf(t testing.TB, l *pglocal.Instance, at time.Time) {
	t.Helper()
	Eventually(t, 10*time.Second, func() bool { return DBNow(t, l).Sub(at.Truncate(time.Second)) > 1100*time.Millisecond },
		"the clock to pass the target's second")
}
