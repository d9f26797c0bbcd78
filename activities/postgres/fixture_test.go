package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/log"
	sdktest "go.temporal.io/sdk/testsuite"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

// fixture is production (a source) and staging (a target), each a real
// local cluster, sharing a backup store in a folder.
type fixture struct {
	t        testing.TB
	pg       *postgres.Postgres
	env      *sdktest.TestActivityEnvironment
	prod     *pglocal.Instance
	stg      *pglocal.Instance
	store    *backup.StoreConfig
	targets  map[string]*postgres.Target
	identity *age.X25519Identity
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := testsuite.PostgresBase(t)
	f := &fixture{t: t}
	f.prod = testsuite.StartPostgres(t, filepath.Join(base, "production"), postgres.MainInstance, map[string]string{"wal_level": "replica"})
	f.stg = testsuite.StartPostgres(t, filepath.Join(base, "staging"), postgres.MainInstance, nil)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	f.identity = id
	t.Setenv("DRCTL_TEST_IDENTITY", id.String())
	t.Setenv("DRCTL_TEST_PROD_URL", f.prod.URL("register"))
	t.Setenv("DRCTL_TEST_STAGING_URL", f.stg.URL("register"))
	f.store = &backup.StoreConfig{Type: "local", Path: t.TempDir(), Recipients: []string{id.Recipient().String()}, Identity: "env:DRCTL_TEST_IDENTITY"}
	f.targets = map[string]*postgres.Target{
		"production": {Name: "production", Role: "source", Database: "register", URL: "env:DRCTL_TEST_PROD_URL", OldSuffix: "-old",
			Instance: &postgres.InstanceConfig{Provider: "local", DataDir: filepath.Join(base, "production")}},
		"staging": {Name: "staging", Role: "target", Database: "register", URL: "env:DRCTL_TEST_STAGING_URL", OldSuffix: "-old",
			Instance: &postgres.InstanceConfig{Provider: "local", DataDir: filepath.Join(base, "staging")}},
	}
	f.pg = &postgres.Postgres{
		Targets: func(env string) (*postgres.Target, error) {
			if tg, ok := f.targets[env]; ok {
				return tg, nil
			}
			return nil, fmt.Errorf("no environment %s", env)
		},
		Stores: func(env, store string) (*backup.StoreConfig, error) { return f.store, nil },
		// The recovered instances' WAL commands read the store's identity.
		ServerEnv: []string{"DRCTL_*"},
	}
	var s sdktest.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	f.env = s.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.pg)
	return f
}

// run executes an activity as Temporal would; out may be nil.
func (f *fixture) run(fn any, in any, out any) error {
	f.t.Helper()
	v, err := f.env.ExecuteActivity(fn, in)
	if err != nil {
		return err
	}
	if out != nil {
		return v.Get(out)
	}
	return nil
}

func (f *fixture) must(fn any, in any, out any) {
	f.t.Helper()
	if err := f.run(fn, in, out); err != nil {
		f.t.Fatal(err)
	}
}

func runCtx(env string) postgres.RunContext { return postgres.RunContext{Env: env, ID: "test-run"} }

// sql runs statements against a database of a cluster.
func sql(t testing.TB, l *pglocal.Instance, db string, stmts ...string) {
	t.Helper()
	testsuite.SQL(t, l.URL(db), stmts...)
}

func queryInt(t testing.TB, l *pglocal.Instance, db, q string) int64 {
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

// tableChecksum is an md5 over a table's rows in a fixed order.
func tableChecksum(t *testing.T, l *pglocal.Instance, db, table string) string {
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

// seed creates the register database with users and events.
func seed(t *testing.T, l *pglocal.Instance, users int) {
	t.Helper()
	sql(t, l, "postgres", "create database register")
	sql(t, l, "register",
		"create table users (id serial primary key, email text unique, name text, phone text, role text not null default 'user')",
		"create table events (id bigserial primary key, created_at timestamptz not null default now(), kind text)",
		fmt.Sprintf("insert into users (email, name, phone) select 'person'||g||'@example.org', 'Person '||g, '+44 20 7946 '||g from generate_series(1, %d) g", users),
		"insert into events (created_at, kind) select now() - (g || ' minutes')::interval, 'login' from generate_series(1, 500) g",
	)
}

// chownPostgres gives a folder to the postgres user when the tests run as
// root, as Postgres's archive_command writes into it as that user.
func chownPostgres(dir string) error { return pglocal.ChownToPostgres(dir) }
