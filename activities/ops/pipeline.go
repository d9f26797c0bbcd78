package ops

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.temporal.io/sdk/activity"
)

// Freeze locks the deploy pipeline and records exactly what it changed, so
// that Unfreeze can put it back as it was. The record is also kept in the
// activity's heartbeat before anything changes: a retry after a crash
// half-way knows the original state even though the branch is locked.
func (o *Ops) Freeze(ctx context.Context, in FreezeInput) (FreezeOutput, error) {
	t, p, err := o.pipeline(in.Run.Env)
	if err != nil {
		return FreezeOutput{}, err
	}
	branch := in.Branch
	if branch == "" {
		branch = p.Branch
	}
	out := FreezeOutput{Provider: p.Provider, Repository: p.Repository, Branch: branch}
	switch p.Provider {
	case "webhook":
		return out, o.webhook(ctx, t, p, "freeze", in.Reason, in.Run.ID, &out)
	case "github", "gitlab":
	default:
		return out, nonRetryable("NotConfigured", "unknown pipeline provider %q", p.Provider)
	}
	token, err := p.Token.Resolve(ctx)
	if err != nil {
		return out, nonRetryable("NoSecret", "%v", err)
	}
	// A previous attempt of this very activity may have saved the state it
	// found before it changed anything.
	var saved FreezeOutput
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &saved) == nil && saved.Branch == branch {
		out.Previous = saved.Previous
	} else {
		prev, err := o.readProtection(ctx, p, token, branch)
		if err != nil {
			return out, err
		}
		out.Previous = prev
		if locked(p.Provider, prev) {
			out.AlreadyFrozen, out.Frozen = true, true
			return out, nil
		}
		activity.RecordHeartbeat(ctx, out)
	}
	if err := o.writeProtection(ctx, p, token, branch, out.Previous, true); err != nil {
		return out, err
	}
	out.Frozen = true
	return out, nil
}

// Unfreeze puts the pipeline back exactly as Freeze found it. Without a
// record (the freeze never ran) there is nothing to undo; a freeze that
// found the pipeline already frozen leaves it so.
func (o *Ops) Unfreeze(ctx context.Context, in UnfreezeInput) (UnfreezeOutput, error) {
	f := in.Freeze
	if f == nil || !f.Frozen {
		return UnfreezeOutput{Message: "nothing was frozen"}, nil
	}
	if f.AlreadyFrozen {
		return UnfreezeOutput{Message: "the pipeline was frozen before this run; left frozen"}, nil
	}
	t, p, err := o.pipeline(in.Run.Env)
	if err != nil {
		return UnfreezeOutput{}, err
	}
	if p.Provider == "webhook" {
		var out FreezeOutput
		if err := o.webhook(ctx, t, p, "unfreeze", "", in.Run.ID, &out); err != nil {
			return UnfreezeOutput{}, err
		}
		return UnfreezeOutput{Restored: true, Message: "webhook told"}, nil
	}
	token, err := p.Token.Resolve(ctx)
	if err != nil {
		return UnfreezeOutput{}, nonRetryable("NoSecret", "%v", err)
	}
	if err := o.writeProtection(ctx, p, token, f.Branch, f.Previous, false); err != nil {
		return UnfreezeOutput{}, err
	}
	return UnfreezeOutput{Restored: true, Message: fmt.Sprintf("%s of %s restored", f.Branch, f.Repository)}, nil
}

func (o *Ops) pipeline(env string) (*Target, *PipelineConfig, error) {
	t, err := o.target(env)
	if err != nil {
		return nil, nil, err
	}
	if t.Pipeline == nil {
		return nil, nil, nonRetryable("NotConfigured", "environment %s has no deploy pipeline (pipeline: in drctl.yaml)", t.Name)
	}
	return t, t.Pipeline, nil
}

func baseURL(p *PipelineConfig) string {
	if p.BaseURL != "" {
		return strings.TrimRight(p.BaseURL, "/")
	}
	if p.Provider == "gitlab" {
		return "https://gitlab.com"
	}
	return "https://api.github.com"
}

func (o *Ops) protectionURL(p *PipelineConfig, branch string) string {
	if p.Provider == "gitlab" {
		return fmt.Sprintf("%s/api/v4/projects/%s/protected_branches/%s", baseURL(p), url.PathEscape(p.Repository), url.PathEscape(branch))
	}
	return fmt.Sprintf("%s/repos/%s/branches/%s/protection", baseURL(p), p.Repository, url.PathEscape(branch))
}

func authHeaders(provider, token string) map[string]string {
	if provider == "gitlab" {
		return map[string]string{"PRIVATE-TOKEN": token}
	}
	return map[string]string{"Authorization": "Bearer " + token, "X-GitHub-Api-Version": "2022-11-28"}
}

// readProtection returns the branch's protection as the API shows it, nil
// when the branch is not protected.
func (o *Ops) readProtection(ctx context.Context, p *PipelineConfig, token, branch string) (map[string]any, error) {
	var prev map[string]any
	status, err := o.do(ctx, http.MethodGet, o.protectionURL(p, branch), authHeaders(p.Provider, token), nil, &prev)
	if status == http.StatusNotFound {
		return nil, nil
	}
	return prev, err
}

