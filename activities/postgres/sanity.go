package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/drctl/drctl/activities/backup"
)

// A backup job pointed at the wrong database goes on succeeding: the dump
// is not empty, it is just not production. So each backup is held against
// the previous one of its datastore in the same store: the same instance
// (system identifier) and database (OID), and no table, nor the total,
// shrunk by more than a share of its rows. A table of fewer rows than
// shrinkFloor is not judged alone: it may legitimately come and go.
const (
	defaultMaxShrink = 0.5
	shrinkFloor      = 100
)

// sourceOf identifies the database c is connected to. The system
// identifier is readable by superusers and pg_monitor only; without it the
// database's OID and the server still tell one database from another.
func sourceOf(ctx context.Context, c *pgx.Conn, ep *endpoint) (*backup.Source, error) {
	src := &backup.Source{Server: hostPort(ep.cfg)}
	_ = c.QueryRow(ctx, "select system_identifier::text from pg_control_system()").Scan(&src.SystemID)
	err := c.QueryRow(ctx, "select oid, current_setting('server_version') from pg_database where datname = current_database()").Scan(&src.DatabaseOID, &src.Version)
	if err != nil {
		return nil, fmt.Errorf("reading what the backup is of: %w", err)
	}
	return src, nil
}

// previousBackup is the newest complete backup (dump or base backup) of
// the datastore in the store that recorded its source.
func previousBackup(ctx context.Context, s backup.Store, env, datastore string) (*backup.Entry, error) {
	dumps, err := backup.Entries(ctx, s, env+"/")
	if err != nil {
		return nil, err
	}
	bases, err := backup.Records(ctx, s, env+"/base/", nil)
	if err != nil {
		return nil, err
	}
	var prev *backup.Entry
	for _, e := range slices.Concat(dumps, bases) {
		if e.Datastore == datastore && e.Source != nil && (prev == nil || e.StoppedAt.After(prev.StoppedAt)) {
			prev = &e
		}
	}
	return prev, nil
}

// checkAgainstHistory refuses a backup of another source than the
// environment pins or its previous backup recorded, and one that shrank.
func checkAgainstHistory(t *Target, in BackupInput, src *backup.Source, counts map[string]int64, prev *backup.Entry) error {
	if t.SystemID != "" && src.SystemID != t.SystemID {
		return nonRetryable("WrongSource", "the database at %s belongs to instance %s, but environment %s pins %s: refusing to back up another instance",
			src.Server, src.SystemID, t.Name, t.SystemID)
	}
	if prev == nil {
		return nil
	}
	otherInstance := prev.Source.SystemID != "" && src.SystemID != "" && prev.Source.SystemID != src.SystemID
	if !in.NewSource && (otherInstance || prev.Source.DatabaseOID != src.DatabaseOID) {
		return nonRetryable("SourceChanged", "%s at %s is instance %s, database OID %d; the previous backup %s was of instance %s, database OID %d (at %s): "+
			"refusing to back up what may be another database (after a planned rebuild, back up once with new_source: true)",
			in.Database, src.Server, src.SystemID, src.DatabaseOID, prev.Key, prev.Source.SystemID, prev.Source.DatabaseOID, prev.Source.Server)
	}
	if in.AllowShrink {
		return nil
	}
	limit := in.MaxShrink
	if limit <= 0 {
		limit = defaultMaxShrink
	}
	var shrunk []string
	for _, table := range slices.Sorted(maps.Keys(prev.RowCounts)) {
		before, now := prev.RowCounts[table], counts[table]
		if before >= shrinkFloor && float64(now) < float64(before)*(1-limit) {
			shrunk = append(shrunk, fmt.Sprintf("%s %d → %d", table, before, now))
		}
	}
	before, now := backup.TotalRows(prev.RowCounts), backup.TotalRows(counts)
	if len(shrunk) > 0 || before > 0 && float64(now) < float64(before)*(1-limit) {
		return nonRetryable("Shrunk", "%s shrank by more than %.0f%% since the previous backup %s: %d rows then, %d now; %s "+
			"(a planned purge: allow_shrink: true)", in.Database, limit*100, prev.Key, before, now, orNone(strings.Join(shrunk, ", ")))
	}
	return nil
}

func orNone(tables string) string {
	if tables == "" {
		return "no single table shrank that much"
	}
	return "tables: " + tables
}
