package pglocal_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/internal/pglocal"
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
	again, created, err := pglocal.Create(ctx, base, "main", pglocal.Options{CreatedBy: "test"})
	if err != nil || created || again.Port != l.Port {
		t.Fatalf("creating an existing instance: %v created=%v port %d vs %d", err, created, again.Port, l.Port)
	}
	if query() != 42 {
		t.Fatal("wrong answer after restart")
	}
	// Loopback is not trusted: a login without the password is refused,
	// and the password is readable by its owner only.
	c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", l.Port))
	if err == nil {
		c.Close(ctx)
		t.Fatal("a password-less login was let in")
	}
	if st, err := os.Stat(strings.TrimPrefix(string(l.PasswordRef()), "file:")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", st, err)
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
	reopened, _, err := pglocal.Open(base, "moves")
	if err != nil || reopened.Port != l.Port {
		t.Fatalf("the record keeps port %d, the cluster runs on %d (%v)", reopened.Port, l.Port, err)
	}
	c, err := pgx.Connect(ctx, l.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)

	fixed, _, err := pglocal.Create(ctx, base, "fixed", pglocal.Options{Port: testsuite.FreePort(t), CreatedBy: "test"})
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

// An instance name never becomes a path outside the instances' folder, and
// drctl never takes over, nor removes, a folder it did not make.
func TestLocalInstanceNamesAndFolders(t *testing.T) {
	ctx := context.Background()
	base := testsuite.PostgresBase(t)
	victim := filepath.Join(filepath.Dir(base), "victimdir")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../victimdir", "..", "a/b", "-D", ""} {
		if _, _, err := pglocal.Create(ctx, base, name, pglocal.Options{CreatedBy: "test"}); err == nil || !strings.Contains(err.Error(), "is refused") {
			t.Errorf("instance %q: %v", name, err)
		}
	}
	// A folder of the instance's name that drctl did not make is refused,
	// left as it was, and never removed.
	found := filepath.Join(base, "found")
	if err := os.MkdirAll(found, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(found, "keep"), []byte("mine"), 0o644)
	if _, _, err := pglocal.Create(ctx, base, "found", pglocal.Options{CreatedBy: "test"}); err == nil || !strings.Contains(err.Error(), "drctl did not make it") {
		t.Fatalf("a folder drctl did not make: %v", err)
	}
	for _, f := range []string{filepath.Join(victim, "keep"), filepath.Join(found, "keep")} {
		if b, err := os.ReadFile(f); err != nil || string(b) != "mine" {
			t.Fatalf("%s: %q %v", f, b, err)
		}
	}
	if st, _ := os.Stat(found); st.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
		t.Fatalf("%s changed hands", found)
	}
	// One drctl left half-made (its mark, no record) is made again.
	half := filepath.Join(base, "half")
	os.MkdirAll(filepath.Join(half, "data"), 0o700)
	os.WriteFile(filepath.Join(half, ".drctl-made"), []byte("earlier run\n"), 0o600)
	l, created, err := pglocal.Create(ctx, base, "half", pglocal.Options{CreatedBy: "test"})
	if err != nil || !created {
		t.Fatalf("a half-made instance: %v", err)
	}
	if err := l.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Fatalf("destroyed instance still there: %v", err)
	}
}