func locked(provider string, prot map[string]any) bool {
	if prot == nil {
		return false
	}
	if provider == "gitlab" {
		return accessLevel(prot, "push_access_levels") == 0 && accessLevel(prot, "merge_access_levels") == 0
	}
	return enabled(prot, "lock_branch")
}

// writeProtection sets the branch's protection: locked (freeze), or as
// prev was (unfreeze; nil prev means unprotected).
func (o *Ops) writeProtection(ctx context.Context, p *PipelineConfig, token, branch string, prev map[string]any, lock bool) error {
	u, h := o.protectionURL(p, branch), authHeaders(p.Provider, token)
	if p.Provider == "gitlab" {
		// GitLab changes a protected branch by removing and re-adding it.
		if status, err := o.do(ctx, http.MethodDelete, u, h, nil, nil); err != nil && status != http.StatusNotFound {
			return err
		}
		push, merge, force := 0, 0, false
		if !lock {
			if prev == nil {
				return nil
			}
			push, merge, force = accessLevel(prev, "push_access_levels"), accessLevel(prev, "merge_access_levels"), prev["allow_force_push"] == true
		}
		create := fmt.Sprintf("%s/api/v4/projects/%s/protected_branches?name=%s&push_access_level=%d&merge_access_level=%d&allow_force_push=%t",
			baseURL(p), url.PathEscape(p.Repository), url.QueryEscape(branch), push, merge, force)
		_, err := o.do(ctx, http.MethodPost, create, h, nil, nil)
		return err
	}
	if !lock && prev == nil {
		status, err := o.do(ctx, http.MethodDelete, u, h, nil, nil)
		if status == http.StatusNotFound {
			return nil
		}
		return err
	}
	body := githubPut(prev)
	if lock {
		body["lock_branch"] = true
	}
	_, err := o.do(ctx, http.MethodPut, u, h, body, nil)
	return err
}

// githubPut turns a protection as GitHub shows it into the body that sets
// it again (the two shapes differ: {"enabled": true} versus true).
func githubPut(prev map[string]any) map[string]any {
	body := map[string]any{"required_status_checks": nil, "enforce_admins": nil, "required_pull_request_reviews": nil, "restrictions": nil}
	if prev == nil {
		return body
	}
	if rsc, ok := prev["required_status_checks"].(map[string]any); ok {
		body["required_status_checks"] = map[string]any{"strict": rsc["strict"], "contexts": orEmpty(rsc["contexts"])}
	}
	if _, ok := prev["enforce_admins"]; ok {
		body["enforce_admins"] = enabled(prev, "enforce_admins")
	}
	if r, ok := prev["required_pull_request_reviews"].(map[string]any); ok {
		reviews := map[string]any{}
		for _, k := range []string{"dismiss_stale_reviews", "require_code_owner_reviews", "required_approving_review_count", "require_last_push_approval"} {
			if v, ok := r[k]; ok {
				reviews[k] = v
			}
		}
		body["required_pull_request_reviews"] = reviews
	}
	if r, ok := prev["restrictions"].(map[string]any); ok {
		body["restrictions"] = map[string]any{"users": names(r["users"], "login"), "teams": names(r["teams"], "slug"), "apps": names(r["apps"], "slug")}
	}
	for _, k := range []string{"required_linear_history", "allow_force_pushes", "allow_deletions", "lock_branch", "required_conversation_resolution", "block_creations"} {
		if _, ok := prev[k]; ok {
			body[k] = enabled(prev, k)
		}
	}
	return body
}

func enabled(m map[string]any, key string) bool {
	v, _ := m[key].(map[string]any)
	b, _ := v["enabled"].(bool)
	return b
}

func orEmpty(v any) any {
	if v == nil {
		return []any{}
	}
	return v
}

func names(list any, key string) []any {
	out := []any{}
	items, _ := list.([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m[key])
		}
	}
	return out
}

func accessLevel(m map[string]any, key string) int {
	levels, _ := m[key].([]any)
	if len(levels) == 0 {
		return -1
	}
	first, _ := levels[0].(map[string]any)
	f, _ := first["access_level"].(float64)
	return int(f)
}

// webhook posts the action with an HMAC-SHA256 signature of the body in
// X-Drctl-Signature, which the receiver checks with the shared key.
func (o *Ops) webhook(ctx context.Context, t *Target, p *PipelineConfig, action, reason, run string, out *FreezeOutput) error {
	key, err := p.HMACKey.Resolve(ctx)
	if err != nil {
		return nonRetryable("NoSecret", "%v", err)
	}
	body, _ := json.Marshal(map[string]string{"action": action, "environment": t.Name, "reason": reason, "run": run})
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	headers := map[string]string{"X-Drctl-Signature": "sha256=" + hex.EncodeToString(mac.Sum(nil))}
	if _, err := o.do(ctx, http.MethodPost, p.URL, headers, json.RawMessage(body), nil); err != nil {
		return err
	}
	out.Frozen = action == "freeze"
	return nil
}

// SignatureValid checks a webhook's X-Drctl-Signature header against its
// body, as a receiver does.
func SignatureValid(key, header string, body []byte) bool {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(header))
}
