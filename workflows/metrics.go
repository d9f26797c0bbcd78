package workflows

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// drctl's own metrics, emitted through the SDK's metrics handler, which
// stays silent while a run replays: a run is counted once however often a
// worker replays it. The worker serves them (internal/metrics).
const (
	MetricRuns         = "drctl_runs"
	MetricStepDuration = "drctl_step_duration"
	MetricGateWait     = "drctl_gate_wait"
	MetricDrillRTO     = "drctl_drill_rto_seconds"
	MetricDrillRPO     = "drctl_drill_rpo_seconds"
	MetricDrillSuccess = "drctl_drill_last_success_timestamp_seconds"
)

func (r *runner) metrics(ctx workflow.Context, tags map[string]string) client.MetricsHandler {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"runbook": r.in.Plan.Runbook, "environment": r.in.Plan.Environment})
	if len(tags) > 0 {
		m = m.WithTags(tags)
	}
	return m
}

// measureStep records how long a step took, by step type and how it ended.
func (r *runner) measureStep(ctx workflow.Context, s Step, st *StepStatus) {
	if st.Started.IsZero() {
		return
	}
	r.metrics(ctx, map[string]string{"step_type": s.Uses, "state": st.State}).Timer(MetricStepDuration).Record(workflow.Now(ctx).Sub(st.Started))
}

// measureRun counts the run by how it ended; a drill that passed also
// sets its environment's RTO, RPO and time of success.
func (r *runner) measureRun(ctx workflow.Context, state string) {
	r.metrics(ctx, map[string]string{"state": state}).Counter(MetricRuns).Inc(1)
	if r.in.Plan.Kind != "drill" || state != StateSucceeded {
		return
	}
	m := r.metrics(ctx, nil)
	now := workflow.Now(ctx)
	m.Gauge(MetricDrillRTO).Update(now.Sub(r.started).Seconds())
	m.Gauge(MetricDrillSuccess).Update(float64(now.Unix()))
	for _, s := range r.status.Steps {
		st := r.steps[s.ID]
		if rpo, ok := st.Outputs["rpo"].(string); ok && st.Uses == "postgres.verify" && st.State == StateSucceeded {
			if d, err := ParseDuration(rpo); err == nil {
				m.Gauge(MetricDrillRPO).Update(d.Seconds())
			}
		}
	}
}
