// Package demo plays the three incidents on this machine with real parts:
// a production and a staging Postgres (production archiving its WAL
// through drctl), encrypted backups in local folders, the embedded
// Temporal server and a worker. Its environments file is drctl.yaml.tmpl
// and production's data seed.sql, beside this code; the incidents are in
// incidents.go. It exists so that a newcomer sees, in a minute, every
// promise kept: nothing touched before the checks pass, decisions signed,
// the old data kept until the new is verified.
package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"filippo.io/age"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/crypto/ssh"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/internal/walarchive"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/worker"
	"github.com/drctl/drctl/worker/devserver"
	"github.com/drctl/drctl/workflows"
)

// Options are the demo's: its folder (recreated), the Web UI's port (0: a
// free one, -1: none), and whether to keep it all running until ctx ends.
type Options struct {
	Dir    string
	UIPort int
	Keep   bool
}

//go:embed drctl.yaml.tmpl
var configText string

//go:embed seed.sql
var seedSQL string

var configTemplate = template.Must(template.New("drctl.yaml").Funcs(template.FuncMap{"q": strconv.Quote}).Parse(configText))

// Run plays the incidents, printing what happens to w.
func Run(ctx context.Context, w io.Writer, o Options) error {
	d := &demo{ctx: ctx, w: w, paths: map[string]string{}}
	if _, err := pglocal.BinDir(); err != nil {
		return err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := d.prepare(dir); err != nil {
		return err
	}
	if !o.Keep {
		defer destroyClusters(context.WithoutCancel(ctx), dir)
	}
	if err := d.startClusters(dir); err != nil {
		return err
	}
	stop, err := d.startServer(dir, o.UIPort)
	if err != nil {
		return err
	}
	defer stop()
	for _, incident := range []func() error{d.dataLoss, d.lossOfInstance, d.nightlyDrill} {
		if err := incident(); err != nil {
			return err
		}
	}
	d.summary()
	d.say("\ndone. The drill's evidence is in %s; the runs are in the Temporal history (%s), the worker's log in %s.",
		d.paths["reports"], filepath.Join(dir, "temporal.db"), d.logPath)
	if o.Keep {
		d.say("the server, UI and clusters stay up until Ctrl-C")
		<-ctx.Done()
	}
	return nil
}

// prepare clears dir and makes its folders, the backups' key, the keys
// the demo's two people sign with, and the environments file.
func (d *demo) prepare(dir string) error {
	stopClusters(d.ctx, dir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %v", dir, err)
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
	d.self = self
	d.cfgPath = filepath.Join(dir, "drctl.yaml")
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
	var cfg strings.Builder
	if err := configTemplate.Execute(&cfg, map[string]string{
		"Production": d.paths["production"], "Staging": d.paths["staging"], "Backups": d.paths["backups"], "Offsite": d.paths["offsite"],
		"Recipient": id.Recipient().String(), "ArchiveCommand": walarchive.Settings(self, d.cfgPath, "production", "backups")[2][1],
		"MaintenanceFlag": filepath.Join(dir, "maintenance.flag"), "InitiatorKey": authorized(d.initiatorKey), "ApproverKey": authorized(d.approverKey),
	}); err != nil {
		return err
	}
	if err := os.WriteFile(d.cfgPath, []byte(cfg.String()), 0o644); err != nil {
		return err
	}
	d.cfg, err = runbooks.LoadConfig(d.cfgPath)
	return err
}

// startClusters makes production (archiving its WAL) and staging, and
// seeds production.
func (d *demo) startClusters(dir string) error {
	d.say("▶ creating production (archiving its WAL) and staging Postgres clusters in %s", dir)
	prodSettings := map[string]string{"fsync": "off"}
	for k, v := range d.cfg.Environments["production"].Instance.Settings {
		prodSettings[k] = v
	}
	var err error
	if d.prod, _, err = pglocal.Create(d.ctx, d.paths["production"], postgres.MainInstance,
		pglocal.Options{Settings: prodSettings, CreatedBy: "demo", ServerEnv: d.cfg.StoreSecretEnv()}); err != nil {
		return err
	}
	if d.stg, _, err = pglocal.Create(d.ctx, d.paths["staging"], postgres.MainInstance,
		pglocal.Options{Settings: map[string]string{"fsync": "off", "synchronous_commit": "off"}, CreatedBy: "demo"}); err != nil {
		return err
	}
	os.Setenv("DRCTL_DEMO_PRODUCTION_URL", d.prod.URL("register"))
	os.Setenv("DRCTL_DEMO_STAGING_URL", d.stg.URL("register"))
	for _, l := range []*pglocal.Instance{d.prod, d.stg} {
		if err := d.sqlIn(l, "postgres", "create database register"); err != nil {
			return err
		}
	}
	if err := d.sql(d.prod, seedSQL); err != nil {
		return fmt.Errorf("seeding production: %v", err)
	}
	d.say("  production has the register database: 5,001 users, 5,000 registrations, 20,000 events")
	return nil
}

// startServer starts the embedded Temporal server and a worker, and
// returns what stops them.
func (d *demo) startServer(dir string, uiPort int) (func(), error) {
	d.say("▶ starting the embedded Temporal server and a worker")
	srv, err := devserver.Start(d.ctx, devserver.Options{DBFile: filepath.Join(dir, "temporal.db"), UIPort: uiPort,
		SearchAttributes: workflows.SearchAttributeNames})
	if err != nil {
		return nil, err
	}
	stops := []func(){srv.Stop}
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if srv.UIURL != "" {
		d.say("  web ui %s", srv.UIURL)
	}
	// The worker's log goes to a file: the demo's output is what an
	// operator reads, and says itself what failed and why.
	d.logPath = filepath.Join(dir, "worker.log")
	logFile, err := os.Create(d.logPath)
	if err != nil {
		stop()
		return nil, err
	}
	stops = append(stops, func() { logFile.Close() })
	cl, err := client.DialContext(d.ctx, client.Options{HostPort: srv.Address, Namespace: "default",
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo})))})
	if err != nil {
		stop()
		return nil, err
	}
	stops = append(stops, cl.Close)
	d.address = srv.Address
	d.cl = &runs.Client{Client: cl, Namespace: "default", Queue: worker.TaskQueue, UIURL: srv.UIURL}
	deps := worker.DepsFrom(d.cfg, []string{d.self, "--config", d.cfgPath})
	deps.ReportDir = d.paths["reports"]
	wk := worker.New(cl, worker.TaskQueue, nil, deps)
	if err := wk.Start(); err != nil {
		stop()
		return nil, fmt.Errorf("starting the worker: %v", err)
	}
	stops = append(stops, wk.Stop)
	return stop, nil
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
