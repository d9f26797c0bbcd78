package postgres_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/testsuite"
)

// TestBackupRestoreRoundTrip backs production up and restores it into a
// fresh staging database, streaming and in parallel: row counts and every
// table's checksum match, and each step run twice is safe.
func TestBackupRestoreRoundTrip(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 2000)
	var b postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Run: testsuite.RunContext("production")}, &b)
	if b.Rows != 2500 || b.RowCounts["public.users"] != 2000 || b.LSN == "" || !strings.HasSuffix(b.Key, ".dump.zst.age") {
		t.Fatalf("backup: %+v", b)
	}
	// The check before a restore finds the backup and the instance, and
	// names a backup that is not there.
	var checked stepio.CheckOutput
	f.Must(f.PG.CheckRestore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register_stream", Jobs: 3, Run: testsuite.RunContext("staging")}, &checked)
	if !strings.Contains(checked.Checked, b.Key) {
		t.Fatalf("check: %+v", checked)
	}
	if err := f.Run(f.PG.CheckRestore, postgres.RestoreInput{Backup: "production/2020-01-01/register-000000Z.dump.age", From: "production",
		Database: "register_stream", Run: testsuite.RunContext("staging")}, nil); err == nil || !strings.Contains(err.Error(), "register-000000Z") {
		t.Fatalf("check of a backup that is not there: %v", err)
	}
	for _, jobs := range []int{1, 3} {
		db := map[int]string{1: "register_stream", 3: "register_parallel"}[jobs]
		in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: db, Jobs: jobs, Run: testsuite.RunContext("staging")}
		var r postgres.RestoreOutput
		f.Must(f.PG.Restore, in, &r)
		if r.Rows != b.Rows || r.RowCounts["public.events"] != 500 {
			t.Fatalf("restore (jobs %d): %+v", jobs, r)
		}
		for _, table := range []string{"users", "events"} {
			if got, want := testsuite.TableChecksum(t, f.Stg, db, table), testsuite.TableChecksum(t, f.Prod, "register", table); got != want {
				t.Errorf("jobs %d: %s differs after restore", jobs, table)
			}
		}
		// The planner has statistics of every table and column: ANALYZE
		// ran, by the restore (autovacuum's would be last_autoanalyze).
		if n := testsuite.QueryInt(t, f.Stg, db, "select count(*) from pg_stat_user_tables where last_analyze is null"); n != 0 {
			t.Errorf("jobs %d: %d tables left unanalyzed", jobs, n)
		}
		if n := testsuite.QueryInt(t, f.Stg, db, "select count(*) from pg_stats where tablename = 'users' and attname = 'email'"); n != 1 {
			t.Errorf("jobs %d: no statistics of users.email", jobs)
		}
		// A second run finds the work done.
		var again postgres.RestoreOutput
		f.Must(f.PG.Restore, in, &again)
		if again.Rows != r.Rows {
			t.Fatalf("second restore: %+v", again)
		}
	}
	// A scratch database an earlier restore (of another backup) left, a
	// failed drill's, is replaced; the environment's own database, even
	// one drctl restored, never is.
	sql(t, f.Stg, "postgres", "comment on database register_stream is 'drctl: restore of production/2026-01-01/register-020000Z.dump.zst.age (complete)'")
	var replaced postgres.RestoreOutput
	f.Must(f.PG.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register_stream", Run: testsuite.RunContext("staging")}, &replaced)
	if replaced.Rows != b.Rows || !strings.Contains(replaced.Replaced, "register-020000Z") {
		t.Fatalf("restore over an earlier restore's leftover: %+v", replaced)
	}
	sql(t, f.Stg, "postgres", "create database register", "comment on database register is 'drctl: restore of production/2026-01-01/register-020000Z.dump.zst.age (complete)'")
	if err := f.Run(f.PG.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: testsuite.RunContext("staging")}, nil); errType(err) != "NotFresh" {
		t.Fatalf("restore over the environment's own database: %v", err)
	}
	// A database the restore did not create is never overwritten.
	sql(t, f.Stg, "postgres", "comment on database register is null")
	err := f.Run(f.PG.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: testsuite.RunContext("staging")}, nil)
	if errType(err) != "NotFresh" {
		t.Fatalf("restore over an existing database: %v", err)
	}
	// Staging is never backed up.
	if err := f.Run(f.PG.Backup, postgres.BackupInput{Database: "register", Run: testsuite.RunContext("staging")}, nil); errType(err) != "Refused" {
		t.Fatalf("backup of a target: %v", err)
	}
}

