package ops

import (
	"context"

	"go.temporal.io/sdk/activity"

	"github.com/drctl/drctl/activities/stepio"
)

// Ops holds the activities of this system. The worker registers it
// with the prefix "ops.", so Ops.Freeze runs as "ops.Freeze".
//
// The methods below are not built yet: each fails, non-retryably, saying
// so, rather than pretending to work.
type Ops struct{}

// Freeze runs the pipeline.freeze step.
func (o *Ops) Freeze(_ context.Context, _ FreezeInput) (FreezeOutput, error) {
	return FreezeOutput{}, stepio.NotImplemented("pipeline.freeze")
}

// Unfreeze runs the pipeline.unfreeze step.
func (o *Ops) Unfreeze(_ context.Context, _ UnfreezeInput) (UnfreezeOutput, error) {
	return UnfreezeOutput{}, stepio.NotImplemented("pipeline.unfreeze")
}

// MaintenanceEnable runs the maintenance.enable step.
func (o *Ops) MaintenanceEnable(_ context.Context, _ MaintenanceInput) (MaintenanceOutput, error) {
	return MaintenanceOutput{}, stepio.NotImplemented("maintenance.enable")
}

// MaintenanceDisable runs the maintenance.disable step.
func (o *Ops) MaintenanceDisable(_ context.Context, _ MaintenanceInput) (MaintenanceOutput, error) {
	return MaintenanceOutput{}, stepio.NotImplemented("maintenance.disable")
}

// Exec runs the exec step.
func (o *Ops) Exec(_ context.Context, _ ExecInput) (ExecOutput, error) {
	return ExecOutput{}, stepio.NotImplemented("exec")
}

// HTTP runs the http step.
func (o *Ops) HTTP(_ context.Context, _ HTTPInput) (HTTPOutput, error) {
	return HTTPOutput{}, stepio.NotImplemented("http")
}

// Notify runs the notify step: the message goes to the worker's log (the
// console of `drctl dev`); the interpreter keeps it in the run's timeline.
// Slack delivery comes with the chat system.
func (o *Ops) Notify(ctx context.Context, in NotifyInput) (NotifyOutput, error) {
	info := activity.GetInfo(ctx)
	activity.GetLogger(ctx).Info("notify", "run", info.WorkflowExecution.ID, "message", in.Message)
	return NotifyOutput{}, nil
}

// Wait runs the wait step.
func (o *Ops) Wait(_ context.Context, _ WaitInput) (WaitOutput, error) {
	return WaitOutput{}, stepio.NotImplemented("wait")
}
