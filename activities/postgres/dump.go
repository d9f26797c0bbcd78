package postgres

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/childio"
	"github.com/drctl/drctl/internal/pgdump"
	"github.com/drctl/drctl/internal/scratch"
)

// toolVersion is the version line of a Postgres client program.
func toolVersion(prog string) string {
	out, err := exec.Command(prog, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func (p *Postgres) store(ctx context.Context, env, name string) (backup.Store, *backup.StoreConfig, error) {
	if name == "" {
		name = backup.DefaultStore
	}
	if p.Stores == nil {
		return nil, nil, nonRetryable("NoConfig", "this worker has no environments file")
	}
	cfg, err := p.Stores(env, name)
	if err != nil {
		return nil, nil, nonRetryable("NoStore", "%v", err)
	}
	s, err := backup.Open(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("environment %s, store %s: %w", env, name, err)
	}
	return s, cfg, nil
}

// progress counts bytes through a reader and heartbeats them, with how
// many there are in all when that is known.
type progress struct {
	r     io.Reader
	n     atomic.Int64
	phase string
	ctx   context.Context
	last  time.Time
	total int64
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	if time.Since(p.last) > 2*time.Second {
		p.last = time.Now()
		activity.RecordHeartbeat(p.ctx, p.details())
	}
	return n, err
}

// details are what a heartbeat says.
func (p *progress) details() map[string]any {
	d := map[string]any{"phase": p.phase, "bytes": p.n.Load()}
	if p.total > 0 {
		d["total"] = p.total
	}
	return d
}

// Backup dumps a database with pg_dump -Fc, streamed through age into the
// environment's store, with exact row counts taken in the same snapshot.
// An empty database is refused unless allow_empty is set: backups that
// silently held nothing must not happen again.
func (p *Postgres) Backup(ctx context.Context, in BackupInput) (BackupOutput, error) {
	out, err := p.backup(ctx, in)
	if err == nil {
		measureBackup(ctx, in, out)
	}
	return out, err
}

func (p *Postgres) backup(ctx context.Context, in BackupInput) (BackupOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return BackupOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return BackupOutput{}, err
	}
	if t.Role == "target" {
		return BackupOutput{}, nonRetryable("Refused", "environment %s is a target: its data is a restored copy and is never backed up", t.Name)
	}
	c, ep, err := p.open(ctx, t, "", in.Database)
	if err != nil {
		return BackupOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	src, err := sourceOf(ctx, c, ep)
	if err != nil {
		return BackupOutput{}, err
	}
	// One snapshot for the counts and the dump, so the recorded counts are
	// exactly what the dump holds.
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return BackupOutput{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot, version, lsn string
	if err := tx.QueryRow(ctx, "select pg_export_snapshot(), current_setting('server_version'), pg_current_wal_lsn()::text").Scan(&snapshot, &version, &lsn); err != nil {
		return BackupOutput{}, fmt.Errorf("starting the backup snapshot: %w", err)
	}
	counts, err := tableCounts(ctx, tx)
	if err != nil {
		return BackupOutput{}, err
	}
	if backup.TotalRows(counts) == 0 && !in.AllowEmpty {
		return BackupOutput{}, nonRetryable("EmptyDatabase",
			"database %s has no rows in any of its %d tables (%s): refusing to store an empty backup (set allow_empty: true if that is expected)",
			in.Database, len(counts), strings.Join(slices.Sorted(maps.Keys(counts)), ", "))
	}
	s, cfg, err := p.store(ctx, t.Name, in.Store)
	if err != nil {
		return BackupOutput{}, err
	}
	defer s.Close()
	datastore := in.Datastore
	if datastore == "" {
		datastore = in.Database
	}
	prev, err := previousBackup(ctx, s, t.Name, datastore)
	if err != nil {
		return BackupOutput{}, err
	}
	if err := checkAgainstHistory(t, in, src, counts, prev); err != nil {
		return BackupOutput{}, err
	}
	started := time.Now().UTC()
	if in.Base {
		// The snapshot's work is done: the counts said the database is
		// not empty.
		_ = tx.Rollback(ctx)
		return p.baseBackup(ctx, t, in, ep, s, cfg, datastore, counts, src)
	}
	// pg_dump's own compression is off: zstd in the backup's writer does
	// it for a fraction of the CPU, both ways (see backup.Zstd).
	cmd := exec.CommandContext(ctx, "pg_dump", "-Fc", "--compress=0", "--snapshot="+snapshot, "--dbname="+in.Database)
	childio.Bind(cmd)
	cmd.Env = childio.Env(ep.toolEnv(in.Database)...)
	entry, err := storeOutput(ctx, cmd, "dump", backup.Writer{Store: s, Recipients: cfg.Recipients}, backup.Entry{
		Key: backup.DataKey(t.Name, datastore, started, "dump.zst.age"), Env: t.Name, Datastore: datastore,
		Date: started.Format(time.DateOnly), Format: "pg_dump-custom", Compression: backup.Zstd, StartedAt: started, Server: version, LSN: lsn,
		RowCounts: counts, Source: src, Tools: map[string]string{"pg_dump": toolVersion("pg_dump")},
	}, nil)
	if err != nil {
		return BackupOutput{}, err
	}
	return backupOutput(entry, counts), nil
}

// storeOutput streams what cmd prints (a dump, a base backup) into the
// store as a backup; the backup's record is written only if cmd succeeds,
// after finish (when given) completed it.
func storeOutput(ctx context.Context, cmd *exec.Cmd, phase string, w backup.Writer, meta backup.Entry, finish func(*backup.Entry) error) (backup.Entry, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return backup.Entry{}, err
	}
	if err := cmd.Start(); err != nil {
		return backup.Entry{}, fmt.Errorf("starting %s: %w", filepath.Base(cmd.Path), err)
	}
	entry, err := w.Write(ctx, &progress{r: stdout, phase: phase, ctx: ctx}, meta, func(meta *backup.Entry) error {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, childio.Cut(stderr.String()))
		}
		if finish != nil {
			return finish(meta)
		}
		return nil
	})
	if err != nil && cmd.ProcessState == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return entry, err
}

