package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

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
	t.Setenv("TOKEN_A", "a-long-enough-token-1")
	t.Setenv("TOKEN_B", "a-long-enough-token-2")
	t.Setenv("TOKEN_SHORT", "secret")
	for _, tc := range []struct{ users, want string }{
		{"{ana: env:TOKEN_SHORT}", "user ana: the token must be at least 16 characters"},
		{"{ana: env:TOKEN_A, ben: env:TOKEN_A}", "users ana and ben have the same token"},
		{"{ana: env:TOKEN_MISSING}", "user ana: secret env:TOKEN_MISSING"},
	} {
		if _, err := newAPIHandler(context.Background(), nil, apiConfig(t, tc.users)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.users, err, tc.want)
		}
	}
	h, err := newAPIHandler(context.Background(), nil, apiConfig(t, "{ana: env:TOKEN_A, ben: env:TOKEN_B}"))
	if err != nil {
		t.Fatal(err)
	}
	for header, want := range map[string]string{
		"Bearer a-long-enough-token-1": "ana", "Bearer a-long-enough-token-2": "ben",
		"Bearer a-long-enough-token-": "", "a-long-enough-token-1": "", "Bearer ": "", "": "",
	} {
		r := httptest.NewRequest("GET", "/api/runs/x", nil)
		r.Header.Set("Authorization", header)
		if got := h.who(r); got != want {
			t.Errorf("Authorization %q is %q, want %q", header, got, want)
		}
	}
}
