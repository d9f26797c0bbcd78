package workflows

import "go.temporal.io/sdk/workflow"

func workflowRegisterOptions() workflow.RegisterOptions {
	return workflow.RegisterOptions{Name: WorkflowName}
}
