package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

func errType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

// TestBackupRestoreRoundTrip backs production up and restores it into a
// fresh staging database, streaming and in parallel: row counts and every
// table's checksum match, and each step run twice is safe.
func TestBackupRestoreRoundTrip(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 2000)
	var b postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Run: runCtx("production")}, &b)
	if b.Rows != 2500 || b.RowCounts["public.users"] != 2000 || b.LSN == "" || !strings.HasSuffix(b.Key, ".dump.zst.age") {
		t.Fatalf("backup: %+v", b)
	}
	// The check before a restore finds the backup and the instance, and
	// names a backup that is not there.
	var checked stepio.CheckOutput
	f.must(f.pg.CheckRestore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register_stream", Jobs: 3, Run: runCtx("staging")}, &checked)
	if !strings.Contains(checked.Checked, b.Key) {
		t.Fatalf("check: %+v", checked)
	}
	if err := f.run(f.pg.CheckRestore, postgres.RestoreInput{Backup: "production/2020-01-01/register-000000Z.dump.age", From: "production",
		Database: "register_stream", Run: runCtx("staging")}, nil); err == nil || !strings.Contains(err.Error(), "register-000000Z") {
		t.Fatalf("check of a backup that is not there: %v", err)
	}
	for _, jobs := range []int{1, 3} {
		db := map[int]string{1: "register_stream", 3: "register_parallel"}[jobs]
		in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: db, Jobs: jobs, Run: runCtx("staging")}
		var r postgres.RestoreOutput
		f.must(f.pg.Restore, in, &r)
		if r.Rows != b.Rows || r.RowCounts["public.events"] != 500 {
			t.Fatalf("restore (jobs %d): %+v", jobs, r)
		}
		for _, table := range []string{"users", "events"} {
			if got, want := tableChecksum(t, f.stg, db, table), tableChecksum(t, f.prod, "register", table); got != want {
				t.Errorf("jobs %d: %s differs after restore", jobs, table)
			}
		}
		// The planner has statistics of every table and column: ANALYZE
		// ran, by the restore (autovacuum's would be last_autoanalyze).
		if n := queryInt(t, f.stg, db, "select count(*) from pg_stat_user_tables where last_analyze is null"); n != 0 {
			t.Errorf("jobs %d: %d tables left unanalyzed", jobs, n)
		}
		if n := queryInt(t, f.stg, db, "select count(*) from pg_stats where tablename = 'users' and attname = 'email'"); n != 1 {
			t.Errorf("jobs %d: no statistics of users.email", jobs)
		}
		// A second run finds the work done.
		var again postgres.RestoreOutput
		f.must(f.pg.Restore, in, &again)
		if again.Rows != r.Rows {
			t.Fatalf("second restore: %+v", again)
		}
	}
	// A scratch database an earlier restore (of another backup) left, a
	// failed drill's, is replaced; the environment's own database, even
	// one drctl restored, never is.
	sql(t, f.stg, "postgres", "comment on database register_stream is 'drctl: restore of production/2026-01-01/register-020000Z.dump.zst.age (complete)'")
	var replaced postgres.RestoreOutput
	f.must(f.pg.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register_stream", Run: runCtx("staging")}, &replaced)
	if replaced.Rows != b.Rows || !strings.Contains(replaced.Replaced, "register-020000Z") {
		t.Fatalf("restore over an earlier restore's leftover: %+v", replaced)
	}
	sql(t, f.stg, "postgres", "create database register", "comment on database register is 'drctl: restore of production/2026-01-01/register-020000Z.dump.zst.age (complete)'")
	if err := f.run(f.pg.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: runCtx("staging")}, nil); errType(err) != "NotFresh" {
		t.Fatalf("restore over the environment's own database: %v", err)
	}
	// A database the restore did not create is never overwritten.
	sql(t, f.stg, "postgres", "comment on database register is null")
	err := f.run(f.pg.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: runCtx("staging")}, nil)
	if errType(err) != "NotFresh" {
		t.Fatalf("restore over an existing database: %v", err)
	}
	// Staging is never backed up.
	if err := f.run(f.pg.Backup, postgres.BackupInput{Database: "register", Run: runCtx("staging")}, nil); errType(err) != "Refused" {
		t.Fatalf("backup of a target: %v", err)
	}
}

