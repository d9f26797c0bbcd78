package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/drctl/drctl/worker"
	"github.com/drctl/drctl/worker/devserver"
	"github.com/drctl/drctl/workflows"
)

// noop is the activity both workflows call.
func noop(context.Context, map[string]any) (map[string]any, error) {
	return map[string]any{"ok": true}, nil
}

// handWritten is what a Temporal user would write by hand for the same
// work: n activities in sequence, with the same options the interpreter
// gives a step, on the same queue (the environment's).
func handWritten(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: workflows.EnvQueue("bench", "bench"),
		StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	for i := range n {
		if err := workflow.ExecuteActivity(ctx, "bench.Noop", map[string]any{"i": i}).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func benchPlan(n int) workflows.Plan {
	p := workflows.Plan{Version: workflows.PlanVersion, Runbook: "bench", Environment: "bench"}
	for i := range n {
		p.Steps = append(p.Steps, workflows.Step{ID: fmt.Sprintf("s%d", i), Uses: "bench.noop", Activity: "bench.Noop",
			With: map[string]any{"i": i}, Timeout: workflows.Duration(time.Minute), Retry: workflows.Retry{Attempts: 1}, OnError: workflows.OnErrorAbort})
	}
	return p
}

// benchEnv is an embedded server with a worker that runs both workflows.
type benchEnv struct {
	srv *devserver.Server
	c   client.Client
	w   sdkworker.Worker
}

func startBench(tb testing.TB) *benchEnv {
	tb.Helper()
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Options{DBFile: filepath.Join(tb.TempDir(), "bench.db"), UIPort: -1,
		SearchAttributes: workflows.SearchAttributeNames})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: srv.Address, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		srv.Stop()
		tb.Fatal(err)
	}
	// Workflows on the shared queue, steps on the environment's, as
	// drctl's workers run them.
	w := sdkworker.New(c, "bench", worker.Options())
	w.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterWorkflowWithOptions(handWritten, workflow.RegisterOptions{Name: "bench.HandWritten"})
	steps := sdkworker.New(c, workflows.EnvQueue("bench", "bench"), worker.Options())
	steps.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: "bench.Noop"})
	// The plan check a worker makes before the first step, here passing.
	steps.RegisterActivityWithOptions(func(context.Context, workflows.Plan) error { return nil }, activity.RegisterOptions{Name: "plan.Verify"})
	for _, x := range []sdkworker.Worker{w, steps} {
		if err := x.Start(); err != nil {
			tb.Fatal(err)
		}
	}
	e := &benchEnv{srv: srv, c: c, w: w}
	tb.Cleanup(func() { w.Stop(); steps.Stop(); c.Close(); srv.Stop() })
	return e
}

// once runs one workflow to completion and returns how long it took.
func (e *benchEnv) once(tb testing.TB, name string, arg any) time.Duration {
	start := time.Now()
	run, err := e.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: "bench"}, name, arg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := run.Get(context.Background(), nil); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return time.Since(start)
}

// compare runs the interpreter on an n-step plan and the hand-written
// workflow on n activities, alternately, iters times each.
func (e *benchEnv) compare(tb testing.TB, n, iters int) (interp, hand time.Duration) {
	for range iters {
		interp += e.once(tb, workflows.WorkflowName, workflows.RunInput{Plan: benchPlan(n), Initiator: "bench"})
		hand += e.once(tb, "bench.HandWritten", n)
	}
	return interp, hand
}

// BenchmarkFiftySteps measures the interpreter's overhead on the embedded
// server: a 50-step plan of no-op activities against a hand-written
// workflow calling the same 50 activities, side by side. Run with
// `make bench`.
func BenchmarkFiftySteps(b *testing.B) {
	e := startBench(b)
	e.compare(b, 50, 1) // warm up both
	b.ResetTimer()
	interp, hand := e.compare(b, 50, b.N)
	perStep := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(50*b.N) }
	b.ReportMetric(perStep(interp), "interp-ms/step")
	b.ReportMetric(perStep(hand), "hand-ms/step")
	b.ReportMetric(float64(interp)/float64(hand), "ratio")
	b.Logf("interpreter %s, hand-written %s per 50-step run; ratio %.3f (target <= 1.15, <= 25 ms/step)",
		interp/time.Duration(b.N), hand/time.Duration(b.N), float64(interp)/float64(hand))
}

// TestBenchmarkRuns keeps a tiny run of the benchmark in the tests so it
// cannot rot; it checks both workflows complete, not how fast.
func TestBenchmarkRuns(t *testing.T) {
	e := startBench(t)
	interp, hand := e.compare(t, 3, 1)
	if interp <= 0 || hand <= 0 {
		t.Fatalf("durations %s %s", interp, hand)
	}
}
