// Package walarchive is drctl's WAL archive: what Postgres's
// archive_command and restore_command call (drctl wal-push, wal-fetch) to
// keep each WAL segment in a backup store, compressed and encrypted like
// every backup, and to bring it back for recovery. It exists because
// point-in-time recovery is only as good as its archive: a segment is
// stored once, never overwritten by another cluster's of the same name,
// archived in batches so a busy server's WAL does not outrun it, and
// fetched ahead of replay so recovery does not wait on the store.
package walarchive

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/internal/childio"
)

// The archive lives in the store beside the dumps: each segment at
// <env>/wal/<cluster>/<segment>.age, compressed with zstd and encrypted
// like every backup, with a metadata record saying when it was archived
// and how it was compressed (a segment archived by an older drctl is not).
// <cluster> is the archiving cluster's system identifier: an instance
// rebuilt after a loss starts its WAL at the same names as the lost one,
// and archives beside it, not over it. Archives of older drctl, and
// clusters whose control file drctl cannot read, keep segments at
// <env>/wal/<segment>.age, which recovery still reads. Recovery reads it
// back through `drctl wal-fetch`.

// Prefix is where env's archive is in its store.
func Prefix(env string) string { return env + "/wal/" }

// KeyCluster is the cluster a segment's key files it under ("" for the
// flat archive of older drctl).
func KeyCluster(env, key string) string {
	if dir, _, ok := strings.Cut(strings.TrimPrefix(key, Prefix(env)), "/"); ok {
		return dir
	}
	return ""
}

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

// PushSegment archives one WAL file (archive_command's %p). Archiving a file
// that is already archived succeeds, as Postgres may archive it again
// after a crash; but only if it is the same file: one of that name with
// other contents means another cluster archives into this archive, or
// one recovered from it came back on a timeline that is already taken,
// and overwriting either would break the next recovery. So it fails, and
// keeps failing, naming both checksums, until a person sees to it;
// Postgres keeps the file in pg_wal meanwhile.
func PushSegment(ctx context.Context, s backup.Store, recipients []string, env, file string) error {
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

// Settings are the server settings that archive WAL through drctl: self
// is drctl's program, config its environments file.
func Settings(self, config, env, store string) [][2]string {
	q := childio.ShellQuote
	command := strings.Join([]string{q(self), "--config", q(config), "wal-push", "--env", q(env), "--store", q(store), "%p"}, " ")
	return [][2]string{{"wal_level", "replica"}, {"archive_mode", "on"}, {"archive_command", command}, {"archive_timeout", "60s"}}
}
