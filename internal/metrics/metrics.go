// Package metrics serves what a worker, serve or dev measures, for
// Prometheus: the Temporal SDK's own series (workflow and activity
// counts, latencies, poller health) and drctl's (runs, steps, gates,
// drills, backups), which the interpreter and the activities emit through
// the SDK's metrics handler, so a replayed run never counts twice.
//
// tally and its Prometheus reporter come with the embedded server already;
// the SDK's own tally adapter would be one more module for the few lines
// of handler below.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
	"unicode"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
)

// Metrics is one process's registry and the SDK handler that feeds it.
type Metrics struct {
	registry *prom.Registry
	scope    tally.Scope
	closer   io.Closer
	// Handler goes into the SDK client's options.
	Handler client.MetricsHandler
}

// New makes the registry and the handler. Timers become histograms, so
// they sum across workers.
func New() *Metrics {
	reg := prom.NewRegistry()
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg, Gatherer: reg, DefaultTimerType: tallyprom.HistogramTimerType,
		OnRegisterError: func(err error) { slog.Warn("metrics: registering a series", "error", err) }})
	// Names and label keys as Prometheus allows them; label values as they
	// are ("nightly-restore", "postgres.restore"), so they match the runbook
	// and step type an operator searches for.
	sanitize := tallyprom.DefaultSanitizerOpts
	sanitize.ValueCharacters = tally.ValidCharacters{Ranges: []tally.SanitizeRange{{' ', unicode.MaxRune}}}
	scope, closer := tally.NewRootScope(tally.ScopeOptions{CachedReporter: reporter, Separator: tallyprom.DefaultSeparator,
		SanitizeOptions: &sanitize}, time.Second)
	return &Metrics{registry: reg, scope: scope, closer: closer, Handler: handler{scope}}
}

// Serve serves /metrics and the probes on listen until the process ends,
// and returns the address it listens on.
func (m *Metrics) Serve(listen string, ready func(context.Context) error) (string, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("metrics: listening on %s: %w", listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	Probes(mux, ready)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Warn("metrics: serving", "error", err)
		}
	}()
	return l.Addr().String(), nil
}

// Close flushes the last values.
func (m *Metrics) Close() error { return m.closer.Close() }

// handler is client.MetricsHandler over a tally scope.
type handler struct{ scope tally.Scope }

func (h handler) WithTags(tags map[string]string) client.MetricsHandler {
	return handler{h.scope.Tagged(tags)}
}
func (h handler) Counter(name string) client.MetricsCounter { return h.scope.Counter(name) }
func (h handler) Gauge(name string) client.MetricsGauge     { return h.scope.Gauge(name) }
func (h handler) Timer(name string) client.MetricsTimer     { return h.scope.Timer(name) }

// Probes adds to mux the endpoints an orchestrator's probes call: /healthz
// answers while the process serves at all, /readyz only while ready says
// it can do its work (reach Temporal), so traffic and restarts follow what
// is true.
func Probes(mux *http.ServeMux, ready func(context.Context) error) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}
