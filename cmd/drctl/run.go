package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/workflows"
)

// whoami is the default identity of the person at the keyboard.
func whoami() string {
	return envOr("DRCTL_USER", envOr("USER", "unknown"))
}

func newRunCmd(g *globals) *cobra.Command {
	var (
		f        planFlags
		c        conn
		incident string
		as       string
		wait     bool
		key      string
	)
	cmd := &cobra.Command{
		Use: "run FILE --env NAME [--param name=value]... [--incident ID] [--wait]",
		Example: `  drctl run runbooks/library/loss-of-instance.yaml --env production --incident INC-4711
  drctl run runbooks/library/nightly-restore.yaml --env staging --wait   # exit 0, 1, or 3 when it pauses`,
		Short: "compile a runbook and start it as a durable run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := f.compile(g, args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			// On a source whose decisions are signed, starting a run is one.
			var sign func(id string) (*workflows.Signature, error)
			if plan.Signed && plan.Role == runbooks.RoleSource {
				sign = func(id string) (*workflows.Signature, error) {
					return signDecision(g, key, workflows.Statement{Run: id, Action: workflows.DecideStart, Target: plan.Hash, User: as})
				}
			}
			id, err := cl.Start(cmd.Context(), plan, as, incident, sign)
			if err != nil {
				return failed("%w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %s\n%s\n", id, cl.URL(id))
			if !wait {
				return nil
			}
			return waitRun(cmd.Context(), cmd.OutOrStdout(), cl, id)
		},
	}
	f.register(cmd)
	c.register(cmd)
	cmd.Flags().StringVar(&incident, "incident", "", "incident id, recorded on the run")
	cmd.Flags().StringVar(&as, "as", whoami(), "who starts the run (env DRCTL_USER, else USER)")
	cmd.Flags().StringVar(&key, "key", "", "private SSH key file to sign the start with, on a source environment (default: your key in ssh-agent)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to end or pause: exit 0 succeeded, 1 failed or refused, 3 paused for an operator")
	return cmd
}

// parseWith reads --with name=value pairs; values that parse as JSON keep
// their type.
func parseWith(pairs []string) (map[string]any, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, &exitError{code: exitUsage, msg: fmt.Sprintf("--with %q: write name=value", p)}
		}
		out[k] = jsonOrString(v)
	}
	return out, nil
}

// waitRun waits until the run ends, or until a step of it pauses for an
// operator: a pause is an answer too, so a script waiting on a nightly run
// is never left hanging on one.
func waitRun(ctx context.Context, out io.Writer, cl *runs.Client, id string) error {
	ended := make(chan error, 1)
	go func() { ended <- cl.GetWorkflow(ctx, id, "").Get(ctx, nil) }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-ended:
			if err != nil {
				return failed("run %s did not succeed: %v", id, err)
			}
			fmt.Fprintln(out, workflows.StateSucceeded)
			return nil
		case <-tick.C:
			st, _, err := cl.Status(ctx, id)
			if err != nil {
				continue
			}
			for _, s := range st.Steps {
				if s.State == workflows.StatePaused {
					fmt.Fprintf(out, "paused at step %s: %s\n  drctl retry %s %s   (optionally --with name=value)\n  drctl skip %s %s --reason TEXT\n  drctl cancel %s\n",
						s.ID, s.Error, id, s.ID, id, s.ID, id)
					return &exitError{code: exitPaused, msg: fmt.Sprintf("run %s paused at step %s, waiting for an operator", id, s.ID)}
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