// TestRestoreOfGzipDump: a backup stored as earlier versions stored it,
// pg_dump's own gzip and no compression of ours, still restores both ways.
func TestRestoreOfGzipDump(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 300)
	s, err := backup.Open(context.Background(), f.store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dump := exec.Command("pg_dump", "-Fc", f.prod.URL("register"))
	stdout, err := dump.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	e, err := backup.Writer{Store: s, Recipients: f.store.Recipients}.Write(context.Background(), stdout, backup.Entry{
		Key: backup.DataKey("production", "register", now, "dump.age"), Env: "production", Datastore: "register",
		Date: now.Format(time.DateOnly), Format: "pg_dump-custom", StartedAt: now,
		RowCounts: map[string]int64{"public.users": 300, "public.events": 500}}, nil)
	if err != nil || dump.Wait() != nil {
		t.Fatalf("storing a gzip dump: %v", err)
	}
	for _, jobs := range []int{1, 2} {
		db := fmt.Sprintf("from_gzip_%d", jobs)
		var r postgres.RestoreOutput
		f.must(f.pg.Restore, postgres.RestoreInput{Backup: e.Key, From: "production", Database: db, Jobs: jobs, Run: runCtx("staging")}, &r)
		for _, table := range []string{"users", "events"} {
			if got, want := tableChecksum(t, f.stg, db, table), tableChecksum(t, f.prod, "register", table); got != want {
				t.Errorf("jobs %d: %s differs after restore", jobs, table)
			}
		}
	}
}

// withSFTP adds to f's stores an SFTP server reached directly ("fast")
// and across a link of 1 MB/s ("slow"), and returns the server and the
// link.
func withSFTP(t *testing.T, f *fixture) (*testsuite.SSHServer, *testsuite.Link) {
	sshd := testsuite.StartSSHD(t)
	link := testsuite.SlowLink(t, fmt.Sprintf("%s:%d", sshd.Host, sshd.Port), 1e6)
	slow := sshd.Behind(t, link)
	sftpStore := func(s *testsuite.SSHServer) *backup.StoreConfig {
		return &backup.StoreConfig{Type: "sftp", Host: s.Host, Port: s.Port, User: s.User, Key: secret.Ref("file:" + s.KeyFile),
			KnownHosts: s.KnownHosts, Path: s.Base, Recipients: f.store.Recipients, Identity: f.store.Identity}
	}
	stores := map[string]*backup.StoreConfig{"fast": sftpStore(sshd), "slow": sftpStore(slow)}
	f.pg.Stores = func(env, name string) (*backup.StoreConfig, error) {
		if s, ok := stores[name]; ok {
			return s, nil
		}
		return f.store, nil
	}
	return sshd, link
}

// TestParallelRestoreIsComplete restores a database with most kinds of
// object three ways: streamed into one pg_restore; in parallel after the
// download; and in parallel across a slow link, tables loaded and their
// indexes built as they arrive, the rest by pg_restore -j. A full pg_dump
// of each restored copy equals the source's.
func TestParallelRestoreIsComplete(t *testing.T) {
	f := newFixture(t)
	sql(t, f.prod, "postgres", "create database register")
	sql(t, f.prod, "register",
		"create table accounts (id serial primary key, email text unique, note text)",
		"comment on table accounts is 'who logs in'",
		"create table orders (id bigserial primary key, account int not null references accounts (id), total numeric, at timestamptz default now())",
		"create table audit (id int generated always as identity, line text)",
		`create table "Audit Log" (id int, line text)`,
		`insert into "Audit Log" select g, 'entry '||g from generate_series(1, 50) g`,
		"create table readings (at date not null, v int) partition by range (at)",
		"create table readings_2026 partition of readings for values from ('2026-01-01') to ('2027-01-01')",
		"create index on readings (at)",
		"alter table readings add primary key (at, v)",
		"alter table audit add constraint short check (length(line) < 100) not valid",
		"create view big_orders as select * from orders where total > 100",
		"create materialized view totals as select account, sum(total) from orders group by account",
		"create sequence invoice_no start 1000",
		"select setval('invoice_no', 1234)",
		"grant select on orders to public",
		"select lo_from_bytea(0, 'a large object')",
		"insert into accounts (email, note) select 'a'||g||'@example.org', repeat('n', g % 50) from generate_series(1, 300) g",
		"insert into orders (account, total) select 1 + g % 300, g % 250 from generate_series(1, 3000) g",
		"insert into audit (line) select 'line '||g from generate_series(1, 500) g",
		"insert into readings select date '2026-01-01' + g % 300, g from generate_series(1, 100) g",
		"refresh materialized view totals",
		// Enough data between the others to take seconds across the slow
		// link below.
		"create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 120000) g")
	// The backup goes up the fast way, and the restore that comes down the
	// slow way loads tables while the rest is on its way.
	withSFTP(t, f)
	var b, remote postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Run: runCtx("production")}, &b)
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Store: "fast", Run: runCtx("production")}, &remote)
	want := dumpAll(t, f.prod, "register")
	for _, c := range []struct {
		db      string
		jobs    int
		overlap time.Duration // see postgres.SetOverlapAbove
		store   string
	}{
		{"streamed", 1, 0, ""},
		{"loaded_after_download", 3, time.Hour, ""},
		{"loaded_across_a_slow_link", 2, 2 * time.Second, "slow"}, // the default
	} {
		postgres.SetOverlapAbove(t, c.overlap)
		in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: c.db, Jobs: c.jobs, Run: runCtx("staging")}
		if c.store != "" {
			in.Backup, in.Store = remote.Key, c.store
		}
		var r postgres.RestoreOutput
		f.must(f.pg.Restore, in, &r)
		if len(r.IgnoredErrors) != 0 || r.Rows != b.Rows {
			t.Errorf("%s: %+v", c.db, r)
		}
		if c.store == "slow" && (r.TablesLoadedWhileDownloading == 0 || r.IndexesBuiltWhileDownloading == 0) {
			t.Errorf("%s: %d tables loaded and %d indexes built while the download went on", c.db, r.TablesLoadedWhileDownloading, r.IndexesBuiltWhileDownloading)
		}
		t.Logf("%s: %d tables loaded and %d indexes built while downloading", c.db, r.TablesLoadedWhileDownloading, r.IndexesBuiltWhileDownloading)
		if got := dumpAll(t, f.stg, c.db); got != want {
			t.Errorf("%s: the restored database differs from the source:\n%s", c.db, firstDifference(got, want))
		}
	}
}

