package testsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/drctl/drctl/workflows"
)

// runPlan starts testdata/gate.yaml on staging and returns the run id.
func runPlan(t *testing.T, env []string, extra ...string) string {
	t.Helper()
	return runFile(t, env, "testsuite/testdata/gate.yaml", extra...)
}

func runFile(t *testing.T, env []string, file string, extra ...string) string {
	t.Helper()
	args := append([]string{"run", file, "--env", "staging", "--as", "ana"}, extra...)
	code, out := Run(t, env, args...)
	if code != 0 || runIDOf(out) == "" {
		t.Fatalf("drctl run: exit %d\n%s", code, out)
	}
	return runIDOf(out)
}

// runIDOf is the id of the run drctl run says it started, or "".
func runIDOf(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if id, ok := strings.CutPrefix(line, "run "); ok {
			return id
		}
	}
	return ""
}

func status(t *testing.T, env []string, id string) workflows.Status {
	t.Helper()
	code, out := Run(t, env, "status", id, "--json")
	if code != 0 {
		t.Fatalf("drctl status: exit %d\n%s", code, out)
	}
	var st workflows.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	return st
}

func stepState(st workflows.Status, id string) string {
	for _, s := range st.Steps {
		if s.ID == id {
			return s.State
		}
	}
	return ""
}

func waitState(t *testing.T, env []string, id, step, state string) {
	t.Helper()
	var last workflows.Status
	Eventually(t, 60*time.Second, func() bool {
		last = status(t, env, id)
		return stepState(last, step) == state
	}, "step %s to be %s; last status %+v", step, state, &last)
}

// TestApprovalRunThroughCLI runs a plan with a gate to completion on the
// embedded server, through drctl's own commands, with refused votes along
// the way.
func TestApprovalRunThroughCLI(t *testing.T) {
	dev := StartDev(t, filepath.Join(t.TempDir(), "temporal.db"), 0)
	env := dev.Env()
	id := runPlan(t, env)
	waitState(t, env, id, "gate", workflows.StateWaiting)

	for _, tc := range []struct{ as, want string }{
		{"ana", "not an approver"}, // the initiator is not on the list
		{"mallory", "not an approver"},
	} {
		code, out := Run(t, env, "approve", id, "--as", tc.as)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("approve as %s: exit %d, %q; want exit 1 and %q", tc.as, code, out, tc.want)
		}
	}
	if code, out := Run(t, env, "approve", id, "gate", "--as", "ben", "--comment", "checked the backup"); code != 0 {
		t.Fatalf("approve: exit %d\n%s", code, out)
	}
	// The gate is closed, and the run may already have ended too.
	if code, out := Run(t, env, "approve", id, "gate", "--as", "chen"); code != 1 || !strings.Contains(out, "closed") && !strings.Contains(out, "already completed") {
		t.Errorf("vote after the gate closed: exit %d, %q", code, out)
	}
	waitState(t, env, id, "cleanup", workflows.StateSucceeded)
	st := status(t, env, id)
	if st.State != workflows.StateSucceeded || stepState(st, "bye") != workflows.StateSucceeded {
		t.Fatalf("run did not succeed: %+v", st)
	}
	found := false
	for _, e := range st.Timeline {
		found = found || e.Step == "gate" && e.By == "ben" && strings.Contains(e.Message, "checked the backup")
	}
	if !found {
		t.Errorf("the approval is not in the timeline: %+v", st.Timeline)
	}
	if !strings.Contains(dev.Output(), "bye-ben") {
		t.Errorf("the step after the gate did not see who approved:\n%s", dev.Output())
	}
	if code, out := Run(t, env, "status", id, "--follow"); code != 0 || !strings.Contains(out, "✓  bye") {
		t.Errorf("status --follow of an ended run: exit %d\n%s", code, out)
	}
	if code, out := Run(t, env, "list"); code != 0 || !strings.Contains(out, id) {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	md := reportOf(t, env, id)
	for _, want := range []string{"| ended | succeeded at ", "ben approved at ", "checked the backup", "| bye | notify | succeeded |"} {
		if !strings.Contains(md, want) {
			t.Errorf("drctl report: report.md lacks %q:\n%s", want, md)
		}
	}
	checkReplay(t, dev.Address, id)
}

