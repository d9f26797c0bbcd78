package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/internal/childio"
)

// The WAL archive lives in the store beside the dumps: each segment at
// <env>/wal/<cluster>/<segment>.age, compressed with zstd and encrypted
// like every backup, with a metadata record saying when it was archived
// and how it was compressed (a segment archived by an older drctl is not).
// <cluster> is the archiving cluster's system identifier: an instance
// rebuilt after a loss starts its WAL at the same names as the lost one,
// and archives beside it, not over it. Archives of older drctl, and
// clusters whose control file drctl cannot read, keep segments at
// <env>/wal/<segment>.age, which recovery still reads. Recovery reads it
// back through `drctl wal-fetch`.

func walKey(env, cluster, name string) string {
	if cluster == "" {
		return path.Join(env, "wal", name+".age")
	}
	return path.Join(env, "wal", cluster, name+".age")
}

// clusterOf is the system identifier of the cluster whose pg_wal holds
// file (archive_command's %p, restore_command's %p, or a file in a folder
// of pg_wal), read from its control file; "" when there is none to read.
func clusterOf(file string) string {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return ""
	}
	for range 2 {
		if filepath.Base(dir) == "pg_wal" {
			break
		}
		dir = filepath.Dir(dir)
	}
	if filepath.Base(dir) != "pg_wal" {
		return ""
	}
	f, err := os.Open(filepath.Join(filepath.Dir(dir), "global", "pg_control"))
	if err != nil {
		return ""
	}
	defer f.Close()
	// The control file begins with the system identifier, in the
	// server's byte order (little-endian on the machines Postgres runs on
	// here).
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return ""
	}
	return strconv.FormatUint(binary.LittleEndian.Uint64(b[:]), 10)
}

// PushWAL archives one WAL file (archive_command's %p). Archiving a file
// that is already archived succeeds, as Postgres may archive it again
// after a crash; but only if it is the same file: one of that name with
// other contents means another cluster archives into this archive, or
// one recovered from it came back on a timeline that is already taken,
// and overwriting either would break the next recovery. So it fails, and
// keeps failing, naming both checksums, until a person sees to it;
// Postgres keeps the file in pg_wal meanwhile.
func PushWAL(ctx context.Context, s backup.Store, recipients []string, env, file string) error {
	name := filepath.Base(file)
	key := walKey(env, clusterOf(file), name)
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", name, err)
	}
	defer f.Close()
	have, err := walRecord(ctx, s, key)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", name, err)
	}
	sum := sha256.New()
	if have != nil {
		if _, err := io.Copy(sum, f); err != nil {
			return fmt.Errorf("archiving %s: %w", name, err)
		}
		got := hex.EncodeToString(sum.Sum(nil))
		// One archived before checksums were kept has nothing to compare.
		if have.PlainSHA256 != "" && got != have.PlainSHA256 {
			return fmt.Errorf("archiving %s: %s already holds a different %s (sha256 %s, this one's %s): "+
				"is another cluster archiving into environment %s's archive, or did a recovered one come back on a timeline already used? "+
				"Nothing was overwritten; Postgres keeps the file and retries", name, key, name, have.PlainSHA256, got, env)
		}
		return nil
	}
	now := time.Now().UTC()
	_, err = backup.Writer{Store: s, Recipients: recipients}.Write(ctx, io.TeeReader(f, sum), backup.Entry{
		Key: key, Env: env, Datastore: "wal", Format: "wal", Compression: backup.Zstd, StartedAt: now, StoppedAt: now},
		func(e *backup.Entry) error {
			e.PlainSHA256 = hex.EncodeToString(sum.Sum(nil))
			return nil
		})
	return err
}

