// Package serve is the endpoint of drctl serve: Slack's button clicks,
// modal submissions and slash commands (slack.go), the HTTP API (api.go),
// and the probes an orchestrator calls. Every request is checked before it
// reaches a run: Slack's by the app's signature, the API's by its caller's
// token; decisions are signed with the voucher's key (voucher.go) and sent
// to the run, whose validators have the last word.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	"github.com/drctl/drctl/internal/metrics"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/runs"
)

// Limits bound each connection to the endpoint: reading a request
// (Slack's and the API's are a few KiB, sent at once), answering it (a
// vote waits for the workflow), lying idle, and how many may be open.
var Limits = struct {
	read, write, idle time.Duration
	conns             int
}{read: 10 * time.Second, write: time.Minute, idle: time.Minute, conns: 1024}

// Wanted tells whether the environments file asks for an endpoint: a
// Slack app, or callers of the HTTP API.
func Wanted(cfg *runbooks.Config) bool { return cfg.Slack != nil || cfg.API != nil }

// Run serves the Slack endpoint and the HTTP API, each when the
// environments file configures it, and the probes, until ctx ends. It
// prints what it serves in one write, which drctl dev waits for.
func Run(ctx context.Context, out io.Writer, listen string, cl *runs.Client, cfg *runbooks.Config) error {
	if !Wanted(cfg) {
		return fmt.Errorf("%s has neither a slack: app nor api: users, so there is nothing to serve", cfg.File)
	}
	mux := http.NewServeMux()
	metrics.Probes(mux, cl.Ready)
	routes := []string{"probes   http://ADDR/healthz, http://ADDR/readyz"}
	vouch, err := loadVoucher(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Slack != nil {
		h, err := newSlackHandler(ctx, cl, cfg, vouch)
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
		return fmt.Errorf("listening on %s: %v", listen, err)
	}
	// Every connection has a deadline and a size, and there is a cap on
	// how many are open: slow or half-sent requests cannot hold the
	// server's memory or its connections for long. No signature is needed
	// to open a connection, so none of this may wait for one.
	l = netutil.LimitListener(l, Limits.conns)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: Limits.read, ReadTimeout: Limits.read,
		WriteTimeout: Limits.write, IdleTimeout: Limits.idle, MaxHeaderBytes: 32 << 10}
	fmt.Fprintln(out, strings.ReplaceAll(strings.Join(routes, "\n"), "ADDR", l.Addr().String()))
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %v", err)
	}
	return nil
}
