package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/workflows"
)

// TestFailedDrillHeals runs the shipped nightly drill three times: a good
// one; one that fails verification (the backup is held to more rows than
// it has), which leaves no scratch database behind; and, after the next
// nightly backup, a good one again, which passes with no hand work.
func TestFailedDrillHeals(t *testing.T) {
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	base := PostgresBase(t)
	prod := StartPostgres(t, filepath.Join(base, "production"), postgres.MainInstance, nil)
	stg := StartPostgres(t, filepath.Join(base, "staging"), postgres.MainInstance, nil)
	for _, l := range []*postgres.Local{prod, stg} {
		if err := execSQL(l.URL("postgres"), "create database register"); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"create table users (id serial primary key, email text, name text, phone text, role text)",
		"create table registrations (id serial primary key, national_id text)",
		"create table events (id serial primary key, created_at timestamptz not null default now(), kind text)",
		"insert into users (email, name) select 'p' || g || '@example.org', 'P ' || g from generate_series(1, 200) g",
		"insert into users (email, name) values ('qa.admin@example.org', 'QA')",
		"insert into events (kind) select 'login' from generate_series(1, 50)",
	} {
		if err := execSQL(prod.URL("register"), q); err != nil {
			t.Fatal(err)
		}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "offsite")
	os.MkdirAll(store, 0o755)
	cfg := filepath.Join(dir, "drctl.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_TEST_PROD_URL"}
    stores:
      backups: {type: local, path: %[1]q, recipients: [%[2]q], identity: "env:DRCTL_TEST_IDENTITY"}
      offsite: {type: local, path: %[1]q, recipients: [%[2]q], identity: "env:DRCTL_TEST_IDENTITY"}
    policy: {retention: {keep_daily: 14, keep_weekly: 8}}
  staging:
    role: target
    database: {name: register, url: "env:DRCTL_TEST_STAGING_URL"}
    instance: {provider: local, data_dir: %[3]q}
    vars: {events_table: events, events_column: created_at, test_accounts: [qa.admin@example.org]}
`, store, id.Recipient().String(), filepath.Join(base, "staging"))), 0o644)
	env := []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_PROD_URL=" + prod.URL("register"), "DRCTL_TEST_STAGING_URL=" + stg.URL("register"),
		"DRCTL_TEST_IDENTITY=" + id.String()}
	dev := StartDevEnv(t, env, filepath.Join(dir, "temporal.db"), 0)
	env = append(env, dev.Env()...)

	run := func(file, envName string, params ...string) (int, string) {
		args := []string{"run", file, "--env", envName, "--as", "cron", "--wait"}
		for _, p := range params {
			args = append(args, "--param", p)
		}
		return Run(t, env, args...)
	}
	if code, out := run("runbooks/library/nightly-backup.yaml", "production"); code != 0 {
		t.Fatalf("nightly backup: exit %d\n%s", code, out)
	}
	if code, out := run("runbooks/library/nightly-restore.yaml", "staging"); code != 0 {
		t.Fatalf("first drill: exit %d\n%s", code, out)
	}
	code, out := run("runbooks/library/nightly-restore.yaml", "staging", "min_rows=1000000")
	if code != 1 || !strings.Contains(out, "did not succeed") {
		t.Fatalf("a drill held to more rows than the backup has: exit %d\n%s", code, out)
	}
	failedID := ""
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "run "); ok {
			failedID = rest
		}
	}
	st := status(t, env, failedID)
	if stepState(st, "verify") != workflows.StateFailed || stepState(st, "clean_scratch") != workflows.StateSucceeded {
		t.Fatalf("the failed drill: %+v", st.Steps)
	}
	// Production gets on, a new backup is taken, and the next drill
	// restores it.
	if err := execSQL(prod.URL("register"), "insert into events (kind) select 'login' from generate_series(1, 10)"); err != nil {
		t.Fatal(err)
	}
	if code, out := run("runbooks/library/nightly-backup.yaml", "production"); code != 0 {
		t.Fatalf("the next nightly backup: exit %d\n%s", code, out)
	}
	if code, out := run("runbooks/library/nightly-restore.yaml", "staging"); code != 0 {
		t.Fatalf("the drill after a failed one: exit %d\n%s", code, out)
	}
}
