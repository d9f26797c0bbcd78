package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/runbooks"
)

func apiConfig(t *testing.T, users string) *runbooks.Config {
	t.Helper()
	cfg, diags := runbooks.ParseConfig("drctl.yaml", []byte("api:\n  users: "+users+`
environments:
  staging: {role: target, database: {name: register, url: "env:UNUSED"}}
`))
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The API refuses to start with tokens that are easy to guess or shared,
// and knows each caller by their own token only.
func TestAPITokens(t *testing.T) {
	t.Setenv("TOKEN_A", "3f9c2a71b8e04d6a95c1f7e2-1")
	t.Setenv("TOKEN_B", "3f9c2a71b8e04d6a95c1f7e2-2")
	t.Setenv("TOKEN_SHORT", "secret")
	t.Setenv("TOKEN_SAME", strings.Repeat("a", 40))
	t.Setenv("TOKEN_EMPTY", "")
	for _, tc := range []struct{ users, want string }{
		{"{ana: env:TOKEN_SHORT}", "user ana: the token (env:TOKEN_SHORT) is 6 characters; it must be at least 24"},
		{"{ana: env:TOKEN_SAME}", "user ana: the token (env:TOKEN_SAME) repeats too few characters"},
		{"{ana: env:TOKEN_EMPTY}", "user ana: the token (env:TOKEN_EMPTY) is empty"},
		{"{ana: env:TOKEN_A, ben: env:TOKEN_A}", "users ana and ben have the same token"},
		{"{ana: env:TOKEN_MISSING}", "user ana: secret env:TOKEN_MISSING"},
	} {
		if _, err := newAPIHandler(context.Background(), nil, apiConfig(t, tc.users), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.users, err, tc.want)
		}
	}
	h, err := newAPIHandler(context.Background(), nil, apiConfig(t, "{ana: env:TOKEN_A, ben: env:TOKEN_B}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for header, want := range map[string]string{
		"Bearer 3f9c2a71b8e04d6a95c1f7e2-1": "ana", "Bearer 3f9c2a71b8e04d6a95c1f7e2-2": "ben",
		"Bearer 3f9c2a71b8e04d6a95c1f7e2-": "", "3f9c2a71b8e04d6a95c1f7e2-1": "", "Bearer ": "", "": "",
	} {
		r := httptest.NewRequest("GET", "/api/runs/x", nil)
		r.Header.Set("Authorization", header)
		if got := h.who(r); got != want {
			t.Errorf("Authorization %q is %q, want %q", header, got, want)
		}
	}
}

// A run's error is answered by its kind, with its message said once.
func TestAPIAnswersARunsError(t *testing.T) {
	h := &apiHandler{}
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{fmt.Errorf("run r1: %w", serviceerror.NewNotFound("workflow not found")), 404, "no run r1"},
		{fmt.Errorf("run r1: %w", temporal.NewApplicationError("gate approve-restore is already decided", "refused")), 409, "gate approve-restore is already decided"},
		{fmt.Errorf("run r1: %w", errors.New("connection refused")), 502, "run r1: connection refused"},
	} {
		w := httptest.NewRecorder()
		h.failed(w, "r1", tc.err)
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %q: %v", tc.err, w.Body, err)
		}
		if w.Code != tc.code || body["error"] != tc.want {
			t.Errorf("%v: %d %q, want %d %q", tc.err, w.Code, body["error"], tc.code, tc.want)
		}
	}
}
