package postgres

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/childio"
	"github.com/drctl/drctl/internal/freeport"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/internal/walarchive"
)

// PITR recovers a NEW instance to a point in time: the newest base backup
// that ended before the target, then archived WAL up to the target, where
// recovery pauses; drctl checks the data is there and then promotes. A
// target before the oldest base backup's end, or after the newest archived
// WAL, is refused before anything is touched.
func (p *Postgres) PITR(ctx context.Context, in PITRInput) (PITROutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return PITROutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return PITROutput{}, err
	}

	if provider(t) == "exec" {
		// The platform does the recovery (az postgres flexible-server
		// restore --restore-time, say); its command gets the target.
		log, err := p.execAction(ctx, t, "pitr", in.Instance, "DRCTL_TARGET_TIME="+in.Target.UTC().Format(time.RFC3339Nano))
		return PITROutput{Instance: in.Instance, RecoveredTo: in.Target.UTC(), Promoted: err == nil, Log: log}, err
	}
	if provider(t) != "local" || t.Instance.DataDir == "" {
		return PITROutput{}, nonRetryable("NotSupported", "environment %s: point-in-time recovery needs instance.provider local (with a data_dir) or exec (with a pitr command)", t.Name)
	}
	if in.Backend == "pgbackrest" {
		return p.pitrPgBackRest(ctx, t, in)
	}
	if len(p.WALCommand) == 0 {
		return PITROutput{}, nonRetryable("NoConfig", "this worker does not know its own command line for wal-fetch")
	}
	from := cmp.Or(in.From, t.Name)
	s, cfg, err := p.store(ctx, from, in.Store)
	if err != nil {
		return PITROutput{}, err
	}
	defer s.Close()
	target := in.Target.UTC()
	base, err := chooseBase(ctx, s, from, target)
	if err != nil {
		return PITROutput{}, err
	}
	if cfg.Identity == "" {
		return PITROutput{}, nonRetryable("NoIdentity", "store %s of environment %s has no identity to decrypt backups with", in.Store, from)
	}
	identity, err := cfg.Identity.Resolve(ctx)
	if err != nil {
		return PITROutput{}, nonRetryable("NoSecret", "%v", err)
	}

	out := PITROutput{Instance: in.Instance, BaseBackup: base.Key}
	if done, err := p.resumeRecovery(ctx, t, in, &out); done || err != nil {
		return out, err
	}
	l, err := p.unpackBase(ctx, t, s, base, identity, in)
	if err != nil {
		return out, err
	}
	restore := childio.ShellQuote(append(append([]string{}, p.WALCommand...), "wal-fetch", "--env", from, "--store", storeName(in.Store))...)
	if err := l.AppendConf(map[string]string{
		"restore_command":           restore + " %f %p",
		"recovery_target_time":      target.Format("2006-01-02 15:04:05.999999-07"),
		"recovery_target_action":    "pause",
		"recovery_target_inclusive": "true",
		"archive_mode":              "off",
		"hot_standby":               "on",
	}); err != nil {
		return out, err
	}
	if err := os.WriteFile(filepath.Join(l.DataDir(), "recovery.signal"), nil, 0o600); err != nil {
		return out, err
	}
	return p.finishRecovery(ctx, l, in, out)
}

// resumeRecovery deals with an instance of the requested name that is
// already there: one this run recovered and promoted is the answer (done);
// one it left half-way is removed to start again; anyone else's is never
// touched.
func (p *Postgres) resumeRecovery(ctx context.Context, t *Target, in PITRInput, out *PITROutput) (done bool, err error) {
	l, ok, err := pglocal.Open(t.Instance.DataDir, in.Instance)
	if err != nil || !ok {
		return false, err
	}
	if l.CreatedBy != in.Run.ID {
		return false, nonRetryable("Exists", "instance %s already exists and this run did not create it: recovery goes to a new instance", in.Instance)
	}
	if l.Promoted {
		_ = l.Start(ctx)
		*out, err = p.recovered(ctx, l, *out, true)
		return true, err
	}
	return false, l.Destroy(ctx)
}

