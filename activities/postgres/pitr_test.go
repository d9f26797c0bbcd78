package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/childio"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/testsuite"
)

// TestPITRBeforeADestructiveDelete recovers to a time between a good insert
// and a destructive DELETE, given as a wall clock in Europe/London during
// British Summer Time and converted the way the compiler converts it, and
// gets exactly the rows of that time. Production runs on a clock moved to
// July (libfaketime), so its commits really happen in BST whatever the
// date of the run.
func TestPITRBeforeADestructiveDelete(t *testing.T) {
	testsuite.ShiftClockTo(t, time.July, 15)
	f, _ := testsuite.NewArchivingFixture(t)
	testsuite.Seed(t, f.Prod, 100)
	var base postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Base: true, Run: testsuite.RunContext("production")}, &base)
	sql(t, f.Prod, "register", "insert into users (email, name) select 'late'||g||'@example.org', 'Late '||g from generate_series(1, 100) g")
	good := testsuite.DBNow(t, f.Prod)
	sql(t, f.Prod, "register", "delete from users where id > 10")
	testsuite.SwitchAndWaitArchived(t, f.Prod)
	// The base backup and the archived WAL are compressed: a 16 MiB
	// segment of a few inserts is mostly zeros.
	if !strings.HasSuffix(base.Key, ".tar.zst.age") {
		t.Errorf("base backup stored as %s", base.Key)
	}
	store, err := backup.Open(context.Background(), f.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	wal, err := backup.Records(context.Background(), store, "production/wal/", nil)
	if err != nil || len(wal) == 0 {
		t.Fatalf("archived WAL: %d segments, %v", len(wal), err)
	}
	for _, w := range wal {
		if w.Compression != backup.Zstd {
			t.Errorf("WAL %s: compression %q", w.Key, w.Compression)
		}
		if segment := len(path.Base(w.Key)) == len("000000010000000000000001.age"); segment && w.Size*4 > w.PlainSize {
			t.Errorf("WAL %s: compression %q, %d bytes stored of %d", w.Key, w.Compression, w.Size, w.PlainSize)
		}
	}

	// The operator says when, on London's wall clock; the plan holds it in
	// UTC, an hour earlier in summer.
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	if zone, offset := good.In(london).Zone(); zone != "BST" || offset != 3600 {
		t.Fatalf("production's clock says %s, which London calls %s (%+ds), not BST", good, zone, offset)
	}
	wall := good.In(london).Format("2006-01-02 15:04:05.999999") + " Europe/London"
	target, err := runbooks.ParseTimestamp(wall, "")
	if err != nil || !target.Equal(good) || target.Location() != time.UTC {
		t.Fatalf("%s parsed as %v (%v), want %s in UTC", wall, target, err, good)
	}
	// recovered runs the step and checks what every recovery to the
	// target holds: the 200 users from before the delete, and nothing left
	// of what wal-fetch fetched ahead.
	recovered := func(in postgres.PITRInput) (*pglocal.Instance, postgres.PITROutput) {
		t.Helper()
		var out postgres.PITROutput
		f.Must(f.PG.PITR, in, &out)
		if out.Rows != 700 || out.BaseBackup != base.Key {
			t.Fatalf("pitr into %s: %+v", in.Instance, out)
		}
		l, ok, err := pglocal.Open(f.Targets["production"].Instance.DataDir, in.Instance)
		if err != nil || !ok {
			t.Fatalf("no instance %s: %v", in.Instance, err)
		}
		if n := testsuite.QueryInt(t, l, "register", "select count(*) from users"); n != 200 {
			t.Fatalf("%s recovered %d users, want the 200 that existed before the delete", in.Instance, n)
		}
		if _, err := os.Stat(filepath.Join(l.Dir, "data", "pg_wal", ".drctl-prefetch")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the prefetch spool outlived the recovery into %s: %v", in.Instance, err)
		}
		return l, out
	}
	// Asked not to promote, it stays paused at the target, read-only.
	no := false
	pl, pout := recovered(postgres.PITRInput{Target: target, Instance: "register-paused", Database: "register", Promote: &no, Run: testsuite.RunContext("production")})
	if pout.Promoted {
		t.Fatalf("pitr without promoting: %+v", pout)
	}
	if n := testsuite.QueryInt(t, pl, "register", "select pg_is_in_recovery()::int"); n != 1 {
		t.Fatal("the instance asked not to be promoted was promoted")
	}
	if err := pl.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}

	in := postgres.PITRInput{Target: target, Instance: "register-pitr", Database: "register", Run: testsuite.RunContext("production")}
	l, out := recovered(in)
	if !out.Promoted {
		t.Fatalf("pitr: %+v", out)
	}
	// It takes writes: it was promoted.
	sql(t, l, "register", "insert into users (email) values ('after@example.org')")
	// Running the step again finds it done.
	var again postgres.PITROutput
	f.Must(f.PG.PITR, in, &again)
	if !again.Promoted || again.Port != out.Port {
		t.Fatalf("second pitr: %+v", again)
	}
	t.Cleanup(func() { _ = l.Destroy(context.Background()) })
}