// checkReplay fetches the run's history and replays it against the current
// interpreter; with DRCTL_UPDATE_HISTORY=1 it also saves it as the history
// that workflows' replay test keeps running after future changes.
func checkReplay(t *testing.T, address, id string) {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: address, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "history.json")
	if os.Getenv("DRCTL_UPDATE_HISTORY") != "" {
		file = filepath.Join(Root(), "workflows", "testdata", "approval-run.history.json")
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.WorkflowName})
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
		t.Fatalf("the run's own history does not replay: %v", err)
	}
}

// TestWorkerKilledMidRun kills the only worker (SIGKILL) while a run is in
// its durable timer, starts a new worker, and checks the run completes with
// no completed step run twice.
func TestWorkerKilledMidRun(t *testing.T) {
	dev := StartDev(t, filepath.Join(t.TempDir(), "temporal.db"), 0, "--no-worker")
	env := dev.Env()
	first := Start(t, env, "worker")
	first.WaitFor(t, "worker on", 30*time.Second)
	id := runPlan(t, env, "--param", "pause=5s")
	waitState(t, env, id, "pause", workflows.StateRunning)
	if !strings.Contains(first.Output(), "hello-ana") {
		t.Fatalf("the first step did not run on the first worker:\n%s", first.Output())
	}
	first.Kill()

	second := Start(t, env, "worker")
	waitState(t, env, id, "gate", workflows.StateWaiting)
	approveWhenOpen(t, env, id, "chen")
	waitState(t, env, id, "cleanup", workflows.StateSucceeded)
	all := first.Output() + second.Output()
	for _, msg := range []string{"hello-ana", "bye-chen", "message=cleanup"} {
		if n := strings.Count(all, msg); n != 1 {
			t.Errorf("%q ran %d times across the two workers:\n--- first\n%s\n--- second\n%s", msg, n, first.Output(), second.Output())
		}
	}
}

// TestServerRestartWhileWaiting stops the embedded server while a run waits
// at a gate and starts it again on the same database file: the run is still
// there, takes the vote, and completes.
func TestServerRestartWhileWaiting(t *testing.T) {
	db := filepath.Join(t.TempDir(), "temporal.db")
	dev := StartDev(t, db, 0)
	id := runPlan(t, dev.Env())
	waitState(t, dev.Env(), id, "gate", workflows.StateWaiting)
	dev.Stop()

	dev = StartDev(t, db, 0)
	env := dev.Env()
	if st := status(t, env, id); stepState(st, "gate") != workflows.StateWaiting || stepState(st, "hello") != workflows.StateSucceeded {
		t.Fatalf("after the restart: %+v", st)
	}
	approveWhenOpen(t, env, id, "ben")
	waitState(t, env, id, "cleanup", workflows.StateSucceeded)
	if strings.Contains(dev.Output(), "hello-ana") {
		t.Errorf("the step before the restart ran again:\n%s", dev.Output())
	}
}

// approveWhenOpen votes as user, retrying while the gate is not open yet.
// A status query can run ahead of the run's committed history (a new worker
// replays it to answer), so "waiting" may be seen a moment before the gate
// takes votes; the refusal says so, and nothing else is retried.
func approveWhenOpen(t *testing.T, env []string, id, user string) {
	t.Helper()
	Eventually(t, 60*time.Second, func() bool {
		code, out := Run(t, env, "approve", id, "--as", user)
		if code != 0 && !strings.Contains(out, "no approval gate is open") {
			t.Fatalf("approve as %s: exit %d\n%s", user, code, out)
		}
		return code == 0
	}, "the gate to take %s's vote", user)
}

