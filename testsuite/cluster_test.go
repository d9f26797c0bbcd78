package testsuite

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/drctl/drctl/activities/postgres"
)

// TestOnItsOwnCluster runs the topology of docker-compose.yml as separate
// processes: a Temporal server of its own (the temporal CLI's, not the
// embedded one, with none of drctl's search attributes), Azurite, a
// production Postgres archiving its WAL through drctl wal-push into it, a
// drctl worker for production and drctl serve. The worker gives the
// namespace its search attributes; the nightly backup runs through it
// into both stores; WAL arrives in the archive; both answer their probes.
func TestOnItsOwnCluster(t *testing.T) {
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	temporal := StartTemporal(t)
	az := StartAzurite(t)
	for _, c := range []string{"backups", "offsite"} {
		az.CreateContainer(t, c)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	// The server's archive_command reads the environments file and the
	// connection string as the postgres user.
	cfgDir, err := os.MkdirTemp("", "drctl-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cfgDir) })
	os.Chmod(cfgDir, 0o755)
	cfg := filepath.Join(cfgDir, "drctl.yaml")
	store := func(container string) string {
		return fmt.Sprintf(`{type: azure, container: %s, connection: "env:DRCTL_TEST_AZURITE", recipients: [%q], identity: "env:DRCTL_TEST_IDENTITY"}`,
			container, id.Recipient().String())
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`api:
  users: {ops: env:DRCTL_TEST_TOKEN}
environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_TEST_PROD_URL"}
    stores:
      backups: %s
      offsite: %s
    policy: {retention: {keep_daily: 14, keep_weekly: 8}}
`, store("backups"), store("offsite"))), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DRCTL_TEST_AZURITE", az.ConnectionString())
	prod := StartPostgres(t, filepath.Join(PostgresBase(t), "production"), postgres.MainInstance, map[string]string{
		"wal_level": "replica", "archive_mode": "on",
		"archive_command": fmt.Sprintf("'%s' --config '%s' wal-push --env production --store backups %%p", Binary(t), cfg),
	})
	SQL(t, prod.URL("postgres"), "create database register")
	SQL(t, prod.URL("register"), "create table users (id serial primary key, email text)",
		"insert into users (email) select 'p' || g || '@example.org' from generate_series(1, 300) g")
	env := []string{"DRCTL_CONFIG=" + cfg, "TEMPORAL_ADDRESS=" + temporal.Address, "DRCTL_TEST_PROD_URL=" + prod.URL("register"),
		"DRCTL_TEST_IDENTITY=" + id.String(), "DRCTL_TEST_TOKEN=3f9c2a71b8e04d6a95c1f7e2d4b8a6c0"}

	worker := Start(t, env, "worker", "--env", "production", "--metrics-listen", "127.0.0.1:0")
	worker.WaitFor(t, "worker on", 60*time.Second)
	listen := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	serve := Start(t, env, "serve", "--listen", listen)
	serve.WaitFor(t, "api      http://", 60*time.Second)

	code, out := Run(t, env, "run", "runbooks/library/nightly-backup.yaml", "--env", "production", "--as", "cron", "--wait")
	if code != 0 {
		t.Fatalf("the nightly backup on its own cluster: exit %d\n%s\n--- worker\n%s", code, out, worker)
	}
	if code, out := Run(t, env, "backups", "--env", "production", "--store", "offsite"); code != 0 || !strings.Contains(out, " 300 ") {
		t.Errorf("the off-site store after the backup: exit %d\n%s", code, out)
	}
	SwitchAndWaitArchived(t, prod)
	if code, out := Run(t, env, "backups", "--env", "production", "--store", "backups"); code != 0 || !strings.Contains(out, "WAL segments: ") {
		t.Errorf("the archive after a WAL switch: exit %d\n%s", code, out)
	}
	m := regexp.MustCompile(`metrics\s+http://(\S+)/metrics`).FindStringSubmatch(worker.Output())
	if m == nil {
		t.Fatalf("the worker does not say where its probes are:\n%s", worker)
	}
	for _, probe := range []string{"http://" + m[1] + "/readyz", "http://" + listen + "/readyz", "http://" + listen + "/healthz"} {
		resp, err := http.Get(probe)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %v %v", probe, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	// Stopped, the cluster is no longer a place the worker is ready for.
	temporal.Kill()
	Eventually(t, 20*time.Second, func() bool {
		resp, err := http.Get("http://" + m[1] + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}, "the worker's /readyz to say 503 once Temporal is gone")
}