func backupOutput(e backup.Entry, counts map[string]int64) BackupOutput {
	return BackupOutput{Key: e.Key, Size: e.Size, SHA256: e.SHA256, Tables: len(counts), Rows: backup.TotalRows(counts),
		RowCounts: counts, LSN: e.LSN, StartedAt: e.StartedAt, StoppedAt: e.StoppedAt, Source: e.Source}
}

// restoreMarker is the comment a restore leaves on the database it creates,
// so a retry after a crash recognises its own half-done work.
func restoreMarker(key string) string { return createdMarker + " restore of " + key }

// Restore restores a backup into a fresh database: it decrypts the dump as
// it streams from the store into pg_restore (with jobs > 1, into a
// temporary file that the load reads as it grows; see internal/pgdump). Errors
// matching expected_errors are tolerated up to their max; any other fails
// the step, named.
func (p *Postgres) Restore(ctx context.Context, in RestoreInput) (RestoreOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return RestoreOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return RestoreOutput{}, err
	}
	from := cmp.Or(in.From, t.Name)
	allow, err := compileExpected(in.ExpectedErrors)
	if err != nil {
		return RestoreOutput{}, err
	}
	s, cfg, err := p.store(ctx, from, in.Store)
	if err != nil {
		return RestoreOutput{}, err
	}
	defer s.Close()
	entry, err := findEntry(ctx, s, from, in.Backup)
	if err != nil {
		return RestoreOutput{}, err
	}
	if cfg.Identity == "" {
		return RestoreOutput{}, nonRetryable("NoIdentity", "store %s of environment %s has no identity to decrypt backups with", in.Store, from)
	}
	identity, err := cfg.Identity.Resolve(ctx)
	if err != nil {
		return RestoreOutput{}, nonRetryable("NoSecret", "%v", err)
	}
	var space *scratch.Space
	if in.Jobs > 1 {
		// Found out before anything is touched, not an hour into the
		// copy; reserved, so a restore beside it cannot take the room.
		info := activity.GetInfo(ctx)
		space, err = scratch.Reserve(os.TempDir(), in.Run.ID, info.ActivityID, int(info.Attempt), plainSize(entry))
		if errors.Is(err, scratch.ErrNoSpace) {
			return RestoreOutput{}, nonRetryable("NoScratchSpace", "a restore with jobs downloads the backup first (%s, %d MiB), and there is no room: %v. Point TMPDIR at a larger volume, or restore with jobs: 1, which streams and needs no space",
				entry.Key, plainSize(entry)>>20, err)
		}
		if err != nil {
			return RestoreOutput{}, err
		}
		defer space.Release()
	}
	c, ep, err := p.admin(ctx, t, in.Instance)
	if err != nil {
		return RestoreOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	out := RestoreOutput{Database: in.Database, Backup: in.Backup, IgnoredErrors: []string{}}
	marker := restoreMarker(in.Backup)
	if exists, err := dbExists(ctx, c, in.Database); err != nil {
		return out, err
	} else if exists {
		comment, err := dbComment(ctx, c, in.Database)
		if err != nil {
			return out, err
		}
		switch comment {
		case marker + " (complete)":
			return p.restored(ctx, ep, out, in.Jobs)
		case marker + " (in progress)":
			// An earlier attempt died part-way: start again.
			if _, err := c.Exec(ctx, "drop database "+ident(in.Database)+" with (force)"); err != nil {
				return out, fmt.Errorf("dropping the half-restored %s: %w", in.Database, err)
			}
		default:
			// A scratch database drctl restored for an earlier run that
			// failed (a drill's, say) is replaced, so one failed drill does
			// not break every later one; the environment's own database
			// never is.
			if strings.HasPrefix(comment, createdMarker+" restore of ") && in.Database != t.Database {
				if _, err := c.Exec(ctx, "drop database "+ident(in.Database)+" with (force)"); err != nil {
					return out, fmt.Errorf("dropping %s, left by an earlier restore: %w", in.Database, err)
				}
				out.Replaced = strings.TrimPrefix(comment, createdMarker+" ")
				break
			}
			return out, nonRetryable("NotFresh", "database %s already exists: a restore goes into a fresh database (set the old one aside first, e.g. with postgres.rename)", in.Database)
		}
	}
	if _, err := c.Exec(ctx, "create database "+ident(in.Database)); err != nil {
		return out, fmt.Errorf("creating %s: %w", in.Database, err)
	}
	if _, err := c.Exec(ctx, "comment on database "+ident(in.Database)+" is '"+strings.ReplaceAll(marker, "'", "''")+" (in progress)'"); err != nil {
		return out, err
	}
	plain, err := backup.Read(ctx, s, entry, identity)
	if err != nil {
		return out, err
	}
	// Loads that finish Close it, which checks it; one that fails leaves
	// the rest of the object unread.
	defer plain.Abandon()
	// A parallel restore's bytes are those downloaded; the loaders follow.
	phase := "restore"
	if in.Jobs > 1 {
		phase = "download"
	}
	pr := &progress{r: plain, phase: phase, ctx: ctx, total: plainSize(entry)}
	done := make(chan struct{})
	go heartbeatUntil(ctx, done, func() any { return pr.details() })
	logFrom := instanceLogSize(t, in.Instance)
	errs, early, err := p.load(ctx, ep, in, entry, pr, plain, space)
	close(done)
	out.Bytes = pr.n.Load()
	out.TablesLoadedWhileDownloading, out.IndexesBuiltWhileDownloading = len(early.Tables), len(early.PostData)
	ignored, unexpected := classify(errs, allow)
	out.IgnoredErrors = ignored
	if err != nil || len(unexpected) > 0 {
		// A full disk shows to pg_restore as whatever failed first (often
		// a lost connection); the server's own words name it.
		if full := diskFull(t, in.Instance, logFrom, append([]string{fmt.Sprint(err)}, unexpected...)); full != "" {
			return out, nonRetryable("DiskFull", "restoring %s into %s: the target's disk is full: %s", in.Backup, in.Database, full)
		}
	}
	if errors.Is(err, pgdump.ErrInstanceGone) {
		// Retryable: an instance that comes back takes a resumed restore.
		return out, temporal.NewApplicationError(err.Error(), "InstanceGone")
	}
	if err != nil {
		return out, err
	}
	if len(unexpected) > 0 {
		return out, nonRetryable("RestoreErrors", "restoring %s into %s: %d unexpected errors, the first: %s", in.Backup, in.Database, len(unexpected), unexpected[0])
	}
	if _, err := c.Exec(ctx, "comment on database "+ident(in.Database)+" is '"+strings.ReplaceAll(marker, "'", "''")+" (complete)'"); err != nil {
		return out, err
	}
	return p.restored(ctx, ep, out, in.Jobs)
}

