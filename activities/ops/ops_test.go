package ops_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdktest "go.temporal.io/sdk/testsuite"

	"github.com/drctl/drctl/activities/ops"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/testsuite"
)

func activityEnv(o *ops.Ops) *sdktest.TestActivityEnvironment {
	var s sdktest.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(o)
	return env
}

func run[T any](t *testing.T, env *sdktest.TestActivityEnvironment, fn any, in any) (T, error) {
	t.Helper()
	var out T
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		return out, err
	}
	return out, v.Get(&out)
}

func errType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

var runCtx = stepio.RunContext{Env: "production", ID: "run-1"}

func TestExecArgvIsLiteral(t *testing.T) {
	o := &ops.Ops{}
	env := activityEnv(o)
	evil := "; rm -rf / && echo pwned $(id)"
	out, err := run[ops.ExecOutput](t, env, o.Exec, ops.ExecInput{Command: []string{"printf", "%s", evil}})
	if err != nil || out.Stdout != evil {
		t.Fatalf("got %q, %v", out.Stdout, err)
	}
}

func TestExecRedactsSecrets(t *testing.T) {
	t.Setenv("DRCTL_TEST_TOKEN", "s3cr3t-v4lue-xyz")
	o := &ops.Ops{}
	env := activityEnv(o)
	out, err := run[ops.ExecOutput](t, env, o.Exec, ops.ExecInput{
		Command: []string{"sh", "-c", `echo "token is $TOKEN"; echo "again $TOKEN" >&2; exit 3`},
		Secrets: map[string]secret.Ref{"TOKEN": "env:DRCTL_TEST_TOKEN"}, ExitCodes: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.Stdout+out.Stderr, "s3cr3t") || !strings.Contains(out.Stdout, "token is [redacted]") || out.ExitCode != 3 {
		t.Fatalf("%+v", out)
	}
	// The failure message is redacted too.
	_, err = run[ops.ExecOutput](t, env, o.Exec, ops.ExecInput{Command: []string{"sh", "-c", `echo "bad $TOKEN" >&2; exit 1`},
		Secrets: map[string]secret.Ref{"TOKEN": "env:DRCTL_TEST_TOKEN"}})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error: %v", err)
	}
	// The worker's own environment does not leak into commands.
	out, _ = run[ops.ExecOutput](t, env, o.Exec, ops.ExecInput{Command: []string{"sh", "-c", `echo "[$DRCTL_TEST_TOKEN]"`}})
	if strings.TrimSpace(out.Stdout) != "[]" {
		t.Fatalf("worker environment leaked: %q", out.Stdout)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	o := &ops.Ops{}
	env := activityEnv(o)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	_, err := run[ops.ExecOutput](t, env, o.Exec, ops.ExecInput{
		Command: []string{"sh", "-c", "sleep 300 & echo $! > " + pidFile + "; wait"}, Timeout: stepio.Duration(500 * time.Millisecond)})
	if err == nil || !strings.Contains(err.Error(), "did not finish in time") {
		t.Fatalf("timeout: %v", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	testsuite.Eventually(t, 10*time.Second, func() bool {
		// A killed child that is not reaped yet is a zombie: gone all the same.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(st), ") Z ") || syscall.Kill(pid, 0) != nil
	}, "the background child %d to be killed with its group", pid)
}

func TestExecErrors(t *testing.T) {
	o := &ops.Ops{}
	env := activityEnv(o)
	_, err := run[ops.ExecOutput](t, env, o.Exec, ops.ExecInput{Command: []string{"no-such-command-drctl"}})
	if errType(err) != "NotFound" || !strings.Contains(err.Error(), "no-such-command-drctl") {
		t.Fatalf("missing command: %v", err)
	}
	out, err := run[ops.ExecOutput](t, env, o.Exec, ops.ExecInput{Command: []string{"echo", `{"plan": {"add": 2}}`}, ParseJSON: true})
	if err != nil || fmt.Sprint(out.JSON) != "map[plan:map[add:2]]" {
		t.Fatalf("json: %v %v", out.JSON, err)
	}
	_, err = run[ops.ExecOutput](t, env, o.Exec, ops.ExecInput{Command: []string{"echo", "not json"}, ParseJSON: true})
	if errType(err) != "BadOutput" {
		t.Fatalf("bad json: %v", err)
	}
}

func TestHTTPStep(t *testing.T) {
	t.Setenv("DRCTL_TEST_KEY", "header-secret-123")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/missing" {
			w.WriteHeader(404)
		}
		json.NewEncoder(w).Encode(map[string]string{"auth": r.Header.Get("X-Key"), "body": string(body), "method": r.Method})
	}))
	defer srv.Close()
	o := &ops.Ops{}
	env := activityEnv(o)
	out, err := run[ops.HTTPOutput](t, env, o.HTTP, ops.HTTPInput{Method: "POST", URL: srv.URL + "/x", Body: map[string]any{"a": 1},
		SecretHeaders: map[string]secret.Ref{"X-Key": "env:DRCTL_TEST_KEY"}})
	if err != nil || out.Status != 200 || strings.Contains(out.Body, "header-secret") {
		t.Fatalf("%+v %v", out, err)
	}
	if m, _ := out.JSON.(map[string]any); m["body"] != `{"a":1}` || m["auth"] != "[redacted]" || m["method"] != "POST" {
		t.Fatalf("json: %+v", out.JSON)
	}
	_, err = run[ops.HTTPOutput](t, env, o.HTTP, ops.HTTPInput{URL: srv.URL + "/missing"})
	if err == nil || !strings.Contains(err.Error(), "answered 404") {
		t.Fatalf("404: %v", err)
	}
	if _, err := run[ops.HTTPOutput](t, env, o.HTTP, ops.HTTPInput{URL: srv.URL + "/missing", ExpectStatus: []int{404}}); err != nil {
		t.Fatalf("expected 404: %v", err)
	}
}

