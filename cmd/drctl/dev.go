//go:build !noserver

package main

import (
	"io"
	"log/slog"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/serve"
	"github.com/drctl/drctl/worker"
	"github.com/drctl/drctl/worker/devserver"
	"github.com/drctl/drctl/workflows"
)

func newDevCmd(g *globals) *cobra.Command {
	var (
		c         conn
		o         observer
		db        string
		port      int
		uiPort    int
		noWorker  bool
		retention time.Duration
		listen    string
	)
	cmd := &cobra.Command{
		Use: "dev",
		Example: `  drctl dev                              # server, Web UI on :8233 and a worker
  drctl dev --metrics-listen :9090       # and Prometheus metrics`,
		Short: "run an embedded Temporal server (SQLite file), its Web UI and a worker in one process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			srv, err := devserver.Start(ctx, devserver.Options{DBFile: db, Port: port, UIPort: uiPort,
				Namespace: c.namespace, Retention: retention, SearchAttributes: workflows.SearchAttributeNames})
			if err != nil {
				return failed("%v", err)
			}
			defer srv.Stop()
			c.address, c.local, c.uiURL = srv.Address, true, srv.UIURL
			defer o.close()
			cl, err := o.dial(ctx, &c, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer cl.Close()
			if !noWorker {
				deps, err := workerDeps(g)
				if err != nil {
					return err
				}
				// Reports live beside the server's state.
				if deps.ReportDir, err = filepath.Abs(filepath.Join(filepath.Dir(db), "reports")); err != nil {
					return failed("%v", err)
				}
				cmd.Printf("reports  %s\n", deps.ReportDir)
				w := worker.New(cl.Client, c.queue, nil, deps)
				if err := w.Start(); err != nil {
					return failed("starting the worker: %v", err)
				}
				defer w.Stop()
			}
			cmd.Printf("temporal %s (namespace %s, database %s)\n", srv.Address, c.namespace, db)
			if srv.UIURL != "" {
				cmd.Printf("web ui   %s\n", srv.UIURL)
			}
			// The Slack endpoint and the HTTP API run when the environments
			// file has a Slack app or API callers; if they cannot, nothing
			// runs: a half-started dev would leave approvers without their
			// buttons and no one told.
			errs := make(chan error, 1) // the endpoint's end
			cfg, err := optionalConfig(g)
			if err != nil {
				return err
			}
			if cfg != nil && serve.Wanted(cfg) && listen != "" {
				ready := make(chan struct{})
				go func() { errs <- serve.Run(ctx, &readyWriter{w: cmd.OutOrStdout(), ready: ready}, listen, cl, cfg) }()
				select {
				case <-ready:
				case err := <-errs:
					return failed("the Slack endpoint and the HTTP API of %s cannot start, so nothing does: %v\n(fix the environments file, or run without them: --listen '')", cfg.File, err)
				}
			}
			cmd.Println("ready")
			<-ctx.Done()
			return nil
		},
	}
	c.register(cmd)
	o.register(cmd)
	c.logLevel = slog.LevelInfo
	cmd.Flags().StringVar(&db, "db", ".drctl/temporal.db", "SQLite file the server keeps its state in")
	cmd.Flags().IntVar(&port, "port", 7233, "frontend port (0: a free one)")
	cmd.Flags().IntVar(&uiPort, "ui-port", 8233, "Web UI port (0: a free one, -1: no UI)")
	cmd.Flags().BoolVar(&noWorker, "no-worker", false, "run only the server and UI")
	cmd.Flags().DurationVar(&retention, "retention", 90*24*time.Hour, "how long finished runs are kept")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8088", "address of the Slack endpoint and the HTTP API (when the environments file has a slack: app or api: users)")
	return cmd
}

// readyWriter passes output on and says when the first line was written.
type readyWriter struct {
	w     io.Writer
	ready chan struct{}
	once  sync.Once
}

func (r *readyWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	r.once.Do(func() { close(r.ready) })
	return n, err
}