// finishRecovery starts a recovering instance, waits until it has paused at
// the target, checks the database is there and not empty, and promotes it.
func (p *Postgres) finishRecovery(ctx context.Context, l *pglocal.Instance, in PITRInput, out PITROutput) (PITROutput, error) {
	target := in.Target.UTC()
	if err := pglocal.ChownTree(l.Dir); err != nil {
		return out, err
	}
	if err := l.Start(ctx); err != nil {
		return out, err
	}
	if err := waitPaused(ctx, l); err != nil {
		return out, err
	}
	// Paused at the target: check the database is there and not empty
	// before the instance takes writes.
	if in.Database != "" {
		c, err := l.Connect(ctx, in.Database)
		if err != nil {
			return out, nonRetryable("RecoveryCheck", "database %s is not in the recovered instance: %v", in.Database, err)
		}
		c.Close(context.WithoutCancel(ctx))
		counts, err := countTables(ctx, func(ctx context.Context) (*pgx.Conn, error) { return l.Connect(ctx, in.Database) }, countConns, false)
		if err != nil {
			return out, err
		}
		if out.Rows = backup.TotalRows(counts); out.Rows == 0 {
			return out, nonRetryable("RecoveryCheck", "database %s is empty at %s", in.Database, target.Format(time.RFC3339))
		}
	}
	// What wal-fetch fetched ahead of where recovery stopped goes: paused
	// at the target, recovery asks for no segment until it ends, and at
	// its end only for its last one again (which wal-fetch fetches
	// nothing ahead of).
	pgWAL := filepath.Join(l.DataDir(), "pg_wal")
	if in.Promote != nil && !*in.Promote {
		if err := walarchive.ClearSpool(ctx, pgWAL); err != nil {
			return out, err
		}
		return p.recovered(ctx, l, out, false)
	}
	if err := l.Promote(ctx); err != nil {
		return out, err
	}
	if err := walarchive.ClearSpool(ctx, pgWAL); err != nil {
		return out, err
	}
	l.Promoted = true
	if err := l.Save(); err != nil {
		return out, err
	}
	return p.recovered(ctx, l, out, true)
}

func storeName(s string) string {
	if s == "" {
		return backup.DefaultStore
	}
	return s
}

// Window is what an environment's base backups and WAL archive in a store
// let a recovery reach: any time from the end of the oldest base backup to
// when the newest segment was archived.
type Window struct {
	// Bases are the complete base backups, oldest first by stop time.
	Bases []backup.Entry `json:"bases"`
	// Segments is how many WAL segments are archived, NewestWAL when the
	// newest of them was (zero when none is).
	Segments  int       `json:"segments"`
	NewestWAL time.Time `json:"newest_wal,omitzero"`
	// newestOf is NewestWAL for each cluster's segments.
	newestOf map[string]time.Time
}

// ArchiveWindow reads the window from the records of the base backups and
// segments, never from the objects' modification times.
func ArchiveWindow(ctx context.Context, s backup.Store, env string) (Window, error) {
	bases, err := backup.Records(ctx, s, env+"/base/", nil)
	if err != nil {
		return Window{}, err
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i].StoppedAt.Before(bases[j].StoppedAt) })
	wal, err := backup.Records(ctx, s, walarchive.Prefix(env), nil)
	if err != nil {
		return Window{}, err
	}
	w := Window{Bases: bases, Segments: len(wal), newestOf: map[string]time.Time{}}
	for _, seg := range wal {
		if seg.StoppedAt.After(w.NewestWAL) {
			w.NewestWAL = seg.StoppedAt
		}
		cluster := walarchive.KeyCluster(env, seg.Key)
		if seg.StoppedAt.After(w.newestOf[cluster]) {
			w.newestOf[cluster] = seg.StoppedAt
		}
	}
	return w, nil
}

// newestFor is when the newest segment a recovery from base can replay
// was archived: its own cluster's, or the flat archive's.
func (w Window) newestFor(base backup.Entry) time.Time {
	if w.newestOf == nil {
		return w.NewestWAL
	}
	newest := w.newestOf[""]
	if base.Source != nil && w.newestOf[base.Source.SystemID].After(newest) {
		newest = w.newestOf[base.Source.SystemID]
	}
	if base.Source == nil {
		return w.NewestWAL
	}
	return newest
}

