package testsuite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/workflows"
)

// stepWorkers is, for each activity of run id, the identity of the worker
// that started it and the queue it was scheduled on, from the run's
// history: what the server itself recorded.
func stepWorkers(t *testing.T, address, id string) map[string][2]string {
	t.Helper()
	cl, err := client.Dial(client.Options{HostPort: address})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	scheduled := map[int64][2]string{} // event id → activity id, queue
	out := map[string][2]string{}
	it := cl.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[e.GetEventId()] = [2]string{a.GetActivityId(), a.GetTaskQueue().GetName()}
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			s := scheduled[a.GetScheduledEventId()]
			out[s[0]] = [2]string{a.GetIdentity(), s[1]}
		}
	}
	return out
}

// TestWorkersPerEnvironment: production and staging, each with a worker of
// its own, the interpreter on the shared queue. Every step of a production
// run, the plan's check and the finally step included, is started by the
// production worker from production's queue, none by staging's, and the
// other way round; a worker refuses an environment its file lacks.
func TestWorkersPerEnvironment(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "drctl.yaml")
	if err := os.WriteFile(cfg, []byte(`environments:
  production: {role: target, database: {name: register, url: "env:UNUSED"}}
  staging: {role: target, database: {name: register, url: "env:UNUSED"}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DRCTL_CONFIG=" + cfg}
	dev := StartDevEnv(t, env, filepath.Join(dir, "temporal.db"), 0, "--no-worker")
	env = append(env, dev.Env()...)
	workers := map[string]*Proc{}
	for _, name := range []string{"production", "staging"} {
		workers[name] = Start(t, env, "worker", "--env", name)
		workers[name].WaitFor(t, "worker on", 30*time.Second)
		if !strings.Contains(workers[name].Output(), "drctl/"+name) {
			t.Fatalf("the %s worker does not say it polls %s's queue:\n%s", name, name, workers[name].Output())
		}
	}
	for _, name := range []string{"production", "staging"} {
		code, out := Run(t, env, "run", "testsuite/testdata/where.yaml", "--env", name, "--as", "ana", "--wait")
		if code != 0 {
			t.Fatalf("run on %s: exit %d\n%s", name, code, out)
		}
		ran := stepWorkers(t, dev.Address, runIDOf(out))
		for _, step := range []string{"first", "second", "cleanup"} {
			if _, ok := ran[step]; !ok {
				t.Errorf("%s: step %s has no start in the history: %v", name, step, ran)
			}
		}
		for step, where := range ran {
			if want := fmt.Sprintf("%d@", workers[name].Pid()); !strings.HasPrefix(where[0], want) || where[1] != workflows.EnvQueue("drctl", name) {
				t.Errorf("%s: activity %s ran on worker %s from queue %s, want the %s worker (%s…) from %s", name, step, where[0], where[1],
					name, want, workflows.EnvQueue("drctl", name))
			}
		}
	}
	code, out := Run(t, env, "worker", "--env", "prodution")
	if code != 1 || !strings.Contains(out, "--env prodution") || !strings.Contains(out, "production, staging") {
		t.Errorf("a worker for an environment the file lacks: exit %d\n%s", code, out)
	}
}
