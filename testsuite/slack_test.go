package testsuite

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"golang.org/x/crypto/ssh"

	"github.com/drctl/drctl/workflows"
)

const signingSecret = "8f14e45fceea167a5a36dedd4bea2543"

// slackWorld is a fake Slack (slacktest with our own handlers recording
// what drctl sends) and a drctl dev whose Slack app points at it.
type slackWorld struct {
	t        *testing.T
	fake     *slacktest.Server
	mu       sync.Mutex
	posts    []url.Values
	views    []map[string]any
	answers  []map[string]any
	dev      *Dev
	env      []string
	endpoint string
}

func newSlackWorld(t *testing.T) *slackWorld {
	w := &slackWorld{t: t}
	w.fake = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(rw http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			w.mu.Lock()
			w.posts = append(w.posts, r.Form)
			n := len(w.posts)
			w.mu.Unlock()
			json.NewEncoder(rw).Encode(map[string]any{"ok": true, "channel": "C1", "ts": fmt.Sprintf("1700000000.%06d", n)})
		})
		c.Handle("/views.open", func(rw http.ResponseWriter, r *http.Request) {
			var m map[string]any // views.open is sent as JSON
			json.NewDecoder(r.Body).Decode(&m)
			w.mu.Lock()
			w.views = append(w.views, m)
			w.mu.Unlock()
			json.NewEncoder(rw).Encode(map[string]any{"ok": true, "view": map[string]any{"id": "V1"}})
		})
		c.Handle("/chat.getPermalink", func(rw http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			json.NewEncoder(rw).Encode(map[string]any{"ok": true, "channel": "C1",
				"permalink": "https://example.slack.com/archives/C1/p" + strings.ReplaceAll(r.Form.Get("message_ts"), ".", "")})
		})
		c.Handle("/users.info", func(rw http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			id := r.Form.Get("user")
			json.NewEncoder(rw).Encode(map[string]any{"ok": true, "user": map[string]any{"id": id,
				"profile": map[string]any{"email": strings.ToLower(id) + "@example.org"}}})
		})
		c.Handle("/respond", func(rw http.ResponseWriter, r *http.Request) {
			var m map[string]any
			json.NewDecoder(r.Body).Decode(&m)
			w.mu.Lock()
			w.answers = append(w.answers, m)
			w.mu.Unlock()
		})
	})
	w.fake.Start()
	t.Cleanup(w.fake.Stop)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "drctl.yaml")
	// serve vouches, with its own key, for the Slack users it checked.
	voucher, voucherKey := writeKey(t, dir, "voucher")
	os.WriteFile(cfg, []byte(`voucher: {ssh_keys: ["`+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(voucher)))+`"], key: "file:`+voucherKey+`"}
slack:
  signing_secret: env:DRCTL_TEST_SIGNING
  token: env:DRCTL_TEST_SLACK
  users: {U_ANA: ana, U_BEN: ben, U_CHEN: chen}
  identity: email
  starters: {staging: ["ben", "u_erin@example.org"]}
  runbooks: testsuite/testdata
environments:
  staging:
    role: target
    database: {name: register, url: "env:DRCTL_TEST_UNUSED"}
    slack: {channel: "#incident", token: "env:DRCTL_TEST_SLACK"}
`), 0o644)
	w.env = []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_SIGNING=" + signingSecret, "DRCTL_TEST_SLACK=xoxb-test-token",
		"DRCTL_SLACK_API_URL=" + w.fake.GetAPIURL()}
	listen := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	w.dev = StartDevEnv(t, w.env, filepath.Join(dir, "temporal.db"), 0, "--listen", listen)
	w.env = append(w.env, w.dev.Env()...)
	w.endpoint = "http://" + listen
	return w
}

func (w *slackWorld) run(file string) string {
	w.t.Helper()
	args := []string{"run", "testsuite/testdata/" + file, "--env", "staging", "--as", "ana"}
	code, out := Run(w.t, w.env, args...)
	if code != 0 || runIDOf(out) == "" {
		w.t.Fatalf("drctl run: %d\n%s", code, out)
	}
	return runIDOf(out)
}

func (w *slackWorld) status(id string) workflows.Status {
	w.t.Helper()
	code, out := Run(w.t, w.env, "status", id, "--json")
	if code != 0 {
		w.t.Fatalf("status: %s", out)
	}
	var st workflows.Status
	json.Unmarshal([]byte(out), &st)
	return st
}

// send signs form as the Slack app would (at ts, with secret) and posts it
// to path; it returns the status and the body of the answer.
func (w *slackWorld) send(path string, form url.Values, ts time.Time, secret string, retry int) (int, string) {
	w.t.Helper()
	body := form.Encode()
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts.Unix(), body)
	req, _ := http.NewRequest("POST", w.endpoint+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(ts.Unix()))
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", fmt.Sprint(retry))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

