package main

import (
	"strings"

	"github.com/spf13/cobra"
)

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
		ids, err := cl.Recent(cmd.Context(), 200)
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
