package postgres_test

import (
	"bytes"
	"context"
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
	"go.temporal.io/sdk/worker"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

// TestRestoreOfGzipDump: a backup stored as earlier versions stored it,
// pg_dump's own gzip and no compression of ours, still restores both ways.
func TestRestoreOfGzipDump(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 300)
	s, err := backup.Open(context.Background(), f.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dump := exec.Command("pg_dump", "-Fc", f.Prod.URL("register"))
	stdout, err := dump.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	e, err := backup.Writer{Store: s, Recipients: f.Store.Recipients}.Write(context.Background(), stdout, backup.Entry{
		Key: backup.DataKey("production", "register", now, "dump.age"), Env: "production", Datastore: "register",
		Date: now.Format(time.DateOnly), Format: "pg_dump-custom", StartedAt: now,
		RowCounts: map[string]int64{"public.users": 300, "public.events": 500}}, nil)
	if err != nil || dump.Wait() != nil {
		t.Fatalf("storing a gzip dump: %v", err)
	}
	for _, jobs := range []int{1, 2} {
		db := fmt.Sprintf("from_gzip_%d", jobs)
		var r postgres.RestoreOutput
		f.Must(f.PG.Restore, postgres.RestoreInput{Backup: e.Key, From: "production", Database: db, Jobs: jobs, Run: testsuite.RunContext("staging")}, &r)
		for _, table := range []string{"users", "events"} {
			if got, want := testsuite.TableChecksum(t, f.Stg, db, table), testsuite.TableChecksum(t, f.Prod, "register", table); got != want {
				t.Errorf("jobs %d: %s differs after restore", jobs, table)
			}
		}
	}
}

// withSFTP adds to f's stores an SFTP server reached directly ("fast")
// and across a link of 1 MB/s ("slow"), and returns the server and the
// link.
func withSFTP(t *testing.T, f *testsuite.Fixture) (*testsuite.SSHServer, *testsuite.Link) {
	sshd := testsuite.StartSSHD(t)
	link := testsuite.SlowLink(t, fmt.Sprintf("%s:%d", sshd.Host, sshd.Port), 1e6)
	slow := sshd.Behind(t, link)
	sftpStore := func(s *testsuite.SSHServer) *backup.StoreConfig {
		return &backup.StoreConfig{Type: "sftp", Host: s.Host, Port: s.Port, User: s.User, Key: secret.Ref("file:" + s.KeyFile),
			KnownHosts: s.KnownHosts, Path: s.Base, Recipients: f.Store.Recipients, Identity: f.Store.Identity}
	}
	stores := map[string]*backup.StoreConfig{"fast": sftpStore(sshd), "slow": sftpStore(slow)}
	f.PG.Stores = func(env, name string) (*backup.StoreConfig, error) {
		if s, ok := stores[name]; ok {
			return s, nil
		}
		return f.Store, nil
	}
	return sshd, link
}

// TestParallelRestoreIsComplete restores a database with most kinds of
// object three ways: streamed into one pg_restore; in parallel after the
// download; and in parallel across a slow link, tables loaded and their
// indexes built as they arrive, the rest by pg_restore -j. A full pg_dump
// of each restored copy equals the source's.
func TestParallelRestoreIsComplete(t *testing.T) {
	f := testsuite.NewFixture(t)
	sql(t, f.Prod, "postgres", "create database register")
	sql(t, f.Prod, "register",
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
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Run: testsuite.RunContext("production")}, &b)
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Store: "fast", Run: testsuite.RunContext("production")}, &remote)
	want := dumpAll(t, f.Prod, "register")
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
		in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: c.db, Jobs: c.jobs, Run: testsuite.RunContext("staging")}
		if c.store != "" {
			in.Backup, in.Store = remote.Key, c.store
		}
		var r postgres.RestoreOutput
		f.Must(f.PG.Restore, in, &r)
		if len(r.IgnoredErrors) != 0 || r.Rows != b.Rows {
			t.Errorf("%s: %+v", c.db, r)
		}
		if c.store == "slow" && (r.TablesLoadedWhileDownloading == 0 || r.IndexesBuiltWhileDownloading == 0) {
			t.Errorf("%s: %d tables loaded and %d indexes built while the download went on", c.db, r.TablesLoadedWhileDownloading, r.IndexesBuiltWhileDownloading)
		}
		t.Logf("%s: %d tables loaded and %d indexes built while downloading", c.db, r.TablesLoadedWhileDownloading, r.IndexesBuiltWhileDownloading)
		if got := dumpAll(t, f.Stg, c.db); got != want {
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
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 20000)
	// Data that does not compress, for a download that takes seconds
	// across the slow link.
	sql(t, f.Prod, "register", "create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 120000) g")
	sshd, _ := withSFTP(t, f)
	var b postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Store: "fast", Run: testsuite.RunContext("production")}, &b)
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
	in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Jobs: 2, Store: "fast", Run: testsuite.RunContext("staging")}
	c, err := pgx.Connect(context.Background(), f.Stg.URL("postgres"))
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
		err = f.Run(f.PG.Restore, in, nil)
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
	f.Must(f.PG.Restore, in, &r)
	if r.Rows != b.Rows || testsuite.TableChecksum(t, f.Stg, "register", "users") != testsuite.TableChecksum(t, f.Prod, "register", "users") {
		t.Fatalf("retry: %+v", r)
	}
}

