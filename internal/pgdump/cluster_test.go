package pgdump_test

import (
	"path/filepath"
	"testing"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

// cluster is a throwaway local cluster with an empty database register,
// for pg_dump to write archives of.
func cluster(t *testing.T) *pglocal.Instance {
	t.Helper()
	testsuite.Need(t, "pg_config", "apt-get install -y postgresql-15")
	l := testsuite.StartPostgres(t, filepath.Join(testsuite.PostgresBase(t), "pg"), postgres.MainInstance, nil)
	sql(t, l, "postgres", "create database register")
	return l
}

func sql(t *testing.T, l *pglocal.Instance, db string, stmts ...string) {
	t.Helper()
	testsuite.SQL(t, l.URL(db), stmts...)
}
