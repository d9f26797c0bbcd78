package ops

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/drctl/drctl/activities/stepio"
)

// CheckFreeze is pipeline.freeze's check: the pipeline answers, with the
// credentials drctl holds; reading the branch's protection changes
// nothing. A webhook pipeline's key must resolve.
func (o *Ops) CheckFreeze(ctx context.Context, in FreezeInput) (stepio.CheckOutput, error) {
	_, p, err := o.pipeline(in.Run.Env)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	switch p.Provider {
	case "webhook":
		if _, err := p.HMACKey.Resolve(ctx); err != nil {
			return stepio.CheckOutput{}, nonRetryable("NoSecret", "pipeline.hmac_key: %v", err)
		}
		return stepio.CheckOutput{Checked: "the webhook's signing key is there"}, nil
	case "github", "gitlab":
	default:
		return stepio.CheckOutput{}, nonRetryable("NotConfigured", "unknown pipeline provider %q", p.Provider)
	}
	token, err := p.Token.Resolve(ctx)
	if err != nil {
		return stepio.CheckOutput{}, nonRetryable("NoSecret", "pipeline.token: %v", err)
	}
	branch := in.Branch
	if branch == "" {
		branch = p.Branch
	}
	if _, err := o.readProtection(ctx, p, token, branch); err != nil {
		return stepio.CheckOutput{}, fmt.Errorf("the pipeline did not answer as it must for a freeze: %w", err)
	}
	return stepio.CheckOutput{Checked: fmt.Sprintf("%s answers for %s@%s with drctl's token", p.Provider, p.Repository, branch)}, nil
}

// CheckMaintenance is the maintenance steps' check: the switch can be
// thrown (its URL answers, its file's folder is there, its commands are
// found), changing nothing.
func (o *Ops) CheckMaintenance(ctx context.Context, in MaintenanceInput) (stepio.CheckOutput, error) {
	t, err := o.target(in.Run.Env)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	m := t.Maintenance
	if m == nil {
		return stepio.CheckOutput{}, nonRetryable("NotConfigured", "environment %s has no maintenance switch (maintenance:)", t.Name)
	}
	switch m.Provider {
	case "file":
		if st, err := os.Stat(filepath.Dir(m.File)); err != nil || !st.IsDir() {
			return stepio.CheckOutput{}, nonRetryable("NotFound", "maintenance.file %s: its folder is not there", m.File)
		}
		return stepio.CheckOutput{Checked: "the folder of " + m.File + " is there"}, nil
	case "exec":
		for _, argv := range [][]string{m.Enable, m.Disable} {
			if _, err := exec.LookPath(argv[0]); err != nil {
				return stepio.CheckOutput{}, nonRetryable("NotFound", "maintenance command %q is not found on this worker", argv[0])
			}
		}
		return stepio.CheckOutput{Checked: "the maintenance commands are there"}, nil
	}
	url := m.HealthURL
	if url == "" {
		url = m.URL
	}
	headers := map[string]string{}
	if m.Token != "" {
		token, err := m.Token.Resolve(ctx)
		if err != nil {
			return stepio.CheckOutput{}, nonRetryable("NoSecret", "maintenance.token: %v", err)
		}
		headers["Authorization"] = "Bearer " + token
	}
	status, err := o.do(ctx, http.MethodGet, url, headers, nil, nil)
	if status == 0 && err != nil {
		return stepio.CheckOutput{}, fmt.Errorf("the maintenance switch at %s does not answer: %w", url, err)
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return stepio.CheckOutput{}, nonRetryable("Denied", "the maintenance switch at %s refuses drctl's token (%d)", url, status)
	}
	return stepio.CheckOutput{Checked: fmt.Sprintf("%s answers (%d)", url, status)}, nil
}
