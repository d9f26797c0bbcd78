//go:build noserver

package main

import "github.com/spf13/cobra"

// A binary built with -tags noserver leaves the embedded server out: it is
// a client and worker for an existing Temporal cluster.
func newDevCmd(*globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "not in this build (built with -tags noserver)",
		RunE: func(*cobra.Command, []string) error {
			return failed("this drctl was built without the embedded server; use --temporal-address with an existing cluster")
		},
	}
}

func newDemoCmd(*globals) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "not in this build (built with -tags noserver)",
		RunE: func(*cobra.Command, []string) error {
			return failed("this drctl was built without the embedded server the demo needs")
		},
	}
}
