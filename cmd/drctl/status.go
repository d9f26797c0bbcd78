package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/runs"
)

func newStatusCmd() *cobra.Command {
	var (
		c      conn
		follow bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:               "status RUN [--follow]",
		Short:             "show a run's steps, gates and timeline",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns(&c),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, id, err := c.openRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer cl.Close()
			args[0] = id
			last := ""
			for {
				st, done, err := cl.Status(cmd.Context(), args[0])
				if err != nil {
					return failed("%w", err)
				}
				var b strings.Builder
				if asJSON {
					_ = printJSON(&b, st)
				} else {
					runs.PrintStatus(&b, st)
					runs.PrintTimeline(&b, st)
				}
				if b.String() != last {
					fmt.Fprint(cmd.OutOrStdout(), b.String())
					last = b.String()
				}
				if !follow || done {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&follow, "follow", false, "keep drawing until the run ends")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}