// fetchWAL restores one segment, whole or not at all.
func fetchWAL(ctx context.Context, s backup.Store, identity, env, name, dest string) error {
	e, err := walRecord(ctx, s, walKey(env, clusterOf(dest), name))
	if err == nil && e == nil {
		// Archived by an older drctl, before segments were kept apart.
		e, err = walRecord(ctx, s, walKey(env, "", name))
	}
	if err != nil {
		return err
	}
	if e == nil {
		return fmt.Errorf("%s: %w", name, backup.ErrNotFound)
	}
	r, err := backup.Read(ctx, s, *e, identity)
	if err != nil {
		return err
	}
	tmp := dest + ".drctl-part"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		r.Abandon()
		return err
	}
	if _, err = io.Copy(f, r); err != nil {
		r.Abandon()
	} else {
		err = r.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// walRecord reads a segment's record; nil when it is not archived.
func walRecord(ctx context.Context, s backup.Store, key string) (*backup.Entry, error) {
	e, err := backup.ReadMeta(ctx, s, key+".meta.json")
	if errors.Is(err, backup.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

func baseKey(env, datastore string, t time.Time) string {
	return backup.DataKey(env+"/base", datastore, t, "tar.zst.age")
}

// baseBackup streams pg_basebackup's tar of the whole instance into the
// store. The WAL to make it consistent comes from the archive at recovery.
func (p *Postgres) baseBackup(ctx context.Context, t *Target, in BackupInput, ep *endpoint, s backup.Store, cfg *backup.StoreConfig,
	datastore string, counts map[string]int64, src *backup.Source) (BackupOutput, error) {
	// A recovery target is compared with the commit times the server
	// stamped, so the base backup's start and end are read off the
	// server's clock too: a worker whose clock is off cannot move the
	// window that PITR checks a target against.
	c, err := ep.connect(ctx)
	if err != nil {
		return BackupOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var startLSN, version string
	var started time.Time
	err = c.QueryRow(ctx, "select pg_current_wal_lsn()::text, current_setting('server_version'), clock_timestamp()").Scan(&startLSN, &version, &started)
	if err != nil {
		return BackupOutput{}, err
	}
	started = started.UTC()
	// pg_basebackup without WAL ends only once the server has archived the
	// WAL the backup needs: with archiving off or failing it would wait
	// forever, silently. Refuse up front, and watch while it runs.
	if err := archiving(ctx, c, t.Name, time.Time{}); err != nil {
		return BackupOutput{}, err
	}
	watched, stop := context.WithCancelCause(ctx)
	exited := make(chan struct{})
	defer func() { stop(nil); <-exited }() // before c closes: the watch uses it
	go func() {
		defer close(exited)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-watched.Done():
				return
			case <-tick.C:
				activity.RecordHeartbeat(ctx, map[string]any{"phase": "base backup"})
				if err := archiving(watched, c, t.Name, started); err != nil && watched.Err() == nil {
					stop(err)
					return
				}
			}
		}
	}()
	out, err := p.streamBase(watched, t, ep, s, cfg, datastore, counts, src, started, startLSN, version)
	if cause := context.Cause(watched); err != nil && cause != nil && !errors.Is(cause, context.Canceled) && ctx.Err() == nil {
		return BackupOutput{}, cause
	}
	return out, err
}

// archiving says whether the instance archives its WAL: archive_mode on,
// and no archive_command failure since the last success (among those
// after since).
func archiving(ctx context.Context, c *pgx.Conn, env string, since time.Time) error {
	var mode string
	var failedWAL *string
	var failed, archived *time.Time
	err := c.QueryRow(ctx, `select current_setting('archive_mode'), last_failed_wal, last_failed_time, last_archived_time
		from pg_stat_archiver`).Scan(&mode, &failedWAL, &failed, &archived)
	if err != nil {
		return fmt.Errorf("reading the instance's archiver: %w", err)
	}
	if mode == "off" {
		return nonRetryable("ArchiveOff", "environment %s's instance does not archive its WAL (archive_mode off), so a base backup of it could never be recovered: apply the settings `drctl archive setup --env %s` prints, then take the base backup", env, env)
	}
	if failed != nil && failed.After(since) && (archived == nil || failed.After(*archived)) {
		last := "never"
		if archived != nil {
			last = archived.UTC().Format(time.RFC3339)
		}
		return nonRetryable("ArchiveFailing", "environment %s's instance fails to archive its WAL (%s at %s; last success: %s), and a base backup is only usable with its WAL archived: the server's log has the archive_command's error",
			env, deref(failedWAL), failed.UTC().Format(time.RFC3339), last)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// streamBase runs pg_basebackup and stores its tar.
func (p *Postgres) streamBase(ctx context.Context, t *Target, ep *endpoint, s backup.Store, cfg *backup.StoreConfig, datastore string,
	counts map[string]int64, src *backup.Source, started time.Time, startLSN, version string) (BackupOutput, error) {
	cmd := exec.CommandContext(ctx, "pg_basebackup", "-D", "-", "-Ft", "-X", "none", "--checkpoint=fast", "--no-password")
	childio.Bind(cmd)
	cmd.Env = childio.Env(ep.toolEnv("")...)
	entry, err := storeOutput(ctx, cmd, "base backup", backup.Writer{Store: s, Recipients: cfg.Recipients}, backup.Entry{
		Key: baseKey(t.Name, datastore, started), Env: t.Name, Datastore: datastore, Date: started.Format(time.DateOnly),
		Format: "pg_basebackup-tar", Compression: backup.Zstd, StartedAt: started, Server: version, LSN: startLSN, RowCounts: counts, Source: src,
		Tools: map[string]string{"pg_basebackup": toolVersion("pg_basebackup")},
	}, func(meta *backup.Entry) error {
		c, err := ep.connect(ctx)
		if err != nil {
			return err
		}
		defer c.Close(context.WithoutCancel(ctx))
		if err := c.QueryRow(ctx, "select clock_timestamp()").Scan(&meta.StoppedAt); err != nil {
			return fmt.Errorf("reading the server's clock at the end of the base backup: %w", err)
		}
		meta.StoppedAt = meta.StoppedAt.UTC()
		return nil
	})
	if err != nil {
		return BackupOutput{}, err
	}
	return backupOutput(entry, counts), nil
}
