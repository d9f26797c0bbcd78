package main

import (
	"github.com/spf13/cobra"
	sdkworker "go.temporal.io/sdk/worker"
	"log/slog"

	"github.com/drctl/drctl/worker"
)

func newWorkerCmd() *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "run a worker: it executes runbooks' steps (run as many as needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			w := sdkworker.New(cl, c.queue, worker.Options())
			worker.Register(w)
			cmd.Printf("worker on %s, task queue %s\n", c.address, c.queue)
			if err := w.Run(sdkworker.InterruptCh()); err != nil {
				return failed("worker: %v", err)
			}
			return nil
		},
	}
	c.register(cmd)
	c.logLevel = slog.LevelInfo
	return cmd
}