// TestEmptyDatabaseRefused: the incident of six weeks of empty backups.
func TestEmptyDatabaseRefused(t *testing.T) {
	f := testsuite.NewFixture(t)
	sql(t, f.Prod, "postgres", "create database register")
	sql(t, f.Prod, "register", "create table users (id int)")
	err := f.Run(f.PG.Backup, postgres.BackupInput{Database: "register", Run: testsuite.RunContext("production")}, nil)
	if errType(err) != "EmptyDatabase" || !strings.Contains(err.Error(), "refusing to store an empty backup") || !strings.Contains(err.Error(), "(public.users)") {
		t.Fatalf("empty database: %v", err)
	}
	var b postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", AllowEmpty: true, Run: testsuite.RunContext("production")}, &b)
	if b.Rows != 0 || b.Key == "" {
		t.Fatalf("allowed empty backup: %+v", b)
	}
	// It restores, in parallel too, with no table data to share out.
	var r postgres.RestoreOutput
	f.Must(f.PG.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Jobs: 2, Run: testsuite.RunContext("staging")}, &r)
	if r.Tables != 1 || r.Rows != 0 {
		t.Fatalf("restore of the empty backup: %+v", r)
	}
}

// TestBackupOfTheWrongInstanceIsRefused points production's URL at a twin
// holding a few recent rows, as a misconfigured job once did for six
// weeks: the backup is refused as another instance and, were that
// accepted, as a shrink; a planned rebuild, backed up once with
// new_source, is the new normal, and the next nightly backup passes.
func TestBackupOfTheWrongInstanceIsRefused(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 2000)
	run := testsuite.RunContext("production")
	var first postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Run: run}, &first)
	if first.Source == nil || first.Source.SystemID == "" || first.Source.DatabaseOID == 0 {
		t.Fatalf("the backup does not say what it is of: %+v", first.Source)
	}

	base := testsuite.PostgresBase(t)
	twin := testsuite.StartPostgres(t, filepath.Join(base, "twin"), postgres.MainInstance, map[string]string{"wal_level": "replica"})
	testsuite.Seed(t, twin, 5)
	t.Setenv("DRCTL_TEST_PROD_URL", twin.URL("register"))
	err := f.Run(f.PG.Backup, postgres.BackupInput{Database: "register", Run: run}, nil)
	if errType(err) != "SourceChanged" || !strings.Contains(err.Error(), first.Source.SystemID) || !strings.Contains(err.Error(), first.Key) {
		t.Fatalf("a backup of the twin: %v", err)
	}
	err = f.Run(f.PG.Backup, postgres.BackupInput{Database: "register", NewSource: true, Run: run}, nil)
	if errType(err) != "Shrunk" || !strings.Contains(err.Error(), "public.users 2000 → 5") || !strings.Contains(err.Error(), "2500 rows then, 505 now") {
		t.Fatalf("a backup of the twin, its identity accepted: %v", err)
	}
	// An environment may pin its instance.
	f.Targets["production"].SystemID = first.Source.SystemID
	if err := f.Run(f.PG.Backup, postgres.BackupInput{Database: "register", NewSource: true, AllowShrink: true, Run: run}, nil); errType(err) != "WrongSource" {
		t.Fatalf("a backup of an instance the environment does not pin: %v", err)
	}
	f.Targets["production"].SystemID = ""

	// A planned rebuild: production's data restored into a new instance,
	// backed up once as the new source; the nightly backup after passes.
	rebuilt := testsuite.StartPostgres(t, filepath.Join(base, "rebuilt"), postgres.MainInstance, map[string]string{"wal_level": "replica"})
	sql(t, rebuilt, "postgres", "create database register")
	t.Setenv("DRCTL_TEST_PROD_URL", rebuilt.URL("register"))
	f.Must(f.PG.Restore, postgres.RestoreInput{Backup: first.Key, Database: "register_restored", Run: run}, nil)
	sql(t, rebuilt, "postgres", "drop database register", "alter database register_restored rename to register")
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", NewSource: true, Run: run}, nil)
	var nightly postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Run: run}, &nightly)
	if nightly.Rows != first.Rows || nightly.Source.SystemID == first.Source.SystemID {
		t.Fatalf("the nightly backup after the rebuild: %+v", nightly)
	}
}
