package worker

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/drctl/drctl/runbooks"
)

// callEach runs every named activity once and reports, per name, the type
// of the error it returned ("" for none; "Unregistered" when no activity of
// that name exists).
func callEach(ctx workflow.Context, names []string) (map[string]string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	got := map[string]string{}
	for _, name := range names {
		err := workflow.ExecuteActivity(ctx, name, map[string]any{}).Get(ctx, nil)
		var appErr *temporal.ApplicationError
		switch {
		case err == nil:
			got[name] = ""
		case errors.As(err, &appErr):
			got[name] = appErr.Type()
		default:
			got[name] = err.Error()
		}
	}
	return got, nil
}

// TestCatalogueIsRegistered walks the whole step catalogue: every step type
// must name an activity, and a check, the worker registers.
func TestCatalogueIsRegistered(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	// Each activity runs once with empty input: report.write writes a
	// report, which belongs in a temporary folder.
	Register(env, Deps{ReportDir: t.TempDir()})
	env.RegisterWorkflow(callEach)
	var names []string
	for _, st := range runbooks.Catalogue() {
		names = append(names, st.Name, st.Activity)
		if st.Check != "" {
			names = append(names, st.Check)
		}
	}
	env.ExecuteWorkflow(callEach, names)
	var got map[string]string
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	for _, st := range runbooks.Catalogue() {
		// Called with no inputs, a registered activity fails on its own
		// terms (no environment, not implemented); only a missing one
		// fails as not registered.
		for _, name := range []string{st.Name, st.Activity, st.Check} {
			if typ := got[name]; name != "" && (typ == "ActivityNotRegisteredError" || strings.Contains(typ, "not registered")) {
				t.Errorf("step type %s names activity %s, which the worker does not register", st.Name, name)
			}
		}
	}
}
