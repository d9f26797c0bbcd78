package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/bench"
	"github.com/drctl/drctl/internal/childio"
	"github.com/drctl/drctl/internal/freeport"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

// pitrBench is a generated database archiving its WAL both through drctl
// and into pgBackRest, with a base backup in each, then a burst of writes
// up to the target and a destructive DELETE after it.
type pitrBench struct {
	f      *testsuite.Fixture
	conf   string // pgBackRest's config
	target time.Time
	// want is how many rows t0 held at the target.
	want int64
	// walMB is how much WAL the writes after the base backups made: what
	// each recovery replays.
	walMB float64
	// raws holds the hand-made instances of the raw way.
	raws string
	// oneByOne is the worker's wal-fetch command with prefetch off.
	oneByOne []string
}

func newPITRBench(t testing.TB, mb int) *pitrBench {
	f, storeDir := testsuite.NewArchivingFixture(t)
	b := &pitrBench{f: f, conf: testsuite.ArchiveThroughPgBackRest(t, f)}
	generate(t, f, mb)
	f.Must(f.PG.Backup, postgres.BackupInput{Database: "register", Base: true, Run: testsuite.RunContext("production")}, nil)
	testsuite.AsPostgres(t, "pgbackrest", "--config="+b.conf, "--stanza=register", "backup", "--type=full")
	// pgBackRest picks the backup set for a target by its stop time in
	// whole seconds: the target must be in a later second.
	testsuite.PastTheSecondOf(t, f.Prod, testsuite.DBNow(t, f.Prod))
	// Writes after the base backups, which recovery replays from the
	// archive: half as many rows again into t0.
	before := testsuite.QueryInt(t, f.Prod, "register", "select pg_current_wal_lsn() - '0/0'::pg_lsn")
	rows := testsuite.QueryInt(t, f.Prod, "register", "select count(*) from t0")
	testsuite.SQL(t, f.Prod.URL("register"), fmt.Sprintf("insert into t0 select g, md5(g::text), md5((g*3)::text), now() from generate_series(%d, %d) g", rows+1, rows+rows/2))
	b.walMB = float64(testsuite.QueryInt(t, f.Prod, "register", "select pg_current_wal_lsn() - '0/0'::pg_lsn")-before) / 1e6
	b.want = rows + rows/2
	b.target = testsuite.DBNow(t, f.Prod)
	testsuite.PastTheSecondOf(t, f.Prod, b.target)
	testsuite.SQL(t, f.Prod.URL("register"), fmt.Sprintf("delete from t0 where id > %d", rows))
	testsuite.SwitchAndWaitArchived(t, f.Prod)
	raws, err := os.MkdirTemp("", "drctl-pitr-raw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(raws) })
	os.Chmod(raws, 0o755)
	b.raws = raws
	// Cobra takes a flag after the arguments, so a wrapper can turn
	// prefetch off for the way that fetches one segment a call.
	wrapper := filepath.Join(raws, "wal-fetch-one-by-one")
	script := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\" --prefetch 0\n", childio.ShellQuote(f.PG.WALCommand...))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	b.oneByOne = []string{wrapper}
	b.serveOverSFTP(t, storeDir)
	b.copyToAzurite(t)
	return b
}

