package postgres

import (
	"context"

	"github.com/drctl/drctl/internal/pglocal"
)

// failoverLocal puts a recovered instance where the application connects:
// the environment's main instance is stopped and kept, as instance
// main-old (the environment's old suffix), until the drop gate; the
// recovered one takes the main instance's folder name and port, and its
// settings (WAL archiving among them, so point-in-time recovery stays
// armed). The environment's URL then answers with the recovered data.
// Running it again after it finished, or after a crash half-way, finishes
// the same move.
func (p *Postgres) failoverLocal(ctx context.Context, t *Target, to string) (InstanceOutput, error) {
	dir := t.Instance.DataDir
	oldName := MainInstance + t.OldSuffix
	main, hasMain, err := pglocal.Open(dir, MainInstance)
	if err != nil {
		return InstanceOutput{}, err
	}
	rec, hasRec, err := pglocal.Open(dir, to)
	if err != nil {
		return InstanceOutput{}, err
	}
	switch {
	case !hasRec && hasMain && main.FailedOverFrom == to:
		if err := main.Start(ctx); err != nil {
			return InstanceOutput{}, err
		}
		return InstanceOutput{Instance: MainInstance, Host: main.Host(), Port: main.Port}, nil
	case !hasRec:
		return InstanceOutput{}, nonRetryable("NoInstance", "environment %s has no instance %s to fail over to", t.Name, to)
	case !rec.Promoted:
		return InstanceOutput{}, nonRetryable("NotPromoted", "instance %s is still recovering: promote it before failing over to it", to)
	}
	set, hasSet, err := pglocal.Open(dir, oldName)
	if err != nil {
		return InstanceOutput{}, err
	}
	if hasMain {
		if hasSet {
			return InstanceOutput{}, nonRetryable("Exists", "instance %s still holds an earlier damaged cluster: drop it (postgres.drop of %s%s) before failing over again", oldName, t.Database, t.OldSuffix)
		}
		if err := main.Stop(ctx); err != nil {
			return InstanceOutput{}, err
		}
		if err := main.MoveTo(dir, oldName); err != nil {
			return InstanceOutput{}, err
		}
		set = main
	}
	if set == nil {
		return InstanceOutput{}, nonRetryable("NoInstance", "environment %s has neither a main instance nor one set aside as %s: nothing to take the place of", t.Name, oldName)
	}
	if err := rec.Stop(ctx); err != nil {
		return InstanceOutput{}, err
	}
	if err := rec.MoveTo(dir, MainInstance); err != nil {
		return InstanceOutput{}, err
	}
	rec.Port, rec.PortPicked, rec.FailedOverFrom = set.Port, set.PortPicked, to
	rec.Settings, rec.ServerEnv = set.Settings, set.ServerEnv
	if err := rec.WriteConf(); err != nil {
		return InstanceOutput{}, err
	}
	if err := rec.Save(); err != nil {
		return InstanceOutput{}, err
	}
	if err := rec.Start(ctx); err != nil {
		return InstanceOutput{}, err
	}
	return InstanceOutput{Instance: MainInstance, Host: rec.Host(), Port: rec.Port}, nil
}

// dropSetAside removes the damaged cluster a local failover kept as
// instance main-old, once its database (<name>-old) is dropped: it reports
// whether there was one.
func (p *Postgres) dropSetAside(ctx context.Context, t *Target, database string) (bool, error) {
	if provider(t) != "local" || t.Instance.DataDir == "" || database != t.Database+t.OldSuffix {
		return false, nil
	}
	set, ok, err := pglocal.Open(t.Instance.DataDir, MainInstance+t.OldSuffix)
	if err != nil || !ok {
		return false, err
	}
	return true, set.Destroy(ctx)
}