// dumpAll is a plain pg_dump of a database, without the lines that differ
// between any two dumps.
func dumpAll(t *testing.T, l *pglocal.Instance, db string) string {
	t.Helper()
	out, err := exec.Command("pg_dump", "--dbname", l.URL(db)).Output()
	if err != nil {
		t.Fatalf("pg_dump %s: %v", db, err)
	}
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, `\restrict `) && !strings.HasPrefix(line, `\unrestrict `) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d: %q, want %q", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(al), len(bl))
}

// TestRestoreOfDamagedBackup: a backup damaged in the store (a byte
// changed three quarters in, found only when the download gets there) is
// refused, naming it, although the loaders (or, with one job, pg_restore)
// started on its first part; the half-loaded database is never marked
// restored, and a retry once the object is whole again starts it afresh.
func TestRestoreOfDamagedBackup(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 20000)
	// Data that does not compress, for a download that takes seconds
	// across the slow link.
	sql(t, f.prod, "register", "create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 120000) g")
	sshd, _ := withSFTP(t, f)
	var b postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Store: "fast", Run: runCtx("production")}, &b)
	object := filepath.Join(sshd.Base, filepath.FromSlash(b.Key))
	whole, err := os.ReadFile(object)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(whole)
	damaged[len(damaged)*3/4] ^= 0xff
	if err := os.WriteFile(object, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Jobs: 2, Store: "fast", Run: runCtx("staging")}
	c, err := pgx.Connect(context.Background(), f.stg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	// Tables loaded as the download across the slow link came, a retry
	// that waits for the download, and one streamed into one pg_restore.
	for _, way := range []struct {
		overlap time.Duration
		store   string
		jobs    int
	}{{0, "slow", 2}, {time.Hour, "fast", 2}, {0, "fast", 1}} {
		postgres.SetOverlapAbove(t, way.overlap)
		in := in
		in.Store, in.Jobs = way.store, way.jobs
		err = f.run(f.pg.Restore, in, nil)
		if err == nil || !strings.Contains(err.Error(), b.Key) {
			t.Fatalf("restore of a damaged backup with %d jobs: %v", in.Jobs, err)
		}
		var comment string
		if err := c.QueryRow(context.Background(), "select shobj_description(oid, 'pg_database') from pg_database where datname = 'register'").Scan(&comment); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(comment, "(in progress)") {
			t.Errorf("the database of the failed restore is marked %q", comment)
		}
	}
	if err := os.WriteFile(object, whole, 0o600); err != nil {
		t.Fatal(err)
	}
	var r postgres.RestoreOutput
	f.must(f.pg.Restore, in, &r)
	if r.Rows != b.Rows || tableChecksum(t, f.stg, "register", "users") != tableChecksum(t, f.prod, "register", "users") {
		t.Fatalf("retry: %+v", r)
	}
}

// TestEmptyDatabaseRefused: the incident of six weeks of empty backups.
func TestEmptyDatabaseRefused(t *testing.T) {
	f := newFixture(t)
	sql(t, f.prod, "postgres", "create database register")
	sql(t, f.prod, "register", "create table users (id int)")
	err := f.run(f.pg.Backup, postgres.BackupInput{Database: "register", Run: runCtx("production")}, nil)
	if errType(err) != "EmptyDatabase" || !strings.Contains(err.Error(), "refusing to store an empty backup") || !strings.Contains(err.Error(), "(public.users)") {
		t.Fatalf("empty database: %v", err)
	}
	var b postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", AllowEmpty: true, Run: runCtx("production")}, &b)
	if b.Rows != 0 || b.Key == "" {
		t.Fatalf("allowed empty backup: %+v", b)
	}
	// It restores, in parallel too, with no table data to share out.
	var r postgres.RestoreOutput
	f.must(f.pg.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Jobs: 2, Run: runCtx("staging")}, &r)
	if r.Tables != 1 || r.Rows != 0 {
		t.Fatalf("restore of the empty backup: %+v", r)
	}
}

