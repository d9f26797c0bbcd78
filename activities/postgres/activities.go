package postgres

import (
	"context"

	"github.com/drctl/drctl/activities/stepio"
)

// Postgres holds the activities of this system. The worker registers it
// with the prefix "postgres.", so Postgres.CreateInstance runs as "postgres.CreateInstance".
//
// The methods below are not built yet: each fails, non-retryably, saying
// so, rather than pretending to work.
type Postgres struct{}

// CreateInstance runs the postgres.create_instance step.
func (p *Postgres) CreateInstance(_ context.Context, _ CreateInstanceInput) (InstanceOutput, error) {
	return InstanceOutput{}, stepio.NotImplemented("postgres.create_instance")
}

// Reboot runs the postgres.reboot step.
func (p *Postgres) Reboot(_ context.Context, _ RebootInput) (InstanceOutput, error) {
	return InstanceOutput{}, stepio.NotImplemented("postgres.reboot")
}

// Failover runs the postgres.failover step.
func (p *Postgres) Failover(_ context.Context, _ FailoverInput) (InstanceOutput, error) {
	return InstanceOutput{}, stepio.NotImplemented("postgres.failover")
}

// Rename runs the postgres.rename step.
func (p *Postgres) Rename(_ context.Context, _ RenameInput) (RenameOutput, error) {
	return RenameOutput{}, stepio.NotImplemented("postgres.rename")
}

// Drop runs the postgres.drop step.
func (p *Postgres) Drop(_ context.Context, _ DropInput) (DropOutput, error) {
	return DropOutput{}, stepio.NotImplemented("postgres.drop")
}

// Backup runs the postgres.backup step.
func (p *Postgres) Backup(_ context.Context, _ BackupInput) (BackupOutput, error) {
	return BackupOutput{}, stepio.NotImplemented("postgres.backup")
}

// Restore runs the postgres.restore step.
func (p *Postgres) Restore(_ context.Context, _ RestoreInput) (RestoreOutput, error) {
	return RestoreOutput{}, stepio.NotImplemented("postgres.restore")
}

// PITR runs the postgres.pitr step.
func (p *Postgres) PITR(_ context.Context, _ PITRInput) (PITROutput, error) {
	return PITROutput{}, stepio.NotImplemented("postgres.pitr")
}

// Verify runs the postgres.verify step.
func (p *Postgres) Verify(_ context.Context, _ VerifyInput) (VerifyOutput, error) {
	return VerifyOutput{}, stepio.NotImplemented("postgres.verify")
}

// Scrub runs the postgres.scrub step.
func (p *Postgres) Scrub(_ context.Context, _ ScrubInput) (ScrubOutput, error) {
	return ScrubOutput{}, stepio.NotImplemented("postgres.scrub")
}

// PromoteAccounts runs the postgres.promote_accounts step.
func (p *Postgres) PromoteAccounts(_ context.Context, _ PromoteAccountsInput) (PromoteAccountsOutput, error) {
	return PromoteAccountsOutput{}, stepio.NotImplemented("postgres.promote_accounts")
}

// LatestEvents runs the postgres.latest_events step.
func (p *Postgres) LatestEvents(_ context.Context, _ LatestEventsInput) (LatestEventsOutput, error) {
	return LatestEventsOutput{}, stepio.NotImplemented("postgres.latest_events")
}
