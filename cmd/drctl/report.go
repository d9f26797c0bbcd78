package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/activities/report"
	"github.com/drctl/drctl/workflows"
)

// newReportCmd writes the evidence of any run, ended or not: the report a
// runbook's report.write step writes, for runs that failed or were
// cancelled before reaching theirs, had none, or need it in another format.
func newReportCmd() *cobra.Command {
	var (
		c       conn
		dir     string
		title   string
		formats []string
	)
	cmd := &cobra.Command{
		Use:   "report RUN [--dir DIR] [--format markdown|json|html]...",
		Short: "write a run's report: steps, durations, approvals, timeline, RTO and RPO",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range formats {
				if report.Formats[f] == "" {
					return &exitError{code: exitUsage, msg: fmt.Sprintf("--format %q: one of %s", f, report.FormatNames())}
				}
			}
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			st, _, err := queryStatus(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			rs, err := reportStatus(st)
			if err != nil {
				return failed("run %s: reading its status: %v", args[0], err)
			}
			out, err := report.Files(dir, title, args[0], rs, formats, time.Now())
			if err != nil {
				return failed("run %s: %v", args[0], err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s on %s — %s\nRTO %s\nRPO %s\n", st.Runbook, st.Environment, st.State, out.RTO, orNone(out.RPO))
			for _, f := range out.Files {
				fmt.Fprintln(w, f)
			}
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().StringVar(&dir, "dir", "", "where reports go, a folder per run (default .drctl/reports)")
	cmd.Flags().StringVar(&title, "title", "", "the report's heading (default: RUNBOOK on ENV)")
	cmd.Flags().StringSliceVar(&formats, "format", nil, "markdown, json or html; repeat for more (default markdown and json)")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "not measured (no verified event)"
	}
	return s
}

// reportStatus is a run's status as the report reads it: its JSON, as
// report.write receives it.
func reportStatus(st workflows.Status) (report.RunStatus, error) {
	var rs report.RunStatus
	b, err := json.Marshal(st)
	if err == nil {
		err = json.Unmarshal(b, &rs)
	}
	return rs, err
}