// TestOperatorControlsThroughCLI pauses on failing steps and drives the run
// with drctl retry, skip and cancel; finally still runs after the cancel.
func TestOperatorControlsThroughCLI(t *testing.T) {
	dev := StartDev(t, filepath.Join(t.TempDir(), "temporal.db"), 0)
	env := dev.Env()
	id := runFile(t, env, "testsuite/testdata/operator.yaml")
	waitState(t, env, id, "first", workflows.StatePaused)
	if st := status(t, env, id); !strings.Contains(st.Steps[0].Error, "exited with 1") {
		t.Fatalf("the paused step does not say why: %+v", st.Steps[0])
	}
	if code, out := Run(t, env, "skip", id, "middle", "--as", "ops", "--reason", "x"); code != 1 || !strings.Contains(out, "not paused") {
		t.Errorf("skip of a pending step: exit %d, %q", code, out)
	}
	if code, out := Run(t, env, "skip", id, "first", "--as", "ops"); code != 1 || !strings.Contains(out, "needs a reason") {
		t.Errorf("skip without a reason: exit %d, %q", code, out)
	}
	if code, out := Run(t, env, "retry", id, "first", "--as", "ops"); code != 0 {
		t.Fatalf("retry: exit %d\n%s", code, out)
	}
	Eventually(t, 60*time.Second, func() bool {
		st := status(t, env, id)
		return stepState(st, "first") == workflows.StatePaused && st.Steps[0].Attempts == 2
	}, "the retried step to fail and pause again")
	if code, out := Run(t, env, "skip", id, "first", "--as", "ops", "--reason", "report written by hand"); code != 0 {
		t.Fatalf("skip: exit %d\n%s", code, out)
	}
	waitState(t, env, id, "last", workflows.StatePaused)
	if code, out := Run(t, env, "cancel", id); code != 0 {
		t.Fatalf("cancel: exit %d\n%s", code, out)
	}
	waitState(t, env, id, "cleanup", workflows.StateSucceeded)
	st := status(t, env, id)
	if st.State != "cancelled" || stepState(st, "first") != workflows.StateSkipped || stepState(st, "middle") != workflows.StateSucceeded {
		t.Fatalf("after cancel: %+v", st)
	}
	if !strings.Contains(dev.Output(), "cleanup-ran") {
		t.Errorf("finally did not run:\n%s", dev.Output())
	}
	// The run never reached a report step of its own; its evidence is
	// still there to write.
	md := reportOf(t, env, id)
	for _, want := range []string{"| ended | cancelled at ", "| first | exec | skipped | ", "report written by hand", "to the end of the run (no verification)"} {
		if !strings.Contains(md, want) {
			t.Errorf("drctl report: report.md lacks %q:\n%s", want, md)
		}
	}
	if code, out := Run(t, env, "report", id, "--format", "pdf"); code != 2 || !strings.Contains(out, `"pdf"`) {
		t.Errorf("report --format pdf: exit %d, %q", code, out)
	}
	if code, out := Run(t, env, "report", "no-such-run", "--dir", t.TempDir()); code != 1 || !strings.Contains(out, "no-such-run") {
		t.Errorf("report of an unknown run: exit %d, %q", code, out)
	}
}

// reportOf writes a run's report with drctl report, as Markdown and HTML,
// and returns the Markdown.
func reportOf(t *testing.T, env []string, id string) string {
	t.Helper()
	dir := t.TempDir()
	code, out := Run(t, env, "report", id, "--dir", dir, "--format", "markdown", "--format", "html")
	if code != 0 {
		t.Fatalf("drctl report: exit %d\n%s", code, out)
	}
	html, err := os.ReadFile(filepath.Join(dir, id, "report.html"))
	if err != nil || !strings.Contains(string(html), "<h2>Timeline</h2>") {
		t.Errorf("drctl report wrote no HTML report (%v):\n%s", err, out)
	}
	md, err := os.ReadFile(filepath.Join(dir, id, "report.md"))
	if err != nil {
		t.Fatalf("drctl report: %v\n%s", err, out)
	}
	return string(md)
}