// copyToAzurite makes a copy of the archive the store "cloud", a container
// in Azurite, for recoveries that fetch WAL as from Azure: each wal-fetch
// process then makes its requests over HTTP.
func (b *pitrBench) copyToAzurite(t testing.TB) {
	az := testsuite.StartAzurite(t)
	az.CreateContainer(t, "archive")
	t.Setenv("DRCTL_BENCH_AZURE", az.ConnectionString())
	cfg := &backup.StoreConfig{Type: "azure", Container: "archive", Connection: "env:DRCTL_BENCH_AZURE",
		Recipients: b.f.Store.Recipients, Identity: b.f.Store.Identity}
	b.addStore(t, "cloud", cfg, fmt.Sprintf("{type: azure, container: %q, connection: %q, recipients: [%q], identity: %q}",
		cfg.Container, string(cfg.Connection), cfg.Recipients[0], string(cfg.Identity)))
	ctx := context.Background()
	from, err := backup.Open(ctx, b.f.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := backup.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	objects, err := from.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		r, err := from.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = to.Put(ctx, o.Key, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// addStore makes cfg production's store name, for the worker and, in the
// environments file (doc is its entry), for wal-fetch.
func (b *pitrBench) addStore(t testing.TB, name string, cfg *backup.StoreConfig, doc string) {
	others := b.f.PG.Stores
	b.f.PG.Stores = func(env, n string) (*backup.StoreConfig, error) {
		if n == name {
			return cfg, nil
		}
		return others(env, n)
	}
	// The environments file ends with production's stores.
	conf, err := os.OpenFile(b.f.PG.WALCommand[2], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conf.Close()
	if _, err := fmt.Fprintf(conf, "      %s: %s\n", name, doc); err != nil {
		t.Fatal(err)
	}
}

// serveOverSFTP makes the archive also the store "offsite", the same
// folder served by an SFTP server, for recoveries that fetch WAL as from a
// backup server: each wal-fetch process then opens an ssh session.
func (b *pitrBench) serveOverSFTP(t testing.TB, storeDir string) {
	sshd := testsuite.StartSSHD(t)
	// The server's user reads what the worker wrote.
	if out, err := exec.Command("chmod", "-R", "a+rX", storeDir).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
	// wal-fetch runs as the postgres user, which must read the key.
	cfgFile := b.f.PG.WALCommand[2]
	key := filepath.Join(filepath.Dir(cfgFile), "sftp_key")
	pem, err := os.ReadFile(sshd.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pglocal.ChownToPostgres(key); err != nil {
		t.Fatal(err)
	}
	cfg := &backup.StoreConfig{Type: "sftp", Host: sshd.Host, Port: sshd.Port, User: sshd.User, Key: secret.Ref("file:" + key),
		KnownHosts: sshd.KnownHosts, Path: storeDir, Recipients: b.f.Store.Recipients, Identity: b.f.Store.Identity}
	b.addStore(t, "offsite", cfg, fmt.Sprintf("{type: sftp, host: %q, port: %d, user: %q, key: %q, known_hosts: %q, path: %q, recipients: [%q], identity: %q}",
		cfg.Host, cfg.Port, cfg.User, string(cfg.Key), cfg.KnownHosts, cfg.Path, cfg.Recipients[0], string(cfg.Identity)))
}

// ours recovers with postgres.pitr through backend, from store (native),
// into a new instance, checks it holds the target's rows, and destroys it.
func (b *pitrBench) ours(t testing.TB, backend, store, instance string) time.Duration {
	start := time.Now()
	var out postgres.PITROutput
	b.f.Must(b.f.PG.PITR, postgres.PITRInput{Target: b.target, Instance: instance, Database: "register", Backend: backend, Store: store,
		Run: testsuite.RunContext("production")}, &out)
	took := time.Since(start)
	l, ok, err := pglocal.Open(b.f.Targets["production"].Instance.DataDir, instance)
	if err != nil || !ok || !out.Promoted {
		t.Fatalf("%s: %+v (%v)", instance, out, err)
	}
	defer l.Destroy(context.Background())
	b.check(t, instance, l)
	return took
}

// raw is what an operator runs by hand with pgBackRest: restore to the
// target with --target-action=promote into a new folder, point the
// restored configuration at a free port, start, and wait until it is
// promoted. No check while paused, as drctl's backends make.
func (b *pitrBench) raw(t testing.TB, name string) time.Duration {
	bin, err := pglocal.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dir := filepath.Join(b.raws, name)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	pglocal.ChownToPostgres(dir)
	pglocal.ChownToPostgres(data)
	testsuite.AsPostgres(t, "pgbackrest", "--config="+b.conf, "--stanza=register", "--pg1-path="+data, "restore",
		"--type=time", "--target="+b.target.Format("2006-01-02 15:04:05.999999-07"), "--target-action=promote")
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conf, "port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\narchive_mode = off\n", port, dir)
	conf.Close()
	testsuite.AsPostgres(t, filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-w", "-t", "3600", "start")
	defer testsuite.AsPostgres(t, filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
	// A copy of production: its superuser logs in with production's password.
	l := &pglocal.Instance{Port: port, PasswordFile: b.f.Prod.PasswordFile}
	c, err := pgx.Connect(context.Background(), l.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	testsuite.Eventually(t, time.Hour, func() bool {
		var recovering bool
		return c.QueryRow(context.Background(), "select pg_is_in_recovery()").Scan(&recovering) == nil && !recovering
	}, "%s to be promoted", name)
	took := time.Since(start)
	b.check(t, name, l)
	return took
}

// check fails unless l holds t0 as it was at the target.
func (b *pitrBench) check(t testing.TB, name string, l *pglocal.Instance) {
	t.Helper()
	if n := testsuite.QueryInt(t, l, "register", "select count(*) from t0"); n != b.want {
		t.Fatalf("%s recovered %d rows of t0, want %d", name, n, b.want)
	}
}

// round recovers once in each way, in the random order of a map.
func (b *pitrBench) round(t testing.TB, suffix string) map[string]time.Duration {
	ways := map[string]func() time.Duration{
		"pgbackrest": func() time.Duration { return b.ours(t, "pgbackrest", "", "pitr-pgbackrest"+suffix) },
		"raw":        func() time.Duration { return b.raw(t, "raw"+suffix) },
	}
	for _, store := range []string{"backups", "offsite", "cloud"} {
		ways["native-"+store] = func() time.Duration { return b.ours(t, "native", store, "pitr-"+store+suffix) }
		ways["native-"+store+"-one-by-one"] = func() time.Duration {
			prefetching := b.f.PG.WALCommand
			b.f.PG.WALCommand = b.oneByOne
			defer func() { b.f.PG.WALCommand = prefetching }()
			return b.ours(t, "native", store, "pitr-"+store+"-one-by-one"+suffix)
		}
	}
	out := map[string]time.Duration{}
	for name, way := range ways {
		testsuite.SQL(t, b.f.Prod.URL("postgres"), "checkpoint")
		out[name] = way()
	}
	return out
}

// BenchmarkPITR times point-in-time recovery, start to promoted, of a
// generated database (DRCTL_BENCH_DB_MB, default 1024) with WAL to replay
// after its base backup: postgres.pitr with drctl's own archive (native)
// from a folder, over SFTP and from Azurite, each fetching WAL ahead and one
// segment a call; postgres.pitr with the pgBackRest backend, and by hand with pgBackRest's
// restore --type=time from the same stanza, side by side in each round.
func BenchmarkPITR(b *testing.B) {
	mb := 1024
	if v := os.Getenv("DRCTL_BENCH_DB_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	pb := newPITRBench(b, mb)
	sum := map[string]time.Duration{}
	ratios := map[string][]float64{}
	ours := []string{"native-backups", "native-backups-one-by-one", "native-offsite", "native-offsite-one-by-one",
		"native-cloud", "native-cloud-one-by-one", "pgbackrest"}
	for i := range b.N {
		times := pb.round(b, fmt.Sprintf("-%d", i))
		for k, d := range times {
			sum[k] += d
		}
		for _, way := range ours {
			ratios[way] = append(ratios[way], times[way].Seconds()/times["raw"].Seconds())
		}
	}
	avg := func(way string) time.Duration { return (sum[way] / time.Duration(b.N)).Round(10 * time.Millisecond) }
	of := func(way string) string {
		m := bench.Median(ratios[way])
		b.ReportMetric(m, way+"/raw-pgbackrest")
		return fmt.Sprintf("%s, %.2f of raw (median of rounds %.2f)", avg(way), sum[way].Seconds()/sum["raw"].Seconds(), m)
	}
	b.Logf("%d MB, %.0f MB of WAL to replay: postgres.pitr native from a folder %s, fetching one segment a call %s; from SFTP %s, one segment a call %s; from Azurite %s, one segment a call %s; with the pgBackRest backend %s; raw pgbackrest restore --type=time, start, promoted %s",
		mb, pb.walMB, of("native-backups"), of("native-backups-one-by-one"), of("native-offsite"), of("native-offsite-one-by-one"),
		of("native-cloud"), of("native-cloud-one-by-one"), of("pgbackrest"), avg("raw"))
}

// TestPITRBenchmarkTiny keeps a 4 MB round of the benchmark in the tests
// so it cannot rot; each way must bring back the target's rows, and
// nothing is asserted about speed.
func TestPITRBenchmarkTiny(t *testing.T) {
	b := newPITRBench(t, 4)
	for k, d := range b.round(t, "") {
		if d <= 0 {
			t.Errorf("%s did not run", k)
		}
	}
}
