//go:build !noserver

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/worker"
	"github.com/drctl/drctl/worker/devserver"
	"github.com/drctl/drctl/workflows"
)

// The demo plays incident 3 on this machine with real parts: a production
// and a staging Postgres, encrypted backups in local folders, the embedded
// Temporal server and a worker. It backs production up, restores the
// newest backup into staging the way the nightly drill does, writes the
// drill's report, and then shows the drill failing loudly on an empty
// backup.
func newDemoCmd(g *globals) *cobra.Command {
	var (
		dir    string
		uiPort int
		keep   bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "run a nightly backup and restore drill on local Postgres clusters, end to end",
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

const demoConfig = `# Written by drctl demo.
groups:
  oncall: [demo-approver]
environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_DEMO_PRODUCTION_URL"}
    instance: {provider: local, data_dir: %[1]q}
    stores:
      backups: {type: local, path: %[2]q, recipients: [%[4]q], identity: "env:DRCTL_DEMO_IDENTITY"}
      offsite: {type: local, path: %[3]q, recipients: [%[4]q], identity: "env:DRCTL_DEMO_IDENTITY"}
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
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	if _, err := postgres.BinDir(); err != nil {
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
	paths := map[string]string{}
	for _, p := range []string{"production", "staging", "backups", "offsite", "reports"} {
		paths[p] = filepath.Join(dir, p)
		if err := os.MkdirAll(paths[p], 0o711); err != nil {
			return err
		}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	os.Setenv("DRCTL_DEMO_IDENTITY", id.String())

	say("▶ creating production and staging Postgres clusters in %s", dir)
	settings := map[string]string{"fsync": "off", "synchronous_commit": "off"}
	prod, _, err := postgres.CreateLocal(ctx, paths["production"], postgres.MainInstance, postgres.LocalOptions{Settings: settings, CreatedBy: "demo"})
	if err != nil {
		return failed("%v", err)
	}
	stg, _, err := postgres.CreateLocal(ctx, paths["staging"], postgres.MainInstance, postgres.LocalOptions{Settings: settings, CreatedBy: "demo"})
	if err != nil {
		return failed("%v", err)
	}
	if !keep {
		defer prod.Destroy(context.WithoutCancel(ctx))
		defer stg.Destroy(context.WithoutCancel(ctx))
	}
	os.Setenv("DRCTL_DEMO_PRODUCTION_URL", prod.URL("register"))
	os.Setenv("DRCTL_DEMO_STAGING_URL", stg.URL("register"))
	if err := seedDemo(ctx, prod, stg); err != nil {
		return failed("seeding production: %v", err)
	}
	say("  production has the register database: 5,000 users, 5,000 registrations, 20,000 events")

	cfgPath := filepath.Join(dir, "drctl.yaml")
	cfgText := fmt.Sprintf(demoConfig, paths["production"], paths["backups"], paths["offsite"], id.Recipient().String(), paths["staging"])
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		return err
	}
	cfg, err := runbooks.LoadConfig(cfgPath)
	if err != nil {
		return failed("%v", err)
	}

	say("▶ starting the embedded Temporal server and a worker")
	srv, err := devserver.Start(ctx, devserver.Options{DBFile: filepath.Join(dir, "temporal.db"), UIPort: uiPort,
		SearchAttributes: workflows.SearchAttributeNames})
	if err != nil {
		return failed("%v", err)
	}
	defer srv.Stop()
	if srv.UIURL != "" {
		say("  web ui %s", srv.UIURL)
	}
	// The worker's log goes to a file: the demo's output is what an
	// operator reads, and says itself what failed and why.
	logPath := filepath.Join(dir, "worker.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return failed("%v", err)
	}
	defer logFile.Close()
	c := &conn{address: srv.Address, namespace: "default", queue: worker.TaskQueue, uiURL: srv.UIURL, logLevel: slog.LevelInfo, logTo: logFile}
	cl, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	deps, err := workerDeps(&globals{config: cfgPath})
	if err != nil {
		return err
	}
	deps.ReportDir = paths["reports"]
	wk := worker.New(cl, worker.TaskQueue, deps)
	if err := wk.Start(); err != nil {
		return failed("starting the worker: %v", err)
	}
	defer wk.Stop()

	// The runbooks are the binary's own: the demo runs from any folder.
	runbook := func(file, env string) (workflows.Status, error) {
		src, err := runbooks.Library.ReadFile(file)
		if err != nil {
			return workflows.Status{}, err
		}
		plan, diags := runbooks.Compile(file, src, runbooks.Options{Config: cfg, Env: env})
		if len(diags) > 0 {
			return workflows.Status{}, failed("%s", diags.Lines())
		}
		in := workflows.RunInput{Plan: *plan, Initiator: "demo"}
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: runID(plan), TaskQueue: worker.TaskQueue,
			TypedSearchAttributes: workflows.SearchAttributes(in)}, workflows.WorkflowName, in)
		if err != nil {
			return workflows.Status{}, err
		}
		say("  run %s", run.GetID())
		runErr := run.Get(ctx, nil)
		st, _, err := queryStatus(ctx, cl, run.GetID())
		if err != nil {
			return st, err
		}
		printStatus(w, st)
		return st, runErr
	}

	say("\n▶ nightly-backup on production: dump, encrypt, store twice (local and off-site), prune")
	if _, err := runbook("library/nightly-backup.yaml", "production"); err != nil {
		return failed("nightly backup: %v", err)
	}
	say("\n▶ nightly-restore into staging: newest off-site backup → fresh database → verify → scrub → swap → report")
	st, err := runbook("library/nightly-restore.yaml", "staging")
	if err != nil {
		return failed("nightly restore: %v", err)
	}
	for _, s := range st.Steps {
		if files, ok := s.Outputs["files"].([]any); ok && s.ID == "report" {
			for _, f := range files {
				say("  the drill's report: %v", f)
			}
		}
	}
	var scrubbed int64
	c2, err := pgx.Connect(ctx, stg.URL("register"))
	if err == nil {
		_ = c2.QueryRow(ctx, "select count(*) from users where email like '%@example.invalid'").Scan(&scrubbed)
		c2.Close(ctx)
	}
	say("  staging now holds the restored data, %d users scrubbed to fake emails", scrubbed)
	say("\n▶ the off-site store, with the backup the drill verified (drctl --config %s backups --env production --store offsite)", cfgPath)
	offsite, err := listStore(ctx, cfg, backup.ListInput{Env: "production"}, "offsite")
	if err != nil {
		return stepFailed(err)
	}
	if err := offsite.print(w, "offsite", "production"); err != nil {
		return err
	}

	say("\n▶ the incident behind the drill: production's data is gone, and tonight's backup would be empty")
	if err := emptyProduction(ctx, prod); err != nil {
		return err
	}
	_, err = runbook("library/nightly-backup.yaml", "production")
	if err == nil {
		return failed("the backup of an empty database was not refused")
	}
	say("  refused, loudly: %v", stepFailed(err))
	say("\ndone. The drill's evidence is in %s; the runs are in the Temporal history (%s), the worker's log in %s.", paths["reports"], filepath.Join(dir, "temporal.db"), logPath)
	if keep {
		say("the server, UI and clusters stay up until Ctrl-C")
		<-ctx.Done()
	}
	return nil
}

func seedDemo(ctx context.Context, prod, stg *postgres.Local) error {
	for _, l := range []*postgres.Local{prod, stg} {
		c, err := pgx.Connect(ctx, l.URL("postgres"))
		if err != nil {
			return err
		}
		_, err = c.Exec(ctx, "create database register")
		c.Close(ctx)
		if err != nil {
			return err
		}
	}
	c, err := pgx.Connect(ctx, prod.URL("register"))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for _, q := range []string{
		"create table users (id serial primary key, email text unique not null, name text, phone text, role text not null default 'registrar')",
		"create table registrations (id serial primary key, user_id int references users, national_id text, registered_at timestamptz default now())",
		"create table events (id bigserial primary key, created_at timestamptz not null, kind text not null, user_id int)",
		"insert into users (email, name, phone) select 'person' || g || '@example.org', 'Person ' || g, '+44 20 7946 ' || lpad(g::text, 4, '0') from generate_series(1, 5000) g",
		"insert into users (email, name) values ('qa.admin@example.org', 'QA Admin')",
		"insert into registrations (user_id, national_id) select g, 'AB' || lpad(g::text, 6, '0') || 'C' from generate_series(1, 5000) g",
		"insert into events (created_at, kind, user_id) select now() - (g || ' minutes')::interval, (array['login','register','certify','print'])[1 + g % 4], 1 + g % 5000 from generate_series(1, 20000) g",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func emptyProduction(ctx context.Context, prod *postgres.Local) error {
	c, err := pgx.Connect(ctx, prod.URL("register"))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "truncate events, registrations, users")
	return err
}

// stopClusters stops the clusters a previous demo left running in dir.
func stopClusters(ctx context.Context, dir string) {
	for _, env := range []string{"production", "staging"} {
		if l, ok, _ := postgres.OpenLocal(filepath.Join(dir, env), postgres.MainInstance); ok {
			_ = l.Stop(ctx)
		}
	}
}
