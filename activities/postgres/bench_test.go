package postgres_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/testsuite"
)

// restoreBench is a generated database backed up into Azurite and an SFTP
// server, plus the plain dump on disk for the baselines.
type restoreBench struct {
	f      *fixture
	plain  string // the plain pg_dump file
	keys   map[string]string
	jobs   int
	stores map[string]backup.Store
}

// generate fills production with about mb MB in four tables (so parallel
// restore has work to share) with an index each.
func generate(t testing.TB, f *fixture, mb int) {
	sql(t.(*testing.T), f.prod, "postgres", "create database register")
	rows := mb * 1024 * 1024 / 4 / 180
	for i := range 4 {
		sql(t.(*testing.T), f.prod, "register",
			fmt.Sprintf("create table t%d (id bigint primary key, a text, b text, c timestamptz)", i),
			fmt.Sprintf("insert into t%d select g, md5(g::text) || md5((g*7)::text) || md5((g*13)::text), repeat(md5((g*%d)::text), 2), now() - (g || ' seconds')::interval from generate_series(1, %d) g", i, i+3, rows),
			fmt.Sprintf("create index on t%d (c)", i))
	}
}

func newRestoreBench(t *testing.T, mb int) *restoreBench {
	f := newFixture(t)
	generate(t, f, mb)
	sshd := testsuite.StartSSHD(t)
	az := testsuite.StartAzurite(t)
	c, err := azblob.NewClientFromConnectionString(az.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContainer(context.Background(), "backups", nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DRCTL_BENCH_AZURE", az.ConnectionString())
	recips := []string{f.identity.Recipient().String()}
	stores := map[string]*backup.StoreConfig{
		"azure": {Type: "azure", Container: "backups", Connection: "env:DRCTL_BENCH_AZURE", Recipients: recips, Identity: "env:DRCTL_TEST_IDENTITY"},
		"sftp": {Type: "sftp", Host: sshd.Host, Port: sshd.Port, User: sshd.User, Key: secret.Ref("file:" + sshd.KeyFile),
			KnownHosts: sshd.KnownHosts, Path: sshd.Base, Recipients: recips, Identity: "env:DRCTL_TEST_IDENTITY"},
	}
	f.pg.Stores = func(env, name string) (*backup.StoreConfig, error) { return stores[name], nil }
	b := &restoreBench{f: f, keys: map[string]string{}, jobs: 2}
	for name := range stores {
		var out postgres.BackupOutput
		f.must(f.pg.Backup, postgres.BackupInput{Database: "register", Store: name, Run: runCtx("production")}, &out)
		b.keys[name] = out.Key
	}
	b.plain = filepath.Join(t.TempDir(), "register.dump")
	cmd := exec.Command("pg_dump", "-Fc", "-f", b.plain, f.prod.URL("register"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	// The manual procedure's file: the plain dump, as a plain object.
	b.stores = map[string]backup.Store{}
	for name, cfg := range stores {
		s, err := backup.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		file, _ := os.Open(b.plain)
		if _, err := s.Put(context.Background(), "manual/register.dump", file); err != nil {
			t.Fatal(err)
		}
		file.Close()
		b.stores[name] = s
	}
	return b
}

func (b *restoreBench) pgRestore(t testing.TB, db string, jobs int, file string) time.Duration {
	sql(t.(*testing.T), b.f.stg, "postgres", "create database "+db)
	start := time.Now()
	cmd := exec.Command("pg_restore", "--jobs", strconv.Itoa(jobs), "--dbname", b.f.stg.URL(db), file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	return time.Since(start)
}

// manual is the procedure incident teams ran by hand: download the file
// from the store, then a single-job pg_restore.
func (b *restoreBench) manual(t testing.TB, store, db string) time.Duration {
	start := time.Now()
	local := filepath.Join(t.TempDir(), "copy.dump")
	src, err := b.stores[store].Get(context.Background(), "manual/register.dump")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(local)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()
	return time.Since(start) + b.pgRestore(t, db, 1, local)
}

func (b *restoreBench) ours(t testing.TB, store, db string) time.Duration {
	start := time.Now()
	b.f.must(b.f.pg.Restore, postgres.RestoreInput{Backup: b.keys[store], From: "production", Store: store, Database: db,
		Jobs: b.jobs, Run: runCtx("staging")}, nil)
	return time.Since(start)
}

func runRestoreBench(t *testing.T, mb int) map[string]time.Duration {
	b := newRestoreBench(t, mb)
	return map[string]time.Duration{
		"ours-azure":   b.ours(t, "azure", "from_azure"),
		"ours-sftp":    b.ours(t, "sftp", "from_sftp"),
		"manual-azure": b.manual(t, "azure", "by_hand_azure"),
		"manual-sftp":  b.manual(t, "sftp", "by_hand_sftp"),
		"raw-j":        b.pgRestore(t, "raw_parallel", b.jobs, b.plain),
	}
}

// TestRestoreBenchmark compares postgres.restore from Azurite and from SFTP
// with the manual procedure (copy the file, then a single-job pg_restore)
// and with a raw pg_restore -j from a local file. DRCTL_BENCH_DB_MB sets
// the database size (make bench: 1024); without it a 4 MB run keeps the
// benchmark working and asserts nothing about speed.
func TestRestoreBenchmark(t *testing.T) {
	mb := 4
	if v := os.Getenv("DRCTL_BENCH_DB_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	times := runRestoreBench(t, mb)
	for k, d := range times {
		if d <= 0 {
			t.Fatalf("%s did not run", k)
		}
		t.Logf("%-12s %s", k, d.Round(time.Millisecond))
	}
	for _, store := range []string{"azure", "sftp"} {
		ours := times["ours-"+store].Seconds()
		t.Logf("%d MB from %s: ours %.2f of the manual procedure (target <= 0.6), %.2f of raw pg_restore -j2 from a local file (target <= 1.10)",
			mb, store, ours/times["manual-"+store].Seconds(), ours/times["raw-j"].Seconds())
	}
}
