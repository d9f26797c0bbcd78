package worker

import (
	"context"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
)

// runLogs gives every line a step logs the run, the step and the
// environment it belongs to, in drctl's words, so a log store finds a
// run's lines, or an environment's, by one field.
type runLogs struct {
	interceptor.WorkerInterceptorBase
}

func (*runLogs) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &runLogsIn{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type runLogsIn struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *runLogsIn) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&runLogsOut{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}})
}

type runLogsOut struct {
	interceptor.ActivityOutboundInterceptorBase
}

func (o *runLogsOut) GetLogger(ctx context.Context) log.Logger {
	info := activity.GetInfo(ctx)
	keys := []any{"run", info.WorkflowExecution.ID, "step", info.ActivityID}
	// A step's queue is its environment's, or its environment's on one
	// host (workflows.EnvQueue, workflows.HostQueue).
	if _, env, ok := strings.Cut(info.TaskQueue, "/"); ok {
		env, _, _ = strings.Cut(env, "@")
		keys = append(keys, "environment", env)
	}
	return log.With(o.Next.GetLogger(ctx), keys...)
}
