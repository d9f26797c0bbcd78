// Package backup holds the places backups live (Azure Blob Storage, an
// SSH/SFTP backup server, a local folder) and the backup.* and
// storage.compare steps.
package backup

import (
	"time"

	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
)

// StoreConfig configures one store of an environment.
type StoreConfig struct {
	Type string `json:"type" drctl:"required" enum:"azure,sftp,local"`
	// Azure Blob Storage.
	Account    string     `json:"account,omitempty"`
	Container  string     `json:"container,omitempty"`
	Connection secret.Ref `json:"connection,omitempty"`
	// SSH/SFTP backup server.
	Host       string     `json:"host,omitempty"`
	Port       int        `json:"port,omitempty"`
	User       string     `json:"user,omitempty"`
	Key        secret.Ref `json:"key,omitempty"`
	KnownHosts string     `json:"known_hosts,omitempty"`
	// Path is the base folder on an SFTP server or this host; Prefix the
	// base prefix inside an Azure container.
	Path   string `json:"path,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// Concurrency is how many ranges of a blob an Azure download fetches at
	// a time (default 4); 1 is one stream.
	Concurrency int `json:"concurrency,omitempty"`
	// Recipients are age public keys that backups are encrypted to; Identity
	// is the age private key that restores decrypt with.
	Recipients []string   `json:"recipients,omitempty"`
	Identity   secret.Ref `json:"identity,omitempty"`
}

// Entry is one complete backup with its metadata record.
type Entry struct {
	Key       string `json:"key"`
	Env       string `json:"env"`
	Datastore string `json:"datastore"`
	Date      string `json:"date"`
	Format    string `json:"format"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	// Compression is what the plain bytes went through before age ("" for
	// none, or Zstd); PlainSize is how many plain bytes there were, which
	// is what a restore that keeps them on disk needs room for.
	Compression string `json:"compression,omitempty"`
	PlainSize   int64  `json:"plain_size,omitempty"`
	// PlainSHA256 is the sha256 of the plain bytes, kept for WAL: a
	// segment archived again must be the one archived before.
	PlainSHA256 string `json:"plain_sha256,omitempty"`
	// HeaderSize and HeaderSHA256 pin the age header and payload nonce.
	// The header carries this backup's own random file key, under which
	// every payload chunk is authenticated; a restore that finds the same
	// header and decrypts every chunk has read exactly the stored bytes,
	// without hashing them all a second time.
	HeaderSize   int64            `json:"header_size,omitempty"`
	HeaderSHA256 string           `json:"header_sha256,omitempty"`
	StartedAt    time.Time        `json:"started_at"`
	StoppedAt    time.Time        `json:"stopped_at"`
	Server       string           `json:"server_version,omitempty"`
	LSN          string           `json:"lsn,omitempty"`
	RowCounts    map[string]int64 `json:"row_counts,omitempty"`
	// Source is what was backed up: compared with the previous backup's,
	// it tells a backup of another instance from one of the same.
	Source     *Source           `json:"source,omitempty"`
	Recipients []string          `json:"recipients"`
	Tools      map[string]string `json:"tools,omitempty"`
	// VerifiedAt is set when a restore of this backup passed verification.
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	// SkippedDamaged is set by backup.latest allowed to fall back: the
	// newer backups it passed over, and why each is damaged.
	SkippedDamaged []string `json:"skipped_damaged,omitempty"`
}

// TotalRows is the sum of row counts per table.
func TotalRows(counts map[string]int64) int64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}

// LatestInput picks the newest complete backup of a datastore, optionally on
// a given date.
type LatestInput struct {
	Env       string `json:"env" drctl:"required" format:"name"`       // the environment whose backups to look in
	Datastore string `json:"datastore" drctl:"required" format:"name"` // the datastore (usually the database name)
	Store     string `json:"store,omitempty" format:"name"`            // the store to look in; default backups
	Date      string `json:"date,omitempty" format:"date"`             // only backups of this date (yyyy-mm-dd, UTC); default any
	// AllowFallback takes the newest complete backup when newer ones are
	// damaged (the output lists them); by default the step fails.
	AllowFallback bool `json:"allow_fallback,omitempty"`
}

