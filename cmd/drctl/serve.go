package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"golang.org/x/net/netutil"

	"github.com/drctl/drctl/runbooks"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		c      conn
		o      observer
		listen string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "serve Slack's button clicks and slash commands (/slack/...) and the HTTP API (/api/runs/...)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg, err := runbooks.LoadConfig(g.config)
			if err != nil {
				return printDiagnostics(err, cmd.ErrOrStderr())
			}
			defer o.close()
			cl, err := o.dial(ctx, &c, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer cl.Close()
			return serveHTTP(ctx, cmd.OutOrStdout(), listen, cl, &c, cfg)
		},
	}
	c.register(cmd)
	o.register(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8088", "address to serve on")
	return cmd
}

// serveLimits bound each connection to the endpoint: reading a request
// (Slack's and the API's are a few KiB, sent at once), answering it (a
// vote waits for the workflow), lying idle, and how many may be open.
var serveLimits = struct {
	read, write, idle time.Duration
	conns             int
}{read: 10 * time.Second, write: time.Minute, idle: time.Minute, conns: 1024}

// serves tells whether the environments file asks for an endpoint: a
// Slack app, or callers of the HTTP API.
func serves(cfg *runbooks.Config) bool { return cfg.Slack != nil || cfg.API != nil }

// serveHTTP serves the Slack endpoint and the HTTP API, each when the
// environments file configures it, until ctx ends. It prints what it
// serves in one write, which drctl dev waits for.
func serveHTTP(ctx context.Context, out io.Writer, listen string, cl client.Client, c *conn, cfg *runbooks.Config) error {
	if !serves(cfg) {
		return failed("%s has neither a slack: app nor api: users, so there is nothing to serve", cfg.File)
	}
	mux := http.NewServeMux()
	probes(mux, cl)
	routes := []string{"probes   http://ADDR/healthz, http://ADDR/readyz"}
	vouch, err := loadVoucher(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Slack != nil {
		h, err := newSlackHandler(ctx, cl, c, cfg, vouch)
		if err != nil {
			return err
		}
		h.register(mux)
		routes = append(routes, "slack    http://ADDR/slack/interactions")
	}
	if cfg.API != nil {
		h, err := newAPIHandler(ctx, cl, cfg, vouch)
		if err != nil {
			return err
		}
		h.register(mux)
		routes = append(routes, "api      http://ADDR/api/runs/")
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return failed("listening on %s: %v", listen, err)
	}
	// Every connection has a deadline and a size, and there is a cap on
	// how many are open: slow or half-sent requests cannot hold the
	// server's memory or its connections for long. No signature is needed
	// to open a connection, so none of this may wait for one.
	l = netutil.LimitListener(l, serveLimits.conns)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: serveLimits.read, ReadTimeout: serveLimits.read,
		WriteTimeout: serveLimits.write, IdleTimeout: serveLimits.idle, MaxHeaderBytes: 32 << 10}
	fmt.Fprintln(out, strings.ReplaceAll(strings.Join(routes, "\n"), "ADDR", l.Addr().String()))
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