// overlapAbove is when a parallel restore loads beside its download (see
// pgdump.Parallel); tests change it.
var overlapAbove = pgdump.DefaultOverlapAbove

// load runs pg_restore on the decrypted dump pr (from plain), its rows
// merged into large chunks on the way (pgdump.Rechunk), streaming it into
// one pg_restore, or with jobs > 1 into a temporary file that
// pgdump.ParallelRestore loads from as it grows. It returns pg_restore's
// error lines and what was done while downloading; a failed download
// comes first, as it explains the rest.
func (p *Postgres) load(ctx context.Context, ep *endpoint, in RestoreInput, entry backup.Entry, pr *progress, plain io.Closer, space *scratch.Space) ([]string, pgdump.Early, error) {
	target := pgdump.Target{Database: in.Database, Env: childio.Env(ep.toolEnv(in.Database)...), Gone: ep.answers}
	if in.Jobs <= 1 {
		merged, w := io.Pipe()
		rechunked := make(chan struct{})
		go func() {
			defer close(rechunked)
			w.CloseWithError(pgdump.Rechunk(w, pr))
		}()
		errs, err := pgdump.Restore(ctx, target, merged)
		merged.Close() // the rechunking stops at its next write
		if err != nil {
			return nil, pgdump.Early{}, err // pg_restore itself failed: the rest is left unread
		}
		<-rechunked
		// The checksum is known once every stored byte went through; a
		// damaged object that pg_restore choked on is reported as such.
		if err := plain.Close(); err != nil {
			return nil, pgdump.Early{}, err
		}
		return errs, pgdump.Early{}, nil
	}
	g, err := pgdump.NewGrowingFile(space.Path)
	if err != nil {
		return nil, pgdump.Early{}, err
	}
	defer g.Remove()
	how := pgdump.Parallel{Jobs: in.Jobs, Size: plainSize(entry), OverlapAbove: overlapAbove}
	return pgdump.ParallelRestore(ctx, target, how, g, func() error {
		// In pieces of a MiB: each wakes the loaders.
		w := bufio.NewWriterSize(g, 1<<20)
		if err := pgdump.Rechunk(w, pr); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return plain.Close()
	})
}