// TestPITROutsideTheWindow refuses targets before the base backup ended or
// after the newest archived WAL, before touching anything.
func TestPITROutsideTheWindow(t *testing.T) {
	f, _ := testsuite.NewArchivingFixture(t)
	testsuite.Seed(t, f.Prod, 10)
	var base postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Base: true, Run: testsuite.RunContext("production")}, &base)
	testsuite.SwitchAndWaitArchived(t, f.Prod)
	for _, tc := range []struct {
		target time.Time
		kind   string
	}{
		{base.StartedAt.Add(-time.Hour), "TargetTooEarly"},
		{time.Now().Add(time.Hour), "TargetTooLate"},
	} {
		in := postgres.PITRInput{Target: tc.target, Instance: "never", Database: "register", Run: testsuite.RunContext("production")}
		// The run's check refuses it before any step, as the step itself
		// would.
		if err := f.Run(f.PG.CheckPITR, in, nil); errType(err) != tc.kind {
			t.Errorf("check of target %s: %v, want %s", tc.target, err, tc.kind)
		}
		if err := f.Run(f.PG.PITR, in, nil); errType(err) != tc.kind {
			t.Errorf("target %s: %v, want %s", tc.target, err, tc.kind)
		}
	}
	if _, ok, _ := pglocal.Open(f.Targets["production"].Instance.DataDir, "never"); ok {
		t.Fatal("a refused recovery created an instance")
	}
	// A target inside the window passes, naming the base backup; an
	// instance name another run took does not.
	mid := testsuite.DBNow(t, f.Prod)
	sql(t, f.Prod, "register", "insert into users (email, name) values ('after@example.org', 'After')")
	testsuite.SwitchAndWaitArchived(t, f.Prod)
	var out stepio.CheckOutput
	in := postgres.PITRInput{Target: mid, Instance: "never", Database: "register", Run: testsuite.RunContext("production")}
	f.Must(f.PG.CheckPITR, in, &out)
	if !strings.Contains(out.Checked, base.Key) {
		t.Fatalf("check: %+v", out)
	}
	in.Instance = postgres.MainInstance
	if err := f.Run(f.PG.CheckPITR, in, nil); errType(err) != "Exists" {
		t.Fatalf("recovering onto the live instance: %v", err)
	}
}

