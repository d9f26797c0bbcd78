package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/runbooks"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		c      conn
		listen string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "serve Slack's button clicks and slash commands (POST /slack/interactions, /slack/commands)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg, err := runbooks.LoadConfig(g.config)
			if err != nil {
				return printDiagnostics(err, cmd.ErrOrStderr())
			}
			cl, err := c.dial(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			return serveSlack(ctx, cmd.OutOrStdout(), listen, cl, &c, cfg)
		},
	}
	c.register(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8088", "address to serve on")
	return cmd
}

// serveSlack serves the Slack endpoint until ctx ends.
func serveSlack(ctx context.Context, out io.Writer, listen string, cl client.Client, c *conn, cfg *runbooks.Config) error {
	h, err := newSlackHandler(ctx, cl, c, cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return failed("listening on %s: %v", listen, err)
	}
	srv := &http.Server{Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "slack    http://%s/slack/interactions\n", l.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return failed("serving: %v", err)
	}
	return nil
}