// TestRestoreExpectedErrors plants errors a restore meets in real life (an
// owner role that the target does not have): the allowlist lets them pass,
// up to its max; without it the step fails and names the error.
func TestRestoreExpectedErrors(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 10)
	sql(t, f.prod, "register", "create role app_owner", "alter table users owner to app_owner", "alter table events owner to app_owner")
	var b postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Run: runCtx("production")}, &b)

	// Streamed into one pg_restore, and in parallel, where the errors come
	// from several.
	for _, jobs := range []int{1, 2} {
		name := func(db string) string { return fmt.Sprintf("%s_j%d", db, jobs) }
		in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: name("strict"), Jobs: jobs, Run: runCtx("staging")}
		err := f.run(f.pg.Restore, in, nil)
		if errType(err) != "RestoreErrors" || !strings.Contains(err.Error(), `role "app_owner" does not exist`) {
			t.Fatalf("jobs %d, without an allowlist: %v", jobs, err)
		}
		in.Database = name("tolerant")
		in.ExpectedErrors = []stepio.ExpectedError{{Pattern: `role "app_owner" does not exist`, Max: 1}}
		if err := f.run(f.pg.Restore, in, nil); errType(err) != "RestoreErrors" {
			t.Fatalf("jobs %d, beyond the max: %v", jobs, err)
		}
		in.Database = name("tolerant2")
		in.ExpectedErrors[0].Max = 10
		var r postgres.RestoreOutput
		f.must(f.pg.Restore, in, &r)
		// Two tables and their two sequences had the missing owner.
		if len(r.IgnoredErrors) != 4 || r.Rows != 510 {
			t.Fatalf("jobs %d, with the allowlist: %+v", jobs, r)
		}
	}
}

// TestVerify passes on good data and fails, naming the table, on an empty
// or stale restore.
func TestVerify(t *testing.T) {
	f := newFixture(t)
	seed(t, f.stg, 100)
	in := postgres.VerifyInput{Database: "register", Expected: map[string]int64{"public.users": 100, "public.events": 500},
		Events: &postgres.EventCheck{Table: "events", Column: "created_at", MaxAge: stepio.Duration(time.Hour)}, Objects: []string{"public.users"},
		Run: runCtx("staging")}
	var out postgres.VerifyOutput
	f.must(f.pg.Verify, in, &out)
	if !out.OK || out.RPO <= 0 || out.RPO > stepio.Duration(5*time.Minute) || len(out.Checks) != 5 {
		t.Fatalf("good data: %+v", out)
	}

	sql(t, f.stg, "register", "delete from users")
	err := f.run(f.pg.Verify, in, nil)
	if errType(err) != "VerifyFailed" || !strings.Contains(err.Error(), "rows in public.users: expected 100 ± 0, found 0") {
		t.Fatalf("empty table: %v", err)
	}

	sql(t, f.stg, "register", "update events set created_at = created_at - interval '3 days'")
	in.Expected = nil
	err = f.run(f.pg.Verify, in, nil)
	if errType(err) != "VerifyFailed" || !strings.Contains(err.Error(), "newest event in events") {
		t.Fatalf("stale events: %v", err)
	}
}

// TestVerifyMarksTheBackup: a verification that names the backup it
// checks records a pass on that backup, which retention then keeps; a
// failed one records nothing.
func TestVerifyMarksTheBackup(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 50)
	var b postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Run: runCtx("production")}, &b)
	f.must(f.pg.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: runCtx("staging")}, nil)
	s, err := backup.Open(context.Background(), f.store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	verifiedAt := func() *time.Time {
		t.Helper()
		list, err := backup.Entries(context.Background(), s, "production/")
		if err != nil || len(list) != 1 {
			t.Fatalf("%v: %+v", err, list)
		}
		return list[0].VerifiedAt
	}

	in := postgres.VerifyInput{Database: "register", Expected: b.RowCounts, MinRows: 1, Backup: b.Key, From: "production", Run: runCtx("staging")}
	sql(t, f.stg, "register", "delete from events")
	if err := f.run(f.pg.Verify, in, nil); errType(err) != "VerifyFailed" {
		t.Fatalf("verify of a damaged restore: %v", err)
	}
	if at := verifiedAt(); at != nil {
		t.Fatalf("a failed verification marked the backup verified at %v", at)
	}

	sql(t, f.stg, "postgres", "drop database register with (force)")
	f.must(f.pg.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: runCtx("staging")}, nil)
	before := time.Now()
	f.must(f.pg.Verify, in, nil)
	if at := verifiedAt(); at == nil || at.Before(before.Add(-time.Second)) {
		t.Fatalf("a passed verification left the backup verified at %v", at)
	}
}

