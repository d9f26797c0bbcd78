package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/activities/report"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/runs"
)

// newReportCmd writes the evidence of any run, ended or not: the report a
// runbook's report.write step writes, for runs that failed or were
// cancelled before reaching theirs, had none, or need it in another format.
func newReportCmd(g *globals) *cobra.Command {
	var (
		c       conn
		dir     string
		title   string
		formats []string
		verify  bool
	)
	cmd := &cobra.Command{
		Use:   "report RUN [--dir DIR] [--format markdown|json|html]... | report --verify RUN|REPORT.json",
		Short: "write a run's report: steps, durations, approvals, timeline, RTO and RPO; --verify checks its signed decisions",
		Example: `  drctl report loss-of-instance-production-20261207T021234Z-fe2d20 --format html
  drctl report --verify loss-of-instance-production-20261207T021234Z-fe2d20
  drctl report --verify .drctl/reports/loss-of-instance-production-20261207T021234Z-fe2d20/report.json   # offline`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns(&c),
		RunE: func(cmd *cobra.Command, args []string) error {
			if verify {
				return verifyReport(cmd, g, &c, args[0])
			}
			for _, f := range formats {
				if report.Formats[f] == "" {
					return &exitError{code: exitUsage, msg: fmt.Sprintf("--format %q: one of %s", f, report.FormatNames())}
				}
			}
			cl, id, err := c.openRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer cl.Close()
			args[0] = id
			st, _, err := cl.Status(cmd.Context(), args[0])
			if err != nil {
				return failed("%w", err)
			}
			rs, err := runs.ReportStatus(st)
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
	cmd.Flags().BoolVar(&verify, "verify", false, "check every signed decision of the run (or of a saved report.json, offline) against the environments file's keys")
	return cmd
}

// verifyReport checks the decisions of a run, or of a report saved as
// JSON, against the keys the environments file lists now, and says which
// hold; any that does not fails the command.
func verifyReport(cmd *cobra.Command, g *globals, c *conn, arg string) error {
	cfg, err := runbooks.LoadConfig(g.config)
	if err != nil {
		return printDiagnostics(err, cmd.ErrOrStderr())
	}
	var id string
	var rs report.RunStatus
	if b, rerr := os.ReadFile(arg); rerr == nil {
		var saved struct {
			ID  string           `json:"id"`
			Run report.RunStatus `json:"run"`
		}
		if err := json.Unmarshal(b, &saved); err != nil || saved.ID == "" {
			return failed("%s is not a report drctl wrote as JSON: %v", arg, err)
		}
		id, rs = saved.ID, saved.Run
	} else {
		cl, found, err := c.openRun(cmd.Context(), arg)
		if err != nil {
			return err
		}
		defer cl.Close()
		arg = found
		st, _, err := cl.Status(cmd.Context(), arg)
		if err != nil {
			return failed("%w", err)
		}
		if rs, err = runs.ReportStatus(st); err != nil {
			return failed("run %s: reading its status: %v", arg, err)
		}
		id = arg
	}
	keys := map[string][]string{}
	for name, u := range cfg.Users {
		if u != nil {
			keys[name] = u.SSHKeys
		}
	}
	var vouchers []string
	if cfg.Voucher != nil {
		vouchers = cfg.Voucher.SSHKeys
	}
	checked := report.VerifyDecisions(id, rs, keys, vouchers)
	w := cmd.OutOrStdout()
	bad := 0
	for _, d := range checked {
		what := strings.TrimSpace(d.Kind + " " + d.Step)
		if d.Proven {
			fmt.Fprintf(w, "✓ %s %s %s: signed %s via %s\n", d.At.UTC().Format(time.RFC3339), d.By, what, d.Signer, cmp.Or(d.Via, "cli"))
			continue
		}
		bad++
		fmt.Fprintf(w, "✗ %s %s %s: %s\n", d.At.UTC().Format(time.RFC3339), d.By, what, d.Problem)
	}
	if bad > 0 {
		return failed("%d of %d decisions of %s are not proven", bad, len(checked), id)
	}
	fmt.Fprintf(w, "all %d decisions of %s are proven by their signers' keys in %s\n", len(checked), id, cfg.File)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "not measured (no verified event)"
	}
	return s
}
