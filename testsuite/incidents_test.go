package testsuite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/workflows"
)

// incident is production (archiving its WAL through drctl, as `drctl
// archive setup` says to) and a drctl dev serving it, for the shipped
// incident runbooks run as an incident commander runs them: drctl run as
// one person, drctl approve as another.
type incident struct {
	t    *testing.T
	base string // production's instances
	prod *pglocal.Instance
	url  string // the environment's database URL, as the application has it
	env  []string
	dev  *Dev
	keys map[string]string // each person's private key file
}

const incidentConfig = `groups:
  oncall: [ana, ben]
users:
%[7]s
environments:
  production:
    role: source
    database: {name: register, url: "env:DRCTL_TEST_PROD_URL"}
    instance:
      provider: local
      data_dir: %[1]q
%[4]s
    stores:
      backups: {type: local, path: %[2]q, recipients: [%[3]q], identity: "env:DRCTL_TEST_IDENTITY"}
      offsite: {type: local, path: %[6]q, recipients: [%[3]q], identity: "env:DRCTL_TEST_IDENTITY"}
    maintenance: {provider: file, file: %[5]q}
    policy:
      approval: {required: true, quorum: 1, allow_initiator: false, approvers: ["group:oncall"]}
      on_error: abort
      retention: {keep_daily: 14, keep_weekly: 8}
    vars: {events_table: events, events_column: created_at}
`