// click is a button press by a Slack user on a run's gate.
func (w *slackWorld) click(run, user, action, actionTS string) url.Values {
	value, _ := json.Marshal(map[string]string{"run": run, "gate": "gate"})
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "trigger_id": "T-" + actionTS, "response_url": w.fake.GetAPIURL() + "respond",
		"user":    map[string]any{"id": user},
		"actions": []map[string]any{{"action_id": action, "block_id": "drctl_gate_gate", "value": string(value), "action_ts": actionTS}},
	})
	return url.Values{"payload": {string(payload)}}
}

func (w *slackWorld) lastAnswer() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.answers) == 0 {
		return ""
	}
	b, _ := json.Marshal(w.answers[len(w.answers)-1])
	return string(b)
}

func (w *slackWorld) votes(id string) int {
	st := w.status(id)
	if len(st.Gates) == 0 {
		return -1
	}
	return len(st.Gates[0].Votes)
}

func waitGate(t *testing.T, w *slackWorld, id string) {
	t.Helper()
	Eventually(t, 60*time.Second, func() bool {
		st := w.status(id)
		return len(st.Gates) > 0 && st.Gates[0].Open
	}, "gate of %s to open", id)
}

// TestSlackApprovals drives approval gates with signed button clicks to
// the real endpoint: forged, stale and replayed requests, strangers, the
// initiator and double clicks change nothing and say why; two approvals
// move the run on; a rejection asks why and records it.
func TestSlackApprovals(t *testing.T) {
	w := newSlackWorld(t)
	id := w.run("slack-gate.yaml")
	waitGate(t, w, id)
	Eventually(t, 30*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, p := range w.posts {
			if strings.Contains(p.Get("blocks"), "drctl_approve") && p.Get("thread_ts") != "" {
				return true
			}
		}
		return false
	}, "the approval prompt with buttons in the run's thread")

	now := time.Now()
	if code, _ := w.send("/slack/interactions", w.click(id, "U_BEN", "drctl_approve", "1.1"), now, "wrong-secret", 0); code != 401 {
		t.Errorf("forged signature: %d", code)
	}
	if code, _ := w.send("/slack/interactions", w.click(id, "U_BEN", "drctl_approve", "1.2"), now.Add(-10*time.Minute), signingSecret, 0); code != 401 {
		t.Errorf("stale timestamp: %d", code)
	}
	if n := w.votes(id); n != 0 {
		t.Fatalf("refused requests changed the gate: %d votes", n)
	}
	for _, tc := range []struct{ user, want string }{
		{"U_MALLORY", "not an approver"},
		{"U_ANA", "may not approve"},
	} {
		w.send("/slack/interactions", w.click(id, tc.user, "drctl_approve", "2."+tc.user), now, signingSecret, 0)
		Eventually(t, 10*time.Second, func() bool { return strings.Contains(w.lastAnswer(), tc.want) }, "a refusal saying %q", tc.want)
	}
	ben := w.click(id, "U_BEN", "drctl_approve", "3.1")
	if code, _ := w.send("/slack/interactions", ben, now, signingSecret, 0); code != 200 {
		t.Fatalf("ben's approval: %d", code)
	}
	Eventually(t, 10*time.Second, func() bool { return strings.Contains(w.lastAnswer(), "approved by ben (1 of 2)") }, "the updated prompt")
	w.send("/slack/interactions", ben, now, signingSecret, 1) // Slack's retry of the same click
	if n := w.votes(id); n != 1 {
		t.Fatalf("a retried click counted twice: %d votes", n)
	}
	w.send("/slack/interactions", w.click(id, "U_BEN", "drctl_approve", "3.2"), now, signingSecret, 0)
	Eventually(t, 10*time.Second, func() bool { return strings.Contains(w.lastAnswer(), "already voted") }, "double click refused")
	w.send("/slack/interactions", w.click(id, "U_CHEN", "drctl_approve", "4.1"), now, signingSecret, 0)
	Eventually(t, 30*time.Second, func() bool { return w.status(id).State == workflows.StateSucceeded }, "the run to finish after two approvals")
	if code, out := Run(t, w.env, "report", "--verify", id); code != 0 || strings.Count(out, "via slack") != 2 {
		t.Errorf("report --verify of votes through Slack: exit %d\n%s", code, out)
	}
	w.send("/slack/interactions", w.click(id, "U_CHEN", "drctl_approve", "4.2"), now, signingSecret, 0)
	Eventually(t, 10*time.Second, func() bool {
		a := w.lastAnswer()
		return strings.Contains(a, "closed") || strings.Contains(a, "completed")
	}, "a click after the gate closed refused")

	// Reject: a modal asks why; the reason reaches the timeline.
	id2 := w.run("slack-gate.yaml")
	waitGate(t, w, id2)
	w.send("/slack/interactions", w.click(id2, "U_CHEN", "drctl_reject", "5.1"), now, signingSecret, 0)
	Eventually(t, 10*time.Second, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.views) == 1 }, "the reason modal")
	var meta string
	w.mu.Lock()
	view, _ := w.views[0]["view"].(map[string]any)
	meta, _ = view["private_metadata"].(string)
	if w.views[0]["trigger_id"] != "T-5.1" {
		t.Errorf("the modal was not opened for the click: %v", w.views[0]["trigger_id"])
	}
	w.mu.Unlock()
	sub, _ := json.Marshal(map[string]any{"type": "view_submission", "user": map[string]any{"id": "U_CHEN"},
		"view": map[string]any{"private_metadata": meta, "state": map[string]any{"values": map[string]any{
			"reason": map[string]any{"reason_input": map[string]any{"type": "plain_text_input", "value": "wrong backup date"}}}}}})
	if code, _ := w.send("/slack/interactions", url.Values{"payload": {string(sub)}}, time.Now(), signingSecret, 0); code != 200 {
		t.Fatalf("reason submission: %d", code)
	}
	Eventually(t, 30*time.Second, func() bool { return w.status(id2).State == workflows.StateFailed }, "the rejected run to end")
	found := false
	for _, e := range w.status(id2).Timeline {
		found = found || e.Kind == "rejected" && e.By == "chen" && strings.Contains(e.Message, "wrong backup date")
	}
	if !found {
		t.Fatalf("the reason is not in the timeline: %+v", w.status(id2).Timeline)
	}

	// A click after the gate expired is refused.
	id3 := w.run("slack-gate-expiring.yaml")
	Eventually(t, 60*time.Second, func() bool { return w.status(id3).State == workflows.StateFailed }, "the gate to expire")
	w.send("/slack/interactions", w.click(id3, "U_BEN", "drctl_approve", "6.1"), time.Now(), signingSecret, 0)
	Eventually(t, 10*time.Second, func() bool {
		a := w.lastAnswer()
		return strings.Contains(a, "expired") || strings.Contains(a, "completed")
	}, "a click after expiry refused")
}

