package postgres

import (
	"cmp"
	"context"

	"go.temporal.io/sdk/activity"

	"github.com/drctl/drctl/activities/backup"
)

// The newest backup per environment, store and datastore, for an alert on
// its age (time() minus the timestamp), its size and its rows. They are
// set by the worker that took it, through the SDK's metrics handler.
const (
	MetricBackupTime = "drctl_backup_last_timestamp_seconds"
	MetricBackupSize = "drctl_backup_last_size_bytes"
	MetricBackupRows = "drctl_backup_last_rows"
)

func measureBackup(ctx context.Context, in BackupInput, out BackupOutput) {
	m := activity.GetMetricsHandler(ctx).WithTags(map[string]string{"environment": in.Run.Env,
		"store": cmp.Or(in.Store, backup.DefaultStore), "datastore": cmp.Or(in.Datastore, in.Database)})
	m.Gauge(MetricBackupTime).Update(float64(out.StoppedAt.Unix()))
	m.Gauge(MetricBackupSize).Update(float64(out.Size))
	m.Gauge(MetricBackupRows).Update(float64(out.Rows))
}
