// Package postgres holds the postgres.* steps: instances, backup, restore,
// point-in-time recovery, rename, drop, verify and scrub.
package postgres

import (
	"time"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/stepio"
)

// RunContext is the run's environment and id, set by the interpreter.
type RunContext = stepio.RunContext

// InstanceConfig says how an environment's Postgres instance is managed.
type InstanceConfig struct {
	// Provider is "local" (clusters on this host via initdb/pg_ctl) or "exec"
	// (configured commands such as terraform, cf or az).
	Provider string `json:"provider" drctl:"required" enum:"local,exec"`
	// DataDir is where local clusters live.
	DataDir string `json:"data_dir,omitempty"`
	Host    string `json:"host,omitempty"`
	Port    int    `json:"port,omitempty"`
	Version string `json:"version,omitempty"`
	// Exec maps an action (create, reboot, failover, pitr, destroy) to its
	// argv.
	Exec map[string][]string `json:"exec,omitempty"`
	// Settings are postgresql.conf settings every local instance the
	// environment creates gets (a step's own settings win): WAL archiving
	// above all, so a recreated instance keeps point-in-time recovery.
	Settings map[string]string `json:"settings,omitempty"`
	// PgBackRest is the pgBackRest repository point-in-time recovery uses
	// with backend: pgbackrest.
	PgBackRest *PgBackRestConfig `json:"pgbackrest,omitempty"`
}

// PgBackRestConfig names a pgBackRest stanza and its configuration file.
type PgBackRestConfig struct {
	Stanza string `json:"stanza" drctl:"required"`
	Config string `json:"config,omitempty"`
}

// CreateInstanceInput recreates (or creates) an instance.
type CreateInstanceInput struct {
	Instance string            `json:"instance,omitempty" format:"name"` // the instance to (re)create; default the environment's own (main)
	Version  string            `json:"version,omitempty"`                // the Postgres major version, where the provider chooses one
	Settings map[string]string `json:"settings,omitempty"`               // postgresql.conf settings, over the environment's instance settings
	Run      RunContext        `json:"run" drctl:"internal"`
}

