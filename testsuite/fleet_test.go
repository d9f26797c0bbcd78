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

// TestWorkersPerEnvironment: on a Temporal server started as its own
// process, production with workers on two hosts, staging with one, the
// interpreter on the shared queue. Every step of a
// production run, the finally step included, is started by one production
// worker, from its host's queue; none by staging's, and the other way
// round; the plan's check by any worker of the run's environment. The Web
// UI names each activity's step and step type; the workers' JSON logs name
// each line's run, step and environment. A worker killed mid-run is
// replaced on its host, and the run's next step runs there, not on the
// other host. A worker refuses an environment its file lacks.
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
	// A Temporal server of its own process, as a team runs one: the
	// workers give it drctl's search attributes.
	temporal := StartTemporal(t)
	env = append(env, "TEMPORAL_ADDRESS="+temporal.Address)
	type host struct{ env, name string }
	workers := map[host]*Proc{}
	start := func(h host) *Proc {
		p := Start(t, env, "worker", "--env", h.env, "--host", h.name, "--log-format", "json")
		p.WaitFor(t, "worker on", 30*time.Second)
		if !strings.Contains(p.Output(), workflows.HostQueue("drctl", h.env, h.name)) {
			t.Fatalf("the worker on %s does not say it polls its host's queue:\n%s", h.name, p.Output())
		}
		workers[h] = p
		return p
	}
	for _, h := range []host{{"production", "prod-a"}, {"production", "prod-b"}, {"staging", "stg-a"}} {
		start(h)
	}
	// whose is the worker of identity id, by its process.
	whose := func(id string) (host, bool) {
		for h, p := range workers {
			if strings.HasPrefix(id, fmt.Sprintf("%d@", p.Pid())) {
				return h, true
			}
		}
		return host{}, false
	}
	for _, name := range []string{"production", "staging"} {
		code, out := Run(t, env, "run", "testsuite/testdata/where.yaml", "--env", name, "--as", "ana", "--wait")
		if code != 0 {
			t.Fatalf("run on %s: exit %d\n%s", name, code, out)
		}
		id := runIDOf(out)
		ran := stepWorkers(t, temporal.Address, id)
		for step, uses := range map[string]string{"first": "exec", "second": "notify", "cleanup": "notify"} {
			if want := step + " · " + uses; ran[step][2] != want {
				t.Errorf("%s: the Web UI shows step %s as %q, want %q (%v)", name, step, ran[step][2], want, ran)
			}
		}
		pinned, _ := whose(ran["first"][0])
		for step, where := range ran {
			h, ok := whose(where[0])
			queue := workflows.HostQueue("drctl", name, h.name)
			if where[2] == "plan check" {
				queue = workflows.EnvQueue("drctl", name) // the plan's check: any worker of the environment
			} else if h != pinned {
				t.Errorf("%s: step %s ran on %s, the run's first on %s", name, step, h.name, pinned.name)
			}
			if !ok || h.env != name || where[1] != queue {
				t.Errorf("%s: activity %s ran on worker %s (%v) from queue %s, want a %s worker from %s", name, step, where[0], h, where[1], name, queue)
			}
		}
		// Each line a step logs says, as JSON, its run, step and
		// environment.
		found := false
		for _, line := range strings.Split(workers[pinned].Output(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "notify" && l["message"] == "second-ran" && l["run"] == id {
				found = l["step"] == "second" && l["environment"] == name
			}
		}
		if !found {
			t.Errorf("%s: no JSON line of the notify step with its run, step and environment:\n%s", name, workers[pinned].Output())
		}
	}

	// Failover: the run's host loses its worker during a timer; a worker
	// started again on that host takes the next step.
	code, out := Run(t, env, "run", "testsuite/testdata/where-wait.yaml", "--env", "production", "--as", "ana", "--param", "pause=8s")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	id := runIDOf(out)
	waitState(t, env, id, "pause", workflows.StateRunning)
	pinned, _ := whose(stepWorkers(t, temporal.Address, id)["first"][0])
	workers[pinned].Kill()
	start(pinned)
	waitState(t, env, id, "second", workflows.StateSucceeded)
	if h, _ := whose(stepWorkers(t, temporal.Address, id)["second"][0]); h != pinned || !strings.Contains(workers[pinned].Output(), "second-ran") {
		t.Errorf("after its worker was killed, the run's next step ran on %v, want the new worker on %s", h, pinned.name)
	}

	code, out = Run(t, env, "worker", "--env", "prodution")
	if code != 1 || !strings.Contains(out, "--env prodution") || !strings.Contains(out, "production, staging") {
		t.Errorf("a worker for an environment the file lacks: exit %d\n%s", code, out)
	}
}
