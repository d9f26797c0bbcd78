// Package worker wires drctl together: it registers the interpreter
// workflow on the shared task queue, and every activity struct, under the
// names plans call them by, on the queue of each environment it serves.
package worker

import (
	"context"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/activities/ops"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/report"
	"github.com/drctl/drctl/internal/scratch"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/workflows"
)

// TaskQueue is the default task queue of drctl's workers.
const TaskQueue = "drctl"

// Options are what a worker needs; DisableRegistrationAliasing makes the
// struct prefix the only name an activity has.
func Options() worker.Options {
	return worker.Options{DisableRegistrationAliasing: true,
		// An activity learns of a cancel only through its heartbeats'
		// answers, which the SDK otherwise batches for up to a minute: a
		// cancelled restore would load on long after the run ended.
		DefaultHeartbeatThrottleInterval: 2 * time.Second, MaxHeartbeatThrottleInterval: 2 * time.Second,
		Interceptors: []interceptor.WorkerInterceptor{&runLogs{}}}
}

// Deps are what the activities need from the environments file. Secret
// references stay references here; activities resolve them.
type Deps struct {
	// Envs are the environments of the file.
	Envs []string
	// Host names this worker's machine (its hostname unless set): a run's
	// steps go to the host whose worker checked its plan, on a queue of
	// its own there.
	Host string
	// Stores finds the config of an environment's named store.
	Stores func(env, store string) (*backup.StoreConfig, error)
	// Targets finds what the postgres steps need of an environment.
	Targets func(env string) (*postgres.Target, error)
	// ChatTargets finds an environment's Slack channel.
	ChatTargets func(env string) (*chat.Target, error)
	// SlackAPIURL replaces Slack's API address (a test server).
	SlackAPIURL string
	// OpsTargets finds an environment's pipeline and maintenance switch.
	OpsTargets func(env string) (*ops.Target, error)
	// ReportDir is where report.write puts reports without a dir.
	ReportDir string
	// WALCommand runs drctl with the same environments file, for
	// recovered instances to fetch WAL with.
	WALCommand []string
	// ServerEnv names the worker's variables that local instances' servers
	// get, for those WAL commands.
	ServerEnv []string
	// CheckPlan holds a plan against the worker's environments file,
	// returning every problem (runbooks.CheckPlan); nil without one.
	CheckPlan func(*workflows.Plan) []string
	// CheckInputs holds an operator's changed inputs to the step's types.
	CheckInputs func(uses string, with map[string]any) error
}

// planCheck is the plan.Verify activity: a run's plan, held against the
// worker's own environments file before the run's first step.
type planCheck struct {
	check  func(*workflows.Plan) []string
	inputs func(uses string, with map[string]any) error
	// hostQueue is this worker's queue for env's steps on its host, or ""
	// where it keeps none.
	hostQueue func(env string) string
}

// CheckInputs refuses inputs an operator changed that the step does not
// take, or not of that type.
func (c *planCheck) CheckInputs(_ context.Context, in workflows.CheckInputsInput) error {
	if c.inputs == nil {
		return nil
	}
	if err := c.inputs(in.Uses, in.With); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "BadInput", nil)
	}
	return nil
}

// Verify refuses a plan that is not what its hash names or that asks less
// than the environment's policy. A plan it accepts runs its steps on this
// worker's host: it returns the queue they go to there.
func (c *planCheck) Verify(_ context.Context, p workflows.Plan) (string, error) {
	if c.check != nil {
		if problems := c.check(&p); len(problems) > 0 {
			return "", temporal.NewNonRetryableApplicationError("this worker refuses the plan: "+strings.Join(problems, "; "), "PlanRefused", nil)
		}
	}
	if c.hostQueue == nil {
		return "", nil
	}
	return c.hostQueue(p.Environment), nil
}

// Register registers the interpreter and every activity struct, on one
// queue: what a test environment needs.
func Register(r worker.Registry, d Deps) {
	r.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	RegisterSteps(r, d, nil)
}

