package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/workflows"
)

// recentRuns lists the ids of the namespace's most recent runs, newest
// first, up to limit.
func recentRuns(ctx context.Context, cl client.Client, namespace string, limit int) ([]string, error) {
	var ids []string
	var token []byte
	for len(ids) < limit {
		resp, err := cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: int32(min(limit-len(ids), 1000)),
			NextPageToken: token, Query: fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName)})
		if err != nil {
			return nil, failed("listing runs: %v", err)
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

// resolveRun takes a run id, or the start of one that no other recent run
// shares, and returns the run's full id: run ids are long, and typed at
// 3 a.m.
func resolveRun(ctx context.Context, cl client.Client, namespace, arg string) (string, error) {
	if _, err := cl.DescribeWorkflowExecution(ctx, arg, ""); err == nil {
		return arg, nil
	}
	ids, err := recentRuns(ctx, cl, namespace, 2000)
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
		return "", failed("no run %s", arg)
	case 1:
		return matches[0], nil
	}
	if len(matches) > 10 {
		matches = append(matches[:10], "…")
	}
	return "", failed("%s is the start of %d runs; say which:\n  %s", arg, len(matches), strings.Join(matches, "\n  "))
}

// completeRuns completes a command's RUN argument with the ids of recent
// runs from the server.
func completeRuns(c *conn) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cl, err := c.dial(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		defer cl.Close()
		ids, err := recentRuns(cmd.Context(), cl, c.namespace, 200)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, id := range ids {
			if strings.HasPrefix(id, toComplete) {
				out = append(out, id)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