// TestWALPushBatchesForPostgres: when Postgres has several files ready to
// archive, its call for the first archives the rest with it, and its
// calls for those find them archived (a wrapper around the
// archive_command notes each call that finds its note); everything
// reaches the archive and no note is left behind.
func TestWALPushBatchesForPostgres(t *testing.T) {
	f, storeDir := testsuite.NewArchivingFixture(t)
	sql(t, f.Prod, "postgres", "create database register")
	sql(t, f.Prod, "register", "create table t (n int)")
	testsuite.SwitchAndWaitArchived(t, f.Prod)
	// The archive is unreachable while six segments fill.
	sql(t, f.Prod, "postgres", "alter system set archive_command = 'false'", "select pg_reload_conf()")
	c, err := pgx.Connect(context.Background(), f.Prod.URL("register"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var segments []string
	for i := range 6 {
		var name string
		if _, err := c.Exec(context.Background(), "insert into t values ($1)", i); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRow(context.Background(), "select pg_walfile_name(pg_switch_wal())").Scan(&name); err != nil {
			t.Fatal(err)
		}
		segments = append(segments, name)
	}
	dir, err := os.MkdirTemp("", "drctl-wrapper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	log := filepath.Join(dir, "noted")
	wrapper := filepath.Join(dir, "archive")
	script := fmt.Sprintf("#!/bin/sh\n[ -e \"pg_wal/.drctl-pushed/$(basename \"$1\")\" ] && echo \"$(basename \"$1\")\" >> %s\nexec %s wal-push --env production \"$1\"\n",
		log, childio.ShellQuote(f.PG.WALCommand...))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sql(t, f.Prod, "postgres", fmt.Sprintf("alter system set archive_command = '%s %%p'", wrapper), "select pg_reload_conf()")
	last := segments[len(segments)-1]
	testsuite.Eventually(t, 90*time.Second, func() bool {
		var archived string
		if err := c.QueryRow(context.Background(), "select coalesce(last_archived_wal, '') from pg_stat_archiver").Scan(&archived); err != nil {
			t.Fatal(err)
		}
		return archived >= last
	}, "segment %s to be archived", last)
	// Each cluster's segments are kept apart, under its system identifier.
	var cluster string
	if err := c.QueryRow(context.Background(), "select system_identifier::text from pg_control_system()").Scan(&cluster); err != nil {
		t.Fatal(err)
	}
	for _, name := range segments {
		if _, err := os.Stat(filepath.Join(storeDir, "production", "wal", cluster, name+".age.meta.json")); err != nil {
			t.Errorf("%s is not in the archive: %v", name, err)
		}
	}
	noted, _ := os.ReadFile(log)
	if n := len(strings.Fields(string(noted))); n < len(segments)-1 {
		t.Errorf("%d of Postgres's calls for %d files ready together found them archived by the first's batch: %q", n, len(segments), noted)
	}
	notes, _ := os.ReadDir(filepath.Join(f.Prod.Dir, "data", "pg_wal", ".drctl-pushed"))
	if len(notes) != 0 {
		t.Errorf("notes left in pg_wal: %v", notes)
	}
}

// TestLocalFailoverCompletesTheIncident plays incident 2 on local
// instances: the damaged database is set aside, a new instance recovered
// to the moment before the damage, and failover puts it where the
// application connects: the environment's URL then answers with exactly
// the rows of that moment, archiving as before. The damaged cluster stays,
// as main-old, until its database is dropped.
func TestLocalFailoverCompletesTheIncident(t *testing.T) {
	f, _ := testsuite.NewArchivingFixture(t)
	testsuite.Seed(t, f.Prod, 100)
	var base postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Base: true, Run: testsuite.RunContext("production")}, &base)
	sql(t, f.Prod, "register", "insert into users (email, name) select 'late'||g||'@example.org', 'Late '||g from generate_series(1, 50) g")
	good := testsuite.DBNow(t, f.Prod)
	sql(t, f.Prod, "register", "delete from users where id > 10")
	testsuite.SwitchAndWaitArchived(t, f.Prod)

	run := testsuite.RunContext("production")
	f.Must(f.PG.Rename, postgres.RenameInput{Database: "register", NewName: "register-old", Run: run}, nil)
	f.Must(f.PG.PITR, postgres.PITRInput{Target: good, Instance: "register-pitr", Database: "register", Run: run}, nil)
	var out postgres.InstanceOutput
	f.Must(f.PG.Failover, postgres.FailoverInput{To: "register-pitr", Run: run}, &out)
	if out.Instance != postgres.MainInstance || out.Port != f.Prod.Port {
		t.Fatalf("failover: %+v (production listens on %d)", out, f.Prod.Port)
	}
	// The application's URL, unchanged, now reaches the recovered data.
	c, err := pgx.Connect(context.Background(), os.Getenv("DRCTL_TEST_PROD_URL"))
	if err != nil {
		t.Fatal(err)
	}
	var users int
	var archiving string
	err = c.QueryRow(context.Background(), "select count(*), current_setting('archive_mode') from users").Scan(&users, &archiving)
	c.Close(context.Background())
	if err != nil || users != 150 || archiving != "on" {
		t.Fatalf("through the environment's URL: %d users, archive_mode %s, %v; want the 150 of before the delete, archiving", users, archiving, err)
	}
	dir := f.Targets["production"].Instance.DataDir
	if _, ok, _ := pglocal.Open(dir, "main-old"); !ok {
		t.Fatal("the damaged cluster was not kept as main-old")
	}
	// Again: the move is done, and says so the same way.
	f.Must(f.PG.Failover, postgres.FailoverInput{To: "register-pitr", Run: run}, &out)
	if out.Port != f.Prod.Port {
		t.Fatalf("second failover: %+v", out)
	}
	var drop postgres.DropOutput
	f.Must(f.PG.Drop, postgres.DropInput{Database: "register-old", Run: run}, &drop)
	if !drop.Dropped {
		t.Fatalf("drop of register-old: %+v", drop)
	}
	if _, ok, _ := pglocal.Open(dir, "main-old"); ok {
		t.Fatal("main-old outlived the drop of register-old")
	}
}

// TestBaseBackupNeedsItsWALArchived refuses a base backup of an instance
// that does not archive its WAL, and one whose archive_command fails,
// naming why, instead of waiting forever for WAL that never arrives.
func TestBaseBackupNeedsItsWALArchived(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 10)
	in := postgres.BackupInput{Database: "register", Base: true, Run: testsuite.RunContext("production")}
	if err := f.Run(f.PG.Backup, in, nil); errType(err) != "ArchiveOff" || !strings.Contains(err.Error(), "drctl archive setup --env production") {
		t.Fatalf("base backup of an instance that does not archive: %v", err)
	}
	base := filepath.Dir(f.Targets["production"].Instance.DataDir)
	f.Prod = testsuite.StartPostgres(t, filepath.Join(base, "failing"), postgres.MainInstance, map[string]string{
		"wal_level": "replica", "archive_mode": "on", "archive_command": "false"})
	t.Setenv("DRCTL_TEST_PROD_URL", f.Prod.URL("register"))
	testsuite.Seed(t, f.Prod, 10)
	ended := make(chan error, 1)
	go func() { ended <- f.Run(f.PG.Backup, in, nil) }()
	select {
	case err := <-ended:
		if errType(err) != "ArchiveFailing" || !strings.Contains(err.Error(), "fails to archive its WAL") {
			t.Fatalf("base backup of an instance whose archive_command fails: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the base backup of an instance whose archive_command fails is still waiting after a minute")
	}
}
