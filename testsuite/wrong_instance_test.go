package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
)

// TestBackupOfTheWrongInstanceThroughTheCLI runs the shipped nightly
// backup against what a team once backed up for six weeks: production's
// URL pointing at a twin holding a few recent rows. The backup is refused
// as another instance's; so is a backup of production after most of its
// rows went, until the purge is declared planned (allow_shrink).
func TestBackupOfTheWrongInstanceThroughTheCLI(t *testing.T) {
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	base := PostgresBase(t)
	prod := StartPostgres(t, filepath.Join(base, "production"), postgres.MainInstance, nil)
	twin := StartPostgres(t, filepath.Join(base, "twin"), postgres.MainInstance, nil)
	for _, c := range []struct {
		l     *pglocal.Instance
		users int
	}{{prod, 2000}, {twin, 20}} {
		if err := execSQL(c.l.URL("postgres"), "create database register"); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			"create table users (id serial primary key, email text)",
			"create table events (id serial primary key, created_at timestamptz not null default now(), kind text)",
			fmt.Sprintf("insert into users (email) select 'p' || g || '@example.org' from generate_series(1, %d) g", c.users),
			"insert into events (kind) select 'login' from generate_series(1, 20)",
		} {
			if err := execSQL(c.l.URL("register"), q); err != nil {
				t.Fatal(err)
			}
		}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, store := range []string{"backups", "offsite"} {
		os.Mkdir(filepath.Join(dir, store), 0o755)
	}
	// The URL is a secret file, as a deployment tool writes it: pointing
	// it elsewhere is the mistake under test.
	urlFile := filepath.Join(dir, "production-url")
	pointAt := func(l *pglocal.Instance) {
		if err := os.WriteFile(urlFile, []byte(l.URL("register")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pointAt(prod)
	cfg := filepath.Join(dir, "drctl.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`environments:
  production:
    role: source
    database: {name: register, url: "file:%[1]s"}
    stores:
      backups: {type: local, path: %[2]q, recipients: [%[4]q]}
      offsite: {type: local, path: %[3]q, recipients: [%[4]q]}
    policy: {on_error: abort, retention: {keep_daily: 14, keep_weekly: 8}}
`, urlFile, filepath.Join(dir, "backups"), filepath.Join(dir, "offsite"), id.Recipient().String())), 0o644)
	env := []string{"DRCTL_CONFIG=" + cfg}
	dev := StartDevEnv(t, env, filepath.Join(dir, "temporal.db"), 0)
	env = append(env, dev.Env()...)
	backup := func(params ...string) (int, string) {
		args := []string{"run", "runbooks/library/nightly-backup.yaml", "--env", "production", "--as", "cron", "--wait"}
		for _, p := range params {
			args = append(args, "--param", p)
		}
		return Run(t, env, args...)
	}

	if code, out := backup(); code != 0 {
		t.Fatalf("the first nightly backup: exit %d\n%s", code, out)
	}
	pointAt(twin)
	if code, out := backup(); code != 1 || !strings.Contains(out, "refusing to back up what may be another database") {
		t.Fatalf("a backup of the twin: exit %d\n%s", code, out)
	}
	pointAt(prod)
	if err := execSQL(prod.URL("register"), "delete from users where id > 100"); err != nil {
		t.Fatal(err)
	}
	if code, out := backup(); code != 1 || !strings.Contains(out, "shrank by more than 50%") || !strings.Contains(out, "users 2000 → 100") {
		t.Fatalf("a backup of production after most of its users went: exit %d\n%s", code, out)
	}
	if code, out := backup("allow_shrink=true"); code != 0 {
		t.Fatalf("the backup of a planned purge: exit %d\n%s", code, out)
	}
	// Each store holds the purge's backup (120 rows; retention keeps one a
	// day), none of the twin's 40.
	code, out := Run(t, env, "backups", "--env", "production")
	if code != 0 || strings.Count(out, "  120  ") != 2 || strings.Contains(out, "  40  ") {
		t.Fatalf("drctl backups: exit %d\n%s", code, out)
	}
}
