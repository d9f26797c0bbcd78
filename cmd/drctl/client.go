package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"

	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/worker"
)

// conn are the flags that reach a Temporal cluster: the embedded one of
// `drctl dev` by default, or an existing cluster in production.
type conn struct {
	address   string
	namespace string
	profile   string
	queue     string
	tlsCert   string
	tlsKey    string
	tlsCA     string
	apiKey    string
	uiURL     string
	// logLevel is Info for workers, whose activity logs are the console
	// output an operator reads, and Warn for one-shot commands.
	logLevel slog.Level
	// logTo is where those logs go: standard error unless set; logJSON
	// writes them as JSON, a line each, for a log store.
	logTo   io.Writer
	logJSON bool
	// local is the embedded server of drctl dev or the demo, which no
	// TEMPORAL_* setting meant for another cluster may redirect.
	local bool
	// metrics, when set, receives the SDK's measurements and drctl's.
	metrics client.MetricsHandler
}

func (c *conn) register(cmd *cobra.Command) {
	c.logLevel = slog.LevelWarn
	f := cmd.Flags()
	// Unset flags leave the settings to Temporal's own conventions: the
	// TEMPORAL_* variables and the profiles of its config file.
	f.StringVar(&c.address, "temporal-address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS, the profile's, else 127.0.0.1:7233)")
	f.StringVar(&c.namespace, "namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE, the profile's, else default)")
	f.StringVar(&c.profile, "profile", "", "profile of Temporal's client config file (default: TEMPORAL_PROFILE, else default)")
	f.StringVar(&c.queue, "task-queue", worker.TaskQueue, "task queue of the drctl workers")
	f.StringVar(&c.tlsCert, "tls-cert", "", "client certificate file for mTLS")
	f.StringVar(&c.tlsKey, "tls-key", "", "client key file for mTLS")
	f.StringVar(&c.tlsCA, "tls-ca", "", "CA certificate file of the server")
	f.StringVar(&c.apiKey, "api-key", "", "API key as a secret reference (env:NAME or file:/path)")
	f.StringVar(&c.uiURL, "ui-url", envOr("DRCTL_UI_URL", "http://127.0.0.1:8233"), "Temporal Web UI address, for links")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dial connects to Temporal.
// dial connects to the cluster; the client knows where drctl's runs are.
func (c *conn) dial(ctx context.Context) (*runs.Client, error) {
	logTo := c.logTo
	if logTo == nil {
		logTo = os.Stderr
	}
	// Temporal's own conventions first (TEMPORAL_ADDRESS, _NAMESPACE,
	// _API_KEY, _TLS_*, TEMPORAL_PROFILE and its config file), so drctl
	// reaches the cluster the temporal CLI does; flags given override them.
	var opts client.Options
	if !c.local {
		var err error
		opts, err = envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{ConfigFileProfile: c.profile})
		if err != nil {
			return nil, failed("reading Temporal's client settings (TEMPORAL_* variables, %s): %v", envconfig.DefaultConfigFilePath(), err)
		}
	}
	opts.HostPort = cmp.Or(c.address, opts.HostPort, "127.0.0.1:7233")
	opts.Namespace = cmp.Or(c.namespace, opts.Namespace, "default")
	c.address, c.namespace = opts.HostPort, opts.Namespace
	var h slog.Handler = slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: c.logLevel})
	if c.logJSON {
		h = slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: c.logLevel})
		// drctl's own lines outside the SDK's (metrics, scratch sweeps) too.
		slog.SetDefault(slog.New(h))
	}
	opts.Logger = sdklog.NewStructuredLogger(slog.New(h))
	if c.tlsCert != "" || c.tlsCA != "" || c.apiKey != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
			if err != nil {
				return nil, failed("loading the client certificate: %v", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if c.tlsCA != "" {
			pem, err := os.ReadFile(c.tlsCA)
			if err != nil {
				return nil, failed("reading the CA certificate: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, failed("%s holds no PEM certificate", c.tlsCA)
			}
			tc.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = tc
	}
	if c.apiKey != "" {
		key, err := secret.Ref(c.apiKey).Resolve(ctx)
		if err != nil {
			return nil, failed("--api-key: %v", err)
		}
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	if c.metrics != nil {
		opts.MetricsHandler = c.metrics
	}
	cl, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, failed("cannot reach Temporal at %s: %v (is `drctl dev` running, or --temporal-address right?)", c.address, err)
	}
	return &runs.Client{Client: cl, Namespace: c.namespace, Queue: c.queue, UIURL: c.uiURL}, nil
}

// openRun dials and finds the run arg names (its id, or the start of it
// no other run shares): what every command on one run begins with.
func (c *conn) openRun(ctx context.Context, arg string) (*runs.Client, string, error) {
	cl, err := c.dial(ctx)
	if err != nil {
		return nil, "", err
	}
	id, err := cl.Resolve(ctx, arg)
	if err != nil {
		cl.Close()
		return nil, "", failed("%w", err)
	}
	return cl, id, nil
}
