// Package testsuite starts real parts for tests and drills: the drctl
// binary itself (its embedded Temporal server, workers and CLI), and, as
// the systems arrive, throwaway Postgres clusters, Azurite, an SSH backup
// server and a fake Slack.
package testsuite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds drctl once per test process and returns its path. End-to-end
// tests drive the real binary, so they exercise its own client code and can
// kill its processes for real.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		// A folder per test process, named by its pid: the next process
		// removes those of processes gone, so builds do not pile up.
		sweepBinaries()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("drctl-bin-%d", os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		// Postgres runs drctl as archive and restore command, as the
		// postgres user: it must be able to reach the binary.
		if err := os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "drctl")
		// The binary says which commit it is (drctl --version) where git
		// can tell.
		for _, vcs := range []string{"-buildvcs=auto", "-buildvcs=false"} {
			cmd := exec.Command("go", "build", vcs, "-o", binPath, "./cmd/drctl")
			cmd.Dir = Root()
			out, err := cmd.CombinedOutput()
			if buildErr = nil; err != nil {
				buildErr = fmt.Errorf("go build: %v\n%s", err, out)
				continue
			}
			break
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Proc is a drctl process running in the background, with its output
// captured.
type Proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// Output is everything the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Kill sends SIGKILL and waits for the process to die.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.Kill()
	}
}

// WaitFor waits until the output holds s, or fails the test; at once if
// the process has ended without writing it.
func (p *Proc) WaitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() bool {
		if strings.Contains(p.Output(), s) {
			return true
		}
		select {
		case <-p.done:
			if !strings.Contains(p.Output(), s) {
				t.Fatalf("the process ended without writing %q; output:\n%s", s, p)
			}
		default:
		}
		return false
	}, "output to contain %q; output:\n%s", s, p)
}

func (p *Proc) String() string { return p.Output() }

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Start runs the binary with args in the background; it is killed when the
// test ends.
func Start(t testing.TB, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(Binary(t), args...), done: make(chan struct{})}
	p.cmd.Dir = Root()
	p.cmd.Env = append(os.Environ(), env...)
	pw := &lockedWriter{p: p}
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Kill)
	return p
}

type lockedWriter struct{ p *Proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// Run runs the binary to completion in the repository's root and returns
// its exit code and output.
func Run(t testing.TB, env []string, args ...string) (int, string) {
	t.Helper()
	return RunIn(t, Root(), env, args...)
}

// RunIn is Run in another folder.
func RunIn(t testing.TB, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("drctl %v: %v", args, err)
	}
	return 0, string(out)
}

// Dev is a `drctl dev` process: embedded server, UI-less, on a free port.
type Dev struct {
	*Proc
	Address string
}

// StartDev starts `drctl dev` on dbFile (port 0 picks a free one) and waits
// until it is ready.
func StartDev(t testing.TB, dbFile string, port int, extra ...string) *Dev {
	t.Helper()
	return StartDevEnv(t, nil, dbFile, port, extra...)
}

// StartDevEnv is StartDev with extra environment variables.
func StartDevEnv(t testing.TB, env []string, dbFile string, port int, extra ...string) *Dev {
	t.Helper()
	// No Slack endpoint or API unless the test asks for one (--listen in
	// extra): the repository's example environments file configures a
	// Slack app whose secrets tests do not set.
	args := append([]string{"dev", "--db", dbFile, "--port", fmt.Sprint(port), "--ui-port", "-1", "--listen="}, extra...)
	p := Start(t, env, args...)
	p.WaitFor(t, "ready", 90*time.Second)
	d := &Dev{Proc: p}
	sc := bufio.NewScanner(strings.NewReader(p.Output()))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "temporal" {
			d.Address = f[1]
		}
	}
	if d.Address == "" {
		t.Fatalf("drctl dev did not say its address:\n%s", p.Output())
	}
	return d
}

// Env is the environment that points drctl commands at this server.
func (d *Dev) Env() []string { return []string{"TEMPORAL_ADDRESS=" + d.Address} }

// Eventually polls cond until it holds or timeout passes, then fails the
// test with the message.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sweepBinaries removes the binaries of test processes that have ended.
func sweepBinaries() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "drctl-bin-*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "drctl-bin-"))
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(dir)
		}
	}
}