func TestMaintenanceFileAndHTTP(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "maintenance.flag")
	t.Setenv("DRCTL_TEST_MTOKEN", "m-token-456")
	var mu sync.Mutex
	on, auth := false, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/toggle":
			var b struct{ Enabled bool }
			json.NewDecoder(r.Body).Decode(&b)
			on, auth = b.Enabled, r.Header.Get("Authorization")
		case "/health":
			if on {
				w.WriteHeader(503)
			}
		}
	}))
	defer srv.Close()
	targets := map[string]*ops.Target{
		"file": {Name: "file", Maintenance: &ops.MaintenanceConfig{Provider: "file", File: flag}},
		"http": {Name: "http", Maintenance: &ops.MaintenanceConfig{Provider: "http", URL: srv.URL + "/toggle", Token: "env:DRCTL_TEST_MTOKEN", HealthURL: srv.URL + "/health"}},
	}
	o := &ops.Ops{Targets: func(env string) (*ops.Target, error) { return targets[env], nil }}
	env := activityEnv(o)
	for _, name := range []string{"file", "http"} {
		rc := stepio.RunContext{Env: name}
		out, err := run[ops.MaintenanceOutput](t, env, o.MaintenanceEnable, ops.MaintenanceInput{Message: "restoring", Run: rc})
		if err != nil || !out.Enabled {
			t.Fatalf("%s enable: %+v %v", name, out, err)
		}
		if _, err := run[ops.MaintenanceOutput](t, env, o.MaintenanceDisable, ops.MaintenanceInput{Run: rc}); err != nil {
			t.Fatalf("%s disable: %v", name, err)
		}
	}
	if _, err := os.Stat(flag); !os.IsNotExist(err) {
		t.Fatal("the flag file is still there")
	}
	if auth != "Bearer m-token-456" || on {
		t.Fatalf("toggle saw auth %q, on=%v", auth, on)
	}
}