// TestStatusShowsProgress: a running step's heartbeat (here, how many
// times a wait has polled its check) shows in drctl status.
func TestStatusShowsProgress(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	dev := StartDev(t, filepath.Join(t.TempDir(), "temporal.db"), 0)
	env := dev.Env()
	id := runFile(t, env, "testsuite/testdata/progress.yaml", "--param", "url="+srv.URL)
	Eventually(t, 60*time.Second, func() bool {
		for _, s := range status(t, env, id).Steps {
			if s.ID == "wait_ready" && strings.Contains(s.Progress, `"polls"`) {
				return true
			}
		}
		return false
	}, "the wait step's progress in drctl status")
	if _, out := Run(t, env, "status", id); !strings.Contains(out, "waiting polls ") {
		t.Errorf("drctl status does not say the progress in words:\n%s", out)
	}
	// Piped, --follow prints the status once and then a line an event.
	follow := Start(t, env, "status", id, "--follow")
	follow.WaitFor(t, "timeline:", 30*time.Second)
	ready.Store(true)
	waitState(t, env, id, "wait_ready", workflows.StateSucceeded)
	follow.WaitFor(t, id+" succeeded", 30*time.Second)
	out := follow.Output()
	if n := strings.Count(out, "e2e-progress on staging —"); n != 1 {
		t.Errorf("status --follow drew the status %d times:\n%s", n, out)
	}
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  wait_ready  succeeded`).MatchString(out) {
		t.Errorf("status --follow has no line for the step's end:\n%s", out)
	}
}

// TestDrillSchedule schedules a drill on a target environment, runs it
// once right away, and refuses a drill on a source environment.
func TestDrillSchedule(t *testing.T) {
	dev := StartDev(t, filepath.Join(t.TempDir(), "temporal.db"), 0)
	env := dev.Env()
	code, out := Run(t, env, "drill", "testsuite/testdata/drill.yaml", "--env", "staging", "--cron", "0 3 * * *", "--now")
	if code != 0 || !strings.Contains(out, "schedule drill-e2e-drill-staging") {
		t.Fatalf("drill: exit %d\n%s", code, out)
	}
	dev.WaitFor(t, "drill ran", 60*time.Second)
	// Paused, it stays paused when scheduled again with a new time.
	if code, out := Run(t, env, "drill", "pause", "e2e-drill-staging"); code != 0 || !strings.Contains(out, "drill-e2e-drill-staging: pause by") {
		t.Fatalf("pause: exit %d\n%s", code, out)
	}
	if code, out := Run(t, env, "drill", "testsuite/testdata/drill.yaml", "--env", "staging", "--cron", "0 4 * * *"); code != 0 || !strings.Contains(out, "updated") {
		t.Fatalf("re-scheduling: exit %d\n%s", code, out)
	}
	var drills []map[string]any
	Eventually(t, 30*time.Second, func() bool {
		code, out := Run(t, env, "drill", "list", "--json")
		drills = nil
		return code == 0 && json.Unmarshal([]byte(out), &drills) == nil && len(drills) == 1 && drills[0]["last_success"] != nil
	}, "the drill and its success in drill list: %v", drills)
	if d := drills[0]; d["id"] != "drill-e2e-drill-staging" || d["paused"] != true || fmt.Sprint(d["cron"]) != "[0 4 * * *]" || d["overdue"] != false {
		t.Fatalf("drill list: %v", d)
	}
	// The listing of staging's backups says how the drills on it stand.
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "backups"), 0o755)
	cfg := filepath.Join(dir, "drctl.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("environments:\n  staging:\n    role: target\n    database: {name: register, url: env:X}\n"+
		"    stores: {backups: {type: local, path: %q}}\n", filepath.Join(dir, "backups"))), 0o644)
	if code, out := Run(t, env, "--config", cfg, "backups", "--env", "staging"); code != 0 || !strings.Contains(out, "drill drill-e2e-drill-staging: paused, last success 20") {
		t.Fatalf("drctl backups: exit %d\n%s", code, out)
	}
	if code, out := Run(t, env, "drill", "resume", "drill-e2e-drill-staging"); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	if code, out := Run(t, env, "drill", "trigger", "e2e-drill-staging"); code != 0 {
		t.Fatalf("trigger: exit %d\n%s", code, out)
	}
	var runs []map[string]any
	Eventually(t, 60*time.Second, func() bool {
		code, out := Run(t, env, "drill", "history", "e2e-drill-staging", "--json")
		runs = nil
		return code == 0 && json.Unmarshal([]byte(out), &runs) == nil && len(runs) == 2 && runs[0]["state"] == workflows.StateSucceeded
	}, "two runs in drill history: %v", runs)
	if runs[0]["rto"] == nil || runs[0]["drill"] != "drill-e2e-drill-staging" {
		t.Fatalf("drill history: %v", runs)
	}
	if code, out := Run(t, env, "drill", "delete", "e2e-drill-staging"); code != 0 {
		t.Fatalf("delete: exit %d\n%s", code, out)
	}
	if code, out := Run(t, env, "drill", "list"); code != 0 || strings.Contains(out, "drill-e2e-drill-staging") {
		t.Fatalf("after delete: exit %d\n%s", code, out)
	}
	if code, out := Run(t, env, "drill", "testsuite/testdata/drill.yaml", "--env", "production"); code != 1 || !strings.Contains(out, "drills run on target environments") {
		t.Fatalf("drill on production: exit %d\n%s", code, out)
	}
}

// TestExpressionBombFailsOnlyItsStep runs a step whose input would build
// 20 GB from an earlier step's output: that step fails on its budget, the
// run ends as any failed run does, and drctl dev stays up, before and
// after a restart that replays the run.
func TestExpressionBombFailsOnlyItsStep(t *testing.T) {
	db := filepath.Join(t.TempDir(), "temporal.db")
	dev := StartDev(t, db, 0)
	id := runFile(t, dev.Env(), "testsuite/testdata/bomb.yaml")
	waitState(t, dev.Env(), id, "cleanup", workflows.StateSucceeded)
	st := status(t, dev.Env(), id)
	var bomb workflows.StepStatus
	for _, s := range st.Steps {
		if s.ID == "bomb" {
			bomb = s
		}
	}
	if st.State != workflows.StateFailed || bomb.State != workflows.StateFailed || !strings.Contains(bomb.Error, "memory budget") {
		t.Fatalf("after the bomb: %+v", st)
	}
	dev.Stop()
	dev = StartDev(t, db, 0)
	if st := status(t, dev.Env(), id); st.State != workflows.StateFailed {
		t.Fatalf("after a restart: %+v", st)
	}
	// The restarted server still runs work.
	next := runPlan(t, dev.Env())
	waitState(t, dev.Env(), next, "gate", workflows.StateWaiting)
}

// TestCancelStopsTheStepFirst cancels a run while its step works: the
// step's process is killed, and finally starts only after the step has
// stopped, never beside it.
func TestCancelStopsTheStepFirst(t *testing.T) {
	dev := StartDev(t, filepath.Join(t.TempDir(), "temporal.db"), 0)
	env := dev.Env()
	pidfile := filepath.Join(t.TempDir(), "pid")
	id := runFile(t, env, "testsuite/testdata/cancel.yaml", "--param", "pidfile="+pidfile)
	var pid int
	Eventually(t, 60*time.Second, func() bool {
		b, err := os.ReadFile(pidfile)
		return err == nil && func() bool { _, err := fmt.Sscan(string(b), &pid); return err == nil }()
	}, "the step's process to start")
	if code, out := Run(t, env, "cancel", id); code != 0 {
		t.Fatalf("cancel: exit %d\n%s", code, out)
	}
	waitState(t, env, id, "cleanup", workflows.StateSucceeded)
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("the step's process %d outlived the cancel", pid)
	}
	st := status(t, env, id)
	var stopped, cleanup time.Time
	for _, e := range st.Timeline {
		if e.Step == "long" && e.Kind == "failed" {
			stopped = e.At
		}
		if e.Step == "cleanup" && e.Kind == "started" {
			cleanup = e.At
		}
	}
	if stopped.IsZero() || cleanup.IsZero() || cleanup.Before(stopped) {
		t.Fatalf("finally started at %v, the cancelled step stopped at %v:\n%+v", cleanup, stopped, st.Timeline)
	}
}

// TestRunIDsByPrefixAndCompletion: a run is named by any start of its id
// no other run shares; an ambiguous one lists the runs it could be; the
// shell's completion offers the server's run ids.
func TestRunIDsByPrefixAndCompletion(t *testing.T) {
	dev := StartDev(t, filepath.Join(t.TempDir(), "temporal.db"), 0)
	env := dev.Env()
	first, second := runPlan(t, env), runPlan(t, env)
	waitState(t, env, second, "gate", workflows.StateWaiting)
	// The two share their runbook and environment, and differ in their
	// last characters.
	common := 0
	for common < len(first) && first[common] == second[common] {
		common++
	}
	if code, out := Run(t, env, "status", first[:common+1]); code != 0 || !strings.Contains(out, "e2e-gate on staging") {
		t.Fatalf("status by a unique prefix: exit %d\n%s", code, out)
	}
	if code, out := Run(t, env, "status", first[:common]); code != 1 || !strings.Contains(out, "is the start of 2 runs") ||
		!strings.Contains(out, first) || !strings.Contains(out, second) {
		t.Fatalf("status by an ambiguous prefix: exit %d\n%s", code, out)
	}
	if code, out := Run(t, env, "status", "no-such-run"); code != 1 || !strings.Contains(out, "no run no-such-run") {
		t.Fatalf("status of no run: exit %d\n%s", code, out)
	}
	var listed []map[string]any
	if code, out := Run(t, env, "list", "--json"); code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 || listed[0]["status"] != "running" {
		t.Fatalf("list --json: exit %d\n%s", code, out)
	}
	// Temporal's own client settings reach the server too: a profile of
	// its config file, with no TEMPORAL_ADDRESS set.
	toml := filepath.Join(t.TempDir(), "temporal.toml")
	os.WriteFile(toml, []byte(fmt.Sprintf("[profile.ops]\naddress = %q\nnamespace = \"default\"\n", dev.Address)), 0o644)
	if code, out := Run(t, []string{"TEMPORAL_CONFIG_FILE=" + toml}, "list", "--profile", "ops"); code != 0 || !strings.Contains(out, first) {
		t.Errorf("list through a profile of Temporal's config file: exit %d\n%s", code, out)
	}
	if code, out := Run(t, []string{"TEMPORAL_CONFIG_FILE=" + toml}, "list", "--profile", "nope"); code != 1 || !strings.Contains(out, "nope") {
		t.Errorf("list through a profile that does not exist: exit %d\n%s", code, out)
	}
	// The binary says which commit it was built from.
	if code, out := Run(t, env, "--version"); code != 0 || !strings.Contains(out, "commit ") {
		t.Errorf("drctl --version: exit %d, %q", code, out)
	}
	code, out := Run(t, env, "__complete", "status", first[:common])
	if code != 0 || !strings.Contains(out, first) || !strings.Contains(out, second) {
		t.Fatalf("completion: exit %d\n%s", code, out)
	}
}
