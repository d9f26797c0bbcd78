package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/testsuite"
)

func TestLocalInstanceLifecycle(t *testing.T) {
	ctx := context.Background()
	base := testsuite.PostgresBase(t)
	l := testsuite.StartPostgres(t, base, "main", nil)
	query := func() int {
		c, err := pgx.Connect(ctx, l.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var n int
		if err := c.QueryRow(ctx, "select 41 + 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if query() != 42 {
		t.Fatal("wrong answer")
	}
	if err := l.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	again, created, err := postgres.CreateLocal(ctx, base, "main", 0, nil, "test")
	if err != nil || created || again.Port != l.Port {
		t.Fatalf("creating an existing instance: %v created=%v port %d vs %d", err, created, again.Port, l.Port)
	}
	if query() != 42 {
		t.Fatal("wrong answer after restart")
	}
}
