package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/drctl/drctl/workflows"
)

func newListCmd() *cobra.Command {
	var (
		c      conn
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use: "list",
		Example: `  drctl list
  drctl list --json | jq -r '.[] | select(.state == "running") | .id'`,
		Short: "list recent runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := cl.ListWorkflow(cmd.Context(), &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: c.namespace, PageSize: int32(limit),
				Query: fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName),
			})
			if err != nil {
				return failed("listing runs: %v", err)
			}
			type listed struct {
				Run       string    `json:"run"`
				Status    string    `json:"status"`
				Started   time.Time `json:"started"`
				Initiator string    `json:"initiator,omitempty"`
				Incident  string    `json:"incident,omitempty"`
			}
			runs := []listed{}
			for _, e := range resp.Executions {
				attrs := map[string]string{}
				if sa := e.GetSearchAttributes(); sa != nil {
					for _, name := range workflows.SearchAttributeNames {
						if p, ok := sa.GetIndexedFields()[name]; ok {
							var v string
							_ = json.Unmarshal(p.GetData(), &v)
							attrs[name] = v
						}
					}
				}
				runs = append(runs, listed{Run: e.GetExecution().GetWorkflowId(), Status: strings.ToLower(e.GetStatus().String()),
					Started: e.GetStartTime().AsTime().UTC(), Initiator: attrs["DrctlInitiator"], Incident: attrs["DrctlIncident"]})
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), runs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTATUS\tSTARTED\tINITIATOR\tINCIDENT")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Run, r.Status, r.Started.Local().Format(time.DateTime), r.Initiator, r.Incident)
			}
			return tw.Flush()
		},
	}
	c.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON")
	return cmd
}
