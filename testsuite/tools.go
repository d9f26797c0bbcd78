package testsuite

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/internal/freeport"
)

// Need finds a tool on PATH (or at one of the extra paths). Without it a
// test skips with the command that installs it, except under CI=true, where
// a missing tool is a failure: CI must run every test.
func Need(t testing.TB, name, install string, extra ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range extra {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; scripts/test installs it (%s)", name, install)
	}
	t.Skipf("%s is not installed: run %s (or scripts/test, which does)", name, install)
	return ""
}

// ToolsDir is where scripts/test installs tools from the npm registry.
func ToolsDir() string {
	if d := os.Getenv("DRCTL_TOOLS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "drctl", "tools")
}

// FreePort is a free loopback port (see freeport).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// WaitPort waits until something accepts connections on addr.
func WaitPort(t testing.TB, addr string, timeout time.Duration, what func() string) {
	t.Helper()
	Eventually(t, timeout, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "%s to listen on %s; its output:\n%s", "the server", addr, lazy(what))
}

// lazy prints the result of f when formatted, so output is read only when
// a message is shown.
type lazy func() string

func (l lazy) String() string { return l() }

// Command starts a long-running tool in the background, killed when the
// test ends, with its output captured.
func Command(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	pw := &lockedWriter{p: p}
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Kill)
	return p
}

// GoBin is where go install puts programs: GOBIN, else GOPATH's bin.
func GoBin() string {
	if d := os.Getenv("GOBIN"); d != "" {
		return d
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	return filepath.Join(strings.TrimSpace(string(out)), "bin")
}
