package workflows

import (
	"errors"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// A step pinned to a host that no worker there took in time fails naming
// the host and what brings it back; a timeout of another kind, or a run
// pinned to no host, keeps its own error.
func TestHostGoneNamesTheHost(t *testing.T) {
	r := &runner{in: RunInput{Plan: Plan{Environment: "production"}}, queue: EnvQueue("drctl", "production"),
		host: HostQueue("drctl", "production", "db-2")}
	err := r.hostGone(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil))
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != "HostGone" || !app.NonRetryable() ||
		!strings.Contains(app.Message(), "no worker on host db-2") || !strings.Contains(app.Message(), "drctl worker --env production --host db-2") {
		t.Fatalf("a step no worker on its host took: %v", err)
	}
	other := temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil)
	if err := r.hostGone(other); err != other {
		t.Errorf("a start-to-close timeout became %v", err)
	}
	r.host = ""
	if err := r.hostGone(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)); errors.As(err, new(*temporal.ApplicationError)) {
		t.Errorf("a run on no host: %v", err)
	}
}
