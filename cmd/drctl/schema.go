package main

import (
	"github.com/spf13/cobra"

	"github.com/drctl/drctl/runbooks"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "print the JSON Schema of the runbook format (for yaml-language-server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printJSON(cmd.OutOrStdout(), runbooks.Schema())
		},
	}
}
