package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/keys"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/runs"
	"github.com/drctl/drctl/workflows"
)

// demoApprover is who approves the demo's gates; the demo says so each
// time it votes.
const demoApprover = "demo-approver"

// demo holds what the incidents share: the clusters, the server's client
// and the environments file.
type demo struct {
	ctx     context.Context
	w       io.Writer
	cl      *runs.Client
	cfg     *runbooks.Config
	cfgPath string
	logPath string
	// self is drctl's program, which the worker's WAL commands run;
	// address is the server's.
	self, address string
	paths         map[string]string
	prod          *pglocal.Instance
	stg           *pglocal.Instance
	results       []demoResult
	// The keys the demo's initiator and approver sign with.
	initiatorKey, approverKey ssh.Signer
}

// demoResult is one line of the closing table.
type demoResult struct {
	incident, rto, rpo, rows, verdict string
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.w, format+"\n", args...) }

// run runs a shipped runbook on env with params, approving its gates as
// the demo approver, and prints how it ended.
func (d *demo) run(file, env string, params map[string]string) (workflows.Status, error) {
	src, err := runbooks.Library.ReadFile(file)
	if err != nil {
		return workflows.Status{}, err
	}
	plan, diags := runbooks.Compile(file, src, runbooks.Options{Config: d.cfg, Env: env, Params: params})
	if len(diags) > 0 {
		return workflows.Status{}, fmt.Errorf("%s", diags.Lines())
	}
	var sign func(id string) (*workflows.Signature, error)
	if plan.Signed && plan.Role == runbooks.RoleSource {
		sign = func(id string) (*workflows.Signature, error) {
			return d.sign(d.initiatorKey, workflows.Statement{Run: id, Action: workflows.DecideStart, Target: plan.Hash, User: "demo"})
		}
	}
	id, err := d.cl.Start(d.ctx, plan, "demo", "", sign)
	if err != nil {
		return workflows.Status{}, err
	}
	run := d.cl.GetWorkflow(d.ctx, id, "")
	d.say("  run %s", run.GetID())
	ended := make(chan error, 1)
	go func() { ended <- run.Get(d.ctx, nil) }()
	var runErr error
	for done := false; !done; {
		select {
		case runErr = <-ended:
			done = true
		case <-time.After(200 * time.Millisecond):
			d.approveOpenGates(run.GetID())
		}
	}
	st, _, err := d.cl.Status(d.ctx, run.GetID())
	if err != nil {
		return st, err
	}
	runs.PrintStatus(d.w, st)
	return st, runErr
}

// approveOpenGates votes for every open gate of the run it has not voted on.
func (d *demo) approveOpenGates(id string) {
	st, _, err := d.cl.Status(d.ctx, id)
	if err != nil {
		return
	}
	for _, g := range st.Gates {
		voted := false
		for _, v := range g.Votes {
			voted = voted || v.User == demoApprover
		}
		if !g.Open || voted {
			continue
		}
		vote := workflows.VoteInput{Gate: g.Step, User: demoApprover, Approve: true, Comment: "approved by the demo"}
		var err error
		vote.Signature, err = d.sign(d.approverKey, workflows.Statement{Run: id, Action: workflows.DecideApprove, Target: g.Step,
			User: demoApprover, Comment: vote.Comment})
		if err != nil {
			continue
		}
		var out workflows.GateStatus
		if d.cl.Update(d.ctx, id, workflows.UpdateVote, vote, &out) == nil {
			d.say("  ✋ %s approves gate %s: %s", demoApprover, g.Step, g.Prompt)
		}
	}
}

// sign signs a decision of the demo's people, as drctl's CLI does.
func (d *demo) sign(key ssh.Signer, st workflows.Statement) (*workflows.Signature, error) {
	st.At, st.Nonce = time.Now().UTC(), keys.Nonce()
	return workflows.Sign(key, st, workflows.ViaCLI)
}

