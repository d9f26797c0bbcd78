// Package devserver runs a real Temporal server inside the drctl process,
// persisting to a SQLite file so runs survive a restart, with the Temporal
// Web UI beside it. It is what `drctl dev` and the end-to-end tests run; a
// fleet uses an existing Temporal cluster instead.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/drctl/drctl/internal/freeport"
	"github.com/drctl/drctl/runs"
)

const (
	host        = "127.0.0.1"
	clusterName = "active"
)

// Options configure an embedded server. Zero ports pick free ones.
type Options struct {
	DBFile    string
	Port      int
	UIPort    int // < 0: no UI
	Namespace string
	// Retention is how long finished runs (the incident's evidence) are
	// kept. The server's own default, one day, is far too short.
	Retention time.Duration
	// SearchAttributes are Keyword attributes the namespace must have.
	SearchAttributes []string
}

// Server is a running embedded Temporal server.
type Server struct {
	server  temporal.Server
	ui      *uiserver.Server
	Address string
	UIURL   string
}

// Start starts the server and returns when it answers, with the
// namespace's retention and search attributes set.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Retention == 0 {
		o.Retention = 90 * 24 * time.Hour
	}
	var err error
	if o.Port == 0 {
		if o.Port, err = freeport.Loopback(); err != nil {
			return nil, err
		}
	}
	cfg, err := serverConfig(o)
	if err != nil {
		return nil, err
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range cfg.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(fmt.Sprintf("%s:%d", host, svc.RPC.GRPCPort))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "error", Format: "json"}))),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
			// A worker that schedules an activity may take it at once,
			// skipping a round trip through matching.
			dynamicconfig.EnableActivityEagerExecution.Key(): true,
			// With one history shard, the default of 20 reads a second
			// of the transfer and timer queues puts ~50 ms on every
			// workflow task and timer; a runbook step is both.
			dynamicconfig.TransferProcessorMaxPollRPS.Key(): 1000,
			dynamicconfig.TimerProcessorMaxPollRPS.Key():    1000,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("creating the embedded Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting the embedded Temporal server: %w", err)
	}
	s := &Server{server: srv, Address: fmt.Sprintf("%s:%d", host, o.Port)}
	if err := s.prepare(ctx, o); err != nil {
		s.Stop()
		return nil, err
	}
	if o.UIPort >= 0 {
		if o.UIPort == 0 {
			if o.UIPort, err = freeport.Loopback(); err != nil {
				s.Stop()
				return nil, err
			}
		}
		s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
			Host: host, Port: o.UIPort, TemporalGRPCAddress: s.Address, EnableUI: true,
			DefaultNamespace: o.Namespace, HideLogs: true, DisableNewsFetch: true,
			CORS: uiconfig.CORS{CookieInsecure: true},
		}))
		go func() { _ = s.ui.Start() }()
		s.UIURL = fmt.Sprintf("http://%s:%d", host, o.UIPort)
	}
	return s, nil
}

// Stop stops the UI and the server.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.server.Stop()
}

// prepare waits for the frontend, then sets retention and search attributes
// on every start, so an old database file gets them too.
func (s *Server) prepare(ctx context.Context, o Options) error {
	c, err := client.DialContext(ctx, client.Options{HostPort: s.Address, Namespace: o.Namespace, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return fmt.Errorf("connecting to the embedded server: %w", err)
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: o.Namespace})
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("the embedded server did not come up: %w", err)
	}
	_, err = c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace: o.Namespace,
		Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(o.Retention)},
	})
	if err != nil {
		return fmt.Errorf("setting the retention of namespace %s: %w", o.Namespace, err)
	}
	return runs.EnsureSearchAttributes(ctx, c, o.Namespace, o.SearchAttributes)
}

func serverConfig(o Options) (*config.Config, error) {
	sqlCfg := &config.SQL{PluginName: sqliteplugin.PluginName, DatabaseName: o.DBFile,
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "normal"}}
	if o.DBFile == "" {
		return nil, errors.New("the embedded server needs a database file")
	}
	if err := os.MkdirAll(filepath.Dir(o.DBFile), 0o700); err != nil {
		return nil, fmt.Errorf("creating the folder of %s: %w", o.DBFile, err)
	}
	if _, err := os.Stat(o.DBFile); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			return nil, fmt.Errorf("creating the Temporal schema in %s: %w", o.DBFile, err)
		}
	}
	// Search attributes given here exist from the first start; the
	// frontend only learns of ones added later through its namespace
	// cache, seconds after they are added.
	attrs := map[string]enumspb.IndexedValueType{}
	for _, name := range o.SearchAttributes {
		attrs[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, attrs)
	if err != nil {
		return nil, err
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", o.Namespace, err)
	}
	httpPort, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	cfg := &config.Config{}
	cfg.Global.Membership.MaxJoinDuration = 30 * time.Second
	cfg.Global.Membership.BroadcastAddress = host
	cfg.Persistence.DefaultStore = "sqlite"
	cfg.Persistence.VisibilityStore = "sqlite"
	cfg.Persistence.NumHistoryShards = 1
	cfg.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlCfg}}
	cfg.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10, MasterClusterName: clusterName, CurrentClusterName: clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled: true, InitialFailoverVersion: 1, ClusterID: "drctl-dev",
			RPCAddress: fmt.Sprintf("%s:%d", host, o.Port), HTTPAddress: fmt.Sprintf("%s:%d", host, httpPort),
		}},
	}
	cfg.DCRedirectionPolicy.Policy = "noop"
	cfg.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = host
		if name == "frontend" {
			svc.RPC.GRPCPort, svc.RPC.HTTPPort = o.Port, httpPort
		} else if svc.RPC.GRPCPort, err = freeport.Loopback(); err != nil {
			return nil, err
		}
		cfg.Services[name] = svc
	}
	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	cfg.PublicClient.HostPort = fmt.Sprintf("%s:%d", host, o.Port)
	return cfg, nil
}
