package childio

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A secret is redacted wherever the writes split it and wherever the cut
// falls; nothing of it is left.
func TestCaptureRedactsBeforeItCuts(t *testing.T) {
	const secret = "s3cr3t-0123456789"
	stream := strings.Repeat("a", 95) + secret + strings.Repeat("b", 300) + secret + strings.Repeat("c", 93)
	for chunk := 1; chunk <= len(stream); chunk += 7 {
		c := Capture{Max: 200, Redact: Redactor{secret, "ab"}}
		for i := 0; i < len(stream); i += chunk {
			c.Write([]byte(stream[i:min(i+chunk, len(stream))]))
		}
		got := c.String()
		for i := 0; i+4 <= len(secret); i++ {
			if strings.Contains(got, secret[i:i+4]) {
				t.Fatalf("writes of %d: %q of the secret survived in %q", chunk, secret[i:i+4], got)
			}
		}
		if !strings.HasPrefix(got, strings.Repeat("a", 95)+"[reda") || !strings.Contains(got, "bytes cut") || !strings.HasSuffix(got, "cted]"+strings.Repeat("c", 93)) {
			t.Fatalf("writes of %d: %q", chunk, got)
		}
	}
}

// A child's environment holds what programs need and nothing else of the
// worker's.
func TestEnvIsAnAllowlist(t *testing.T) {
	t.Setenv("DRCTL_WORKER_SECRET", "x")
	t.Setenv("TZ", "Europe/London")
	env := strings.Join(Env("PGHOST=db"), "\n")
	if strings.Contains(env, "DRCTL_WORKER_SECRET") || !strings.Contains(env, "TZ=Europe/London") || !strings.Contains(env, "PATH=") || !strings.HasSuffix(env, "PGHOST=db") {
		t.Fatalf("env:\n%s", env)
	}
}

// TestMain doubles as a worker that starts a bound child and waits, for
// TestBoundChildDiesWithItsWorker to kill.
func TestMain(m *testing.M) {
	if os.Getenv("CHILDIO_TEST_WORKER") == "1" {
		cmd := exec.CommandContext(context.Background(), "sleep", "300")
		Bind(cmd)
		if err := cmd.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		select {}
	}
	os.Exit(m.Run())
}

// A bound child dies with its worker, even when the worker is killed
// with SIGKILL and has no chance to clean up.
func TestBoundChildDiesWithItsWorker(t *testing.T) {
	worker := exec.Command(os.Args[0], "-test.run=^$")
	worker.Env = append(os.Environ(), "CHILDIO_TEST_WORKER=1")
	out, err := worker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil || pid == 0 {
		t.Fatalf("the worker did not start its child: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("child %d is not running: %v", pid, err)
	}
	worker.Process.Kill()
	worker.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d outlived its worker", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
