package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/activities/secret"
)

func nonRetryable(kind, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kind, nil)
}

// maxCapture caps what is kept of a command's output or a response body:
// its start and its end, where errors are.
const maxCapture = 64 << 10

// capture keeps the first and last maxCapture/2 bytes written to it.
type capture struct {
	head, tail []byte
	dropped    int64
}

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	if room := maxCapture/2 - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		c.tail = append(c.tail, p...)
		if over := len(c.tail) - maxCapture/2; over > 0 {
			c.dropped += int64(over)
			c.tail = c.tail[over:]
		}
	}
	return n, nil
}

func (c *capture) String() string {
	if c.dropped == 0 {
		return string(c.head) + string(c.tail)
	}
	return fmt.Sprintf("%s\n… (%d bytes cut) …\n%s", c.head, c.dropped, c.tail)
}

// redactor replaces known secret values with a marker.
type redactor []string

func (r redactor) apply(s string) string {
	for _, v := range r {
		// Short values would redact half of any text.
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// resolveAll resolves secret references, keeping the values for redaction.
func resolveAll(ctx context.Context, refs map[string]secret.Ref) (map[string]string, redactor, error) {
	out := map[string]string{}
	var values redactor
	for name, ref := range refs {
		v, err := ref.Resolve(ctx)
		if err != nil {
			return nil, nil, nonRetryable("NoSecret", "%s: %v", name, err)
		}
		out[name] = v
		values = append(values, v)
	}
	return out, values, nil
}

// baseEnv is what every command gets: enough to find programs, never the
// worker's own environment, which holds its secrets.
func baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	if h := os.Getenv("HOME"); h != "" {
		env = append(env, "HOME="+h)
	}
	return env
}

// Exec runs a command as argv (never through a shell: a param holding
// "; rm -rf /" arrives as one literal argument), with its environment
// from the step and its secrets from references, a timeout that kills the
// whole process group, and its output captured, capped and redacted.
func (o *Ops) Exec(ctx context.Context, in ExecInput) (ExecOutput, error) {
	out, _, err := runCommand(ctx, in)
	return out, err
}

func runCommand(ctx context.Context, in ExecInput) (ExecOutput, redactor, error) {
	if len(in.Command) == 0 || in.Command[0] == "" {
		return ExecOutput{}, nil, nonRetryable("BadInput", "exec needs a command")
	}
	secrets, redact, err := resolveAll(ctx, in.Secrets)
	if err != nil {
		return ExecOutput{}, nil, err
	}
	if in.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(in.Timeout))
		defer cancel()
	}
	path, err := exec.LookPath(in.Command[0])
	if err != nil {
		return ExecOutput{}, redact, nonRetryable("NotFound", "command %q not found: %v", in.Command[0], errors.Unwrap(err))
	}
	cmd := exec.CommandContext(ctx, path, in.Command[1:]...)
	cmd.Dir = in.Dir
	cmd.Env = baseEnv()
	for _, k := range slices.Sorted(maps.Keys(in.Env)) {
		cmd.Env = append(cmd.Env, k+"="+in.Env[k])
	}
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		cmd.Env = append(cmd.Env, k+"="+secrets[k])
	}
	// Its own process group, so a timeout ends the children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr capture
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return ExecOutput{}, redact, nonRetryable("StartFailed", "starting %s: %v", in.Command[0], err)
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, map[string]any{"phase": "running " + in.Command[0]})
			}
		}
	}()
	runErr := cmd.Wait()
	close(done)
	out := ExecOutput{Stdout: redact.apply(stdout.String()), Stderr: redact.apply(stderr.String())}
	if cmd.ProcessState != nil {
		out.ExitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		return out, redact, fmt.Errorf("%s did not finish in time (%v); its process group was killed; stderr: %s", in.Command[0], ctx.Err(), lastLines(out.Stderr))
	}
	codes := in.ExitCodes
	if len(codes) == 0 {
		codes = []int{0}
	}
	if !slices.Contains(codes, out.ExitCode) {
		return out, redact, fmt.Errorf("%s exited with %d (expected %v): %s", in.Command[0], out.ExitCode, codes, lastLines(out.Stderr))
	}
	_ = runErr
	if in.ParseJSON {
		if err := json.Unmarshal(bytes.TrimSpace([]byte(out.Stdout)), &out.JSON); err != nil {
			return out, redact, nonRetryable("BadOutput", "%s printed no valid JSON: %v", in.Command[0], err)
		}
	}
	return out, redact, nil
}

func lastLines(s string) string {
	s = strings.TrimSpace(s)
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}