// TestRenameWithLiveConnections renames a database that sessions are
// using; running it again says it is done.
func TestRenameWithLiveConnections(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 10)
	ctx := context.Background()
	var sessions []*pgx.Conn
	for range 3 {
		c, err := pgx.Connect(ctx, f.prod.URL("register"))
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
	in := postgres.RenameInput{Database: "register", NewName: "register-old", Run: runCtx("production")}
	var out postgres.RenameOutput
	f.must(f.pg.Rename, in, &out)
	if out.Terminated != 3 || out.AlreadyDone {
		t.Fatalf("rename: %+v", out)
	}
	if n := queryInt(t, f.prod, "register-old", "select count(*) from users"); n != 10 {
		t.Fatalf("renamed database has %d users", n)
	}
	f.must(f.pg.Rename, in, &out)
	if !out.AlreadyDone {
		t.Fatalf("second rename: %+v", out)
	}
	// Both names taken: refused rather than guessed.
	sql(t, f.prod, "postgres", "create database register")
	if err := f.run(f.pg.Rename, in, nil); errType(err) != "Conflict" {
		t.Fatalf("both exist: %v", err)
	}
}

// TestDropOnlyOld drops the set-aside database and refuses any other.
func TestDropOnlyOld(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 10)
	if err := f.run(f.pg.Drop, postgres.DropInput{Database: "register", Run: runCtx("production")}, nil); errType(err) != "Refused" {
		t.Fatalf("drop of the live database: %v", err)
	}
	sql(t, f.prod, "postgres", "alter database register rename to \"register-old\"")
	var out postgres.DropOutput
	f.must(f.pg.Drop, postgres.DropInput{Database: "register-old", Run: runCtx("production")}, &out)
	if !out.Dropped {
		t.Fatalf("drop: %+v", out)
	}
	f.must(f.pg.Drop, postgres.DropInput{Database: "register-old", Run: runCtx("production")}, &out)
	if !out.AlreadyGone {
		t.Fatalf("second drop: %+v", out)
	}
}

// TestScrubAndPromote scrubs personal data on staging (none of it is left,
// and a second run is harmless), refuses production, and promotes test
// accounts by parameter.
func TestScrubAndPromote(t *testing.T) {
	f := newFixture(t)
	seed(t, f.stg, 50)
	seed(t, f.prod, 5)
	in := postgres.ScrubInput{Database: "register", Run: runCtx("staging"), Rules: []postgres.ScrubRule{
		{Table: "users", Column: "email", Action: "fake_email"}, {Table: "users", Column: "name", Action: "fake_name"},
		{Table: "users", Column: "phone", Action: "null"}, {Table: "public.users", Column: "role", Action: "fixed", Value: "user"}}}
	var out postgres.ScrubOutput
	f.must(f.pg.Scrub, in, &out)
	if out.Tables != 2 || out.Rows != 200 {
		t.Fatalf("scrub: %+v", out)
	}
	if n := queryInt(t, f.stg, "register", "select count(*) from users where email = 'person'||id||'@example.org' or name = 'Person '||id or phone is not null"); n != 0 {
		t.Fatalf("%d rows still hold original data", n)
	}
	f.must(f.pg.Scrub, in, &out)
	in.Run = runCtx("production")
	if err := f.run(f.pg.Scrub, in, nil); errType(err) != "Refused" {
		t.Fatalf("scrub on production: %v", err)
	}
	if n := queryInt(t, f.prod, "register", "select count(*) from users where email like '%@example.org'"); n != 5 {
		t.Fatal("production was touched")
	}

	sql(t, f.stg, "register", "update users set email = 'qa@example.org' where id = 1")
	var p postgres.PromoteAccountsOutput
	pin := postgres.PromoteAccountsInput{Database: "register", Table: "users", MatchColumn: "email", RoleColumn: "role", Role: "admin",
		Accounts: []string{"qa@example.org", "nobody@example.org", "x' or '1'='1"}, Run: runCtx("staging")}
	// A missing account fails the step, and nothing is promoted.
	if err := f.run(f.pg.PromoteAccounts, pin, nil); errType(err) != "MissingAccounts" || !strings.Contains(err.Error(), "nobody@example.org") {
		t.Fatalf("promote with missing accounts: %v", err)
	}
	if n := queryInt(t, f.stg, "register", "select count(*) from users where role = 'admin'"); n != 0 {
		t.Fatalf("%d admins after a refused promotion", n)
	}
	pin.AllowMissing = true
	f.must(f.pg.PromoteAccounts, pin, &p)
	if p.Updated != 1 || len(p.Missing) != 2 {
		t.Fatalf("promote: %+v", p)
	}
	if n := queryInt(t, f.stg, "register", "select count(*) from users where role = 'admin'"); n != 1 {
		t.Fatalf("%d admins: the injection attempt was not literal", n)
	}
	var ev postgres.LatestEventsOutput
	f.must(f.pg.LatestEvents, postgres.LatestEventsInput{Database: "register", Table: "events", OrderBy: "created_at", Limit: 3, Run: runCtx("staging")}, &ev)
	if len(ev.Rows) != 3 || ev.Rows[0]["kind"] != "login" {
		t.Fatalf("latest events: %+v", ev)
	}
}

