package runbooks

import (
	"reflect"
	"time"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/activities/ops"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/report"
	"github.com/drctl/drctl/workflows"
)

// StepType is one row of the step catalogue: what a runbook may write after
// `uses:`, the activity that runs it, and what goes in and comes out.
type StepType struct {
	// Name is what a runbook writes after uses:, and the name the worker
	// registers the step's activity under; Activity is the method that
	// implements it ("ops.Freeze"), registered under that name too, for
	// runs recorded before.
	Name     string
	Activity string
	Summary  string
	Input    reflect.Type
	Output   reflect.Type
	// Destructive steps change data or infrastructure; on an environment
	// whose policy demands approval, an approval gate must run before them.
	Destructive bool
	// Restores writes restored data into the run's environment: refused on a
	// `source` environment unless the runbook is a recovery runbook.
	Restores bool
	// TargetOnly steps alter a restored copy (scrubbing personal data, say)
	// and are never run on a `source` environment, whatever the kind.
	TargetOnly bool
	// BacksUp takes a backup of the run's environment: refused on a
	// `target` environment, whose data is a copy.
	BacksUp bool
	// StoreAccess is what the step does to the stores its env inputs name:
	// "read" (the run's own environment, or a source its target restores
	// from) or "change" (the run's own environment only).
	StoreAccess string
	// Check is the activity that checks, changing nothing, that the step
	// can succeed, with the step's own inputs (see workflows/preflight.go).
	// Reads is what the check looks at, Changes what the step itself
	// changes ("backups", "databases", "instances"): a check runs before
	// the run's first step only if no step before it changes what it
	// reads, else just before its step.
	Check   string
	Reads   []string
	Changes []string
	// Needs names the environment's section the step cannot run without
	// ("pipeline", "maintenance", "instance"): a plan-time error if absent.
	Needs string
	// Timeout is the default start-to-close timeout; Heartbeat, when set,
	// is how soon a silent worker is declared dead.
	Timeout   time.Duration
	Heartbeat time.Duration
	// Timer: a step with only a duration input runs as a durable timer in
	// the workflow. Gets is what of the run the step receives besides its
	// inputs (workflows.GetsRunStatus, workflows.GetsThread).
	Timer bool
	Gets  []string
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

const (
	short = 10 * time.Minute
	long  = 12 * time.Hour
	beat  = time.Minute
)

// catalogue is the explicit table of step types, in documentation order.
var catalogue = []StepType{
	{Name: "pipeline.freeze", Activity: "ops.Freeze", Summary: "freeze the deploy pipeline, recording what was changed",
		Input: typeOf[ops.FreezeInput](), Output: typeOf[ops.FreezeOutput](), Check: "ops.CheckFreeze", Needs: "pipeline", Timeout: short},
	{Name: "pipeline.unfreeze", Activity: "ops.Unfreeze", Summary: "restore the deploy pipeline exactly as freeze found it",
		Input: typeOf[ops.UnfreezeInput](), Output: typeOf[ops.UnfreezeOutput](), Needs: "pipeline", Timeout: short},
	{Name: "maintenance.enable", Activity: "ops.MaintenanceEnable", Summary: "switch on maintenance mode and wait until it shows",
		Input: typeOf[ops.MaintenanceInput](), Output: typeOf[ops.MaintenanceOutput](), Check: "ops.CheckMaintenance", Needs: "maintenance", Timeout: short},
	{Name: "maintenance.disable", Activity: "ops.MaintenanceDisable", Summary: "switch off maintenance mode and wait until the app is healthy",
		Input: typeOf[ops.MaintenanceInput](), Output: typeOf[ops.MaintenanceOutput](), Check: "ops.CheckMaintenance", Needs: "maintenance", Timeout: short},
	{Name: "slack.post", Activity: "chat.Post", Summary: "post a message to the run's Slack thread",
		Input: typeOf[chat.PostInput](), Output: typeOf[chat.PostOutput](), Timeout: short, Gets: []string{workflows.GetsThread}},
	{Name: "notify", Activity: "ops.Notify", Summary: "tell the people involved: console, timeline and Slack",
		Input: typeOf[ops.NotifyInput](), Output: typeOf[ops.NotifyOutput](), Timeout: short, Gets: []string{workflows.GetsThread}},
	{Name: "exec", Activity: "ops.Exec", Summary: "run a command (argv, never a shell) with captured, redacted output",
		Input: typeOf[ops.ExecInput](), Output: typeOf[ops.ExecOutput](), Timeout: time.Hour, Heartbeat: beat},
	{Name: "http", Activity: "ops.HTTP", Summary: "make an HTTP request and check its status",
		Input: typeOf[ops.HTTPInput](), Output: typeOf[ops.HTTPOutput](), Timeout: short},
	{Name: "wait", Activity: "ops.Wait", Summary: "wait for a duration, or until a check passes",
		Input: typeOf[ops.WaitInput](), Output: typeOf[ops.WaitOutput](), Timeout: 24 * time.Hour, Heartbeat: beat, Timer: true},
	{Name: "postgres.create_instance", Activity: "postgres.CreateInstance", Summary: "create or recreate the Postgres instance",
		Input: typeOf[postgres.CreateInstanceInput](), Output: typeOf[postgres.InstanceOutput](), Destructive: true, Needs: "instance", Check: "postgres.CheckCreateInstance", Changes: []string{"instances", "databases"}, Timeout: time.Hour, Heartbeat: beat},
	{Name: "postgres.reboot", Activity: "postgres.Reboot", Summary: "restart the Postgres instance",
		Input: typeOf[postgres.RebootInput](), Output: typeOf[postgres.InstanceOutput](), Destructive: true, Needs: "instance", Timeout: short, Heartbeat: beat},
	{Name: "postgres.failover", Activity: "postgres.Failover", Summary: "point the application at another instance",
		Input: typeOf[postgres.FailoverInput](), Output: typeOf[postgres.InstanceOutput](), Destructive: true, Check: "postgres.CheckFailover", Needs: "instance", Reads: []string{"instances"}, Changes: []string{"instances", "databases"}, Timeout: time.Hour, Heartbeat: beat},
	{Name: "postgres.rename", Activity: "postgres.Rename", Summary: "rename a database, e.g. the damaged one to <name>-old",
		Input: typeOf[postgres.RenameInput](), Output: typeOf[postgres.RenameOutput](), Destructive: true, Check: "postgres.CheckRename", Reads: []string{"databases"}, Changes: []string{"databases"}, Timeout: short},
	{Name: "postgres.drop", Activity: "postgres.Drop", Summary: "drop an -old database or one the run created",
		Input: typeOf[postgres.DropInput](), Output: typeOf[postgres.DropOutput](), Destructive: true, Changes: []string{"databases", "instances"}, Timeout: short},
	{Name: "postgres.backup", Activity: "postgres.Backup", Summary: "dump a database, encrypted, into the backup store",
		Input: typeOf[postgres.BackupInput](), Output: typeOf[postgres.BackupOutput](), BacksUp: true, Changes: []string{"backups"}, Timeout: long, Heartbeat: beat},
	{Name: "postgres.restore", Activity: "postgres.Restore", Summary: "restore a backup into a fresh database",
		Input: typeOf[postgres.RestoreInput](), Output: typeOf[postgres.RestoreOutput](), Destructive: true, Restores: true, Check: "postgres.CheckRestore", Reads: []string{"backups", "databases"}, Changes: []string{"databases"}, Timeout: long, Heartbeat: beat},
	{Name: "postgres.pitr", Activity: "postgres.PITR", Summary: "recover a new instance to a point in time",
		Input: typeOf[postgres.PITRInput](), Output: typeOf[postgres.PITROutput](), Destructive: true, Restores: true, Check: "postgres.CheckPITR", Reads: []string{"backups", "instances"}, Changes: []string{"instances"}, Timeout: long, Heartbeat: beat},
	{Name: "postgres.verify", Activity: "postgres.Verify", Summary: "check restored data is not empty, complete and recent",
		Input: typeOf[postgres.VerifyInput](), Output: typeOf[postgres.VerifyOutput](), Timeout: time.Hour, Heartbeat: beat},
	{Name: "postgres.scrub", Activity: "postgres.Scrub", Summary: "replace personal data, in one transaction",
		Input: typeOf[postgres.ScrubInput](), Output: typeOf[postgres.ScrubOutput](), Destructive: true, TargetOnly: true, Changes: []string{"databases"}, Timeout: time.Hour, Heartbeat: beat},
	{Name: "postgres.promote_accounts", Activity: "postgres.PromoteAccounts", Summary: "make named test accounts administrators",
		Input: typeOf[postgres.PromoteAccountsInput](), Output: typeOf[postgres.PromoteAccountsOutput](), Destructive: true, TargetOnly: true, Changes: []string{"databases"}, Timeout: short},
	{Name: "postgres.latest_events", Activity: "postgres.LatestEvents", Summary: "read the newest rows of an events table",
		Input: typeOf[postgres.LatestEventsInput](), Output: typeOf[postgres.LatestEventsOutput](), Timeout: short},
	{Name: "backup.latest", Activity: "backup.Latest", Summary: "find the newest complete backup (of a date)",
		Input: typeOf[backup.LatestInput](), Output: typeOf[backup.Entry](), StoreAccess: "read", Check: "backup.Latest", Reads: []string{"backups"}, Timeout: short},
	{Name: "backup.list", Activity: "backup.List", Summary: "list backups between two dates",
		Input: typeOf[backup.ListInput](), Output: typeOf[backup.ListOutput](), StoreAccess: "read", Timeout: short},
	// Pruning deletes old backups only, never the newest verified one, so
	// unattended nightly runs may prune without a gate as long as they keep
	// what the environment's retention policy asks (see rules.go).
	{Name: "backup.prune", Activity: "backup.Prune", Summary: "apply retention, never deleting the newest verified backup",
		Input: typeOf[backup.PruneInput](), Output: typeOf[backup.PruneOutput](), StoreAccess: "change", Changes: []string{"backups"}, Timeout: time.Hour, Heartbeat: beat},
	{Name: "storage.compare", Activity: "backup.Compare", Summary: "compare two stores object by object",
		Input: typeOf[backup.CompareInput](), Output: typeOf[backup.CompareOutput](), StoreAccess: "read", Timeout: long, Heartbeat: beat},
	{Name: "report.write", Activity: "report.Write", Summary: "write the run's evidence: timeline, RTO, RPO",
		Input: typeOf[report.WriteInput](), Output: typeOf[report.WriteOutput](), Timeout: short, Gets: []string{workflows.GetsRunStatus}},
}

// Catalogue returns every step type, in documentation order.
func Catalogue() []StepType { return catalogue }

func lookupStepType(name string) (StepType, bool) {
	for _, st := range catalogue {
		if st.Name == name {
			return st, true
		}
	}
	return StepType{}, false
}

func stepTypeNames() []string {
	names := make([]string, len(catalogue))
	for i, st := range catalogue {
		names[i] = st.Name
	}
	return names
}

// approvalOutputs are what a gate's step exposes to later steps.
type approvalOutputs struct {
	Approved  bool     `json:"approved"`
	DecidedBy []string `json:"decided_by"`
	Comment   string   `json:"comment"`
}
