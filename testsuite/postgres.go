package testsuite

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/internal/pglocal"
)

// PostgresBase makes a folder for throwaway clusters that the postgres user
// can reach, removed when the test ends.
func PostgresBase(t testing.TB) string {
	t.Helper()
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	if _, err := pglocal.BinDir(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "drctl-pg-")
	if err != nil {
		t.Fatal(err)
	}
	// The postgres user must be able to reach its clusters' folders.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// StartPostgres starts a throwaway cluster on a free loopback port, built
// by drctl's own local instance provider. fsync is off: nothing here must
// survive a power cut, and clusters start in well under a second.
func StartPostgres(t testing.TB, base string, name string, settings map[string]string) *pglocal.Instance {
	t.Helper()
	all := map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
	for k, v := range settings {
		all[k] = v
	}
	l, _, err := pglocal.Create(context.Background(), base, name, pglocal.Options{Settings: all, CreatedBy: "test",
		// The tests' WAL commands read their stores' secrets from DRCTL_ variables.
		ServerEnv: []string{"DRCTL_*"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Destroy(context.Background()) })
	return l
}

// SQL runs statements on the database at url, failing the test at the
// first that fails.
func SQL(t testing.TB, url string, stmts ...string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, s := range stmts {
		if _, err := c.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