// chooseBase picks the newest base backup that ended before target,
// refusing a target outside what the base backups and WAL archive cover.
func chooseBase(ctx context.Context, s backup.Store, env string, target time.Time) (backup.Entry, error) {
	w, err := ArchiveWindow(ctx, s, env)
	if err != nil {
		return backup.Entry{}, err
	}
	if len(w.Bases) == 0 {
		return backup.Entry{}, nonRetryable("NoBaseBackup", "there is no base backup of %s in %s: take one (postgres.backup with base: true)", env, s)
	}
	var chosen *backup.Entry
	for i := range w.Bases {
		if !w.Bases[i].StoppedAt.After(target) {
			chosen = &w.Bases[i]
		}
	}
	if chosen == nil {
		return backup.Entry{}, nonRetryable("TargetTooEarly",
			"the recovery target %s is before the end of the oldest base backup (%s, ended %s): no recovery can reach it",
			target.Format(time.RFC3339), w.Bases[0].Key, w.Bases[0].StoppedAt.Format(time.RFC3339))
	}
	if newest := w.newestFor(*chosen); target.After(newest) {
		return backup.Entry{}, nonRetryable("TargetTooLate",
			"the recovery target %s is after the newest archived WAL (archived %s): the archive does not reach it yet (force a WAL switch on the source, or pick an earlier time)",
			target.Format(time.RFC3339), newest.Format(time.RFC3339))
	}
	return *chosen, nil
}

// unpackBase makes the new instance's folder and extracts the base
// backup into it, decrypting as it streams.
func (p *Postgres) unpackBase(ctx context.Context, t *Target, s backup.Store, base backup.Entry, identity string, in PITRInput) (*pglocal.Instance, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	dir, err := pglocal.MakeDir(t.Instance.DataDir, in.Instance, in.Run.ID)
	if err != nil {
		return nil, err
	}
	l := &pglocal.Instance{Name: in.Instance, Dir: dir, Port: port, PortPicked: true, CreatedBy: in.Run.ID, ServerEnv: p.ServerEnv}
	// The copy keeps the source's roles and passwords.
	if pw := p.superuserPassword(ctx, t); pw != "" {
		if err := l.SetPassword(pw); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(l.DataDir(), 0o700); err != nil {
		return nil, err
	}
	r, err := backup.Read(ctx, s, base, identity)
	if err != nil {
		return nil, err
	}
	if err := pglocal.Untar(&progress{r: r, phase: "unpack base backup", ctx: ctx}, l.DataDir()); err != nil {
		r.Abandon()
		return nil, fmt.Errorf("unpacking %s: %w", base.Key, err)
	}
	// What follows the archive's end (padding) is read too, so age checks
	// every chunk, and Close the size.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	if err := r.Close(); err != nil {
		return nil, err
	}
	return l, l.Save()
}

// waitPaused waits until recovery has reached its target and paused. If
// the server stops instead (the WAL did not reach the target), its log
// says why.
func waitPaused(ctx context.Context, l *pglocal.Instance) error {
	for {
		c, err := l.Connect(ctx, "postgres")
		if err == nil {
			var state string
			err = c.QueryRow(ctx, "select pg_get_wal_replay_pause_state()").Scan(&state)
			c.Close(context.WithoutCancel(ctx))
			if err == nil && state == "paused" {
				return nil
			}
		}
		if !l.Running(ctx) {
			return nonRetryable("RecoveryFailed", "instance %s stopped during recovery:\n%s", l.Name, pglocal.Tail(l.LogFile()))
		}
		activity.RecordHeartbeat(ctx, map[string]any{"phase": "replaying WAL"})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *Postgres) recovered(ctx context.Context, l *pglocal.Instance, out PITROutput, promoted bool) (PITROutput, error) {
	c, err := l.Connect(ctx, "postgres")
	if err != nil {
		return out, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var replayed *time.Time
	if err := c.QueryRow(ctx, "select pg_last_xact_replay_timestamp()").Scan(&replayed); err != nil {
		return out, err
	}
	if replayed != nil {
		out.RecoveredTo = replayed.UTC()
	}
	out.Host, out.Port, out.Promoted = l.Host(), l.Port, promoted
	return out, nil
}
