package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/internal/walarchive"
	"github.com/drctl/drctl/runbooks"
)

func newArchiveCmd(g *globals) *cobra.Command {
	archive := &cobra.Command{
		Use:   "archive",
		Short: "set up an environment's WAL archive, for point-in-time recovery",
	}
	var env, store string
	setup := &cobra.Command{
		Use:   "setup --env NAME [--store NAME]",
		Short: "print the Postgres settings that archive an environment's WAL through drctl",
		Long: `setup prints the settings that make Postgres archive its WAL into the
environment's store through drctl wal-push: lines for postgresql.conf, and
the same as instance.settings for the environments file, so that every
instance drctl creates for the environment (a rebuilt one, above all)
archives too. Take a base backup after applying them (runbooks/library/
base-backup.yaml): recovery starts from one.`,
		Example: `  drctl archive setup --env production >> /etc/postgresql/15/main/conf.d/drctl.conf`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := runbooks.LoadConfig(g.config)
			if err != nil {
				return printDiagnostics(err, cmd.ErrOrStderr())
			}
			if _, err := cfg.Store(env, store); err != nil {
				return failed("%v", err)
			}
			self, err := os.Executable()
			if err != nil {
				return failed("finding this program: %v", err)
			}
			config, err := filepath.Abs(g.config)
			if err != nil {
				return failed("%v", err)
			}
			settings := walarchive.Settings(self, config, env, store)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "# postgresql.conf of %s's instance: archive its WAL into store %s\n", env, store)
			for _, kv := range settings {
				fmt.Fprintf(out, "%s = '%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", "''"))
			}
			fmt.Fprintf(out, "\n# %s, under environments.%s.instance, for the instances drctl creates:\n# settings:\n", g.config, env)
			for _, kv := range settings {
				fmt.Fprintf(out, "#   %s: %q\n", kv[0], kv[1])
			}
			return nil
		},
	}
	setup.Flags().StringVar(&env, "env", "", "environment whose WAL to archive")
	setup.Flags().StringVar(&store, "store", backup.DefaultStore, "store of the archive")
	_ = setup.MarkFlagRequired("env")
	archive.AddCommand(setup)
	return archive
}