// TestExecProvider runs the configured commands of the exec provider, with
// their output kept for an approval gate and the database password
// redacted from it.
func TestExecProvider(t *testing.T) {
	f := newFixture(t)
	t.Setenv("DRCTL_TEST_EXEC_URL", "postgres://app:pa55word-xyz@127.0.0.1:5432/register")
	f.targets["exec"] = &postgres.Target{Name: "exec", Role: "source", Database: "register", URL: "env:DRCTL_TEST_EXEC_URL",
		Instance: &postgres.InstanceConfig{Provider: "exec", Exec: map[string][]string{
			"create":   {"sh", "-c", `echo "plan: create $DRCTL_INSTANCE in $DRCTL_ENVIRONMENT with password pa55word-xyz"`},
			"failover": {"sh", "-c", "echo switching; exit 4"},
			"pitr":     {"sh", "-c", `echo "restoring $DRCTL_INSTANCE to $DRCTL_TARGET_TIME"`},
		}}}
	var out postgres.InstanceOutput
	f.must(f.pg.CreateInstance, postgres.CreateInstanceInput{Run: runCtx("exec")}, &out)
	if !strings.Contains(out.Log, "plan: create main in exec with password [redacted]") {
		t.Fatalf("log: %q", out.Log)
	}
	err := f.run(f.pg.Failover, postgres.FailoverInput{To: "replica", Run: runCtx("exec")}, nil)
	if err == nil || !strings.Contains(err.Error(), "switching") {
		t.Fatalf("failing failover: %v", err)
	}
	var pitr postgres.PITROutput
	f.must(f.pg.PITR, postgres.PITRInput{Target: time.Date(2026, 7, 20, 15, 0, 0, 0, time.UTC), Instance: "recovered", Run: runCtx("exec")}, &pitr)
	if !strings.Contains(pitr.Log, "restoring recovered to 2026-07-20T15:00:00Z") || !pitr.Promoted {
		t.Fatalf("exec pitr: %+v", pitr)
	}
	if err := f.run(f.pg.Reboot, postgres.RebootInput{Run: runCtx("exec")}, nil); errType(err) != "NotConfigured" {
		t.Fatalf("reboot without a command: %v", err)
	}
}

// The exec provider's commands get a child's environment, never the
// worker's secrets, and the password is redacted before the output is
// cut, so none of it survives at the cut either.
func TestExecProviderKeepsSecrets(t *testing.T) {
	f := newFixture(t)
	const password = "pa55word-0123456789abcdef"
	t.Setenv("DRCTL_TEST_EXEC_URL", "postgres://app:"+password+"@127.0.0.1:5432/register")
	t.Setenv("DRCTL_TEST_WORKER_SECRET", "AGE-SECRET-KEY-1WORKERSECRET")
	// Head and tail keep 8 KiB each: the password starts 5 bytes before the
	// head ends, and ends 11 bytes after the tail starts.
	boundary := `head -c 8187 /dev/zero | tr '\0' x; echo "` + password + `"; head -c 20000 /dev/zero | tr '\0' y; echo "` + password + `"; head -c 8180 /dev/zero | tr '\0' z`
	f.targets["exec"] = &postgres.Target{Name: "exec", Role: "source", Database: "register", URL: "env:DRCTL_TEST_EXEC_URL",
		Instance: &postgres.InstanceConfig{Provider: "exec", Exec: map[string][]string{
			"create": {"sh", "-c", "env | sort"},
			"reboot": {"sh", "-c", boundary},
		}}}
	var out postgres.InstanceOutput
	f.must(f.pg.CreateInstance, postgres.CreateInstanceInput{Run: runCtx("exec")}, &out)
	if strings.Contains(out.Log, "WORKERSECRET") || strings.Contains(out.Log, "DRCTL_TEST_EXEC_URL") || !strings.Contains(out.Log, "DRCTL_INSTANCE=main") {
		t.Fatalf("the provider saw the worker's environment:\n%s", out.Log)
	}
	f.must(f.pg.Reboot, postgres.RebootInput{Run: runCtx("exec")}, &out)
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

// TestParallelRestoreCancelled: a restore cancelled while it downloads
// across a slow link stops the download and returns, rather than wait for
// the rest of the backup: when it returns, the link has carried only part
// of the backup.
func TestParallelRestoreCancelled(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 100)
	sql(t, f.prod, "register", "create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 240000) g")
	_, link := withSFTP(t, f)
	var b postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Store: "fast", Run: runCtx("production")}, &b)

	// Cancelled at its first heartbeat, which the download's first bytes
	// send.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.env.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
	f.env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { cancel() })
	err := f.run(f.pg.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Jobs: 2, Store: "slow", Run: runCtx("staging")}, nil)
	delivered := link.Delivered()
	if err == nil {
		t.Fatal("a cancelled restore succeeded")
	}
	// A restore that waited for the download returns once the link has
	// carried all of the backup.
	if delivered > b.Size*3/4 {
		t.Errorf("the cancelled restore returned once the link had carried %d bytes of the backup's %d", delivered, b.Size)
	}
	t.Logf("cancelled as the download began, returned with %d of %d bytes carried: %v", delivered, b.Size, err)
}

