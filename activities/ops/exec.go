package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/internal/childio"
)

func nonRetryable(kind, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kind, nil)
}

// maxCapture caps what is kept of a command's output or a response body:
// its start and its end, where errors are.
const maxCapture = 64 << 10

// resolveAll resolves secret references, keeping the values for redaction.
func resolveAll(ctx context.Context, refs map[string]secret.Ref) (map[string]string, childio.Redactor, error) {
	out := map[string]string{}
	var values childio.Redactor
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

// Exec runs a command as argv (never through a shell: a param holding
// "; rm -rf /" arrives as one literal argument), with its environment
// from the step and its secrets from references, a timeout that kills the
// whole process group, and its output captured, capped and redacted.
func (o *Ops) Exec(ctx context.Context, in ExecInput) (ExecOutput, error) {
	out, _, err := runCommand(ctx, in)
	return out, err
}

func runCommand(ctx context.Context, in ExecInput) (ExecOutput, childio.Redactor, error) {
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
	// Never the worker's own environment, which holds its secrets.
	cmd.Env = childio.Env()
	for _, k := range slices.Sorted(maps.Keys(in.Env)) {
		cmd.Env = append(cmd.Env, k+"="+in.Env[k])
	}
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		cmd.Env = append(cmd.Env, k+"="+secrets[k])
	}
	// Its own process group, so a timeout ends the children too, and it
	// dies with the worker.
	childio.Bind(cmd)
	stdout, stderr := childio.Capture{Max: maxCapture, Redact: redact}, childio.Capture{Max: maxCapture, Redact: redact}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if in.Stdin != "" {
		cmd.Stdin = strings.NewReader(in.Stdin)
	}
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
	out := ExecOutput{Stdout: stdout.String(), Stderr: stderr.String()}
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
