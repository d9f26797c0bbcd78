package report

import (
	"context"

	"github.com/drctl/drctl/activities/stepio"
)

// Report holds the activities of this system. The worker registers it
// with the prefix "report.", so Report.Write runs as "report.Write".
//
// The methods below are not built yet: each fails, non-retryably, saying
// so, rather than pretending to work.
type Report struct{}

// Write runs the report.write step.
func (r *Report) Write(_ context.Context, _ WriteInput) (WriteOutput, error) {
	return WriteOutput{}, stepio.NotImplemented("report.write")
}
