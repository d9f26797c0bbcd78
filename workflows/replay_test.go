package workflows

import (
	"log/slog"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplaySavedHistory replays the history of a real run (recorded on the
// embedded server by testsuite's TestApprovalRunThroughCLI with
// DRCTL_UPDATE_HISTORY=1): a change to the interpreter that would make old
// runs replay differently fails here, and must be put behind
// workflow.GetVersion instead.
func TestReplaySavedHistory(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(Runbook, workflow.RegisterOptions{Name: WorkflowName})
	logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	if err := r.ReplayWorkflowHistoryFromJSONFile(logger, "testdata/approval-run.history.json"); err != nil {
		t.Fatal(err)
	}
}
