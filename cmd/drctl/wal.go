package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/runbooks"
)

// walStore opens the store WAL is archived in, from the environments file.
func walStore(cmd *cobra.Command, g *globals, env, name string) (backup.Store, *backup.StoreConfig, error) {
	cfg, err := runbooks.LoadConfig(g.config)
	if err != nil {
		return nil, nil, failed("%v", err)
	}
	sc, err := cfg.Store(env, name)
	if err != nil {
		return nil, nil, failed("%v", err)
	}
	s, err := backup.Open(cmd.Context(), sc)
	if err != nil {
		return nil, nil, failed("%v", err)
	}
	return s, sc, nil
}

func newWALPushCmd(g *globals) *cobra.Command {
	var env, store string
	cmd := &cobra.Command{
		Use:   "wal-push --env NAME [--store NAME] PATH",
		Short: "archive a WAL file into the environment's store (Postgres's archive_command: drctl wal-push --env prod %p)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, sc, err := walStore(cmd, g, env, store)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := postgres.PushWAL(cmd.Context(), s, sc.Recipients, env, args[0]); err != nil {
				return stepFailed(err)
			}
			return nil
		},
	}
	archiveFlags(cmd, &env, &store)
	return cmd
}

func newWALFetchCmd(g *globals) *cobra.Command {
	var env, store string
	var ahead int
	cmd := &cobra.Command{
		Use:   "wal-fetch --env NAME [--store NAME] [--prefetch N] SEGMENT DEST",
		Short: "restore an archived WAL file (Postgres's restore_command: drctl wal-fetch --env prod %f %p)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ahead < 0 {
				return &exitError{code: exitUsage, msg: fmt.Sprintf("--prefetch %d: the number of segments to fetch ahead is 0 or more", ahead)}
			}
			s, sc, err := walStore(cmd, g, env, store)
			if err != nil {
				return err
			}
			defer s.Close()
			if sc.Identity == "" {
				return failed("store %s of environment %s has no identity to decrypt WAL with", store, env)
			}
			identity, err := sc.Identity.Resolve(cmd.Context())
			if err != nil {
				return failed("%v", err)
			}
			if err := postgres.FetchWAL(cmd.Context(), s, identity, env, args[0], args[1], ahead); err != nil {
				return stepFailed(err)
			}
			return nil
		},
	}
	archiveFlags(cmd, &env, &store)
	cmd.Flags().IntVar(&ahead, "prefetch", 8, "also fetch the next N segments, concurrently, for recovery's next calls, at most 128 MiB of them (0: one at a time)")
	return cmd
}

// archiveFlags names the WAL archive both commands work on.
func archiveFlags(cmd *cobra.Command, env, store *string) {
	cmd.Flags().StringVar(env, "env", "", "environment whose archive this is")
	cmd.Flags().StringVar(store, "store", backup.DefaultStore, "store of the archive")
	_ = cmd.MarkFlagRequired("env")
}