// RegisterSteps registers every activity struct. Each struct is
// registered with its system's prefix, so (*postgres.Postgres).Rename is
// the activity "postgres.Rename"; plans name a step's activity as its
// step type (postgres.restore), which is registered too. hostQueue, when
// given, is the queue of an environment's steps on this host, which the
// plan check names to pin a run here.
func RegisterSteps(r worker.Registry, d Deps, hostQueue func(env string) string) {
	talk := &chat.Chat{Targets: d.ChatTargets, APIURL: d.SlackAPIURL}
	for _, a := range []struct {
		prefix string
		acts   any
	}{
		{"postgres.", &postgres.Postgres{Targets: d.Targets, Stores: d.Stores, WALCommand: d.WALCommand, ServerEnv: d.ServerEnv}},
		{"backup.", &backup.Backup{Stores: d.Stores}},
		{"ops.", &ops.Ops{Targets: d.OpsTargets, Slack: talk.Post}},
		{"chat.", talk},
		{"report.", &report.Report{Dir: d.ReportDir}},
		{"plan.", &planCheck{check: d.CheckPlan, inputs: d.CheckInputs, hostQueue: hostQueue}},
	} {
		r.RegisterActivityWithOptions(a.acts, activity.RegisterOptions{Name: a.prefix})
		// The method's own name (postgres.Restore) stays registered for
		// runs recorded before plans named step types.
		for _, st := range runbooks.Catalogue() {
			if method, ok := strings.CutPrefix(st.Activity, a.prefix); ok && st.Name != st.Activity {
				r.RegisterActivityWithOptions(reflect.ValueOf(a.acts).MethodByName(method).Interface(), activity.RegisterOptions{Name: st.Name})
			}
		}
	}
}

// Workers are the SDK workers of one drctl worker: the interpreter's on
// the shared queue, which any worker may run (it touches no system), and
// the steps' on the queue of each environment the worker serves
// (workflows.EnvQueue), so a production step runs only where production's
// credentials and network are.
type Workers struct {
	all []worker.Worker
	// Queues are the environments' queues the steps are served on.
	Queues []string
}

// New makes the workers on queue, after sweeping the scratch folders of
// attempts whose worker died (a killed worker's half-downloaded dumps), so
// their space is free for the retries. envs are the environments whose
// steps it runs; none means every environment of d, and the steps of runs
// started before environments had queues, on queue itself.
func New(cl client.Client, queue string, envs []string, d Deps) *Workers {
	if swept, err := scratch.Sweep(os.TempDir()); err != nil {
		slog.Warn("sweeping the scratch folders of dead attempts", "error", err)
	} else if len(swept) > 0 {
		slog.Info("swept the scratch folders of dead attempts", "folders", swept)
	}
	shared := worker.New(cl, queue, Options())
	shared.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w := &Workers{all: []worker.Worker{shared}}
	every := len(envs) == 0
	if every {
		envs = d.Envs
	}
	host := d.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	hostQueue := func(env string) string {
		if !slices.Contains(envs, env) {
			return ""
		}
		return workflows.HostQueue(queue, env, host)
	}
	if every {
		// Steps of runs from before environments had queues.
		RegisterSteps(shared, d, hostQueue)
	}
	for _, env := range envs {
		// The environment's queue, which any of its workers takes (a run's
		// plan check, chat, alarms), and this host's.
		for _, q := range []string{workflows.EnvQueue(queue, env), hostQueue(env)} {
			ew := worker.New(cl, q, Options())
			RegisterSteps(ew, d, hostQueue)
			w.all = append(w.all, ew)
			w.Queues = append(w.Queues, q)
		}
	}
	return w
}

// Start starts every worker; one that cannot start stops those started.
func (w *Workers) Start() error {
	for i, x := range w.all {
		if err := x.Start(); err != nil {
			for _, started := range w.all[:i] {
				started.Stop()
			}
			return err
		}
	}
	return nil
}

// Stop stops every worker.
func (w *Workers) Stop() {
	for _, x := range w.all {
		x.Stop()
	}
}

// Run runs the workers until interrupt says to stop.
func (w *Workers) Run(interrupt <-chan any) error {
	if err := w.Start(); err != nil {
		return err
	}
	<-interrupt
	w.Stop()
	return nil
}