// TestSlackSlashCommand starts a runbook from Slack, for a user allowed to
// on that environment only.
func TestSlackSlashCommand(t *testing.T) {
	w := newSlackWorld(t)
	forged := url.Values{"command": {"/drctl"}, "text": {"run slack-gate env=staging"}, "user_id": {"U_BEN"}}
	if code, _ := w.send("/slack/commands", forged, time.Now(), "forged", 0); code != 401 {
		t.Fatalf("forged command: %d", code)
	}
	body := func(user string) string { return signedCommand(t, w, "run slack-gate env=staging", user) }
	if out := body("U_CHEN"); !strings.Contains(out, "chen may not start runbooks on staging") {
		t.Fatalf("chen: %s", out)
	}
	// Erin is not in the users map: known by her Slack profile's email.
	if out := body("U_ERIN"); !strings.Contains(out, "started slack-gate on staging") {
		t.Fatalf("erin, by email: %s", out)
	}
	// The same signed command sent again within Slack's five minutes (a
	// replay) runs once.
	replayed := url.Values{"command": {"/drctl"}, "text": {"run slack-gate env=staging"}, "user_id": {"U_ERIN"}, "trigger_id": {"T-replay"}}
	at := time.Now()
	if _, out := w.send("/slack/commands", replayed, at, signingSecret, 0); !strings.Contains(out, "started slack-gate") {
		t.Fatalf("first of a replayed command: %s", out)
	}
	if _, out := w.send("/slack/commands", replayed, at, signingSecret, 0); strings.Contains(out, "started") || !strings.Contains(out, "already received") {
		t.Fatalf("replayed command: %s", out)
	}
	out := body("U_BEN")
	if !strings.Contains(out, "started slack-gate on staging as run e2e-slack-gate-staging-") ||
		!strings.Contains(out, "its thread: https://example.slack.com/archives/C1/p") {
		t.Fatalf("ben: %s", out)
	}
	// Listing reads the visibility store, which catches up a moment later.
	Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(signedCommand(t, w, "list", "U_BEN"), "e2e-slack-gate-staging-")
	}, "the new run in /drctl list")
}

// signedCommand sends a slash command as the Slack app would and returns
// the reply.
func signedCommand(t *testing.T, w *slackWorld, text, user string) string {
	t.Helper()
	_, answer := w.send("/slack/commands", url.Values{"command": {"/drctl"}, "text": {text}, "user_id": {user},
		"trigger_id": {fmt.Sprint(time.Now().UnixNano())}}, time.Now(), signingSecret, 0)
	return answer
}

// drctl dev refuses to start when the Slack app it would serve has an
// empty signing secret, instead of starting without it (or with it).
func TestDevRefusesAnEmptySigningSecret(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "drctl.yaml")
	os.WriteFile(cfg, []byte(`slack: {signing_secret: env:DRCTL_TEST_SIGNING, token: env:DRCTL_TEST_SLACK}
environments:
  staging: {role: target, database: {name: register, url: "env:DRCTL_TEST_UNUSED"}}
`), 0o644)
	env := []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_SIGNING=", "DRCTL_TEST_SLACK=xoxb-test-token"}
	code, out := Run(t, env, "dev", "--db", filepath.Join(dir, "temporal.db"), "--port", "0", "--ui-port", "-1",
		"--listen", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	if code == 0 || !strings.Contains(out, "signing_secret (env:DRCTL_TEST_SIGNING) is empty") || strings.Contains(out, "ready") {
		t.Fatalf("drctl dev with an empty signing secret: exit %d\n%s", code, out)
	}
}
