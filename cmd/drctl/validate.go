package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/runbooks"
)

func newValidateCmd(*globals) *cobra.Command {
	return &cobra.Command{
		Use:     "validate FILE...",
		Example: `  drctl validate runbooks/*.yaml`,
		Short:   "check runbooks and report every problem as file:line:col",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, file := range args {
				src, err := os.ReadFile(file)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: cannot read: %v\n", file, err)
					bad++
					continue
				}
				if diags := runbooks.Validate(file, src); len(diags) > 0 {
					fmt.Fprint(cmd.ErrOrStderr(), diags.Lines())
					bad++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", file)
			}
			if bad > 0 {
				return &exitError{code: exitFailed, msg: fmt.Sprintf("%d of %d runbooks are invalid", bad, len(args))}
			}
			return nil
		},
	}
}
