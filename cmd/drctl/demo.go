//go:build !noserver

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/worker"
	"github.com/drctl/drctl/worker/devserver"
	"github.com/drctl/drctl/workflows"
)

// The demo plays the three incidents on this machine with real parts: a
// production and a staging Postgres (production archiving its WAL),
// encrypted backups in local folders, the embedded Temporal server and a
// worker. The incidents themselves are in demo_incidents.go.
func newDemoCmd(g *globals) *cobra.Command {
	var (
		dir    string
		uiPort int
		keep   bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "play the three incidents (data loss, loss of the instance, the nightly drill) on local Postgres clusters, end to end",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), dir, uiPort, keep)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", filepath.Join(".drctl", "demo"), "folder for the demo's clusters, backups and server (recreated)")
	cmd.Flags().IntVar(&uiPort, "ui-port", 0, "Web UI port (0: a free one, -1: none)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the server, UI and clusters running until Ctrl-C")
	return cmd
}

// demoConfig is the demo's environments file: production archives its WAL
// through drctl, and every instance drctl makes for it does too.
const demoConfig = `# Written by drctl demo.
groups:
  oncall: [demo-approver]
users:
  demo: {ssh_keys: [%[8]q]}
  demo-approver: {ssh_keys: [%[9]q]}
environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_DEMO_PRODUCTION_URL"}
    instance:
      provider: local
      data_dir: %[1]q
      settings: {wal_level: replica, archive_mode: "on", archive_command: %[6]q, archive_timeout: "60s"}
    stores:
      backups: {type: local, path: %[2]q, recipients: [%[4]q], identity: "env:DRCTL_DEMO_IDENTITY"}
      offsite: {type: local, path: %[3]q, recipients: [%[4]q], identity: "env:DRCTL_DEMO_IDENTITY"}
    maintenance: {provider: file, file: %[7]q}
    policy:
      approval: {required: true, quorum: 1, allow_initiator: false, approvers: ["group:oncall"]}
      on_error: abort
      retention: {keep_daily: 14, keep_weekly: 8}
    vars: {events_table: events, events_column: created_at}
  staging:
    role: target
    database: {name: register, url: "env:DRCTL_DEMO_STAGING_URL"}
    instance: {provider: local, data_dir: %[5]q}
    vars:
      events_table: events
      events_column: created_at
      test_accounts: [qa.admin@example.org]
`

