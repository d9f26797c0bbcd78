package testsuite

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/drctl/drctl/workflows"
)

// Tokens of the API's callers in TestHTTPAPI.
const (
	anaToken = "ana-7c1e9b24f05a8d3e6b92c4f1"
	benToken = "ben-e52a0f9c83d17b64a2e9f0c5"
)

// call sends a request to the HTTP API with token (none when empty) and
// returns the status and the body.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPAPI drives an approval gate through drctl's HTTP API on the
// embedded server: no token or a wrong one is refused and changes nothing,
// the initiator's vote is refused with the run's reason, a body cannot
// vote in another's name, the token's owner approves, and a second vote
// on the closed gate is refused. serve vouches for the vote with its key,
// and drctl report --verify proves it afterwards.
func TestHTTPAPI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "drctl.yaml")
	voucher, voucherKey := writeKey(t, dir, "voucher")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`api:
  users: {ana: env:DRCTL_TEST_TOKEN_ANA, ben: env:DRCTL_TEST_TOKEN_BEN}
voucher: {ssh_keys: [%q], key: "file:%s"}
environments:
  staging:
    role: target
    database: {name: register, url: "env:DRCTL_TEST_UNUSED"}
`, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(voucher))), voucherKey)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_TOKEN_ANA=" + anaToken, "DRCTL_TEST_TOKEN_BEN=" + benToken}
	listen := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	dev := StartDevEnv(t, env, filepath.Join(dir, "temporal.db"), 0, "--listen", listen)
	env = append(env, dev.Env()...)
	if !strings.Contains(dev.Output(), "api      http://"+listen+"/api/runs/") {
		t.Errorf("drctl dev does not say where the API is:\n%s", dev.Output())
	}
	// The probes need no token: an orchestrator's checks carry none.
	for _, probe := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, "http://"+listen+probe); code != http.StatusOK {
			t.Errorf("%s of a serving endpoint: %d %s", probe, code, body)
		}
	}
	id := runFile(t, env, "testsuite/testdata/gate.yaml")
	waitState(t, env, id, "gate", workflows.StateWaiting)
	runURL := "http://" + listen + "/api/runs/" + id

	for _, tc := range []struct {
		name, method, url, token, body string
		code                           int
		want                           string
	}{
		{"status without a token", "GET", runURL, "", "", 401, "no known token"},
		{"vote with a wrong token", "POST", runURL + "/approve", "not-a-token-of-anyone", `{}`, 401, "no known token"},
		{"vote by the initiator", "POST", runURL + "/approve", anaToken, `{"comment": "mine"}`, 409, "not an approver"},
		{"vote in another's name", "POST", runURL + "/approve", anaToken, `{"user": "ben"}`, 400, `unknown field \"user\"`},
		{"vote that is not JSON", "POST", runURL + "/reject", benToken, `gate=gate`, 400, "must be JSON"},
		{"vote on a run that does not exist", "POST", runURL + "-nope/approve", benToken, `{}`, 404, "no run " + id + "-nope"},
		{"status of a run that does not exist", "GET", runURL + "-nope", benToken, "", 404, "no run"},
		{"vote on a gate that does not exist", "POST", runURL + "/approve", benToken, `{"gate": "hello"}`, 409, "hello"},
	} {
		code, body := call(t, tc.method, tc.url, tc.token, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if st := status(t, env, id); len(st.Gates) != 1 || len(st.Gates[0].Votes) != 0 || !st.Gates[0].Open {
		t.Fatalf("refused calls changed the gate: %+v", st.Gates)
	}

	code, body := call(t, "POST", runURL+"/approve", benToken, `{"gate": "gate", "comment": "counts match"}`)
	var g workflows.GateStatus
	if code != 200 || json.Unmarshal([]byte(body), &g) != nil || len(g.Votes) != 1 || g.Votes[0].User != "ben" || !g.Votes[0].Approve ||
		g.Votes[0].Signer != ssh.FingerprintSHA256(voucher) {
		t.Fatalf("ben's approval, vouched for by serve: %d %s", code, body)
	}
	if code, body := call(t, "POST", runURL+"/reject", benToken, `{"gate": "gate"}`); code != 409 || !strings.Contains(body, "closed") {
		t.Errorf("a vote after the gate closed: %d %s", code, body)
	}
	waitState(t, env, id, "cleanup", workflows.StateSucceeded)
	code, body = call(t, "GET", runURL, benToken, "")
	var st workflows.Status
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.State != workflows.StateSucceeded {
		t.Fatalf("status through the API: %d %s", code, body)
	}
	found := false
	for _, e := range st.Timeline {
		found = found || e.Step == "gate" && e.By == "ben" && strings.Contains(e.Message, "counts match")
	}
	if !found {
		t.Errorf("the API's approval is not in the timeline as ben's: %+v", st.Timeline)
	}
	if code, out := Run(t, env, "report", "--verify", id); code != 0 || !strings.Contains(out, "via api") || !strings.Contains(out, "all 1 decisions") {
		t.Errorf("report --verify of a vote through the API: exit %d\n%s", code, out)
	}
}