// fakeGitHub implements the branch protection endpoints drctl uses, and
// keeps the protection in the shape GitHub shows it.
type fakeGitHub struct {
	mu         sync.Mutex
	protection map[string]any
	requests   []string
}

func (g *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer gh-token" {
		w.WriteHeader(401)
		return
	}
	switch r.Method {
	case "GET":
		if g.protection == nil {
			w.WriteHeader(404)
			return
		}
		json.NewEncoder(w).Encode(g.protection)
	case "DELETE":
		g.protection = nil
		w.WriteHeader(204)
	case "PUT":
		var put map[string]any
		json.NewDecoder(r.Body).Decode(&put)
		shown := map[string]any{}
		for k, v := range put {
			switch b := v.(type) {
			case bool:
				shown[k] = map[string]any{"enabled": b}
			case nil:
			default:
				if k == "restrictions" {
					m := b.(map[string]any)
					users := []any{}
					for _, u := range m["users"].([]any) {
						users = append(users, map[string]any{"login": u})
					}
					shown[k] = map[string]any{"users": users, "teams": []any{}, "apps": []any{}}
					continue
				}
				shown[k] = v
			}
		}
		g.protection = shown
		json.NewEncoder(w).Encode(shown)
	}
}

func TestGitHubFreezeRestoresExactly(t *testing.T) {
	gh := &fakeGitHub{protection: map[string]any{
		"required_status_checks": map[string]any{"strict": true, "contexts": []any{"ci/test"}},
		"enforce_admins":         map[string]any{"enabled": true},
		"restrictions":           map[string]any{"users": []any{map[string]any{"login": "release-bot"}}, "teams": []any{}, "apps": []any{}},
		"allow_force_pushes":     map[string]any{"enabled": false},
		"lock_branch":            map[string]any{"enabled": false},
	}}
	before, _ := json.Marshal(gh.protection)
	srv := httptest.NewServer(gh)
	defer srv.Close()
	t.Setenv("DRCTL_TEST_GH", "gh-token")
	target := &ops.Target{Name: "production", Pipeline: &ops.PipelineConfig{Provider: "github", BaseURL: srv.URL, Repository: "example/register", Branch: "main", Token: "env:DRCTL_TEST_GH"}}
	o := &ops.Ops{Targets: func(string) (*ops.Target, error) { return target, nil }}
	env := activityEnv(o)
	frozen, err := run[ops.FreezeOutput](t, env, o.Freeze, ops.FreezeInput{Reason: "restore", Run: runCtx})
	if err != nil || !frozen.Frozen || frozen.AlreadyFrozen {
		t.Fatalf("freeze: %+v %v", frozen, err)
	}
	if lock, _ := gh.protection["lock_branch"].(map[string]any); lock["enabled"] != true {
		t.Fatalf("branch not locked: %v", gh.protection)
	}
	// A retry after a crash between the change and the record: the state
	// saved in the heartbeat is the original one.
	env.SetHeartbeatDetails(ops.FreezeOutput{Provider: "github", Branch: "main", Previous: frozen.Previous})
	again, err := run[ops.FreezeOutput](t, env, o.Freeze, ops.FreezeInput{Run: runCtx})
	if err != nil || !reflect.DeepEqual(again.Previous, frozen.Previous) {
		t.Fatalf("freeze retried: %+v %v", again, err)
	}
	for range 2 { // unfreeze twice: safe
		if _, err := run[ops.UnfreezeOutput](t, env, o.Unfreeze, ops.UnfreezeInput{Freeze: &frozen, Run: runCtx}); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := json.Marshal(gh.protection)
	if string(after) != string(before) {
		t.Fatalf("protection not restored exactly:\nbefore %s\nafter  %s", before, after)
	}

	// An unprotected branch is protected (locked) and then unprotected again.
	gh.protection = nil
	env2 := activityEnv(o)
	frozen, err = run[ops.FreezeOutput](t, env2, o.Freeze, ops.FreezeInput{Run: runCtx})
	if err != nil || gh.protection == nil {
		t.Fatalf("freeze of an unprotected branch: %v", err)
	}
	if _, err := run[ops.UnfreezeOutput](t, env2, o.Unfreeze, ops.UnfreezeInput{Freeze: &frozen, Run: runCtx}); err != nil || gh.protection != nil {
		t.Fatalf("unfreeze left %v (%v)", gh.protection, err)
	}
	// Nothing recorded, nothing undone.
	if out, err := run[ops.UnfreezeOutput](t, env2, o.Unfreeze, ops.UnfreezeInput{Run: runCtx}); err != nil || out.Restored {
		t.Fatalf("unfreeze without a freeze: %+v %v", out, err)
	}
}

// fakeGitLab implements the protected branch endpoints.
type fakeGitLab struct {
	mu        sync.Mutex
	protected map[string]any
}

func (g *fakeGitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.Header.Get("PRIVATE-TOKEN") != "gl-token" {
		w.WriteHeader(401)
		return
	}
	switch r.Method {
	case "GET":
		if g.protected == nil {
			w.WriteHeader(404)
			return
		}
		json.NewEncoder(w).Encode(g.protected)
	case "DELETE":
		g.protected = nil
		w.WriteHeader(204)
	case "POST":
		q := r.URL.Query()
		push, _ := strconv.Atoi(q.Get("push_access_level"))
		merge, _ := strconv.Atoi(q.Get("merge_access_level"))
		g.protected = map[string]any{"name": q.Get("name"),
			"push_access_levels":  []any{map[string]any{"access_level": float64(push)}},
			"merge_access_levels": []any{map[string]any{"access_level": float64(merge)}},
			"allow_force_push":    q.Get("allow_force_push") == "true"}
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(g.protected)
	}
}

func TestGitLabFreezeRestores(t *testing.T) {
	gl := &fakeGitLab{protected: map[string]any{"name": "main",
		"push_access_levels":  []any{map[string]any{"access_level": float64(40)}},
		"merge_access_levels": []any{map[string]any{"access_level": float64(30)}}, "allow_force_push": false}}
	before, _ := json.Marshal(gl.protected)
	srv := httptest.NewServer(gl)
	defer srv.Close()
	t.Setenv("DRCTL_TEST_GL", "gl-token")
	target := &ops.Target{Name: "production", Pipeline: &ops.PipelineConfig{Provider: "gitlab", BaseURL: srv.URL, Repository: "group/register", Branch: "main", Token: "env:DRCTL_TEST_GL"}}
	o := &ops.Ops{Targets: func(string) (*ops.Target, error) { return target, nil }}
	env := activityEnv(o)
	frozen, err := run[ops.FreezeOutput](t, env, o.Freeze, ops.FreezeInput{Run: runCtx})
	if err != nil || !frozen.Frozen {
		t.Fatalf("freeze: %v", err)
	}
	if b, _ := json.Marshal(gl.protected); !strings.Contains(string(b), `"access_level":0`) {
		t.Fatalf("not locked: %s", b)
	}
	if _, err := run[ops.UnfreezeOutput](t, env, o.Unfreeze, ops.UnfreezeInput{Freeze: &frozen, Run: runCtx}); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(gl.protected); string(after) != string(before) {
		t.Fatalf("not restored:\n%s\n%s", before, after)
	}
}

func TestWebhookSignature(t *testing.T) {
	t.Setenv("DRCTL_TEST_HMAC", "shared-key")
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !ops.SignatureValid("shared-key", r.Header.Get("X-Drctl-Signature"), body) {
			w.WriteHeader(401)
			return
		}
		var m map[string]string
		json.Unmarshal(body, &m)
		got = append(got, m["action"])
	}))
	defer srv.Close()
	target := &ops.Target{Name: "production", Pipeline: &ops.PipelineConfig{Provider: "webhook", URL: srv.URL, HMACKey: "env:DRCTL_TEST_HMAC"}}
	o := &ops.Ops{Targets: func(string) (*ops.Target, error) { return target, nil }}
	env := activityEnv(o)
	frozen, err := run[ops.FreezeOutput](t, env, o.Freeze, ops.FreezeInput{Run: runCtx})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run[ops.UnfreezeOutput](t, env, o.Unfreeze, ops.UnfreezeInput{Freeze: &frozen, Run: runCtx}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[freeze unfreeze]" {
		t.Fatalf("receiver got %v", got)
	}
	t.Setenv("DRCTL_TEST_HMAC", "wrong-key")
	if _, err := run[ops.FreezeOutput](t, activityEnv(o), o.Freeze, ops.FreezeInput{Run: runCtx}); err == nil {
		t.Fatal("a wrongly signed webhook was accepted")
	}
}

