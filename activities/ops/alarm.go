package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"go.temporal.io/sdk/activity"
)

// Alarm raises an alarm of a run (it paused, or failed) where the
// environment's policy.alarm sends it: a JSON POST to its URL, and its
// command with the same JSON on standard input. Without an alarm
// configured it only logs. Retried, it may alarm twice, never not at all.
func (o *Ops) Alarm(ctx context.Context, in AlarmInput) (AlarmOutput, error) {
	activity.GetLogger(ctx).Warn("alarm", "kind", in.Kind, "failed_step", in.Step, "message", in.Message)
	out := AlarmOutput{Sent: []string{"worker log"}}
	t, err := o.target(in.Run.Env)
	if err != nil || t.Alarm == nil {
		return out, nil
	}
	body, _ := json.Marshal(map[string]string{"run": in.Run.ID, "environment": in.Run.Env, "kind": in.Kind, "step": in.Step, "message": in.Message})
	if a := t.Alarm; a.URL != "" {
		secrets, redact, err := resolveAll(ctx, a.SecretHeaders)
		if err != nil {
			return out, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, bytes.NewReader(body))
		if err != nil {
			return out, nonRetryable("BadConfig", "alarm url %q: %v", a.URL, err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range a.Headers {
			req.Header.Set(k, v)
		}
		for k, v := range secrets {
			req.Header.Set(k, v)
		}
		client := *o.client()
		client.CheckRedirect = keepSecretsHome
		resp, err := client.Do(req)
		if err != nil {
			return out, fmt.Errorf("alarm to %s: %s", a.URL, redact.Apply(err.Error()))
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return out, fmt.Errorf("alarm to %s answered %d", a.URL, resp.StatusCode)
		}
		out.Sent = append(out.Sent, a.URL)
	}
	if a := t.Alarm; len(a.Command) > 0 {
		res, _, err := runCommand(ctx, ExecInput{Command: a.Command, Stdin: string(body)})
		if err != nil {
			return out, fmt.Errorf("alarm command: %w (%s)", err, lastLines(res.Stderr))
		}
		out.Sent = append(out.Sent, a.Command[0])
	}
	return out, nil
}
