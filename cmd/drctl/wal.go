package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/internal/walarchive"
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
	var batch int
	cmd := &cobra.Command{
		Use: "wal-push --env NAME [--store NAME] [--batch N] PATH",
		Example: `  # postgresql.conf (drctl archive setup prints it):
  archive_command = '/usr/local/bin/drctl' --config '/etc/drctl/drctl.yaml' wal-push --env 'production' --store 'backups' %p`,
		Short: "archive a WAL file into the environment's store (Postgres's archive_command: drctl wal-push --env prod %p)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 0 {
				return &exitError{code: exitUsage, msg: fmt.Sprintf("--batch %d: the number of other ready files to archive with it is 0 or more", batch)}
			}
			p := walarchive.Pusher{
				Env:   env,
				Batch: batch,
				Open: func(context.Context) (backup.Store, []string, error) {
					s, sc, err := walStore(cmd, g, env, store)
					if err != nil {
						return nil, nil, err
					}
					return s, sc.Recipients, nil
				},
			}
			if err := p.Push(cmd.Context(), args[0]); err != nil {
				return stepFailed(err)
			}
			return nil
		},
	}
	archiveFlags(cmd, &env, &store)
	cmd.Flags().IntVar(&batch, "batch", 8, "also archive up to N more files Postgres has ready, over the same connection, 4 at a time; its calls for them then return at once (0: one a call)")
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
			f := walarchive.Fetcher{
				Env:   env,
				Ahead: ahead,
				Open: func(context.Context) (backup.Store, string, error) {
					return walArchive(cmd, g, env, store)
				},
				Background: func(lock *os.File, spool string, names []string) error {
					return startPrefetch(g, env, store, lock, spool, names)
				},
			}
			if err := f.Fetch(cmd.Context(), args[0], args[1]); err != nil {
				return stepFailed(err)
			}
			return nil
		},
	}
	archiveFlags(cmd, &env, &store)
	cmd.Flags().IntVar(&ahead, "prefetch", 8, "keep the next N segments fetched ahead, in the background, for recovery's next calls, at most 128 MiB of them (0: one at a time)")
	return cmd
}

// walArchive opens the archive to fetch from and resolves the identity
// that decrypts it.
func walArchive(cmd *cobra.Command, g *globals, env, store string) (backup.Store, string, error) {
	s, sc, err := walStore(cmd, g, env, store)
	if err != nil {
		return nil, "", err
	}
	if sc.Identity == "" {
		s.Close()
		return nil, "", failed("store %s of environment %s has no identity to decrypt WAL with", store, env)
	}
	identity, err := sc.Identity.Resolve(cmd.Context())
	if err != nil {
		s.Close()
		return nil, "", failed("%v", err)
	}
	return s, identity, nil
}

// startPrefetch runs wal-fetch's background fetch as a process of its
// own, which outlives the call recovery waits on. It inherits the spool's
// lock (held while it runs) as its file 3, and a session of its own, so
// that what stops the restore_command does not cut it off half-way.
func startPrefetch(g *globals, env, store string, lock *os.File, spool string, names []string) error {
	defer lock.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"wal-prefetch", "--env", env, "--store", store, spool}
	if g.config != "" {
		args = append([]string{"--config", g.config}, args...)
	}
	child := exec.Command(exe, append(args, names...)...)
	child.ExtraFiles = []*os.File{lock}
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return err
	}
	return child.Process.Release()
}

// prefetchTimeout ends a background fetch that a stuck store holds up;
// recovery's calls have long since fetched their segments themselves.
const prefetchTimeout = 10 * time.Minute

func newWALPrefetchCmd(g *globals) *cobra.Command {
	var env, store string
	cmd := &cobra.Command{
		Use:    "wal-prefetch --env NAME [--store NAME] SPOOL SEGMENT...",
		Short:  "wal-fetch's background fetch of the segments after the one recovery asked for",
		Hidden: true,
		Args:   cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The spool's lock, held until the fetches are done.
			lock := os.NewFile(3, "spool lock")
			if !walarchive.IsSpoolLock(lock, args[0]) {
				return &exitError{code: exitUsage, msg: "wal-prefetch is wal-fetch's own: it runs with the spool's lock as its file 3"}
			}
			defer lock.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), prefetchTimeout)
			defer cancel()
			s, identity, err := walArchive(cmd, g, env, store)
			if err != nil {
				return err
			}
			defer s.Close()
			walarchive.Prefetch(ctx, s, identity, env, args[0], args[1:])
			return nil
		},
	}
	archiveFlags(cmd, &env, &store)
	return cmd
}

// archiveFlags names the WAL archive both commands work on.
func archiveFlags(cmd *cobra.Command, env, store *string) {
	cmd.Flags().StringVar(env, "env", "", "environment whose archive this is")
	cmd.Flags().StringVar(store, "store", backup.DefaultStore, "store of the archive")
	_ = cmd.MarkFlagRequired("env")
}
