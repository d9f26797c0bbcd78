package postgres

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/internal/childio"
)

// A base backup is pg_basebackup's tar of the whole instance, stored at
// <env>/base/ beside the WAL archive (internal/walarchive) that makes it
// consistent and carries it forward to a point in time.

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