// InstanceOutput describes an instance after a lifecycle step.
type InstanceOutput struct {
	Instance string `json:"instance"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Created  bool   `json:"created"`
	Log      string `json:"log,omitempty"`
}

// RebootInput restarts an instance.
type RebootInput struct {
	Instance string     `json:"instance,omitempty" format:"name"` // the instance to restart; default the environment's own
	Run      RunContext `json:"run" drctl:"internal"`
}

// FailoverInput moves the application to another instance.
type FailoverInput struct {
	Instance string     `json:"instance,omitempty" format:"name"` // the instance being replaced; default the environment's own
	To       string     `json:"to,omitempty" format:"name"`       // the recovered instance to put where the application connects
	Run      RunContext `json:"run" drctl:"internal"`
}

// RenameInput renames a database, e.g. the damaged one to "<name>-old".
type RenameInput struct {
	Database string     `json:"database" drctl:"required" format:"name"` // the database to rename
	NewName  string     `json:"new_name" drctl:"required" format:"name"` // its new name, free on the instance
	Instance string     `json:"instance,omitempty" format:"name"`        // the instance; default the environment's own
	Run      RunContext `json:"run" drctl:"internal"`
}

// RenameOutput reports a rename; AlreadyDone is true when a previous attempt
// had finished it.
type RenameOutput struct {
	From        string `json:"from"`
	To          string `json:"to"`
	AlreadyDone bool   `json:"already_done"`
	Terminated  int    `json:"terminated_connections"`
}

// DropInput drops a database that carries the "old" suffix or that the run
// created.
type DropInput struct {
	Database string     `json:"database" drctl:"required" format:"name"` // the database: one whose name ends in the old suffix (-old), or that drctl created
	Instance string     `json:"instance,omitempty" format:"name"`        // the instance; default the environment's own
	Run      RunContext `json:"run" drctl:"internal"`
}

// DropOutput reports a drop.
type DropOutput struct {
	Database    string `json:"database"`
	Dropped     bool   `json:"dropped"`
	AlreadyGone bool   `json:"already_gone"`
}

// BackupInput dumps a database into the environment's backup store.
type BackupInput struct {
	Database   string `json:"database" drctl:"required" format:"name"` // the database to back up
	Datastore  string `json:"datastore,omitempty" format:"name"`       // the name backups are kept under in the store; default the database
	Store      string `json:"store,omitempty" format:"name"`           // the store of the environment to write to; default backups
	AllowEmpty bool   `json:"allow_empty,omitempty"`                   // store a backup of a database with no rows (refused otherwise)
	// Base takes a physical base backup of the whole instance
	// (pg_basebackup) for point-in-time recovery, instead of a dump.
	Base bool `json:"base,omitempty"`
	// The backup is compared with the previous one of the datastore in the
	// store: it fails when the source is another instance or database
	// (NewSource: true accepts a new one, as after a rebuild), or when a
	// table or the total shrank by more than MaxShrink (0.5 unless set;
	// AllowShrink: true for a planned purge).
	NewSource   bool       `json:"new_source,omitempty"`
	AllowShrink bool       `json:"allow_shrink,omitempty"`
	MaxShrink   float64    `json:"max_shrink,omitempty"`
	Run         RunContext `json:"run" drctl:"internal"`
}

// BackupOutput describes the stored backup.
type BackupOutput struct {
	Key       string           `json:"key"`
	Size      int64            `json:"size"`
	SHA256    string           `json:"sha256"`
	Tables    int              `json:"tables"`
	Rows      int64            `json:"rows"`
	RowCounts map[string]int64 `json:"row_counts"`
	LSN       string           `json:"lsn"`
	StartedAt time.Time        `json:"started_at"`
	StoppedAt time.Time        `json:"stopped_at"`
	// Source is what was backed up: instance, server, database.
	Source *backup.Source `json:"source,omitempty"`
}

// RestoreInput restores a backup into a fresh database.
type RestoreInput struct {
	// Backup is the key of the backup, usually ${{ steps.<latest>.outputs.key }}.
	Backup string `json:"backup" drctl:"required"`
	// From names the environment whose backup store holds it; default: the
	// run's environment.
	From     string `json:"from,omitempty"`
	Store    string `json:"store,omitempty" format:"name"`           // the store that holds the backup; default backups
	Database string `json:"database" drctl:"required" format:"name"` // the database to create and restore into; it must not exist (or be an earlier restore of drctl's)
	Instance string `json:"instance,omitempty" format:"name"`        // the instance to restore into; default the environment's own
	// Jobs > 1 restores in parallel: while the dump downloads to a file in
	// the worker's TMPDIR, that many loaders load the tables' data from it,
	// then pg_restore -j builds the indexes.
	Jobs           int                    `json:"jobs,omitempty"`
	ExpectedErrors []stepio.ExpectedError `json:"expected_errors,omitempty"` // pg_restore errors that are known to be harmless, each matched by pattern at most max times
	Run            RunContext             `json:"run" drctl:"internal"`
}

// RestoreOutput reports a restore.
type RestoreOutput struct {
	Database      string           `json:"database"`
	Backup        string           `json:"backup"`
	Bytes         int64            `json:"bytes"`
	Tables        int              `json:"tables"`
	Rows          int64            `json:"rows"`
	RowCounts     map[string]int64 `json:"row_counts"`
	IgnoredErrors []string         `json:"ignored_errors"`
	// TablesLoadedWhileDownloading counts the tables a restore with jobs
	// loaded before the download ended.
	TablesLoadedWhileDownloading int `json:"tables_loaded_while_downloading,omitempty"`
	// IndexesBuiltWhileDownloading counts the indexes and constraints it
	// built before the download ended.
	IndexesBuiltWhileDownloading int `json:"indexes_built_while_downloading,omitempty"`
	// Replaced says which earlier restore's leftover database was dropped
	// to make room ("restore of KEY (complete)").
	Replaced string `json:"replaced,omitempty"`
}

// PITRInput recovers a new instance to a point in time.
type PITRInput struct {
	// Target is the recovery target in UTC (the compiler converted it).
	Target   time.Time  `json:"target" drctl:"required"`
	From     string     `json:"from,omitempty"`                             // the environment whose store holds the base backups and WAL; default the run's
	Store    string     `json:"store,omitempty" format:"name"`              // the store of the base backups and WAL; default backups
	Instance string     `json:"instance" drctl:"required" format:"name"`    // the new instance to recover into
	Database string     `json:"database,omitempty" format:"name"`           // the database to count rows of once recovered
	Backend  string     `json:"backend,omitempty" enum:"native,pgbackrest"` // native (drctl's own archive) or pgbackrest
	Promote  *bool      `json:"promote,omitempty"`                          // promote the recovered instance (default true); false leaves it paused and read-only
	Run      RunContext `json:"run" drctl:"internal"`
}

// PITROutput reports a point-in-time recovery.
type PITROutput struct {
	Instance    string    `json:"instance"`
	Host        string    `json:"host"`
	Port        int       `json:"port"`
	RecoveredTo time.Time `json:"recovered_to"`
	BaseBackup  string    `json:"base_backup"`
	Promoted    bool      `json:"promoted"`
	// Rows is how many rows the database holds at the target, counted
	// while recovery was paused there, before promotion.
	Rows int64 `json:"rows"`
	// Log is the exec provider's output, for an approval gate to show.
	Log string `json:"log,omitempty"`
}

// EventCheck names the column whose newest value measures how recent the
// data is (the RPO).
type EventCheck struct {
	Table  string          `json:"table" drctl:"required"`   // the table of timestamped events
	Column string          `json:"column" drctl:"required"`  // its timestamp column
	MaxAge stepio.Duration `json:"max_age" drctl:"required"` // how old its newest row may be
}

// VerifyInput checks that restored data is real and recent.
type VerifyInput struct {
	Database string `json:"database" drctl:"required" format:"name"` // the restored database
	Instance string `json:"instance,omitempty" format:"name"`        // the instance it is on; default the environment's own
	// Expected row counts per table, e.g. ${{ steps.latest.outputs.row_counts }}.
	Expected  map[string]int64 `json:"expected,omitempty"`
	Tolerance float64          `json:"tolerance,omitempty"` // how far each table's rows may be from expected, as a share (0.01 is 1%)
	MinRows   int64            `json:"min_rows,omitempty"`  // the fewest rows the database must hold in all (at least 1)
	Tables    []string         `json:"tables,omitempty"`    // tables that must hold rows
	Events    *EventCheck      `json:"events,omitempty"`    // the newest event must be younger than max_age; its age is the measured RPO
	Objects   []string         `json:"objects,omitempty"`   // schema objects (tables, views, functions) that must exist
	// Backup (with From and Store) names the backup that was restored; a
	// pass is recorded in its metadata, which retention respects.
	Backup string     `json:"backup,omitempty"`
	From   string     `json:"from,omitempty"`
	Store  string     `json:"store,omitempty" format:"name"`
	Run    RunContext `json:"run" drctl:"internal"`
}

// Check is one verification with what was expected and what was found.
type Check struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	OK       bool   `json:"ok"`
}

// VerifyOutput lists every check; RPO is the age of the newest event.
type VerifyOutput struct {
	OK          bool            `json:"ok"`
	Checks      []Check         `json:"checks"`
	Rows        int64           `json:"rows"`
	NewestEvent time.Time       `json:"newest_event"`
	RPO         stepio.Duration `json:"rpo"`
}

// ScrubRule replaces one column's personal data.
type ScrubRule struct {
	Table  string `json:"table" drctl:"required"`                                              // the table
	Column string `json:"column" drctl:"required"`                                             // the column to replace
	Action string `json:"action" drctl:"required" enum:"null,fixed,hash,fake_email,fake_name"` // null, fixed (value), hash, fake_email or fake_name
	Value  string `json:"value,omitempty"`                                                     // the value of a fixed action
}

// ScrubInput scrubs personal data in one transaction.
type ScrubInput struct {
	Database string      `json:"database" drctl:"required" format:"name"` // the database to scrub, in one transaction
	Rules    []ScrubRule `json:"rules" drctl:"required"`                  // what to replace, column by column
	// Keep leaves rows as they are (the test accounts, whose addresses
	// people log in with).
	Keep []ScrubKeep `json:"keep,omitempty"`
	Run  RunContext  `json:"run" drctl:"internal"`
}

// ScrubKeep names rows no rule changes: those of Table whose Column is one
// of Values.
type ScrubKeep struct {
	Table  string   `json:"table" drctl:"required"`  // the table
	Column string   `json:"column" drctl:"required"` // the column whose values mark the rows to keep
	Values []string `json:"values" drctl:"required"` // rows with these values keep their data
}

// ScrubOutput reports what was scrubbed.
type ScrubOutput struct {
	Tables int   `json:"tables"`
	Rows   int64 `json:"rows"`
}

// PromoteAccountsInput makes named test accounts administrators.
type PromoteAccountsInput struct {
	Database    string   `json:"database" drctl:"required" format:"name"` // the database
	Table       string   `json:"table" drctl:"required"`                  // the table of accounts
	MatchColumn string   `json:"match_column" drctl:"required"`           // the column the accounts are found by (e.g. email)
	Accounts    []string `json:"accounts" drctl:"required"`               // the accounts; a missing one fails the step
	RoleColumn  string   `json:"role_column" drctl:"required"`            // the column that holds the role
	Role        string   `json:"role" drctl:"required"`                   // the role to give them
	// AllowMissing lets the step succeed when some accounts are not there;
	// by default a missing account fails it, changing nothing.
	AllowMissing bool       `json:"allow_missing,omitempty"`
	Run          RunContext `json:"run" drctl:"internal"`
}

// PromoteAccountsOutput reports the promoted and the missing accounts.
type PromoteAccountsOutput struct {
	Updated int64    `json:"updated"`
	Missing []string `json:"missing"`
}

// LatestEventsInput reads the newest rows of an events table.
type LatestEventsInput struct {
	Database string     `json:"database" drctl:"required" format:"name"` // the database
	Table    string     `json:"table" drctl:"required"`                  // the table
	OrderBy  string     `json:"order_by" drctl:"required"`               // the column that orders it, newest first
	Columns  []string   `json:"columns,omitempty"`                       // the columns to show; default all
	Limit    int        `json:"limit,omitempty"`                         // how many rows; default 10
	Run      RunContext `json:"run" drctl:"internal"`
}

// LatestEventsOutput holds the rows, newest first.
type LatestEventsOutput struct {
	Columns []string         `json:"columns"`
	Rows    []map[string]any `json:"rows"`
}