func newIncident(t *testing.T) *incident {
	t.Helper()
	Need(t, "pg_config", "apt-get install -y postgresql-15")
	in := &incident{t: t, base: filepath.Join(PostgresBase(t), "production")}
	// Postgres runs drctl wal-push as the postgres user: it must reach
	// the environments file and the store.
	dir, err := os.MkdirTemp("", "drctl-incident-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	store := filepath.Join(dir, "backups")
	// Postgres archives as the postgres user, into the store's folder.
	if err := os.MkdirAll(filepath.Join(store, "production", "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := pglocal.ChownToPostgres(filepath.Join(store, "production", "wal")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "offsite"), 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "drctl.yaml")
	// Production's decisions are signed: the incident commander's start and
	// the approvers' votes, each with their own key.
	users, entries := PeopleWithKeys(t, "ic", "ana", "ben")
	in.keys = users
	write := func(settings string) {
		text := fmt.Sprintf(incidentConfig, in.base, store, id.Recipient().String(), settings, filepath.Join(dir, "maintenance.flag"), filepath.Join(dir, "offsite"), entries)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// As the README says: ask drctl for the archive settings, and give
	// them to the environment's instances.
	write("")
	in.env = []string{"DRCTL_CONFIG=" + cfg, "DRCTL_TEST_IDENTITY=" + id.String()}
	code, out := Run(t, in.env, "archive", "setup", "--env", "production")
	if code != 0 {
		t.Fatalf("drctl archive setup: exit %d\n%s", code, out)
	}
	_, yamlPart, ok := strings.Cut(out, "# settings:\n")
	if !ok {
		t.Fatalf("drctl archive setup printed no settings for the environments file:\n%s", out)
	}
	settings := map[string]string{}
	lines := []string{"      settings:"}
	for _, line := range strings.Split(strings.TrimSpace(yamlPart), "\n") {
		kv := strings.TrimPrefix(line, "#   ")
		lines = append(lines, "        "+kv)
		k, v, _ := strings.Cut(kv, ": ")
		settings[k] = strings.Trim(v, `"`)
	}
	write(strings.Join(lines, "\n"))
	settings["archive_command"] = strings.ReplaceAll(settings["archive_command"], `\"`, `"`)
	in.prod = StartPostgres(t, in.base, postgres.MainInstance, settings)
	in.url = in.prod.URL("register")
	in.env = append(in.env, "DRCTL_TEST_PROD_URL="+in.url)
	in.sql("postgres", "create database register")
	in.sql("register",
		"create table users (id serial primary key, email text unique not null, name text)",
		"create table events (id bigserial primary key, created_at timestamptz not null default now(), kind text not null)",
		"insert into users (email, name) select 'p' || g || '@example.org', 'P ' || g from generate_series(1, 300) g",
		"insert into events (created_at, kind) select now() - (g || ' minutes')::interval, 'login' from generate_series(1, 200) g")
	in.dev = StartDevEnv(t, in.env, filepath.Join(dir, "temporal.db"), 0)
	in.env = append(in.env, in.dev.Env()...)
	return in
}

// sql runs queries on database through the environment's URL.
func (in *incident) sql(database string, queries ...string) {
	in.t.Helper()
	url := strings.Replace(in.url, "/register", "/"+database, 1)
	for _, q := range queries {
		if err := execSQL(url, q); err != nil {
			in.t.Fatalf("%s: %v", q, err)
		}
	}
}

func (in *incident) connect() *pgx.Conn {
	in.t.Helper()
	c, err := pgx.Connect(context.Background(), in.url)
	if err != nil {
		in.t.Fatal(err)
	}
	return c
}

// now is production's clock, which faketime may have moved.
func (in *incident) now() time.Time {
	in.t.Helper()
	c := in.connect()
	defer c.Close(context.Background())
	var now time.Time
	if err := c.QueryRow(context.Background(), "select clock_timestamp()").Scan(&now); err != nil {
		in.t.Fatal(err)
	}
	return now
}

// checksums is each table's row count and the md5 of its rows in order.
func (in *incident) checksums() map[string]string {
	in.t.Helper()
	c := in.connect()
	defer c.Close(context.Background())
	sums := map[string]string{}
	for _, table := range []string{"users", "events"} {
		var sum string
		q := fmt.Sprintf("select count(*) || ':' || coalesce(md5(string_agg(t::text, ',' order by id)), '') from %s t", table)
		if err := c.QueryRow(context.Background(), q).Scan(&sum); err != nil {
			in.t.Fatal(err)
		}
		sums[table] = sum
	}
	return sums
}

// archived forces a WAL switch and waits until production has archived
// the segment it switched from.
func (in *incident) archived() {
	in.t.Helper()
	in.sql("register", "select pg_switch_wal()")
	c := in.connect()
	defer c.Close(context.Background())
	Eventually(in.t, time.Minute, func() bool {
		var done bool
		err := c.QueryRow(context.Background(), `select coalesce(last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1), false)
			and coalesce(last_failed_time < last_archived_time, true) from pg_stat_archiver`).Scan(&done)
		return err == nil && done
	}, "production to archive its WAL")
}

// start runs a shipped runbook on production as the incident commander and
// returns the run's id.
func (in *incident) start(runbook string, params ...string) string {
	in.t.Helper()
	args := []string{"run", "runbooks/library/" + runbook, "--env", "production", "--as", "ic", "--key", in.keys["ic"]}
	for _, p := range params {
		args = append(args, "--param", p)
	}
	code, out := Run(in.t, in.env, args...)
	if code != 0 || runIDOf(out) == "" {
		in.t.Fatalf("drctl %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return runIDOf(out)
}

// approve votes for gate as user through drctl approve, once the run
// reaches it.
func (in *incident) approve(id, gate, user string) {
	in.t.Helper()
	Eventually(in.t, 2*time.Minute, func() bool {
		code, out := Run(in.t, in.env, "approve", id, gate, "--as", user, "--comment", "checked", "--key", in.keys[user])
		if code != 0 && !strings.Contains(out, "not open yet") && !strings.Contains(out, "no approval gate is open") {
			in.t.Fatalf("drctl approve %s %s as %s: exit %d\n%s\n%s", id, gate, user, code, out, outputOf(in.t, in.env, "status", id))
		}
		return code == 0
	}, "gate %s to take %s's vote", gate, user)
}

// outputOf is the output of a drctl command, for failure messages.
func outputOf(t *testing.T, env []string, args ...string) string {
	_, out := Run(t, env, args...)
	return out
}

// ended waits for the run to end and returns its status.
func (in *incident) ended(id string) workflows.Status {
	in.t.Helper()
	var st workflows.Status
	Eventually(in.t, 3*time.Minute, func() bool {
		st = status(in.t, in.env, id)
		switch st.State {
		case workflows.StateSucceeded, workflows.StateFailed, workflows.StateRefused, workflows.StateCancelled:
			return true
		}
		return false
	}, "run %s to end", id)
	return st
}

// instance is production's instance called name, if it exists.
func (in *incident) instance(name string) (*pglocal.Instance, bool) {
	in.t.Helper()
	l, ok, err := pglocal.Open(in.base, name)
	if err != nil {
		in.t.Fatal(err)
	}
	return l, ok
}

// TestLossOfInstanceThroughTheCLI is incident 1 as an incident commander
// lives it: last night's backup taken, production's cluster stopped and
// its data directory deleted, loss-of-instance started by one person and
// approved by another through drctl approve. Afterwards the environment's
// URL serves every table with its rows and checksum as before, the rebuilt
// instance archives its WAL, and point-in-time recovery works again: two
// mistyped failure times are refused before anything changes (the live
// database keeps its name, its data and its open connections), and the
// right one recovers exactly the rows of that moment.
func TestLossOfInstanceThroughTheCLI(t *testing.T) {
	in := newIncident(t)
	if code, out := Run(t, in.env, "run", "runbooks/library/nightly-backup.yaml", "--env", "production", "--as", "ic", "--key", in.keys["ic"], "--wait"); code != 0 {
		t.Fatalf("nightly backup: exit %d\n%s\n%s", code, out, in.dev)
	}
	before := in.checksums()
	lossStarted := in.now()
	if err := in.prod.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(in.prod.Dir); err != nil {
		t.Fatal(err)
	}

	id := in.start("loss-of-instance.yaml", "backup_date="+time.Now().UTC().Format(time.DateOnly))
	// The initiator may not approve their own run.
	waitState(t, in.env, id, "approve_restore", workflows.StateWaiting)
	if code, out := Run(t, in.env, "approve", id, "approve_restore", "--as", "ic"); code != 1 || !strings.Contains(out, "not an approver") {
		t.Fatalf("the initiator's own vote: exit %d\n%s", code, out)
	}
	in.approve(id, "approve_restore", "ana")
	if st := in.ended(id); st.State != workflows.StateSucceeded {
		log, _ := os.ReadFile(filepath.Join(in.base, "main", "postgres.log"))
		t.Fatalf("loss-of-instance: %s\n%s\n%s\n%s", st.State, outputOf(t, in.env, "status", id), log, in.dev)
	}
	rebuilt, ok := in.instance(postgres.MainInstance)
	if !ok {
		t.Fatal("no instance where production was")
	}
	in.prod = rebuilt
	after := in.checksums()
	for table, sum := range before {
		if after[table] != sum {
			t.Errorf("table %s: %s before the loss, %s after the restore", table, sum, after[table])
		}
	}
	// The rebuilt instance is production's from now on: the next nightly
	// backup takes it as such, in both stores.
	if code, out := Run(t, in.env, "run", "runbooks/library/nightly-backup.yaml", "--env", "production", "--as", "ic", "--key", in.keys["ic"], "--wait"); code != 0 {
		t.Fatalf("the nightly backup after the rebuild: exit %d\n%s", code, out)
	}
	md := reportOf(t, in.env, id)
	for _, want := range []string{"ana approved at ", "checked"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report does not hold %q:\n%s", want, md)
		}
	}

	// The rebuilt instance archives its WAL, and its fresh base backup
	// starts the point-in-time window again.
	in.sql("register", "insert into events (kind) select 'good' from generate_series(1, 40)")
	moment := in.now()
	time.Sleep(20 * time.Millisecond)
	in.sql("register", "insert into events (kind) select 'bad' from generate_series(1, 40)", "delete from users where id > 10")
	in.archived()

	// Mistyped failure times, one before the rebuilt instance's first base
	// backup and one tomorrow: refused before the first step, with
	// production's database under its name, its data unchanged and an
	// application's connection still open.
	app := in.connect()
	defer app.Close(context.Background())
	var pid int
	if err := app.QueryRow(context.Background(), "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	damaged := in.checksums()
	ny, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		at   time.Time
		kind string
	}{
		{lossStarted, "before the end of the oldest base backup"},
		{moment.Add(24 * time.Hour), "after the newest archived WAL"},
	} {
		wall := tc.at.In(ny).Format("2006-01-02 15:04:05.000")
		id := in.start("data-loss-pitr.yaml", "failure_time="+wall, "zone=America/New_York")
		st := in.ended(id)
		if st.State != workflows.StateRefused || !strings.Contains(outputOf(t, in.env, "status", id), tc.kind) {
			t.Fatalf("recovery to %s: %s\n%s", wall, st.State, outputOf(t, in.env, "status", id))
		}
		for _, s := range st.Steps {
			if s.State != workflows.StateNotRun {
				t.Errorf("recovery to %s was refused, yet step %s is %s", wall, s.ID, s.State)
			}
		}
		var still int
		if err := app.QueryRow(context.Background(), "select pg_backend_pid()").Scan(&still); err != nil || still != pid {
			t.Fatalf("the application's connection did not survive the refused recovery to %s: pid %d → %d, %v", wall, pid, still, err)
		}
		for table, sum := range in.checksums() {
			if damaged[table] != sum {
				t.Errorf("the refused recovery to %s changed table %s", wall, table)
			}
		}
	}

	// The right moment, on New York's clock.
	wall := moment.In(ny).Format("2006-01-02 15:04:05.000")
	id = in.start("data-loss-pitr.yaml", "failure_time="+wall, "zone=America/New_York")
	in.approve(id, "approve_set_aside", "ben")
	in.approve(id, "approve_switch", "ana")
	waitState(t, in.env, id, "approve_drop", workflows.StateWaiting)
	in.recovered(40)
	if _, ok := in.instance(postgres.MainInstance + "-old"); !ok {
		t.Error("the damaged cluster is not kept until the drop gate")
	}
	in.approve(id, "approve_drop", "ana")
	if st := in.ended(id); st.State != workflows.StateSucceeded {
		t.Fatalf("data-loss-pitr: %s\n%s", st.State, outputOf(t, in.env, "status", id))
	}
	// The data lost is measured from the moment of the damage, however
	// long the recovery took to start.
	if md := reportOf(t, in.env, id); !strings.Contains(md, "(target 5m0s) ✓ met") || !strings.Contains(md, "when it was lost (targets.lost_at)") {
		t.Errorf("the recovery's report does not measure its RPO from the moment of the damage:\n%s", md)
	}
	if _, ok := in.instance(postgres.MainInstance + "-old"); ok {
		t.Error("the damaged cluster outlived its drop gate")
	}
	in.recovered(40)
}

// recovered checks that the environment's URL serves the moment before
// the damage: every user, good events and none of the bad.
func (in *incident) recovered(good int) {
	in.t.Helper()
	c := in.connect()
	defer c.Close(context.Background())
	var users, goodRows, bad int
	err := c.QueryRow(context.Background(), `select (select count(*) from users), (select count(*) from events where kind = 'good'),
		(select count(*) from events where kind = 'bad')`).Scan(&users, &goodRows, &bad)
	if err != nil || users != 300 || goodRows != good || bad != 0 {
		in.t.Fatalf("production's URL serves %d users, %d good and %d bad events (%v); want 300, %d and 0", users, goodRows, bad, err, good)
	}
}

// TestDataLossInLondonSummerTime is incident 2 with production's clock in
// July (libfaketime): the damage happens during British Summer Time, the
// people involved give its moment on London's wall clock, and the
// recovery brings back exactly the rows of that moment.
func TestDataLossInLondonSummerTime(t *testing.T) {
	ShiftClockTo(t, time.July, 15)
	in := newIncident(t)
	if code, out := Run(t, in.env, "run", "runbooks/library/base-backup.yaml", "--env", "production", "--as", "ic", "--key", in.keys["ic"], "--wait"); code != 0 {
		t.Fatalf("base backup: exit %d\n%s", code, out)
	}
	in.sql("register", "insert into events (kind) select 'good' from generate_series(1, 25)")
	moment := in.now()
	london, _ := time.LoadLocation("Europe/London")
	if zone, _ := moment.In(london).Zone(); zone != "BST" {
		t.Fatalf("production's clock reads %s, %s in London: not summer time", moment, zone)
	}
	time.Sleep(20 * time.Millisecond)
	in.sql("register", "insert into events (kind) select 'bad' from generate_series(1, 25)", "delete from users where id > 10")
	in.archived()
	// The runbook's zone is London's unless told otherwise; the time
	// carries milliseconds, which the recovery keeps.
	id := in.start("data-loss-pitr.yaml", "failure_time="+moment.In(london).Format("2006-01-02 15:04:05.000"))
	in.approve(id, "approve_set_aside", "ana")
	in.approve(id, "approve_switch", "ben")
	in.approve(id, "approve_drop", "ana")
	if st := in.ended(id); st.State != workflows.StateSucceeded {
		t.Fatalf("data-loss-pitr: %s\n%s", st.State, outputOf(t, in.env, "status", id))
	}
	in.recovered(25)
}
