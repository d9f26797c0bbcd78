package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/worker"
)

func newWorkerCmd(g *globals) *cobra.Command {
	var (
		c       conn
		o       observer
		reports string
		envs    []string
		host    string
	)
	cmd := &cobra.Command{
		Use: "worker",
		Example: `  drctl worker                                  # every environment of drctl.yaml
  drctl worker --env production --metrics-listen :9090
  TEMPORAL_ADDRESS=temporal.internal:7233 TEMPORAL_NAMESPACE=dr drctl worker --env staging`,
		Short: "run a worker: it executes runbooks' steps (run as many as needed, one or more per environment)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			deps, err := workerDeps(g)
			if err != nil {
				return err
			}
			if len(envs) == 0 && len(deps.Envs) == 0 {
				return failed("no environments file (%s): a worker runs the steps of the environments in its file, or of --env NAME", g.config)
			}
			for _, env := range envs {
				if len(deps.Envs) == 0 {
					break // without a file, the steps that need none
				}
				if !slices.Contains(deps.Envs, env) {
					return failed("--env %s: %s has no such environment (it has: %s)", env, g.config, strings.Join(deps.Envs, ", "))
				}
			}
			if deps.ReportDir, err = filepath.Abs(reports); err != nil {
				return failed("%v", err)
			}
			defer o.close()
			cl, err := o.dial(cmd.Context(), &c, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer cl.Close()
			// Every run starts with drctl's search attributes: a cluster without
			// them would refuse each one, so they are there before anything is.
			if err := cl.EnsureSearchAttributes(cmd.Context()); err != nil {
				return failed("%w", err)
			}
			deps.Host = host
			w := worker.New(cl.Client, c.queue, envs, deps)
			cmd.Printf("worker on %s, task queues %s\nreports  %s\n", c.address, strings.Join(append([]string{c.queue}, w.Queues...), ", "), deps.ReportDir)
			if err := w.Run(sdkworker.InterruptCh()); err != nil {
				return failed("worker: %v", err)
			}
			return nil
		},
	}
	c.register(cmd)
	o.register(cmd)
	c.logLevel = slog.LevelInfo
	cmd.Flags().StringVar(&host, "host", "", "this machine's name for the runs pinned to it (default: its hostname); a worker started again under the same name takes their steps")
	cmd.Flags().StringArrayVar(&envs, "env", nil, "run the steps of this environment only (repeatable; default: every environment of the environments file)")
	cmd.Flags().StringVar(&reports, "reports", filepath.Join(".drctl", "reports"), "where report.write puts runs' reports, a folder per run")
	return cmd
}

// workerDeps reads the environments file for the activities. A worker
// without one still runs the steps that need no environment.
func workerDeps(g *globals) (worker.Deps, error) {
	cfg, err := optionalConfig(g)
	if cfg == nil || err != nil {
		return worker.Deps{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return worker.Deps{}, failed("finding this program: %v", err)
	}
	configPath, err := filepath.Abs(g.config)
	if err != nil {
		return worker.Deps{}, failed("%v", err)
	}
	return worker.DepsFrom(cfg, []string{self, "--config", configPath}), nil
}

// optionalConfig loads the environments file; nil when there is none.
func optionalConfig(g *globals) (*runbooks.Config, error) {
	if _, err := os.Stat(g.config); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cfg, err := runbooks.LoadConfig(g.config)
	if err != nil {
		return nil, failed("%v", err)
	}
	return cfg, nil
}
