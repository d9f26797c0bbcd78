package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strings"
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

// A port drctl picked may be taken by another program before the cluster
// binds it; the cluster then moves to another. A port the configuration
// gave stays as it is, and the error says why the start failed.
func TestLocalInstanceMovesOffATakenPort(t *testing.T) {
	ctx := context.Background()
	base := testsuite.PostgresBase(t)
	l := testsuite.StartPostgres(t, base, "moves", nil)
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	taken := l.Port
	occupy(t, taken)
	if err := l.Start(ctx); err != nil {
		t.Fatalf("starting beside a program on its port: %v", err)
	}
	if l.Port == taken {
		t.Fatalf("still on port %d", taken)
	}
	reopened, _, err := postgres.OpenLocal(base, "moves")
	if err != nil || reopened.Port != l.Port {
		t.Fatalf("the record keeps port %d, the cluster runs on %d (%v)", reopened.Port, l.Port, err)
	}
	c, err := pgx.Connect(ctx, l.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)

	fixed, _, err := postgres.CreateLocal(ctx, base, "fixed", testsuite.FreePort(t), nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fixed.Destroy(context.Background()) })
	if err := fixed.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	occupy(t, fixed.Port)
	err = fixed.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("starting on a configured port that is taken: %v", err)
	}
}

// occupy listens on port until the test ends, as another program would.
func occupy(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}