// record keeps an incident's line of the closing table from its run.
func (d *demo) record(incident string, st workflows.Status, err error) {
	r := runs.Summary{}
	r.Fill(st)
	verdict := "recovered"
	if err != nil {
		verdict = "FAILED: " + err.Error()
	}
	rows := "—"
	if r.Rows != nil {
		rows = fmt.Sprint(r.Rows)
	}
	d.results = append(d.results, demoResult{incident, cmp.Or(r.RTO, "—"), cmp.Or(r.RPO, "—"), rows, verdict})
}

func (d *demo) summary() {
	d.say("\n▶ the three incidents")
	tw := tabwriter.NewWriter(d.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  INCIDENT\tRTO\tRPO\tROWS CHECKED\tVERDICT")
	for _, r := range d.results {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", r.incident, r.rto, r.rpo, r.rows, r.verdict)
	}
	tw.Flush()
}

// dataLoss is incident 2: rows deleted at a moment the people involved
// give on New York's clock; the database is set aside as register-old,
// a new instance recovered to that moment takes production's place, and
// register-old goes only after the last gate.
func (d *demo) dataLoss() error {
	d.say("\n▶ incident 2, data loss: a base backup, good rows, the moment of the damage, more rows, then a DELETE")
	if _, err := d.run("library/base-backup.yaml", "production", nil); err != nil {
		return fmt.Errorf("base backup: %v", err)
	}
	if err := d.sql(d.prod, "insert into events (created_at, kind) select now(), 'before-damage' from generate_series(1, 50)"); err != nil {
		return err
	}
	moment, err := d.serverNow(d.prod)
	if err != nil {
		return err
	}
	ny, _ := time.LoadLocation("America/New_York")
	wall := moment.In(ny).Format("2006-01-02 15:04:05.000") + " America/New_York"
	// The next commits must fall after the moment's millisecond.
	time.Sleep(20 * time.Millisecond)
	if err := d.sql(d.prod, "insert into events (created_at, kind) select now(), 'after-damage' from generate_series(1, 50)",
		"delete from users where id > 100", "select pg_switch_wal()"); err != nil {
		return err
	}
	if err := d.waitArchived(); err != nil {
		return err
	}
	d.say("  the damage happened just after %s (New York); 4,901 users deleted", wall)

	// A mistyped time, tomorrow's, is refused before anything changes:
	// the archive cannot reach it, and the live database keeps its name.
	tomorrow := moment.Add(24*time.Hour).In(ny).Format("2006-01-02 15:04:05.000") + " America/New_York"
	d.say("\n  first, a mistyped failure time (%s): refused before the first step, nothing touched", tomorrow)
	st, err := d.run("library/data-loss-pitr.yaml", "production", map[string]string{"failure_time": tomorrow})
	if err == nil || st.State != workflows.StateRefused {
		return fmt.Errorf("a recovery to a time the archive does not reach was not refused: %v", err)
	}
	if users, _, _, err := d.counts(); err != nil || users != 100 {
		return fmt.Errorf("the refused recovery touched production: %d users, %v", users, err)
	}
	d.say("  refused; production still has register, 100 users after the damage: now the right time")
	st, err = d.run("library/data-loss-pitr.yaml", "production", map[string]string{"failure_time": wall})
	d.record("data loss (PITR)", st, err)
	if err != nil {
		return fmt.Errorf("data-loss-pitr: %v", err)
	}
	users, before, after, err := d.counts()
	if err != nil {
		return err
	}
	d.say("  production's URL now serves the recovered data: %d users, %d rows from before the moment, %d from after", users, before, after)
	if users != 5001 || before != 50 || after != 0 {
		return fmt.Errorf("the recovery is not the moment before the damage")
	}
	return nil
}

// lossOfInstance is incident 1: production's cluster is destroyed; it is
// recreated and last night's backup restored through its gate.
func (d *demo) lossOfInstance() error {
	d.say("\n▶ incident 1, loss of the instance: a nightly backup, then production's cluster is destroyed")
	if _, err := d.run("library/nightly-backup.yaml", "production", nil); err != nil {
		return fmt.Errorf("nightly backup: %v", err)
	}
	before, err := d.checksums()
	if err != nil {
		return err
	}
	if err := d.prod.Stop(d.ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(d.prod.Dir); err != nil {
		return err
	}
	d.say("  %s is gone", d.prod.Dir)
	st, err := d.run("library/loss-of-instance.yaml", "production", map[string]string{"backup_date": time.Now().UTC().Format(time.DateOnly)})
	d.record("loss of instance", st, err)
	if err != nil {
		return fmt.Errorf("loss-of-instance: %v", err)
	}
	rebuilt, ok, err := pglocal.Open(d.paths["production"], postgres.MainInstance)
	if err != nil || !ok {
		return fmt.Errorf("no rebuilt instance: %v", err)
	}
	d.prod = rebuilt
	after, err := d.checksums()
	if err != nil {
		return err
	}
	for table, sum := range before {
		if after[table] != sum {
			return fmt.Errorf("table %s differs after the restore", table)
		}
	}
	d.say("  production is back on a new instance: every table's rows and checksum as before the loss")
	// Point-in-time recovery is armed again: the rebuilt instance archives
	// its WAL, and a recovery to a moment after the rebuild passes its
	// checks.
	if err := d.sql(d.prod, "insert into events (created_at, kind) values (now(), 'after-rebuild')"); err != nil {
		return err
	}
	moment, err := d.serverNow(d.prod)
	if err != nil {
		return err
	}
	if err := d.sql(d.prod, "select pg_switch_wal()"); err != nil {
		return err
	}
	if err := d.waitArchived(); err != nil {
		return err
	}
	src, _ := runbooks.Library.ReadFile("library/data-loss-pitr.yaml")
	plan, diags := runbooks.Compile("library/data-loss-pitr.yaml", src, runbooks.Options{Config: d.cfg, Env: "production",
		Params: map[string]string{"failure_time": moment.UTC().Format(time.RFC3339Nano)}})
	if len(diags) > 0 {
		return fmt.Errorf("%s", diags.Lines())
	}
	d.say("  a point-in-time recovery to %s, after the rebuild, checked (drctl plan --check):", moment.UTC().Format(time.RFC3339))
	return d.cl.Check(d.ctx, d.w, plan, "demo")
}

// checksums is each table's row count and the md5 of its rows in order.
func (d *demo) checksums() (map[string]string, error) {
	c, err := pgx.Connect(d.ctx, os.Getenv("DRCTL_DEMO_PRODUCTION_URL"))
	if err != nil {
		return nil, err
	}
	defer c.Close(d.ctx)
	sums := map[string]string{}
	for _, table := range []string{"users", "registrations", "events"} {
		var sum string
		q := fmt.Sprintf("select count(*) || ':' || coalesce(md5(string_agg(t::text, ',' order by id)), '') from %s t", table)
		if err := c.QueryRow(d.ctx, q).Scan(&sum); err != nil {
			return nil, err
		}
		sums[table] = sum
	}
	return sums, nil
}

// nightlyDrill is incident 3: last night's backup restored into staging and
// proven not empty, then the drill failing loudly on an empty backup.
func (d *demo) nightlyDrill() error {
	d.say("\n▶ incident 3, the nightly drill: newest off-site backup → fresh staging database → verify → scrub → swap → report")
	st, err := d.run("library/nightly-restore.yaml", "staging", nil)
	d.record("nightly drill", st, err)
	if err != nil {
		return fmt.Errorf("nightly restore: %v", err)
	}
	for _, s := range st.Steps {
		if files, ok := s.Outputs["files"].([]any); ok && s.ID == "report" {
			for _, f := range files {
				d.say("  the drill's report: %v", f)
			}
		}
	}
	var scrubbed int64
	if c, err := pgx.Connect(d.ctx, d.stg.URL("register")); err == nil {
		_ = c.QueryRow(d.ctx, "select count(*) from users where email like '%@example.invalid'").Scan(&scrubbed)
		c.Close(d.ctx)
	}
	d.say("  staging now holds the restored data, %d users scrubbed to fake emails", scrubbed)
	d.say("\n▶ the off-site store, with the backup the drill verified (drctl --config %s backups --env production --store offsite)", d.cfgPath)
	list := exec.CommandContext(d.ctx, d.self, "--config", d.cfgPath, "backups", "--env", "production", "--store", "offsite")
	list.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+d.address)
	list.Stdout, list.Stderr = d.w, d.w
	if err := list.Run(); err != nil {
		return fmt.Errorf("drctl backups: %v", err)
	}
	d.say("\n▶ what the drill exists for: production's data is gone, and tonight's backup would be empty")
	if err := d.sql(d.prod, "truncate events, registrations, users"); err != nil {
		return err
	}
	_, err = d.run("library/nightly-backup.yaml", "production", nil)
	if err == nil {
		return fmt.Errorf("the backup of an empty database was not refused")
	}
	d.say("  refused, loudly: %v", message(err))
	return nil
}

// sql runs queries in l's register database; sqlIn, in db.
func (d *demo) sql(l *pglocal.Instance, queries ...string) error {
	return d.sqlIn(l, "register", queries...)
}

func (d *demo) sqlIn(l *pglocal.Instance, db string, queries ...string) error {
	c, err := pgx.Connect(d.ctx, l.URL(db))
	if err != nil {
		return err
	}
	defer c.Close(d.ctx)
	for _, q := range queries {
		if _, err := c.Exec(d.ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func (d *demo) serverNow(l *pglocal.Instance) (time.Time, error) {
	c, err := pgx.Connect(d.ctx, l.URL("register"))
	if err != nil {
		return time.Time{}, err
	}
	defer c.Close(d.ctx)
	var t time.Time
	err = c.QueryRow(d.ctx, "select clock_timestamp()").Scan(&t)
	return t, err
}

// waitArchived waits until production has archived the segment it just
// switched from.
func (d *demo) waitArchived() error {
	c, err := pgx.Connect(d.ctx, d.prod.URL("register"))
	if err != nil {
		return err
	}
	defer c.Close(d.ctx)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var pending bool
		err := c.QueryRow(d.ctx, `select coalesce(last_archived_wal < pg_walfile_name(pg_current_wal_lsn()), true)
			and coalesce(last_failed_time < last_archived_time, true) from pg_stat_archiver`).Scan(&pending)
		if err != nil {
			return err
		}
		if !pending {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("production did not archive its WAL within a minute; see %s", filepath.Join(d.prod.Dir, "postgres.log"))
}

// counts reads production through the environment's URL, as the
// application does: users, and events from before and after the damage.
func (d *demo) counts() (users, before, after int64, err error) {
	c, err := pgx.Connect(d.ctx, os.Getenv("DRCTL_DEMO_PRODUCTION_URL"))
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Close(d.ctx)
	err = c.QueryRow(d.ctx, `select (select count(*) from users), (select count(*) from events where kind = 'before-damage'),
		(select count(*) from events where kind = 'after-damage')`).Scan(&users, &before, &after)
	return users, before, after, err
}

// archiveFolder makes the folder production's archive_command writes WAL
// into, the postgres user's: the server archives as that user.
func archiveFolder(backups string) error {
	// The postgres user opens the store's folder to reach the archive.
	if err := os.Chmod(backups, 0o755); err != nil {
		return err
	}
	wal := filepath.Join(backups, "production", "wal")
	if err := os.MkdirAll(wal, 0o755); err != nil {
		return err
	}
	return pglocal.ChownToPostgres(wal)
}

// message is what an error says, without the wrapping of a Temporal
// application error: what an operator reads.
func message(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}