func TestWaitUntil(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls < 3 {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	o := &ops.Ops{}
	env := activityEnv(o)
	out, err := run[ops.WaitOutput](t, env, o.Wait, ops.WaitInput{Until: &ops.Check{HTTP: &ops.HTTPInput{URL: srv.URL}},
		Interval: stepio.Duration(10 * time.Millisecond), Deadline: stepio.Duration(time.Minute)})
	if err != nil || out.Polls != 3 {
		t.Fatalf("%+v %v", out, err)
	}
	_, err = run[ops.WaitOutput](t, env, o.Wait, ops.WaitInput{Until: &ops.Check{Exec: &ops.ExecInput{Command: []string{"false"}}},
		Interval: stepio.Duration(10 * time.Millisecond), Deadline: stepio.Duration(100 * time.Millisecond)})
	if errType(err) != "Deadline" {
		t.Fatalf("deadline: %v", err)
	}
}

// A secret header goes to the host the step names and nowhere else: a
// redirect to another host is refused, and the other host sees nothing.
func TestHTTPSecretHeadersStayHome(t *testing.T) {
	t.Setenv("DRCTL_TEST_KEY", "header-secret-123")
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		if r.Header.Get("X-Maint-Token") != "" {
			t.Errorf("the other host got the secret header")
		}
	}))
	defer other.Close()
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/here", http.StatusFound)
		default:
			fmt.Fprint(w, "token seen: ", r.Header.Get("X-Maint-Token") != "")
		}
	}))
	defer home.Close()
	o := &ops.Ops{}
	env := activityEnv(o)
	secretHeaders := map[string]secret.Ref{"X-Maint-Token": "env:DRCTL_TEST_KEY"}
	_, err := run[ops.HTTPOutput](t, env, o.HTTP, ops.HTTPInput{URL: home.URL + "/away", SecretHeaders: secretHeaders})
	if err == nil || !strings.Contains(err.Error(), "secret headers are never sent to another host") || elsewhere.Load() != 0 {
		t.Fatalf("cross-host redirect: %v (other host asked %d times)", err, elsewhere.Load())
	}
	out, err := run[ops.HTTPOutput](t, env, o.HTTP, ops.HTTPInput{URL: home.URL + "/moved", SecretHeaders: secretHeaders})
	if err != nil || out.Body != "token seen: true" {
		t.Fatalf("same-host redirect: %+v %v", out, err)
	}
	// Without secrets a redirect is followed as usual.
	if _, err := run[ops.HTTPOutput](t, env, o.HTTP, ops.HTTPInput{URL: home.URL + "/away"}); err != nil || elsewhere.Load() != 1 {
		t.Fatalf("redirect without secrets: %v", err)
	}
}

