package main

import (
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/serve"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		c      conn
		o      observer
		listen string
	)
	cmd := &cobra.Command{
		Use:     "serve",
		Example: `  drctl serve --listen :8088 --metrics-listen :9090`,
		Short:   "serve Slack's button clicks and slash commands (/slack/...) and the HTTP API (/api/runs/...)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg, err := runbooks.LoadConfig(g.config)
			if err != nil {
				return printDiagnostics(err, cmd.ErrOrStderr())
			}
			defer o.close()
			cl, err := o.dial(ctx, &c, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer cl.Close()
			// Every run starts with drctl's search attributes: a cluster without
			// them would refuse each one, so they are there before anything is.
			if err := cl.EnsureSearchAttributes(cmd.Context()); err != nil {
				return failed("%w", err)
			}
			if err := serve.Run(ctx, cmd.OutOrStdout(), listen, cl, cfg); err != nil {
				return failed("%w", err)
			}
			return nil
		},
	}
	c.register(cmd)
	o.register(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8088", "address to serve on")
	return cmd
}
