package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/internal/metrics"
)

// observer is what the long-running commands (worker, serve, dev) offer
// to be watched with: Prometheus metrics and the probes, on their own
// address so they never share a port with Slack's or the API's callers.
type observer struct {
	listen string
	m      *metrics.Metrics
}

func (o *observer) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.listen, "metrics-listen", "", "address to serve Prometheus metrics (/metrics) and probes (/healthz, /readyz) on; off when empty")
}

// dial connects through c with the metrics hooked in, and starts the
// endpoint: its readiness is that client's reach of Temporal.
func (o *observer) dial(ctx context.Context, c *conn, out io.Writer) (client.Client, error) {
	if o.listen != "" {
		o.m = metrics.New()
		c.metrics = o.m.Handler
	}
	cl, err := c.dial(ctx)
	if err != nil || o.m == nil {
		return cl, err
	}
	addr, err := o.m.Serve(o.listen, metrics.Probes(reachable(cl)))
	if err != nil {
		cl.Close()
		return nil, failed("--metrics-listen: %v", err)
	}
	fmt.Fprintf(out, "metrics  http://%s/metrics\n", addr)
	return cl, nil
}

// probes adds /healthz and /readyz to an endpoint's own routes.
func probes(mux *http.ServeMux, cl client.Client) {
	for path, h := range metrics.Probes(reachable(cl)) {
		mux.HandleFunc("GET "+path, h)
	}
}

// reachable is ready while Temporal answers the client.
func reachable(cl client.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := cl.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}
}

// close flushes the last measurements.
func (o *observer) close() {
	if o.m != nil {
		_ = o.m.Close()
	}
}
