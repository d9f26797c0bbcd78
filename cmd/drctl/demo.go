//go:build !noserver

package main

import (
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/demo"
)

// newDemoCmd plays the three incidents on this machine (see package demo).
func newDemoCmd(g *globals) *cobra.Command {
	var (
		dir    string
		uiPort int
		keep   bool
	)
	cmd := &cobra.Command{
		Use: "demo",
		Example: `  drctl demo
  drctl demo --keep --ui-port 8233   # look around in the Web UI afterwards`,
		Short: "play the three incidents (data loss, loss of the instance, the nightly drill) on local Postgres clusters, end to end",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := demo.Run(ctx, cmd.OutOrStdout(), demo.Options{Dir: dir, UIPort: uiPort, Keep: keep}); err != nil {
				return failed("%w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", filepath.Join(".drctl", "demo"), "folder for the demo's clusters, backups and server (recreated)")
	cmd.Flags().IntVar(&uiPort, "ui-port", 0, "Web UI port (0: a free one, -1: none)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the server, UI and clusters running until Ctrl-C")
	return cmd
}
