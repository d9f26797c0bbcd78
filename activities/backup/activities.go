package backup

import (
	"context"

	"github.com/drctl/drctl/activities/stepio"
)

// Backup holds the activities of this system. The worker registers it
// with the prefix "backup.", so Backup.Latest runs as "backup.Latest".
//
// The methods below are not built yet: each fails, non-retryably, saying
// so, rather than pretending to work.
type Backup struct{}

// Latest runs the backup.latest step.
func (b *Backup) Latest(_ context.Context, _ LatestInput) (Entry, error) {
	return Entry{}, stepio.NotImplemented("backup.latest")
}

// List runs the backup.list step.
func (b *Backup) List(_ context.Context, _ ListInput) (ListOutput, error) {
	return ListOutput{}, stepio.NotImplemented("backup.list")
}

// Prune runs the backup.prune step.
func (b *Backup) Prune(_ context.Context, _ PruneInput) (PruneOutput, error) {
	return PruneOutput{}, stepio.NotImplemented("backup.prune")
}

// Compare runs the storage.compare step.
func (b *Backup) Compare(_ context.Context, _ CompareInput) (CompareOutput, error) {
	return CompareOutput{}, stepio.NotImplemented("storage.compare")
}
