package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
)

// drillRig is production and staging clusters, an off-site store and a
// drctl dev serving them, for the shipped nightly backup and drill.
type drillRig struct {
	t         *testing.T
	prod, stg *pglocal.Instance
	env       []string // for drctl commands: the config and the server
	devEnv    []string // what drctl dev was started with
	db        string   // the server's database file
	dev       *Dev
}

// newDrillRig seeds production's register with users, a test account,
// recent events and then the extra statements, and starts drctl dev with
// devEnv besides what the config needs, and devArgs.
func newDrillRig(t *testing.T, devEnv, devArgs []string, extra ...string) *drillRig {
	t.Helper()
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	base := PostgresBase(t)
	r := &drillRig{t: t}
	r.prod = StartPostgres(t, filepath.Join(base, "production"), postgres.MainInstance, nil)
	r.stg = StartPostgres(t, filepath.Join(base, "staging"), postgres.MainInstance, nil)
	for _, l := range []*pglocal.Instance{r.prod, r.stg} {
		if err := execSQL(l.URL("postgres"), "create database register"); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range append([]string{
		"create table users (id serial primary key, email text, name text, phone text, role text)",
		"create table registrations (id serial primary key, national_id text)",
		"create table events (id serial primary key, created_at timestamptz not null default now(), kind text)",
		"insert into users (email, name) select 'p' || g || '@example.org', 'P ' || g from generate_series(1, 200) g",
		"insert into users (email, name) values ('qa.admin@example.org', 'QA')",
		"insert into events (kind) select 'login' from generate_series(1, 50)",
	}, extra...) {
		if err := execSQL(r.prod.URL("register"), q); err != nil {
			t.Fatal(err)
		}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, offsite := filepath.Join(dir, "backups"), filepath.Join(dir, "offsite")
	os.MkdirAll(store, 0o755)
	os.MkdirAll(offsite, 0o755)
	cfg := filepath.Join(dir, "drctl.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_TEST_PROD_URL"}
    stores:
      backups: {type: local, path: %[1]q, recipients: [%[2]q], identity: "env:DRCTL_TEST_IDENTITY"}
      offsite: {type: local, path: %[4]q, recipients: [%[2]q], identity: "env:DRCTL_TEST_IDENTITY"}
    policy: {retention: {keep_daily: 14, keep_weekly: 8}}
  staging:
    role: target
    database: {name: register, url: "env:DRCTL_TEST_STAGING_URL"}
    instance: {provider: local, data_dir: %[3]q}
    vars: {events_table: events, events_column: created_at, test_accounts: [qa.admin@example.org]}
`, store, id.Recipient().String(), filepath.Join(base, "staging"), offsite)), 0o644)
	r.env = []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_PROD_URL=" + r.prod.URL("register"), "DRCTL_TEST_STAGING_URL=" + r.stg.URL("register"),
		"DRCTL_TEST_IDENTITY=" + id.String()}
	r.devEnv = append(append([]string{}, r.env...), devEnv...)
	r.db = filepath.Join(dir, "temporal.db")
	r.dev = StartDevEnv(t, r.devEnv, r.db, 0, devArgs...)
	r.env = append(r.env, r.dev.Env()...)
	return r
}

// run runs a shipped runbook on envName to its end, as cron, and returns
// drctl's exit code and output.
func (r *drillRig) run(runbook, envName string, params ...string) (int, string) {
	args := []string{"run", "runbooks/library/" + runbook, "--env", envName, "--as", "cron", "--wait"}
	for _, p := range params {
		args = append(args, "--param", p)
	}
	return Run(r.t, r.env, args...)
}
