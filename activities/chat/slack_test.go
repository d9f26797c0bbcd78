package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	sdktest "go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/activities/ops"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/workflows"
)

// fakeSlack is slacktest's server with our own chat.postMessage handler,
// which records every request and can be told to fail.
type fakeSlack struct {
	*slacktest.Server
	mu       sync.Mutex
	posts    []map[string]string
	failures []int // status codes to answer with, in order (200: succeed)
	seq      int
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.postMessage)
	})
	f.Start()
	t.Cleanup(f.Stop)
	return f
}

func (f *fakeSlack) postMessage(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = r.ParseForm()
	req := map[string]string{"auth": r.Header.Get("Authorization")}
	for k := range r.Form {
		req[k] = r.Form.Get(k)
	}
	f.posts = append(f.posts, req)
	if len(f.failures) > 0 && f.failures[0] == http.StatusOK {
		f.failures = f.failures[1:]
	} else if len(f.failures) > 0 {
		code := f.failures[0]
		f.failures = f.failures[1:]
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
		return
	}
	f.seq++
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C-INCIDENT", "ts": fmt.Sprintf("1700000000.%06d", f.seq)})
}

// engine runs plans through the interpreter with the real chat and ops
// activities against the fake Slack.
func engine(t *testing.T, f *fakeSlack) *sdktest.TestWorkflowEnvironment {
	t.Setenv("DRCTL_TEST_SLACK", "xoxb-secret-token-value")
	target := &chat.Target{Name: "production", Slack: &chat.SlackConfig{Channel: "#incident", Token: "env:DRCTL_TEST_SLACK"}}
	talk := &chat.Chat{Targets: func(string) (*chat.Target, error) { return target, nil }, APIURL: f.GetAPIURL(), Backoff: time.Millisecond}
	var s sdktest.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	// The plan check a worker makes before the first step, here passing.
	env.RegisterActivityWithOptions(func(context.Context, workflows.Plan) error { return nil }, activity.RegisterOptions{Name: "plan.Verify"})
	env.RegisterActivityWithOptions(talk, activity.RegisterOptions{Name: "chat."})
	env.RegisterActivityWithOptions(&ops.Ops{Slack: talk.Post}, activity.RegisterOptions{Name: "ops."})
	return env
}

// step is a compiled step as the catalogue would make it: what of the run
// it gets comes from its type, so these plans match the compiler's.
func step(id, uses, act string, with map[string]any) workflows.Step {
	s := workflows.Step{ID: id, Uses: uses, Activity: act, With: with, Timeout: workflows.Duration(time.Minute),
		Retry: workflows.Retry{Attempts: 1}, OnError: workflows.OnErrorAbort}
	for _, t := range runbooks.Catalogue() {
		if t.Name == uses {
			s.Gets = t.Gets
		}
	}
	return s
}

