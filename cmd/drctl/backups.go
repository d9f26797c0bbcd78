package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/runbooks"
)

// newBackupsCmd lists an environment's backups from their metadata
// records, the question an operator asks first in an outage: what is
// there, how recent, and does it hold anything. It reads the store
// directly, with no worker or Temporal server, and never decrypts.
func newBackupsCmd(g *globals) *cobra.Command {
	var (
		in     backup.ListInput
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "backups --env NAME [--store NAME] [--datastore DB] [--from DATE] [--to DATE]",
		Short: "list an environment's complete backups, oldest first, with their size, rows and verification",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, d := range []string{in.From, in.To} {
				if _, err := time.Parse(time.DateOnly, d); d != "" && err != nil {
					return &exitError{code: exitUsage, msg: fmt.Sprintf("%q is not a date (yyyy-mm-dd)", d)}
				}
			}
			cfg, err := runbooks.LoadConfig(g.config)
			if err != nil {
				return failed("%v", err)
			}
			list, err := (&backup.Backup{Stores: cfg.Store}).List(cmd.Context(), in)
			if err != nil {
				return stepFailed(err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			if list.Count == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no complete backups of %s in store %s in that range\n", in.Env, in.Store)
				return nil
			}
			return printBackups(cmd.OutOrStdout(), list.Entries)
		},
	}
	cmd.Flags().StringVar(&in.Env, "env", "", "environment whose backups to list")
	cmd.Flags().StringVar(&in.Store, "store", backup.DefaultStore, "store to list")
	cmd.Flags().StringVar(&in.Datastore, "datastore", "", "only this datastore's backups")
	cmd.Flags().StringVar(&in.From, "from", "", "first date (yyyy-mm-dd, UTC)")
	cmd.Flags().StringVar(&in.To, "to", "", "last date (yyyy-mm-dd, UTC)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the entries with all their metadata as JSON")
	_ = cmd.MarkFlagRequired("env")
	return cmd
}

// printBackups prints backups as a table, one line each.
func printBackups(w io.Writer, entries []backup.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STOPPED (UTC)\tDATASTORE\tSIZE\tROWS\tVERIFIED\tKEY")
	for _, e := range entries {
		verified := "—"
		if e.VerifiedAt != nil {
			verified = e.VerifiedAt.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.StoppedAt.UTC().Format(time.DateTime), e.Datastore,
			humanize.IBytes(uint64(max(e.Size, 0))), rows(e), verified, e.Key)
	}
	return tw.Flush()
}

// rows is a backup's total of recorded rows; a backup that recorded its
// tables and holds no rows says so loudly.
func rows(e backup.Entry) string {
	if e.RowCounts == nil {
		return "—"
	}
	var n int64
	for _, c := range e.RowCounts {
		n += c
	}
	if n == 0 {
		return "0 EMPTY"
	}
	return fmt.Sprint(n)
}