// TestRestoreExpectedErrors plants errors a restore meets in real life (an
// owner role that the target does not have): the allowlist lets them pass,
// up to its max; without it the step fails and names the error.
func TestRestoreExpectedErrors(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 10)
	sql(t, f.Prod, "register", "create role app_owner", "alter table users owner to app_owner", "alter table events owner to app_owner")
	var b postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Run: testsuite.RunContext("production")}, &b)

	// Streamed into one pg_restore, and in parallel, where the errors come
	// from several.
	for _, jobs := range []int{1, 2} {
		name := func(db string) string { return fmt.Sprintf("%s_j%d", db, jobs) }
		in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: name("strict"), Jobs: jobs, Run: testsuite.RunContext("staging")}
		err := f.Run(f.PG.Restore, in, nil)
		if errType(err) != "RestoreErrors" || !strings.Contains(err.Error(), `role "app_owner" does not exist`) {
			t.Fatalf("jobs %d, without an allowlist: %v", jobs, err)
		}
		in.Database = name("tolerant")
		in.ExpectedErrors = []stepio.ExpectedError{{Pattern: `role "app_owner" does not exist`, Max: 1}}
		if err := f.Run(f.PG.Restore, in, nil); errType(err) != "RestoreErrors" {
			t.Fatalf("jobs %d, beyond the max: %v", jobs, err)
		}
		in.Database = name("tolerant2")
		in.ExpectedErrors[0].Max = 10
		var r postgres.RestoreOutput
		f.Must(f.PG.Restore, in, &r)
		// Two tables and their two sequences had the missing owner.
		if len(r.IgnoredErrors) != 4 || r.Rows != 510 {
			t.Fatalf("jobs %d, with the allowlist: %+v", jobs, r)
		}
	}
}

// TestParallelRestoreCancelled: a restore cancelled while it downloads
// across a slow link stops the download and returns, rather than wait for
// the rest of the backup: when it returns, the link has carried only part
// of the backup.
func TestParallelRestoreCancelled(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 100)
	sql(t, f.Prod, "register", "create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 240000) g")
	_, link := withSFTP(t, f)
	var b postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Store: "fast", Run: testsuite.RunContext("production")}, &b)

	// Cancelled at its first heartbeat, which the download's first bytes
	// send.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Env.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
	f.Env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { cancel() })
	err := f.Run(f.PG.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Jobs: 2, Store: "slow", Run: testsuite.RunContext("staging")}, nil)
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

// TestParallelRestoreFailsSoonAfterItsTargetDies: the target instance
// goes down while a large table loads from a download across a slow link.
// The restore fails within 10 seconds of it, naming the lost connection,
// rather than once the download has reached the next table.
func TestParallelRestoreFailsSoonAfterItsTargetDies(t *testing.T) {
	f := testsuite.NewFixture(t)
	testsuite.Seed(t, f.Prod, 100)
	sql(t, f.Prod, "register", "create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 400000) g")
	_, link := withSFTP(t, f)
	var b postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Store: "fast", Run: testsuite.RunContext("production")}, &b)

	ended := make(chan error, 1)
	go func() {
		ended <- f.Run(f.PG.Restore, postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Jobs: 2, Store: "slow", Run: testsuite.RunContext("staging")}, nil)
	}()
	testsuite.Eventually(t, time.Minute, func() bool {
		c, err := pgx.Connect(context.Background(), f.Stg.URL("postgres"))
		if err != nil {
			return false
		}
		defer c.Close(context.Background())
		var loading int
		err = c.QueryRow(context.Background(), "select count(*) from pg_stat_activity where query ilike 'copy public.bulk%'").Scan(&loading)
		return err == nil && loading > 0
	}, "the loader of table bulk to start")
	pid, err := os.ReadFile(filepath.Join(f.Stg.Dir, "data", "postmaster.pid"))
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
	f := testsuite.NewFixture(t)
	disk := testsuite.SmallDisk(t, testsuite.PostgresBase(t), "small", 100)
	small := testsuite.StartPostgres(t, disk, postgres.MainInstance, nil)
	t.Setenv("DRCTL_TEST_SMALL_URL", small.URL("postgres"))
	f.Targets["small"] = &postgres.Target{Name: "small", Role: "target", Database: "register", URL: "env:DRCTL_TEST_SMALL_URL", OldSuffix: "-old",
		Instance: &postgres.InstanceConfig{Provider: "local", DataDir: disk}}
	testsuite.Seed(t, f.Prod, 100)
	sql(t, f.Prod, "register", "create table bulk (id int primary key, a text)",
		"insert into bulk select g, md5(g::text) || md5((g * 3)::text) from generate_series(1, 1200000) g")
	var b postgres.BackupOutput
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Run: testsuite.RunContext("production")}, &b)

	in := postgres.RestoreInput{Backup: b.Key, From: "production", Database: "register", Run: testsuite.RunContext("small")}
	if err := f.Run(f.PG.CheckRestore, in, nil); errType(err) != "NoSpace" || !strings.Contains(err.Error(), "MiB free in "+filepath.Join(disk, "main")) {
		t.Fatalf("the check of a restore larger than its target's disk: %v", err)
	}
	err := f.Run(f.PG.Restore, in, nil)
	if errType(err) != "DiskFull" || !strings.Contains(err.Error(), "No space left on device") {
		t.Fatalf("a restore that filled its target's disk: %v", err)
	}
	t.Log(err)
}
