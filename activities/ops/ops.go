package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/childio"
)

// Target is what the ops steps know of an environment.
type Target struct {
	Name        string
	Pipeline    *PipelineConfig
	Maintenance *MaintenanceConfig
	Alarm       *AlarmConfig
}

// Ops holds the ops.* activities; the worker registers it with the prefix
// "ops.".
type Ops struct {
	Targets func(env string) (*Target, error)
	// Client makes pipeline and maintenance calls; nil means a default
	// with a 30 s timeout.
	Client *http.Client
	// Slack posts a notice to the run's thread, when the environment has
	// a channel.
	Slack func(ctx context.Context, in chat.PostInput) (chat.PostOutput, error)
}

func (o *Ops) target(env string) (*Target, error) {
	if o.Targets == nil {
		return nil, nonRetryable("NoConfig", "this worker has no environments file")
	}
	t, err := o.Targets(env)
	if err != nil {
		return nil, nonRetryable("NoEnvironment", "%v", err)
	}
	return t, nil
}

func (o *Ops) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// Notify tells the people involved: the message goes to the worker's log
// (the console of `drctl dev`), to the run's Slack thread when the
// environment has a channel, and the interpreter keeps it in the timeline.
func (o *Ops) Notify(ctx context.Context, in NotifyInput) (NotifyOutput, error) {
	activity.GetLogger(ctx).Info("notify", "message", in.Message)
	out := NotifyOutput{Thread: in.Thread}
	if o.Slack == nil {
		return out, nil
	}
	posted, err := o.Slack(ctx, chat.PostInput{Text: in.Message, Thread: in.Thread, Run: in.Run})
	if err != nil {
		return out, err
	}
	out.Slack, out.Thread, out.Warning = posted.Posted, posted.Thread, posted.Warning
	return out, nil
}

// MaintenanceEnable switches maintenance mode on and waits until it shows.
func (o *Ops) MaintenanceEnable(ctx context.Context, in MaintenanceInput) (MaintenanceOutput, error) {
	return o.maintenance(ctx, in, true)
}

// MaintenanceDisable switches maintenance mode off and waits until the
// application answers as healthy.
func (o *Ops) MaintenanceDisable(ctx context.Context, in MaintenanceInput) (MaintenanceOutput, error) {
	return o.maintenance(ctx, in, false)
}

func (o *Ops) maintenance(ctx context.Context, in MaintenanceInput, on bool) (MaintenanceOutput, error) {
	t, err := o.target(in.Run.Env)
	if err != nil {
		return MaintenanceOutput{}, err
	}
	m := t.Maintenance
	if m == nil {
		return MaintenanceOutput{}, nonRetryable("NotConfigured", "environment %s has no maintenance switch (maintenance: in drctl.yaml)", t.Name)
	}
	out := MaintenanceOutput{Enabled: on}
	switch m.Provider {
	case "file":
		_, err := os.Stat(m.File)
		was := err == nil
		out.Changed = was != on
		if on {
			msg := in.Message
			if msg == "" {
				msg = "maintenance"
			}
			tmp := filepath.Join(filepath.Dir(m.File), ".drctl-"+filepath.Base(m.File))
			if err := os.WriteFile(tmp, []byte(msg+"\n"), 0o644); err != nil {
				return out, fmt.Errorf("writing the maintenance flag %s: %w", m.File, err)
			}
			return out, os.Rename(tmp, m.File)
		}
		if err := os.Remove(m.File); err != nil && !os.IsNotExist(err) {
			return out, fmt.Errorf("removing the maintenance flag %s: %w", m.File, err)
		}
		return out, nil
	case "exec":
		argv := m.Disable
		if on {
			argv = m.Enable
		}
		if len(argv) == 0 {
			return out, nonRetryable("NotConfigured", "environment %s has no maintenance command for this switch", t.Name)
		}
		_, _, err := runCommand(ctx, ExecInput{Command: argv, Env: map[string]string{"DRCTL_MESSAGE": in.Message}})
		out.Changed = err == nil
		return out, err
	case "http":
		return o.maintenanceHTTP(ctx, t, in, on)
	}
	return out, nonRetryable("NotConfigured", "unknown maintenance provider %q", m.Provider)
}