// ListInput lists backups between two dates (inclusive).
type ListInput struct {
	Env       string `json:"env" drctl:"required" format:"name"` // the environment whose backups to list
	Datastore string `json:"datastore,omitempty" format:"name"`  // only this datastore
	Store     string `json:"store,omitempty" format:"name"`      // the store to list; default backups
	From      string `json:"from,omitempty" format:"date"`       // the first date (yyyy-mm-dd, UTC)
	To        string `json:"to,omitempty" format:"date"`         // the last date (yyyy-mm-dd, UTC)
}

// ListOutput holds the backups found, oldest first.
type ListOutput struct {
	Entries []Entry `json:"entries"`
	Count   int     `json:"count"`
	// Damaged are the backups in range that cannot be restored, with why.
	Damaged []Damaged `json:"damaged"`
}

// PruneInput applies retention; the newest verified backup is never deleted.
type PruneInput struct {
	Env        string `json:"env" drctl:"required" format:"name"`       // the environment whose backups to prune: the run's own
	Datastore  string `json:"datastore" drctl:"required" format:"name"` // the datastore to prune
	Store      string `json:"store,omitempty" format:"name"`            // the store to prune; default backups
	KeepDaily  int    `json:"keep_daily" drctl:"required"`              // how many days keep their newest backup
	KeepWeekly int    `json:"keep_weekly,omitempty"`                    // how many weeks keep their newest backup
	// Run is set by the interpreter: a run prunes its own environment's
	// backups only.
	Run stepio.RunContext `json:"run" drctl:"internal"`
}

// PruneOutput lists what was deleted and how many backups remain.
type PruneOutput struct {
	Deleted []string `json:"deleted"`
	Kept    int      `json:"kept"`
	// Abandoned lists the parts of uploads that never finished (a worker
	// killed mid-upload), swept once a day old.
	Abandoned []string `json:"abandoned"`
}

// Location is a prefix in one of an environment's stores.
type Location struct {
	Env    string `json:"env" drctl:"required" format:"name"`   // the environment whose store it is
	Store  string `json:"store" drctl:"required" format:"name"` // the store
	Prefix string `json:"prefix,omitempty"`                     // only objects under this prefix
}

// CompareInput compares two locations object by object.
type CompareInput struct {
	Source Location `json:"source" drctl:"required"` // what is compared: the originals
	Copy   Location `json:"copy" drctl:"required"`   // their copy
	// Tolerance is how many missing or differing objects are still
	// acceptable.
	Tolerance int `json:"tolerance,omitempty"`
	// MaxNames caps how many names each list in the output carries.
	MaxNames int `json:"max_names,omitempty"`
	// SizeOnly compares sizes only, skipping the content hashes.
	SizeOnly bool `json:"size_only,omitempty"`
}

// CompareOutput counts what matched and names (up to a cap) what did not.
type CompareOutput struct {
	SourceObjects int64    `json:"source_objects"`
	SourceBytes   int64    `json:"source_bytes"`
	CopyObjects   int64    `json:"copy_objects"`
	CopyBytes     int64    `json:"copy_bytes"`
	Missing       int64    `json:"missing"`
	Extra         int64    `json:"extra"`
	Changed       int64    `json:"changed"`
	MissingNames  []string `json:"missing_names"`
	ExtraNames    []string `json:"extra_names"`
	ChangedNames  []string `json:"changed_names"`
}

// Source identifies the database a backup was taken of.
type Source struct {
	// SystemID is the cluster's system identifier, fixed at initdb and
	// kept by its physical copies (a PITR of it, a replica).
	SystemID string `json:"system_id"`
	// Server is the host and port the worker reached it at.
	Server string `json:"server"`
	// DatabaseOID changes when the database is created again (a restore).
	DatabaseOID uint32 `json:"database_oid"`
	Version     string `json:"version"`
}