// A local instance create_instance makes gets the environment's instance
// settings (WAL archiving, say), under the step's own.
func TestCreateInstanceAppliesTheEnvironmentsSettings(t *testing.T) {
	f := newFixture(t)
	f.targets["staging"].Instance.Settings = map[string]string{"work_mem": "7MB", "maintenance_work_mem": "8MB"}
	var out postgres.InstanceOutput
	f.must(f.pg.CreateInstance, postgres.CreateInstanceInput{Instance: "rebuilt", Settings: map[string]string{"maintenance_work_mem": "9MB"},
		Run: runCtx("staging")}, &out)
	l, ok, err := pglocal.Open(f.targets["staging"].Instance.DataDir, "rebuilt")
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

// The drill promotes the test accounts before it scrubs, and the scrub
// keeps them: promotion finds every account, and QA logs in with the same
// address afterwards, while everyone else's is faked.
func TestPromoteThenScrubKeepsTheTestAccounts(t *testing.T) {
	f := newFixture(t)
	seed(t, f.stg, 20)
	sql(t, f.stg, "register", "update users set email = 'qa.admin@example.org' where id = 3")
	accounts := []string{"qa.admin@example.org"}
	var p postgres.PromoteAccountsOutput
	f.must(f.pg.PromoteAccounts, postgres.PromoteAccountsInput{Database: "register", Table: "users", MatchColumn: "email", RoleColumn: "role",
		Role: "admin", Accounts: accounts, Run: runCtx("staging")}, &p)
	if p.Updated != 1 || len(p.Missing) != 0 {
		t.Fatalf("promote: %+v", p)
	}
	f.must(f.pg.Scrub, postgres.ScrubInput{Database: "register", Run: runCtx("staging"),
		Rules: []postgres.ScrubRule{{Table: "users", Column: "email", Action: "fake_email"}, {Table: "users", Column: "name", Action: "fake_name"}},
		Keep:  []postgres.ScrubKeep{{Table: "users", Column: "email", Values: accounts}}}, nil)
	if n := queryInt(t, f.stg, "register", "select count(*) from users where email = 'qa.admin@example.org' and role = 'admin'"); n != 1 {
		t.Fatal("the test account lost its address or its role")
	}
	if n := queryInt(t, f.stg, "register", "select count(*) from users where id <> 3 and (email = 'person'||id||'@example.org' or name = 'Person '||id)"); n != 0 {
		t.Fatalf("%d rows besides the kept one still hold original data", n)
	}
}

// TestBackupOfTheWrongInstanceIsRefused points production's URL at a twin
// holding a few recent rows, as a misconfigured job once did for six
// weeks: the backup is refused as another instance and, were that
// accepted, as a shrink; a planned rebuild, backed up once with
// new_source, is the new normal, and the next nightly backup passes.
func TestBackupOfTheWrongInstanceIsRefused(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 2000)
	run := runCtx("production")
	var first postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Run: run}, &first)
	if first.Source == nil || first.Source.SystemID == "" || first.Source.DatabaseOID == 0 {
		t.Fatalf("the backup does not say what it is of: %+v", first.Source)
	}

	base := testsuite.PostgresBase(t)
	twin := testsuite.StartPostgres(t, filepath.Join(base, "twin"), postgres.MainInstance, map[string]string{"wal_level": "replica"})
	seed(t, twin, 5)
	t.Setenv("DRCTL_TEST_PROD_URL", twin.URL("register"))
	err := f.run(f.pg.Backup, postgres.BackupInput{Database: "register", Run: run}, nil)
	if errType(err) != "SourceChanged" || !strings.Contains(err.Error(), first.Source.SystemID) || !strings.Contains(err.Error(), first.Key) {
		t.Fatalf("a backup of the twin: %v", err)
	}
	err = f.run(f.pg.Backup, postgres.BackupInput{Database: "register", NewSource: true, Run: run}, nil)
	if errType(err) != "Shrunk" || !strings.Contains(err.Error(), "public.users 2000 → 5") || !strings.Contains(err.Error(), "2500 rows then, 505 now") {
		t.Fatalf("a backup of the twin, its identity accepted: %v", err)
	}
	// An environment may pin its instance.
	f.targets["production"].SystemID = first.Source.SystemID
	if err := f.run(f.pg.Backup, postgres.BackupInput{Database: "register", NewSource: true, AllowShrink: true, Run: run}, nil); errType(err) != "WrongSource" {
		t.Fatalf("a backup of an instance the environment does not pin: %v", err)
	}
	f.targets["production"].SystemID = ""

	// A planned rebuild: production's data restored into a new instance,
	// backed up once as the new source; the nightly backup after passes.
	rebuilt := testsuite.StartPostgres(t, filepath.Join(base, "rebuilt"), postgres.MainInstance, map[string]string{"wal_level": "replica"})
	sql(t, rebuilt, "postgres", "create database register")
	t.Setenv("DRCTL_TEST_PROD_URL", rebuilt.URL("register"))
	f.must(f.pg.Restore, postgres.RestoreInput{Backup: first.Key, Database: "register_restored", Run: run}, nil)
	sql(t, rebuilt, "postgres", "drop database register", "alter database register_restored rename to register")
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", NewSource: true, Run: run}, nil)
	var nightly postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Run: run}, &nightly)
	if nightly.Rows != first.Rows || nightly.Source.SystemID == first.Source.SystemID {
		t.Fatalf("the nightly backup after the rebuild: %+v", nightly)
	}
}

