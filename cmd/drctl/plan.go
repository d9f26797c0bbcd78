package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/workflows"
)

// planFlags are the flags that bind a runbook to an environment.
type planFlags struct {
	env    string
	params []string
}

func (f *planFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.env, "env", "", "environment to run against (required)")
	cmd.Flags().StringArrayVar(&f.params, "param", nil, "a runbook parameter as name=value (repeatable)")
	_ = cmd.MarkFlagRequired("env")
}

// compile loads the environments file and compiles file into a plan,
// printing every problem.
func (f *planFlags) compile(g *globals, file string, stderr io.Writer) (*workflows.Plan, error) {
	params := map[string]string{}
	for _, p := range f.params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, &exitError{code: exitUsage, msg: fmt.Sprintf("--param %q: write name=value", p)}
		}
		if _, dup := params[k]; dup {
			return nil, &exitError{code: exitUsage, msg: fmt.Sprintf("--param %s is given twice", k)}
		}
		params[k] = v
	}
	cfg, err := runbooks.LoadConfig(g.config)
	if err != nil {
		return nil, printDiagnostics(err, stderr)
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, failed("cannot read %s: %v", file, err)
	}
	plan, diags := runbooks.Compile(file, src, runbooks.Options{Config: cfg, Env: f.env, Params: params})
	if len(diags) > 0 {
		return nil, printDiagnostics(diags, stderr)
	}
	return plan, nil
}

func printDiagnostics(err error, stderr io.Writer) error {
	if diags, ok := err.(runbooks.Diagnostics); ok {
		fmt.Fprint(stderr, diags.Lines())
		return &exitError{code: exitFailed}
	}
	return failed("%v", err)
}

func newPlanCmd(g *globals) *cobra.Command {
	var (
		f      planFlags
		c      conn
		asJSON bool
		check  bool
	)
	cmd := &cobra.Command{
		Use: "plan FILE --env NAME [--param name=value]... [--check]",
		Example: `  drctl plan runbooks/library/loss-of-instance.yaml --env production --param backup_date=2026-11-20
  drctl plan runbooks/library/data-loss-pitr.yaml --env production --param failure_time="2026-12-07 21:40" --param zone=America/New_York --check`,
		Short: "compile a runbook for an environment and show the resolved steps; --check also runs their checks",
		Long: `plan compiles a runbook for an environment and shows the resolved steps.

With --check, a worker also runs the read-only check of every step whose
inputs are known now (a point-in-time target inside the archive, a database
to set aside, a backup to restore, the provider's command), exactly as a run
does before its first step, and changes nothing. Exit 0: every check passed;
1: refused, with every problem.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := f.compile(g, args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), plan); err != nil || !check {
					return err
				}
			} else {
				printPlan(cmd.OutOrStdout(), plan)
			}
			if !check {
				return nil
			}
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.Check(cmd.Context(), cmd.OutOrStdout(), plan, whoami()); err != nil {
				return failed("%w", err)
			}
			return nil
		},
	}
	f.register(cmd)
	c.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVar(&check, "check", false, "run every step's check on a worker, changing nothing")
	return cmd
}

// printPlan draws the plan as a table an operator can check before running.
func printPlan(w io.Writer, p *workflows.Plan) {
	fmt.Fprintf(w, "runbook      %s (%s)\n", p.Runbook, p.Kind)
	if p.Description != "" {
		fmt.Fprintf(w, "             %s\n", p.Description)
	}
	fmt.Fprintf(w, "environment  %s (%s)\n", p.Environment, p.Role)
	fmt.Fprintf(w, "plan         sha256:%s\n", p.Hash)
	if p.Targets.RTO > 0 || p.Targets.RPO > 0 {
		fmt.Fprintf(w, "targets      rto %s, rpo %s\n", p.Targets.RTO, p.Targets.RPO)
	}
	for i, pv := range p.Params {
		label := ""
		if i == 0 {
			label = "params"
		}
		line := fmt.Sprintf("%s = %s", pv.Name, shortJSON(pv.Value, 60))
		if pv.Original != "" {
			line += fmt.Sprintf("   (UTC; given as %q)", pv.Original)
		}
		fmt.Fprintf(w, "%-12s %s\n", label, line)
	}
	for _, block := range []struct {
		title string
		steps []workflows.Step
	}{{"steps", p.Steps}, {"on failure", p.OnFailure}, {"finally (always)", p.Finally}} {
		if len(block.steps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", block.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tSTEP\tTYPE\tON ERROR\tTIMEOUT\tDETAILS")
		n := 0
		printSteps(tw, block.steps, "", &n)
		tw.Flush()
	}
}

func printSteps(tw io.Writer, steps []workflows.Step, indent string, n *int) {
	for _, s := range steps {
		*n++
		kind, details := s.Uses, withSummary(s.With)
		switch {
		case s.Approval != nil:
			a := s.Approval
			kind = "approval"
			details = fmt.Sprintf("%d of %s; expires in %s; %q", a.Quorum, strings.Join(a.Users, ", "), a.Timeout, a.Prompt)
			if !a.AllowInitiator {
				details = "initiator may not approve; " + details
			}
		case s.Parallel != nil:
			kind = "parallel"
			details = fmt.Sprintf("%d steps", len(s.Parallel.Steps))
			if s.Parallel.Limit > 0 {
				details += fmt.Sprintf(", at most %d at a time", s.Parallel.Limit)
			}
		}
		if s.Destructive {
			kind += " !"
		}
		switch s.If {
		case "":
		case "false":
			details = "SKIPPED (condition false): " + details
		default:
			details = "if " + s.If + ": " + details
		}
		timeout := ""
		if s.Timeout > 0 {
			timeout = s.Timeout.String()
		} else if s.Approval != nil {
			timeout = s.Approval.Timeout.String()
		}
		fmt.Fprintf(tw, "  %d\t%s%s\t%s\t%s\t%s\t%s\n", *n, indent, s.ID, kind, s.OnError, timeout, runs.Truncate(details, 110))
		if s.Parallel != nil {
			printSteps(tw, s.Parallel.Steps, indent+"  ", n)
		}
	}
}

func withSummary(with map[string]any) string {
	keys := make([]string, 0, len(with))
	for k := range with {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + shortJSON(with[k], 50)
	}
	return strings.Join(parts, " ")
}

func shortJSON(v any, n int) string {
	if s, ok := v.(string); ok {
		return runs.Truncate(s, n)
	}
	b, _ := json.Marshal(v)
	return runs.Truncate(string(b), n)
}
