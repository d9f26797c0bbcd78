package testsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/drctl/drctl/workflows"
)

// stepWorkers is, for each activity of run id, the identity of the worker
// that started it, the queue it was scheduled on and the summary the Web
// UI shows of it, from the run's history: what the server itself recorded.
func stepWorkers(t *testing.T, address, id string) map[string][3]string {
	t.Helper()
	cl, err := client.Dial(client.Options{HostPort: address})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	scheduled := map[int64][3]string{} // event id → activity id, queue, summary
	out := map[string][3]string{}
	it := cl.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			var summary string
			if p := e.GetUserMetadata().GetSummary(); p != nil {
				if err := converter.GetDefaultDataConverter().FromPayload(p, &summary); err != nil {
					t.Fatal(err)
				}
			}
			scheduled[e.GetEventId()] = [3]string{a.GetActivityId(), a.GetTaskQueue().GetName(), summary}
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			s := scheduled[a.GetScheduledEventId()]
			out[s[0]] = [3]string{a.GetIdentity(), s[1], s[2]}
		}
	}
	return out
}

// TestWorkersPerEnvironment: production and staging, each with a worker of
// its own, the interpreter on the shared queue. Every step of a production
// run, the plan's check and the finally step included, is started by the
// production worker from production's queue, none by staging's, and the
// other way round; the Web UI names each activity's step and step type;
// the workers' JSON logs name each line's run, step and environment; a
// worker refuses an environment its file lacks.
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
		workers[name] = Start(t, env, "worker", "--env", name, "--log-format", "json")
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
		id := runIDOf(out)
		ran := stepWorkers(t, dev.Address, id)
		// Each line a step logs says, as JSON, its run, step and
		// environment.
		found := false
		for _, line := range strings.Split(workers[name].Output(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "notify" && l["message"] == "second-ran" && l["run"] == id {
				found = l["step"] == "second" && l["environment"] == name
			}
		}
		if !found {
			t.Errorf("%s: no JSON line of the notify step with its run, step and environment:\n%s", name, workers[name].Output())
		}
		for step, uses := range map[string]string{"first": "exec", "second": "notify", "cleanup": "notify"} {
			if want := step + " · " + uses; ran[step][2] != want {
				t.Errorf("%s: the Web UI shows step %s as %q, want %q (%v)", name, step, ran[step][2], want, ran)
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
