package postgres_test

import (
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/testsuite"
)

// sql runs statements against a database of a cluster.
func sql(t testing.TB, l *pglocal.Instance, db string, stmts ...string) {
	t.Helper()
	testsuite.SQL(t, l.URL(db), stmts...)
}

// chownPostgres gives a folder to the postgres user when the tests run as
// root, as Postgres's archive_command writes into it as that user.
func chownPostgres(dir string) error { return pglocal.ChownToPostgres(dir) }

// errType is the type of a step's error, as the workflow sees it.
func errType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}
