// Package runs is what drctl's clients do with runs on a Temporal
// cluster: start one, read its status, send it decisions, and find it by
// the start of its id. The CLI, drctl serve (Slack and the HTTP API) and
// the demo all go through it, so a run is started, read and decided the
// same way wherever a person acts.
package runs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/workflows"
)

// Client is a connection to the cluster and where drctl's runs live on it.
// It is a client.Client itself, for what is not drctl's.
type Client struct {
	client.Client
	Namespace string
	// Queue is the task queue of drctl's workers.
	Queue string
	// UIURL is the cluster's Web UI, for links to runs; may be empty.
	UIURL string
}

// URL is where the Web UI shows run id.
func (c *Client) URL(id string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", c.UIURL, c.Namespace, id)
}

// Ready is nil while the cluster answers: what a readiness probe asks.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// ID names a run so a person can read it: runbook, environment, start.
func ID(p *workflows.Plan) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%s-%s-%s", p.Runbook, p.Environment, time.Now().UTC().Format("20060102T150405Z"), hex.EncodeToString(b))
}

// Start starts a plan as a run and returns its id. sign, when given,
// signs the initiator's start of run id.
func (c *Client) Start(ctx context.Context, plan *workflows.Plan, initiator, incident string,
	sign func(id string) (*workflows.Signature, error)) (string, error) {
	id := ID(plan)
	in := workflows.RunInput{Plan: *plan, Initiator: initiator, Incident: incident, URL: c.URL(id)}
	if sign != nil {
		var err error
		if in.Signature, err = sign(id); err != nil {
			return "", err
		}
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: c.Queue, TypedSearchAttributes: workflows.SearchAttributes(in),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.WorkflowName, in)
	if err != nil {
		return "", fmt.Errorf("starting the run: %v", err)
	}
	return run.GetID(), nil
}

// Status is run id's status, with the latest progress its running steps
// reported, and whether the run has ended.
func (c *Client) Status(ctx context.Context, id string) (workflows.Status, bool, error) {
	var st workflows.Status
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return st, false, fmt.Errorf("run %s: %w", id, err)
	}
	if err := v.Get(&st); err != nil {
		return st, false, fmt.Errorf("run %s: reading its status: %v", id, err)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return st, false, fmt.Errorf("run %s: %v", id, err)
	}
	done := desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	// Long steps heartbeat their progress; show the latest beside the step.
	for _, pa := range desc.PendingActivities {
		for i := range st.Steps {
			if st.Steps[i].ID != pa.ActivityId || st.Steps[i].State != workflows.StateRunning {
				continue
			}
			if p := pa.GetHeartbeatDetails().GetPayloads(); len(p) > 0 {
				var progress any
				if json.Unmarshal(p[len(p)-1].GetData(), &progress) == nil {
					b, _ := json.Marshal(progress)
					st.Steps[i].Progress = string(b)
				}
			}
			if pa.GetLastFailure() != nil {
				st.Steps[i].Error = fmt.Sprintf("retrying: attempt %d failed: %s", pa.GetAttempt()-1, pa.GetLastFailure().GetMessage())
			}
		}
	}
	return st, done, nil
}

// Update sends a validated update (a vote, an operator's action) to run id
// and waits for its result; a refusal comes back as the validator's
// reason.
func (c *Client) Update(ctx context.Context, id, name string, arg any, result any) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(ctx, result)
}

// OpenGate is the approval gate of run id that is waiting for votes.
func (c *Client) OpenGate(ctx context.Context, id string) (string, error) {
	st, _, err := c.Status(ctx, id)
	if err != nil {
		return "", err
	}
	for _, g := range st.Gates {
		if g.Open {
			return g.Step, nil
		}
	}
	return "", fmt.Errorf("refused: no approval gate is open")
}

// Recent lists the ids of the namespace's most recent runs, newest first,
// up to limit.
func (c *Client) Recent(ctx context.Context, limit int) ([]string, error) {
	var ids []string
	var token []byte
	for len(ids) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: c.Namespace, PageSize: int32(min(limit-len(ids), 1000)),
			NextPageToken: token, Query: fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName)})
		if err != nil {
			return nil, fmt.Errorf("listing runs: %v", err)
		}
		for _, e := range resp.Executions {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	return ids, nil
}

// Resolve takes a run id, or the start of one that no other recent run
// shares, and returns the run's full id: run ids are long, and typed at
// 3 a.m.
func (c *Client) Resolve(ctx context.Context, arg string) (string, error) {
	if _, err := c.DescribeWorkflowExecution(ctx, arg, ""); err == nil {
		return arg, nil
	}
	ids, err := c.Recent(ctx, 2000)
	if err != nil {
		return "", err
	}
	var matches []string
	for _, id := range ids {
		if strings.HasPrefix(id, arg) {
			matches = append(matches, id)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no run %s", arg)
	case 1:
		return matches[0], nil
	}
	if len(matches) > 10 {
		matches = append(matches[:10], "…")
	}
	return "", fmt.Errorf("%s is the start of %d runs; say which:\n  %s", arg, len(matches), strings.Join(matches, "\n  "))
}

// Check runs the plan's checks alone, as a run of its own that ends after
// them, for who, and prints what each found; an error if any refused.
func (c *Client) Check(ctx context.Context, out io.Writer, plan *workflows.Plan, who string) error {
	id := "check-" + ID(plan)
	in := workflows.RunInput{Plan: *plan, Initiator: who, CheckOnly: true}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: c.Queue,
		TypedSearchAttributes: workflows.SearchAttributes(in)}, workflows.WorkflowName, in)
	if err != nil {
		return fmt.Errorf("starting the checks: %v", err)
	}
	runErr := run.Get(ctx, nil)
	st, _, err := c.Status(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nchecks:")
	for _, e := range st.Timeline {
		if e.Kind == "checked" || e.Kind == "check failed" {
			fmt.Fprintf(out, "  %-12s %-20s %s\n", e.Kind, e.Step, e.Message)
		}
	}
	if runErr != nil || st.State != workflows.StateChecked {
		return fmt.Errorf("refused: a run of this plan would change nothing and stop (%s)", id)
	}
	fmt.Fprintln(out, "every check passed; nothing was changed")
	return nil
}