// TestParallelRestoreFailsSoonAfterItsTargetDies: the target instance
// goes down while a large table loads from a download across a slow link.
// The restore fails within 10 seconds of it, naming the lost connection,
// rather than once the download has reached the next table.
func TestParallelRestoreFailsSoonAfterItsTargetDies(t *testing.T) {
	f := newFixture(t)
	seed(t, f.prod, 100)
	sql(t, f.prod, "register", "create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 400000) g")
	_, link := withSFTP(t, f)
	var b postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Store: "fast", Run: runCtx("production")}, &b)

	ended := make(chan error, 1)
	go func() {
		ended <- f.run(f.pg.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Jobs: 2, Store: "slow", Run: runCtx("staging")}, nil)
	}()
	testsuite.Eventually(t, time.Minute, func() bool {
		c, err := pgx.Connect(context.Background(), f.stg.URL("postgres"))
		if err != nil {
			return false
		}
		defer c.Close(context.Background())
		var loading int
		err = c.QueryRow(context.Background(), "select count(*) from pg_stat_activity where query ilike 'copy public.bulk%'").Scan(&loading)
		return err == nil && loading > 0
	}, "the loader of table bulk to start")
	pid, err := os.ReadFile(filepath.Join(f.stg.Dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var postmaster int
	fmt.Sscan(string(pid), &postmaster)
	// An immediate shutdown: the server is gone, its connections with it.
	if err := syscall.Kill(postmaster, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	killed, carried := time.Now(), link.Delivered()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the restore into an instance that went down succeeded")
		}
		t.Logf("failed %s after the target went down, with %d of %d bytes carried: %v", time.Since(killed).Round(time.Millisecond), carried, b.Size, err)
		if took := time.Since(killed); took > 10*time.Second {
			t.Errorf("the restore failed %s after its target went down", took)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the restore is still running two minutes after its target went down")
	}
}

// TestRestoreIntoAFullDisk restores a dump larger than the room left on
// the target instance's disk: the step's check refuses it, saying how much
// room there is and how much it needs; run regardless, the restore fails
// naming the full disk, in the server's words, not a lost connection.
func TestRestoreIntoAFullDisk(t *testing.T) {
	f := newFixture(t)
	disk := testsuite.SmallDisk(t, testsuite.PostgresBase(t), "small", 100)
	small := testsuite.StartPostgres(t, disk, postgres.MainInstance, nil)
	t.Setenv("DRCTL_TEST_SMALL_URL", small.URL("postgres"))
	f.targets["small"] = &postgres.Target{Name: "small", Role: "target", Database: "register", URL: "env:DRCTL_TEST_SMALL_URL", OldSuffix: "-old",
		Instance: &postgres.InstanceConfig{Provider: "local", DataDir: disk}}
	seed(t, f.prod, 100)
	sql(t, f.prod, "register", "create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 1200000) g")
	var b postgres.BackupOutput
	f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Run: runCtx("production")}, &b)

	in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: runCtx("small")}
	if err := f.run(f.pg.CheckRestore, in, nil); errType(err) != "NoSpace" || !strings.Contains(err.Error(), "MiB free in "+filepath.Join(disk, "main")) {
		t.Fatalf("the check of a restore larger than its target's disk: %v", err)
	}
	err := f.run(f.pg.Restore, in, nil)
	if errType(err) != "DiskFull" || !strings.Contains(err.Error(), "No space left on device") {
		t.Fatalf("a restore that filled its target's disk: %v", err)
	}
	t.Log(err)
}