func runDemo(ctx context.Context, w io.Writer, dir string, uiPort int, keep bool) error {
	d := &demo{ctx: ctx, w: w, paths: map[string]string{}}
	if _, err := pglocal.BinDir(); err != nil {
		return failed("%v", err)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	stopClusters(ctx, dir)
	if err := os.RemoveAll(dir); err != nil {
		return failed("clearing %s: %v", dir, err)
	}
	for _, p := range []string{"production", "staging", "backups", "offsite", "reports"} {
		d.paths[p] = filepath.Join(dir, p)
		if err := os.MkdirAll(d.paths[p], 0o711); err != nil {
			return err
		}
	}
	if err := archiveFolder(d.paths["backups"]); err != nil {
		return err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	os.Setenv("DRCTL_DEMO_IDENTITY", id.String())
	self, err := os.Executable()
	if err != nil {
		return err
	}
	d.cfgPath = filepath.Join(dir, "drctl.yaml")
	archive := archiveSettings(self, d.cfgPath, "production", "backups")
	// The demo's two people sign their decisions, as production's policy
	// requires: the one who starts the runs, and the approver.
	for _, who := range []*ssh.Signer{&d.initiatorKey, &d.approverKey} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		if *who, err = ssh.NewSignerFromKey(priv); err != nil {
			return err
		}
	}
	authorized := func(s ssh.Signer) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey()))) }
	cfgText := fmt.Sprintf(demoConfig, d.paths["production"], d.paths["backups"], d.paths["offsite"], id.Recipient().String(),
		d.paths["staging"], archive[2][1], filepath.Join(dir, "maintenance.flag"), authorized(d.initiatorKey), authorized(d.approverKey))
	if err := os.WriteFile(d.cfgPath, []byte(cfgText), 0o644); err != nil {
		return err
	}
	if d.cfg, err = runbooks.LoadConfig(d.cfgPath); err != nil {
		return failed("%v", err)
	}

	d.say("▶ creating production (archiving its WAL) and staging Postgres clusters in %s", dir)
	quick := map[string]string{"fsync": "off", "synchronous_commit": "off"}
	prodSettings := map[string]string{"fsync": "off"}
	for k, v := range d.cfg.Environments["production"].Instance.Settings {
		prodSettings[k] = v
	}
	serverEnv := d.cfg.StoreSecretEnv()
	if d.prod, _, err = pglocal.Create(ctx, d.paths["production"], postgres.MainInstance,
		pglocal.Options{Settings: prodSettings, CreatedBy: "demo", ServerEnv: serverEnv}); err != nil {
		return failed("%v", err)
	}
	if d.stg, _, err = pglocal.Create(ctx, d.paths["staging"], postgres.MainInstance,
		pglocal.Options{Settings: quick, CreatedBy: "demo"}); err != nil {
		return failed("%v", err)
	}
	if !keep {
		defer destroyClusters(context.WithoutCancel(ctx), dir)
	}
	os.Setenv("DRCTL_DEMO_PRODUCTION_URL", d.prod.URL("register"))
	os.Setenv("DRCTL_DEMO_STAGING_URL", d.stg.URL("register"))
	if err := seedDemo(ctx, d.prod, d.stg); err != nil {
		return failed("seeding production: %v", err)
	}
	d.say("  production has the register database: 5,001 users, 5,000 registrations, 20,000 events")

	d.say("▶ starting the embedded Temporal server and a worker")
	srv, err := devserver.Start(ctx, devserver.Options{DBFile: filepath.Join(dir, "temporal.db"), UIPort: uiPort,
		SearchAttributes: workflows.SearchAttributeNames})
	if err != nil {
		return failed("%v", err)
	}
	defer srv.Stop()
	if srv.UIURL != "" {
		d.say("  web ui %s", srv.UIURL)
	}
	// The worker's log goes to a file: the demo's output is what an
	// operator reads, and says itself what failed and why.
	d.logPath = filepath.Join(dir, "worker.log")
	logFile, err := os.Create(d.logPath)
	if err != nil {
		return failed("%v", err)
	}
	defer logFile.Close()
	c := &conn{address: srv.Address, namespace: "default", queue: worker.TaskQueue, uiURL: srv.UIURL, logLevel: slog.LevelInfo, logTo: logFile, local: true}
	if d.cl, err = c.dial(ctx); err != nil {
		return err
	}
	defer d.cl.Close()
	deps, err := workerDeps(&globals{config: d.cfgPath})
	if err != nil {
		return err
	}
	deps.ReportDir = d.paths["reports"]
	wk := worker.New(d.cl.Client, worker.TaskQueue, deps)
	if err := wk.Start(); err != nil {
		return failed("starting the worker: %v", err)
	}
	defer wk.Stop()

	for _, incident := range []func() error{d.dataLoss, d.lossOfInstance, d.nightlyDrill} {
		if err := incident(); err != nil {
			return err
		}
	}
	d.summary()
	d.say("\ndone. The drill's evidence is in %s; the runs are in the Temporal history (%s), the worker's log in %s.",
		d.paths["reports"], filepath.Join(dir, "temporal.db"), d.logPath)
	if keep {
		d.say("the server, UI and clusters stay up until Ctrl-C")
		<-ctx.Done()
	}
	return nil
}

// stopClusters stops the clusters a previous demo left running in dir.
func stopClusters(ctx context.Context, dir string) {
	eachCluster(dir, func(l *pglocal.Instance) { _ = l.Stop(ctx) })
}

// destroyClusters stops and removes every cluster the demo made.
func destroyClusters(ctx context.Context, dir string) {
	eachCluster(dir, func(l *pglocal.Instance) { _ = l.Destroy(ctx) })
}

func eachCluster(dir string, do func(*pglocal.Instance)) {
	for _, env := range []string{"production", "staging"} {
		entries, _ := os.ReadDir(filepath.Join(dir, env))
		for _, e := range entries {
			if l, ok, _ := pglocal.Open(filepath.Join(dir, env), e.Name()); ok {
				do(l)
			}
		}
	}
}