// restored fills a restore's output with the restored database's exact
// row counts, and gathers its planner statistics: pg_restore leaves none,
// and a database put into service without them is planned blind until
// autovacuum comes round to each table.
func (p *Postgres) restored(ctx context.Context, ep *endpoint, out RestoreOutput, jobs int) (RestoreOutput, error) {
	dbEp := *ep
	cfg := *ep.cfg
	cfg.Database = out.Database
	dbEp.cfg = &cfg
	counts, err := countTables(ctx, dbEp.connect, jobs, true)
	if err != nil {
		return out, err
	}
	out.RowCounts, out.Tables, out.Rows = counts, len(counts), backup.TotalRows(counts)
	return out, nil
}

func findEntry(ctx context.Context, s backup.Store, env, key string) (backup.Entry, error) {
	entries, err := backup.Entries(ctx, s, env+"/")
	if err != nil {
		return backup.Entry{}, err
	}
	for _, e := range entries {
		if e.Key == key {
			return e, nil
		}
	}
	return backup.Entry{}, nonRetryable("NoBackup", "%s is not a complete backup in %s", key, s)
}

// plainSize is how many bytes the dump of e has once decrypted and
// decompressed. An uncompressed record's is a little under its stored size.
func plainSize(e backup.Entry) int64 {
	if e.Compression != "" {
		return e.PlainSize
	}
	return e.Size
}

type expected struct {
	re    *regexp.Regexp
	max   int
	count int
}

func compileExpected(list []stepio.ExpectedError) ([]*expected, error) {
	var out []*expected
	for _, e := range list {
		re, err := regexp.Compile(e.Pattern)
		if err != nil {
			return nil, nonRetryable("BadInput", "expected error %q is not a regular expression: %v", e.Pattern, err)
		}
		out = append(out, &expected{re: re, max: max(e.Max, 1)})
	}
	return out, nil
}

// classify sorts pg_restore's errors into those an expected pattern allows
// (within its max) and the rest.
func classify(errs []string, allow []*expected) (ignored, unexpected []string) {
	ignored = []string{}
	for _, e := range errs {
		matched := false
		for _, a := range allow {
			if a.re.MatchString(e) && a.count < a.max {
				a.count++
				matched = true
				break
			}
		}
		if matched {
			ignored = append(ignored, e)
		} else {
			unexpected = append(unexpected, e)
		}
	}
	return ignored, unexpected
}