// maintenanceHTTP calls the application's switch, then polls its health
// URL until it answers as the new state should.
func (o *Ops) maintenanceHTTP(ctx context.Context, t *Target, in MaintenanceInput, on bool) (MaintenanceOutput, error) {
	m := t.Maintenance
	out := MaintenanceOutput{Enabled: on, Changed: true}
	var secrets map[string]string
	if m.Token != "" {
		tok, err := m.Token.Resolve(ctx)
		if err != nil {
			return out, nonRetryable("NoSecret", "%v", err)
		}
		secrets = map[string]string{"Authorization": "Bearer " + tok}
	}
	if _, err := o.do(ctx, http.MethodPost, m.URL, secrets, map[string]any{"enabled": on, "message": in.Message}, nil); err != nil {
		return out, fmt.Errorf("switching maintenance %s: %w", map[bool]string{true: "on", false: "off"}[on], err)
	}
	if m.HealthURL == "" {
		return out, nil
	}
	want := m.DisabledStatus
	if want == 0 {
		want = http.StatusOK
	}
	if on {
		want = m.EnabledStatus
		if want == 0 {
			want = http.StatusServiceUnavailable
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	last := 0
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.HealthURL, nil)
		if resp, err := o.client().Do(req); err == nil {
			resp.Body.Close()
			if last = resp.StatusCode; last == want {
				return out, nil
			}
		}
		activity.RecordHeartbeat(ctx, map[string]any{"phase": "waiting for " + m.HealthURL, "status": last})
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return out, fmt.Errorf("%s still answers %d, not %d, two minutes after the switch", m.HealthURL, last, want)
}

// Wait waits until a check passes (a plain duration is a timer in the
// workflow itself and never reaches here).
func (o *Ops) Wait(ctx context.Context, in WaitInput) (WaitOutput, error) {
	if in.Until == nil {
		return WaitOutput{}, nonRetryable("BadInput", "wait needs duration or until")
	}
	interval := time.Duration(in.Interval)
	if interval <= 0 {
		interval = 5 * time.Second
	}
	var deadline time.Time
	if in.Deadline > 0 {
		deadline = time.Now().Add(time.Duration(in.Deadline))
	}
	start := time.Now()
	out := WaitOutput{}
	for {
		out.Polls++
		var err error
		switch {
		case in.Until.HTTP != nil:
			h := *in.Until.HTTP
			if len(in.Until.Status) > 0 {
				h.ExpectStatus = in.Until.Status
			}
			_, err = o.HTTP(ctx, h)
		case in.Until.Exec != nil:
			_, _, err = runCommand(ctx, *in.Until.Exec)
		default:
			return out, nonRetryable("BadInput", "until needs http or exec")
		}
		if err == nil {
			out.Waited = stepio.Duration(time.Since(start).Round(time.Millisecond))
			return out, nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return out, nonRetryable("Deadline", "the check did not pass within %s (%d tries): %v", time.Duration(in.Deadline), out.Polls, err)
		}
		activity.RecordHeartbeat(ctx, map[string]any{"phase": "waiting", "polls": out.Polls})
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// do sends a JSON request and decodes a JSON answer into out (when not
// nil). It returns the status; a status of 300 or more is an error.
func (o *Ops) do(ctx context.Context, method, url string, headers map[string]string, body any, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nonRetryable("BadInput", "%s %s: %v", method, url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	// Its headers carry the target's token.
	client := *o.client()
	client.CheckRedirect = keepSecretsHome
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	c := childio.Capture{Max: maxCapture}
	_, _ = io.Copy(&c, resp.Body)
	if resp.StatusCode >= 300 {
		err := fmt.Errorf("%s %s answered %d: %s", method, url, resp.StatusCode, lastLines(c.String()))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			err = nonRetryable("Denied", "%v", err)
		}
		return resp.StatusCode, err
	}
	if text := c.String(); out != nil && text != "" {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: the answer is not JSON: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}
