package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/internal/metrics"
	"github.com/drctl/drctl/runs"
)

// observer is what the long-running commands (worker, serve, dev) offer
// to be watched with: their logs' format, and Prometheus metrics and the
// probes on an address of their own, never shared with Slack's or the
// API's callers.
type observer struct {
	listen    string
	logFormat string
	m         *metrics.Metrics
}

func (o *observer) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.listen, "metrics-listen", "", "address to serve Prometheus metrics (/metrics) and probes (/healthz, /readyz) on; off when empty")
	cmd.Flags().StringVar(&o.logFormat, "log-format", "text", "text, or json: a JSON object a line, each step's with its run, step and environment")
}

// dial connects through c with the metrics hooked in, and starts the
// endpoint: its readiness is that client's reach of Temporal.
func (o *observer) dial(ctx context.Context, c *conn, out io.Writer) (*runs.Client, error) {
	switch o.logFormat {
	case "text":
	case "json":
		c.logJSON = true
	default:
		return nil, &exitError{code: exitUsage, msg: fmt.Sprintf("--log-format %q: text or json", o.logFormat)}
	}
	if o.listen != "" {
		o.m = metrics.New()
		c.metrics = o.m.Handler
	}
	cl, err := c.dial(ctx)
	if err != nil || o.m == nil {
		return cl, err
	}
	addr, err := o.m.Serve(o.listen, cl.Ready)
	if err != nil {
		cl.Close()
		return nil, failed("--metrics-listen: %v", err)
	}
	fmt.Fprintf(out, "metrics  http://%s/metrics\n", addr)
	return cl, nil
}

// close flushes the last measurements.
func (o *observer) close() {
	if o.m != nil {
		_ = o.m.Close()
	}
}