// An alarm goes to the environment's webhook, with its secret header, and
// to its command, as the same JSON; without an alarm configured it is
// only logged.
func TestAlarm(t *testing.T) {
	t.Setenv("DRCTL_TEST_PAGER", "pager-key-123456")
	got := make(chan map[string]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		body["auth"] = r.Header.Get("X-Pager-Key")
		got <- body
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "alarm.json")
	alarm := &ops.AlarmConfig{URL: srv.URL, SecretHeaders: map[string]secret.Ref{"X-Pager-Key": "env:DRCTL_TEST_PAGER"},
		Command: []string{"sh", "-c", "cat > " + file}}
	o := &ops.Ops{Targets: func(env string) (*ops.Target, error) {
		if env == "quiet" {
			return &ops.Target{Name: env}, nil
		}
		return &ops.Target{Name: env, Alarm: alarm}, nil
	}}
	env := activityEnv(o)
	out, err := run[ops.AlarmOutput](t, env, o.Alarm, ops.AlarmInput{Kind: "paused", Step: "to_azure", Message: "waits for an operator",
		Run: stepio.RunContext{Env: "production", ID: "r1"}})
	if err != nil || len(out.Sent) != 3 {
		t.Fatalf("%+v %v", out, err)
	}
	body := <-got
	if body["kind"] != "paused" || body["step"] != "to_azure" || body["run"] != "r1" || body["auth"] != "pager-key-123456" {
		t.Fatalf("webhook got %v", body)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), `"message":"waits for an operator"`) {
		t.Fatalf("command got %s %v", b, err)
	}
	out, err = run[ops.AlarmOutput](t, env, o.Alarm, ops.AlarmInput{Kind: "failed", Message: "x", Run: stepio.RunContext{Env: "quiet", ID: "r2"}})
	if err != nil || fmt.Sprint(out.Sent) != "[worker log]" {
		t.Fatalf("no alarm configured: %+v %v", out, err)
	}
}

