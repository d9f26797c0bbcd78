package testsuite

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/log"
	sdktest "go.temporal.io/sdk/testsuite"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
)

// Fixture is production (a source) and staging (a target), each a real
// local cluster, sharing a backup store in a folder, and the postgres
// steps wired to them in Temporal's activity test environment: what the
// steps' tests and the benchmarks run them against.
type Fixture struct {
	t        testing.TB
	PG       *postgres.Postgres
	Env      *sdktest.TestActivityEnvironment
	Prod     *pglocal.Instance
	Stg      *pglocal.Instance
	Store    *backup.StoreConfig
	Targets  map[string]*postgres.Target
	Identity *age.X25519Identity
}

// NewFixture starts the two clusters.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	base := PostgresBase(t)
	f := &Fixture{t: t}
	f.Prod = StartPostgres(t, filepath.Join(base, "production"), postgres.MainInstance, map[string]string{"wal_level": "replica"})
	f.Stg = StartPostgres(t, filepath.Join(base, "staging"), postgres.MainInstance, nil)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	f.Identity = id
	t.Setenv("DRCTL_TEST_IDENTITY", id.String())
	t.Setenv("DRCTL_TEST_PROD_URL", f.Prod.URL("register"))
	t.Setenv("DRCTL_TEST_STAGING_URL", f.Stg.URL("register"))
	f.Store = &backup.StoreConfig{Type: "local", Path: t.TempDir(), Recipients: []string{id.Recipient().String()}, Identity: "env:DRCTL_TEST_IDENTITY"}
	f.Targets = map[string]*postgres.Target{
		"production": {Name: "production", Role: "source", Database: "register", URL: "env:DRCTL_TEST_PROD_URL", OldSuffix: "-old",
			Instance: &postgres.InstanceConfig{Provider: "local", DataDir: filepath.Join(base, "production")}},
		"staging": {Name: "staging", Role: "target", Database: "register", URL: "env:DRCTL_TEST_STAGING_URL", OldSuffix: "-old",
			Instance: &postgres.InstanceConfig{Provider: "local", DataDir: filepath.Join(base, "staging")}},
	}
	f.PG = &postgres.Postgres{
		Targets: func(env string) (*postgres.Target, error) {
			if tg, ok := f.Targets[env]; ok {
				return tg, nil
			}
			return nil, fmt.Errorf("no environment %s", env)
		},
		Stores: func(env, store string) (*backup.StoreConfig, error) { return f.Store, nil },
		// The recovered instances' WAL commands read the store's identity.
		ServerEnv: []string{"DRCTL_*"},
	}
	var s sdktest.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	f.Env = s.NewTestActivityEnvironment()
	f.Env.RegisterActivity(f.PG)
	return f
}

// Run executes an activity as Temporal would; out may be nil.
func (f *Fixture) Run(fn any, in any, out any) error {
	f.t.Helper()
	v, err := f.Env.ExecuteActivity(fn, in)
	if err != nil {
		return err
	}
	if out != nil {
		return v.Get(out)
	}
	return nil
}

// Must is Run, failing the test on an error.
func (f *Fixture) Must(fn any, in any, out any) {
	f.t.Helper()
	if err := f.Run(fn, in, out); err != nil {
		f.t.Fatal(err)
	}
}

// RunContext is a test run on env.
func RunContext(env string) postgres.RunContext { return postgres.RunContext{Env: env, ID: "test-run"} }

// QueryInt is the number q selects from database db of l.
func QueryInt(t testing.TB, l *pglocal.Instance, db, q string) int64 {
	t.Helper()
	c, err := pgx.Connect(context.Background(), l.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int64
	if err := c.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TableChecksum is an md5 over a table's rows in a fixed order.
func TableChecksum(t testing.TB, l *pglocal.Instance, db, table string) string {
	t.Helper()
	c, err := pgx.Connect(context.Background(), l.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var sum string
	q := fmt.Sprintf("select coalesce(md5(string_agg(x::text, ',' order by x::text)), '') from %s x", table)
	if err := c.QueryRow(context.Background(), q).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// Seed creates the register database with users and events.
func Seed(t testing.TB, l *pglocal.Instance, users int) {
	t.Helper()
	SQL(t, l.URL("postgres"), "create database register")
	SQL(t, l.URL("register"),
		"create table users (id serial primary key, email text unique, name text, phone text, role text not null default 'user')",
		"create table events (id bigserial primary key, created_at timestamptz not null default now(), kind text)",
		fmt.Sprintf("insert into users (email, name, phone) select 'person'||g||'@example.org', 'Person '||g, '+44 20 7946 '||g from generate_series(1, %d) g", users),
		"insert into events (created_at, kind) select now() - (g || ' minutes')::interval, 'login' from generate_series(1, 500) g",
	)
}

// NewArchivingFixture is production archiving its WAL through `drctl wal-push`
// into a folder store, as its archive_command; it returns the store.
func NewArchivingFixture(t testing.TB) (*Fixture, string) {
	t.Helper()
	bin := Binary(t)
	f := NewFixture(t)
	// The archive is written by the postgres user (archive_command).
	storeDir, err := os.MkdirTemp("", "drctl-archive-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(storeDir) })
	// The worker (root here) writes base backups and the postgres user
	// writes WAL: each gets the folder it writes to.
	if err := os.Chmod(storeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	walDir := filepath.Join(storeDir, "production", "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := pglocal.ChownToPostgres(walDir); err != nil {
		t.Fatal(err)
	}
	f.Store.Path = storeDir
	cfgDir, err := os.MkdirTemp("", "drctl-config-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cfgDir) })
	os.Chmod(cfgDir, 0o755)
	cfgFile := filepath.Join(cfgDir, "drctl.yaml")
	yaml := fmt.Sprintf(`environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_TEST_PROD_URL"}
    stores:
      backups: {type: local, path: %q, recipients: [%q], identity: "env:DRCTL_TEST_IDENTITY"}
`, storeDir, f.Identity.Recipient().String())
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	f.PG.WALCommand = []string{bin, "--config", cfgFile}
	// Production is replaced by one that archives its WAL through drctl.
	base := filepath.Dir(f.Targets["production"].Instance.DataDir)
	f.Prod = StartPostgres(t, filepath.Join(base, "archiving"), postgres.MainInstance, map[string]string{
		"wal_level": "replica", "archive_mode": "on",
		"archive_command": fmt.Sprintf("'%s' --config '%s' wal-push --env production %%p", bin, cfgFile),
	})
	t.Setenv("DRCTL_TEST_PROD_URL", f.Prod.URL("register"))
	f.Targets["production"].Instance.DataDir = filepath.Join(base, "archiving")
	return f, storeDir
}
