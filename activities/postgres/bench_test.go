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
	sql(t, f.prod, "postgres", "create database register")
	rows := mb * 1024 * 1024 / 4 / 180
	for i := range 4 {
		sql(t, f.prod, "register",
			fmt.Sprintf("create table t%d (id bigint primary key, a text, b text, c timestamptz)", i),
			fmt.Sprintf("insert into t%d select g, md5(g::text) || md5((g*7)::text) || md5((g*13)::text), repeat(md5((g*%d)::text), 2), now() - (g || ' seconds')::interval from generate_series(1, %d) g", i, i+3, rows),
			fmt.Sprintf("create index on t%d (c)", i))
	}
}

func newRestoreBench(t testing.TB, mb int) *restoreBench {
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
	sql(t, b.f.stg, "postgres", "create database "+db)
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

// round restores the backup once in each of the five ways, each into a
// database of its own; suffix keeps the names of rounds apart. Each way
// starts after a checkpoint, so none pays for the WAL of the one before.
func (b *restoreBench) round(t testing.TB, suffix string) map[string]time.Duration {
	ways := map[string]func() time.Duration{
		"ours-azure":   func() time.Duration { return b.ours(t, "azure", "from_azure"+suffix) },
		"ours-sftp":    func() time.Duration { return b.ours(t, "sftp", "from_sftp"+suffix) },
		"manual-azure": func() time.Duration { return b.manual(t, "azure", "by_hand_azure"+suffix) },
		"manual-sftp":  func() time.Duration { return b.manual(t, "sftp", "by_hand_sftp"+suffix) },
		"raw-j":        func() time.Duration { return b.pgRestore(t, "raw_parallel"+suffix, b.jobs, b.plain) },
	}
	out := map[string]time.Duration{}
	for name, way := range ways {
		sql(t, b.f.stg, "postgres", "checkpoint")
		out[name] = way()
	}
	return out
}

// dropRound drops a round's databases so the next round starts from the
// same cluster state (and the disk does not fill up).
func (b *restoreBench) dropRound(t testing.TB, suffix string) {
	for _, db := range []string{"from_azure", "from_sftp", "by_hand_azure", "by_hand_sftp", "raw_parallel"} {
		sql(t, b.f.stg, "postgres", "drop database "+db+suffix)
	}
}

// BenchmarkRestore compares postgres.restore from Azurite and from SFTP
// with the manual procedure (copy the file, then a single-job pg_restore)
// and with a raw pg_restore -j2 from a local file, side by side in each
// round. DRCTL_BENCH_DB_MB sets the database size (default 1024). Targets:
// ours <= 0.6 of the manual procedure and <= 1.10 of the raw -j2.
func BenchmarkRestore(b *testing.B) {
	mb := 1024
	if v := os.Getenv("DRCTL_BENCH_DB_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	rb := newRestoreBench(b, mb)
	sum := map[string]time.Duration{}
	for i := range b.N {
		suffix := fmt.Sprintf("_%d", i)
		for k, d := range rb.round(b, suffix) {
			sum[k] += d
		}
		rb.dropRound(b, suffix)
	}
	for _, k := range []string{"ours-azure", "ours-sftp", "manual-azure", "manual-sftp", "raw-j"} {
		b.Logf("%d MB %-12s %s a restore", mb, k, (sum[k] / time.Duration(b.N)).Round(time.Millisecond))
	}
	for _, store := range []string{"azure", "sftp"} {
		ours := sum["ours-"+store].Seconds()
		manual, raw := ours/sum["manual-"+store].Seconds(), ours/sum["raw-j"].Seconds()
		b.ReportMetric(manual, store+"/manual")
		b.ReportMetric(raw, store+"/raw-j2")
		b.Logf("%d MB from %s: ours %.2f of the manual procedure (target <= 0.6), %.2f of raw pg_restore -j2 from a local file (target <= 1.10)", mb, store, manual, raw)
	}
}

// TestRestoreBenchmarkTiny keeps a 4 MB round of the benchmark in the
// tests so it cannot rot; it asserts nothing about speed.
func TestRestoreBenchmarkTiny(t *testing.T) {
	b := newRestoreBench(t, 4)
	for k, d := range b.round(t, "") {
		if d <= 0 {
			t.Errorf("%s did not run", k)
		}
	}
	b.dropRound(t, "")
}