func statusOf(t *testing.T, env *sdktest.TestWorkflowEnvironment) workflows.Status {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRunPostsInOneThread: the first post opens the run's thread, the
// next post and the notify reply in it, and a secret that a command
// printed never reaches Slack.
func TestRunPostsInOneThread(t *testing.T) {
	f := newFakeSlack(t)
	env := engine(t, f)
	t.Setenv("DRCTL_TEST_DBPASS", "hunter2-db-password")
	plan := workflows.Plan{Version: workflows.PlanVersion, Runbook: "slack", Environment: "production", Steps: []workflows.Step{
		step("announce", "slack.post", "chat.Post", map[string]any{"text": "restoring production"}),
		step("leaky", "exec", "ops.Exec", map[string]any{"command": []any{"sh", "-c", "echo password=$PGPASSWORD"},
			"secrets": map[string]any{"PGPASSWORD": "env:DRCTL_TEST_DBPASS"}}),
		step("progress", "slack.post", "chat.Post", map[string]any{"text": "command said: ${{ steps.leaky.outputs.stdout }}"}),
		step("done", "notify", "ops.Notify", map[string]any{"message": "all done"}),
	}}
	env.ExecuteWorkflow(workflows.Runbook, workflows.RunInput{Plan: plan, Initiator: "ana"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(f.posts) != 3 {
		t.Fatalf("%d posts: %v", len(f.posts), f.posts)
	}
	if f.posts[0]["thread_ts"] != "" || f.posts[1]["thread_ts"] != "1700000000.000001" || f.posts[2]["thread_ts"] != "1700000000.000001" {
		t.Fatalf("not one thread: %v", f.posts)
	}
	for _, p := range f.posts {
		for k, v := range p {
			if strings.Contains(v, "hunter2") || k != "token" && k != "auth" && strings.Contains(v, "xoxb-secret") {
				t.Fatalf("a secret reached Slack in %s: %q", k, v)
			}
		}
	}
	if !strings.Contains(f.posts[1]["text"], "password=[redacted]") || f.posts[0]["channel"] != "#incident" {
		t.Fatalf("posts: %v", f.posts)
	}
}

// TestSlackDownDoesNotFailTheRun: 500s and a 429 are retried; Slack that
// stays down leaves a warning in the timeline and the run goes on.
func TestSlackDownDoesNotFailTheRun(t *testing.T) {
	f := newFakeSlack(t)
	// The first post succeeds on its third try; then Slack is down for
	// all four tries of the second.
	f.failures = []int{500, 429, 200, 500, 500, 500, 500}
	env := engine(t, f)
	plan := workflows.Plan{Version: workflows.PlanVersion, Runbook: "slack", Environment: "production", Steps: []workflows.Step{
		step("flaky", "slack.post", "chat.Post", map[string]any{"text": "one"}),
		step("down", "slack.post", "chat.Post", map[string]any{"text": "two"}),
		step("after", "notify", "ops.Notify", map[string]any{"message": "still going"}),
	}}
	env.ExecuteWorkflow(workflows.Runbook, workflows.RunInput{Plan: plan, Initiator: "ana"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("Slack being down failed the run: %v", err)
	}
	st := statusOf(t, env)
	warned := false
	for _, e := range st.Timeline {
		warned = warned || e.Step == "down" && e.Kind == "warning" && strings.Contains(e.Message, "after 4 attempts")
	}
	if !warned || st.Steps[0].Outputs["posted"] != true || st.Steps[1].Outputs["posted"] != false {
		t.Fatalf("warning %v, steps %+v", warned, st.Steps)
	}
}

// TestBoard keeps a run's status board: the first post is the board (it
// opens the thread), every step updates it in place with chat.update, and
// a failure is replied in the thread.
func TestBoard(t *testing.T) {
	f := newFakeSlack(t)
	var mu sync.Mutex
	var updates []map[string]string
	f.Handle("/chat.update", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		updates = append(updates, map[string]string{"ts": r.Form.Get("ts"), "text": r.Form.Get("text"), "channel": r.Form.Get("channel")})
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C-INCIDENT", "ts": r.Form.Get("ts")})
	})
	env := engine(t, f)
	plan := workflows.Plan{Version: workflows.PlanVersion, Runbook: "restore", Environment: "production",
		Env: map[string]any{"channel": "#incident", "board": true},
		Steps: []workflows.Step{
			step("first", "exec", "ops.Exec", map[string]any{"command": []any{"true"}}),
			step("second", "exec", "ops.Exec", map[string]any{"command": []any{"false"}}),
		}}
	env.ExecuteWorkflow(workflows.Runbook, workflows.RunInput{Plan: plan, Initiator: "ana", Incident: "INC-7", URL: "http://ui/run"})
	if env.GetWorkflowError() == nil {
		t.Fatal("the run should fail at its second step")
	}
	mu.Lock()
	defer mu.Unlock()
	board := f.posts[0]
	if board["thread_ts"] != "" || !strings.Contains(board["text"], "*restore* on *production*") || !strings.Contains(board["text"], "incident INC-7") {
		t.Fatalf("first post is not the board: %v", board)
	}
	if len(updates) < 3 || updates[0]["ts"] != "1700000000.000001" {
		t.Fatalf("board not updated in place: %v", updates)
	}
	last := updates[len(updates)-1]["text"]
	if !strings.Contains(last, "✓ first") || !strings.Contains(last, "✗ second") || !strings.Contains(last, "— failed") {
		t.Fatalf("final board: %q", last)
	}
	reply := f.posts[len(f.posts)-1]
	if reply["thread_ts"] != "1700000000.000001" || !strings.Contains(reply["text"], "restore failed") {
		t.Fatalf("failure not replied in the thread: %v", reply)
	}
}
