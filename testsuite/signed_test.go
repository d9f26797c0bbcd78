package testsuite

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/workflows"
)

const signedConfig = `users:
%s
environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_TEST_PROD_URL"}
    policy:
      approval: {required: true, quorum: 1, allow_initiator: false, approvers: [user:ana, user:ben]}
      on_error: pause
`

// TestSignedDecisionsThroughTheCLI runs a gate and a failing step on a
// production whose decisions are signed. Refused: a start without a
// signature, ben's vote signed with ana's key, an unsigned vote, a retry
// by someone who is not an approver. Accepted: each decision signed with
// the decider's own key; the retry's changed inputs are in the report, and
// drctl report --verify proves every decision, while a doctored saved
// report is caught at the entry changed. A key replaced in the
// environments file after a run started still counts for that run (its
// plan holds the keys it started with) and for no run started after.
func TestSignedDecisionsThroughTheCLI(t *testing.T) {
	keys, entries := PeopleWithKeys(t, "ic", "ana", "ben", "mallory")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "drctl.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(signedConfig, entries)), 0o644); err != nil {
		t.Fatal(err)
	}
	// No ssh-agent: what signs is the --key given, or nothing.
	env := []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_PROD_URL=postgres://unused/register", "SSH_AUTH_SOCK="}
	db := filepath.Join(dir, "temporal.db")
	dev := StartDevEnv(t, env, db, 0)
	cli := append(append([]string{}, env...), dev.Env()...)
	start := func(key ...string) string {
		t.Helper()
		code, out := Run(t, cli, append([]string{"run", "testsuite/testdata/signed.yaml", "--env", "production", "--as", "ic"}, key...)...)
		if code != 0 || runIDOf(out) == "" {
			t.Fatalf("drctl run: exit %d\n%s", code, out)
		}
		return runIDOf(out)
	}
	refused := func(want string, args ...string) {
		t.Helper()
		if code, out := Run(t, cli, args...); code != 1 || !strings.Contains(out, want) {
			t.Errorf("drctl %s: exit %d, want 1 and %q:\n%s", strings.Join(args, " "), code, want, out)
		}
	}

	unsigned := start()
	Eventually(t, time.Minute, func() bool { return status(t, cli, unsigned).State == workflows.StateRefused }, "an unsigned start to be refused")
	if out := outputOf(t, cli, "status", unsigned); !strings.Contains(out, "the run's start is not proven") {
		t.Errorf("the refused start does not say why:\n%s", out)
	}

	id := start("--key", keys["ic"])
	waitState(t, cli, id, "gate", workflows.StateWaiting)
	refused("is not one the environments file lists", "approve", id, "--as", "ben", "--key", keys["ana"])
	refused("takes only signed decisions", "approve", id, "--as", "ben")
	if code, out := Run(t, cli, "approve", id, "--as", "ben", "--key", keys["ben"], "--comment", "backup checked"); code != 0 {
		t.Fatalf("ben's signed vote: exit %d\n%s", code, out)
	}
	waitState(t, cli, id, "fragile", workflows.StatePaused)
	refused("mallory is not an approver", "retry", id, "fragile", "--as", "mallory", "--key", keys["mallory"], "--with", `command=["true"]`)
	// An input the step does not take is refused when the step would run
	// with it, and the step pauses again saying so.
	if code, out := Run(t, cli, "retry", id, "fragile", "--as", "ana", "--key", keys["ana"], "--with", "bogus=1"); code != 0 {
		t.Fatalf("ana's retry with an unknown input: exit %d\n%s", code, out)
	}
	Eventually(t, time.Minute, func() bool {
		st := status(t, cli, id)
		return stepState(st, "fragile") == workflows.StatePaused && strings.Contains(st.Steps[1].Error, `unknown field "bogus"`)
	}, "the retry with an unknown input to be refused and the step to pause again")
	if code, out := Run(t, cli, "retry", id, "fragile", "--as", "ana", "--key", keys["ana"], "--with", `command=["true"]`); code != 0 {
		t.Fatalf("ana's signed retry: exit %d\n%s", code, out)
	}
	waitState(t, cli, id, "done", workflows.StateSucceeded)
	md := reportOf(t, cli, id)
	for _, want := range []string{"ben approved at ", "(signed SHA256:", `with {"command":["true"]} [signed SHA256:`} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	if code, out := Run(t, cli, "report", "--verify", id); code != 0 || !strings.Contains(out, "all 4 decisions of "+id+" are proven") {
		t.Fatalf("report --verify of an honest run: exit %d\n%s", code, out)
	}
	// A saved report whose vote is made out to be ana's.
	reports := t.TempDir()
	if code, out := Run(t, cli, "report", id, "--format", "json", "--dir", reports); code != 0 {
		t.Fatalf("drctl report --format json: exit %d\n%s", code, out)
	}
	file := filepath.Join(reports, id, "report.json")
	var doc map[string]any
	b, err := os.ReadFile(file)
	if err != nil || json.Unmarshal(b, &doc) != nil {
		t.Fatalf("report.json: %v", err)
	}
	for _, e := range doc["run"].(map[string]any)["timeline"].([]any) {
		if ev := e.(map[string]any); ev["kind"] == "approved" {
			ev["by"] = "ana"
		}
	}
	b, _ = json.Marshal(doc)
	os.WriteFile(file, b, 0o644)
	code, out := Run(t, cli, "report", "--verify", file)
	if code != 1 || !strings.Contains(out, "✗") || !strings.Contains(out, "ana approved gate") {
		t.Fatalf("report --verify of a doctored report: exit %d\n%s", code, out)
	}

	// ben's key is replaced while a run waits at its gate.
	waiting := start("--key", keys["ic"])
	waitState(t, cli, waiting, "gate", workflows.StateWaiting)
	newKeys, newEntries := PeopleWithKeys(t, "ben")
	entries = strings.Replace(entries, entryOf(entries, "ben"), newEntries, 1)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(signedConfig, entries)), 0o644); err != nil {
		t.Fatal(err)
	}
	dev.Stop()
	dev = StartDevEnv(t, env, db, portOf(t, dev.Address))
	if code, out := Run(t, cli, "approve", waiting, "--as", "ben", "--key", keys["ben"]); code != 0 {
		t.Fatalf("ben's old key on a run started before it was replaced: exit %d\n%s", code, out)
	}
	later := start("--key", keys["ic"])
	waitState(t, cli, later, "gate", workflows.StateWaiting)
	refused("is not one the environments file lists", "approve", later, "--as", "ben", "--key", keys["ben"])
	if code, out := Run(t, cli, "approve", later, "--as", "ben", "--key", newKeys["ben"]); code != 0 {
		t.Fatalf("ben's new key: exit %d\n%s", code, out)
	}
}

// entryOf is the line of entries (a users: section) of name.
func entryOf(entries, name string) string {
	for _, line := range strings.SplitAfter(entries, "\n") {
		if strings.HasPrefix(line, "  "+name+":") {
			return line
		}
	}
	return ""
}