// The pipeline's and the maintenance switch's checks read, never change:
// they pass where the step can work, and say why where it cannot (a token
// refused, a switch's folder missing), before anything has been touched.
func TestPipelineAndMaintenanceChecks(t *testing.T) {
	gh := &fakeGitHub{}
	srv := httptest.NewServer(gh)
	defer srv.Close()
	t.Setenv("DRCTL_TEST_GH", "gh-token")
	t.Setenv("DRCTL_TEST_GH_WRONG", "wrong-token")
	pipeline := func(token string) *ops.PipelineConfig {
		return &ops.PipelineConfig{Provider: "github", BaseURL: srv.URL, Repository: "example/register", Branch: "main", Token: secret.Ref("env:" + token)}
	}
	targets := map[string]*ops.Target{
		"ok":      {Name: "ok", Pipeline: pipeline("DRCTL_TEST_GH"), Maintenance: &ops.MaintenanceConfig{Provider: "file", File: filepath.Join(t.TempDir(), "m.flag")}},
		"refused": {Name: "refused", Pipeline: pipeline("DRCTL_TEST_GH_WRONG"), Maintenance: &ops.MaintenanceConfig{Provider: "file", File: "/no/such/folder/m.flag"}},
	}
	o := &ops.Ops{Targets: func(env string) (*ops.Target, error) { return targets[env], nil }}
	env := activityEnv(o)
	if out, err := run[stepio.CheckOutput](t, env, o.CheckFreeze, ops.FreezeInput{Run: stepio.RunContext{Env: "ok"}}); err != nil || !strings.Contains(out.Checked, "example/register@main") {
		t.Fatalf("freeze check: %+v %v", out, err)
	}
	if _, err := run[stepio.CheckOutput](t, env, o.CheckMaintenance, ops.MaintenanceInput{Run: stepio.RunContext{Env: "ok"}}); err != nil {
		t.Fatalf("maintenance check: %v", err)
	}
	if _, err := run[stepio.CheckOutput](t, env, o.CheckFreeze, ops.FreezeInput{Run: stepio.RunContext{Env: "refused"}}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("freeze check with a refused token: %v", err)
	}
	if _, err := run[stepio.CheckOutput](t, env, o.CheckMaintenance, ops.MaintenanceInput{Run: stepio.RunContext{Env: "refused"}}); errType(err) != "NotFound" {
		t.Fatalf("maintenance check without its folder: %v", err)
	}
	for _, r := range gh.requests {
		if !strings.HasPrefix(r, "GET ") {
			t.Fatalf("a check changed the pipeline: %v", gh.requests)
		}
	}
}
