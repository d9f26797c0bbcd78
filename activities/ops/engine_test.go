package ops_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	sdktest "go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/drctl/drctl/activities/ops"
	"github.com/drctl/drctl/workflows"
)

// TestFailedRunStillUnfreezes runs a plan through the interpreter with the
// real ops activities: it freezes the pipeline, fails, and its finally
// step puts the protection back as it was.
func TestFailedRunStillUnfreezes(t *testing.T) {
	gh := &fakeGitHub{protection: map[string]any{"enforce_admins": map[string]any{"enabled": true}, "lock_branch": map[string]any{"enabled": false}}}
	before, _ := json.Marshal(gh.protection)
	srv := httptest.NewServer(gh)
	defer srv.Close()
	t.Setenv("DRCTL_TEST_GH", "gh-token")
	target := &ops.Target{Name: "production", Pipeline: &ops.PipelineConfig{Provider: "github", BaseURL: srv.URL, Repository: "example/register", Branch: "main", Token: "env:DRCTL_TEST_GH"}}

	var s sdktest.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	// The plan check a worker makes before the first step, here passing.
	env.RegisterActivityWithOptions(func(context.Context, workflows.Plan) error { return nil }, activity.RegisterOptions{Name: "plan.Verify"})
	env.RegisterActivityWithOptions(&ops.Ops{Targets: func(string) (*ops.Target, error) { return target, nil }}, activity.RegisterOptions{Name: "ops."})
	step := func(id, uses, act string, with map[string]any) workflows.Step {
		return workflows.Step{ID: id, Uses: uses, Activity: act, With: with, Timeout: workflows.Duration(time.Minute), Retry: workflows.Retry{Attempts: 1}, OnError: workflows.OnErrorAbort}
	}
	plan := workflows.Plan{Version: workflows.PlanVersion, Runbook: "freeze-then-fail", Environment: "production",
		Steps: []workflows.Step{
			step("freeze", "pipeline.freeze", "ops.Freeze", map[string]any{"reason": "test"}),
			step("boom", "exec", "ops.Exec", map[string]any{"command": []any{"false"}}),
		},
		Finally: []workflows.Step{step("unfreeze", "pipeline.unfreeze", "ops.Unfreeze", map[string]any{"freeze": "${{ steps.freeze.outputs }}"})},
	}
	env.ExecuteWorkflow(workflows.Runbook, workflows.RunInput{Plan: plan, Initiator: "ana"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() == nil {
		t.Fatalf("the run should have failed: %v", env.GetWorkflowError())
	}
	if after, _ := json.Marshal(gh.protection); string(after) != string(before) {
		t.Fatalf("the pipeline was left changed:\nbefore %s\nafter  %s\nrequests %v", before, after, gh.requests)
	}
	if len(gh.requests) < 3 {
		t.Fatalf("freeze and unfreeze did not both run: %v", gh.requests)
	}
}
