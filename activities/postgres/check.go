package postgres

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/internal/scratch"
)

// The checks below are the steps' preflight: each reads the world a step
// is about to change and says whether the step can succeed, changing
// nothing. A run does them all before its first step, so a recovery that
// cannot finish is refused while everything is as it was.

// CheckPITR is postgres.pitr's check: the target lies inside what the base
// backups and the WAL archive cover, and the new instance's name is free
// (or this run's own, to resume).
func (p *Postgres) CheckPITR(ctx context.Context, in PITRInput) (stepio.CheckOutput, error) {
	t, err := p.targetFor(in, in.Run)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	target := in.Target.UTC()
	switch {
	case provider(t) == "exec":
		return checkCommand(t, "pitr")
	case provider(t) != "local" || t.Instance.DataDir == "":
		return stepio.CheckOutput{}, nonRetryable("NotSupported", "environment %s: point-in-time recovery needs instance.provider local (with a data_dir) or exec (with a pitr command)", t.Name)
	}
	if l, ok, err := pglocal.Open(t.Instance.DataDir, in.Instance); err != nil {
		return stepio.CheckOutput{}, err
	} else if ok && l.CreatedBy != in.Run.ID {
		return stepio.CheckOutput{}, nonRetryable("Exists", "instance %s already exists and this run did not create it: name a new instance to recover into", in.Instance)
	}
	if in.Backend == "pgbackrest" {
		if t.Instance.PgBackRest == nil {
			return stepio.CheckOutput{}, nonRetryable("NotConfigured", "environment %s has no pgBackRest stanza (instance.pgbackrest)", t.Name)
		}
		set, err := pgbrChoose(ctx, t.Instance.PgBackRest, target)
		if err != nil {
			return stepio.CheckOutput{}, err
		}
		return stepio.CheckOutput{Checked: fmt.Sprintf("%s is inside the archive: from pgBackRest backup %s", target.Format("2006-01-02 15:04:05.999 UTC"), set.Label)}, nil
	}
	from := cmp.Or(in.From, t.Name)
	s, _, err := p.store(ctx, from, in.Store)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	defer s.Close()
	base, err := chooseBase(ctx, s, from, target)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	return stepio.CheckOutput{Checked: fmt.Sprintf("%s is inside the archive: from base backup %s", target.Format("2006-01-02 15:04:05.999 UTC"), base.Key)}, nil
}

// CheckRename is postgres.rename's check: the database is there and the
// new name is free, or the rename was done already.
func (p *Postgres) CheckRename(ctx context.Context, in RenameInput) (stepio.CheckOutput, error) {
	t, err := p.targetFor(in, in.Run)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	c, _, err := p.admin(ctx, t, in.Instance)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	from, err := dbExists(ctx, c, in.Database)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	to, err := dbExists(ctx, c, in.NewName)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	switch {
	case !from && to:
		return stepio.CheckOutput{Checked: fmt.Sprintf("%s was renamed to %s already", in.Database, in.NewName)}, nil
	case from && to:
		return stepio.CheckOutput{}, nonRetryable("Conflict", "cannot rename %s to %s: both exist; drop or rename %s first", in.Database, in.NewName, in.NewName)
	case !from:
		return stepio.CheckOutput{}, nonRetryable("NotFound", "database %s does not exist (nor does %s)", in.Database, in.NewName)
	}
	return stepio.CheckOutput{Checked: fmt.Sprintf("%s is there and %s is free", in.Database, in.NewName)}, nil
}

// CheckCreateInstance is postgres.create_instance's check: the provider
// can run (Postgres's programs, or the configured command, are there).
func (p *Postgres) CheckCreateInstance(ctx context.Context, in CreateInstanceInput) (stepio.CheckOutput, error) {
	t, err := p.targetFor(in, in.Run)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	switch provider(t) {
	case "exec":
		return checkCommand(t, "create")
	case "local":
		if _, err := pglocal.BinDir(); err != nil {
			return stepio.CheckOutput{}, nonRetryable("NotInstalled", "%v", err)
		}
		return stepio.CheckOutput{Checked: "Postgres's programs are installed"}, nil
	}
	return stepio.CheckOutput{}, noProvider(t)
}

// checkCommand checks that an exec provider's action is configured and
// its program found.
func checkCommand(t *Target, action string) (stepio.CheckOutput, error) {
	argv := t.Instance.Exec[action]
	if len(argv) == 0 {
		return stepio.CheckOutput{}, nonRetryable("NotConfigured", "environment %s has no %s command (instance.exec.%s)", t.Name, action, action)
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return stepio.CheckOutput{}, nonRetryable("NotFound", "environment %s: the %s command %q is not found on this worker", t.Name, action, argv[0])
	}
	return stepio.CheckOutput{Checked: fmt.Sprintf("%s is there", argv[0])}, nil
}

// CheckFailover is postgres.failover's check: the provider can move the
// application, and, with local instances, no earlier damaged cluster
// still waits to be dropped where this one would be kept.
func (p *Postgres) CheckFailover(ctx context.Context, in FailoverInput) (stepio.CheckOutput, error) {
	t, err := p.targetFor(in, in.Run)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	switch provider(t) {
	case "exec":
		return checkCommand(t, "failover")
	case "local":
		oldName := MainInstance + t.OldSuffix
		if _, ok, err := pglocal.Open(t.Instance.DataDir, oldName); err != nil {
			return stepio.CheckOutput{}, err
		} else if ok {
			return stepio.CheckOutput{}, nonRetryable("Exists", "instance %s still holds an earlier damaged cluster: drop it (postgres.drop of %s%s) first", oldName, t.Database, t.OldSuffix)
		}
		return stepio.CheckOutput{Checked: fmt.Sprintf("%s can take the place of %s, which will be kept as %s", in.To, MainInstance, oldName)}, nil
	}
	return stepio.CheckOutput{}, noProvider(t)
}

// CheckRestore is postgres.restore's check: the backup is there, the
// instance to restore into answers, and a parallel restore's download fits
// on this worker's disk beside the other restores.
func (p *Postgres) CheckRestore(ctx context.Context, in RestoreInput) (stepio.CheckOutput, error) {
	t, err := p.targetFor(in, in.Run)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	from := cmp.Or(in.From, t.Name)
	s, _, err := p.store(ctx, from, in.Store)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	defer s.Close()
	entry, err := findEntry(ctx, s, from, in.Backup)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	if in.Jobs > 1 {
		if err := scratch.Fits(os.TempDir(), plainSize(entry)); err != nil {
			return stepio.CheckOutput{}, nonRetryable("NoScratchSpace", "%v: point TMPDIR at a larger volume, or restore with jobs: 1", err)
		}
	}
	if err := targetRoom(t, in.Instance, plainSize(entry)); err != nil {
		return stepio.CheckOutput{}, err
	}
	c, ep, err := p.admin(ctx, t, in.Instance)
	if err != nil {
		return stepio.CheckOutput{}, err
	}
	c.Close(context.WithoutCancel(ctx))
	return stepio.CheckOutput{Checked: fmt.Sprintf("%s is there and %s answers", in.Backup, ep)}, nil
}

// targetFor checks a step's input names and finds its run's environment.
func (p *Postgres) targetFor(in any, run RunContext) (*Target, error) {
	if err := stepio.CheckInput(in); err != nil {
		return nil, err
	}
	return p.target(run.Env)
}
