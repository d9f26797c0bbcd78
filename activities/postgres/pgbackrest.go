package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/drctl/drctl/internal/childio"
	"github.com/drctl/drctl/internal/freeport"
	"github.com/drctl/drctl/internal/pglocal"
)

// pgbackrest runs the pgbackrest command for the environment's stanza, as
// the postgres user (its repository and the cluster belong to it).
func pgbackrest(ctx context.Context, cfg *PgBackRestConfig, args ...string) ([]byte, error) {
	all := []string{"--stanza=" + cfg.Stanza}
	if cfg.Config != "" {
		all = append(all, "--config="+cfg.Config)
	}
	cmd := exec.CommandContext(ctx, "pgbackrest", append(all, args...)...)
	if err := pglocal.AsPostgres(cmd); err != nil {
		return nil, err
	}
	childio.Bind(cmd)
	// pgBackRest's own settings may come from its environment variables.
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PGBACKREST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = childio.Cut(string(ee.Stderr) + string(out))
		}
		return out, fmt.Errorf("pgbackrest %s: %s", args[0], msg)
	}
	return out, nil
}

// pgbrBackup is one backup set of a pgBackRest repository.
type pgbrBackup struct {
	Label     string `json:"label"`
	Timestamp struct {
		Start, Stop int64
	} `json:"timestamp"`
}

// pgbackrestWindow reads what the repository can recover to: its backups,
// oldest first, and when its newest WAL was archived.
func pgbackrestWindow(ctx context.Context, cfg *PgBackRestConfig) (backups []pgbrBackup, newestWAL time.Time, err error) {
	raw, err := pgbackrest(ctx, cfg, "info", "--output=json")
	if err != nil {
		return
	}
	var info []struct {
		Backup []pgbrBackup `json:"backup"`
	}
	if err = json.Unmarshal(raw, &info); err != nil || len(info) == 0 || len(info[0].Backup) == 0 {
		return nil, newestWAL, nonRetryable("NoBaseBackup", "pgBackRest stanza %s has no backup", cfg.Stanza)
	}
	backups = info[0].Backup
	raw, err = pgbackrest(ctx, cfg, "repo-ls", "--recurse", "--output=json", "archive/"+cfg.Stanza)
	if err != nil {
		return
	}
	var files map[string]struct {
		Type string `json:"type"`
		Time int64  `json:"time"`
	}
	if err = json.Unmarshal(raw, &files); err != nil {
		return backups, newestWAL, fmt.Errorf("reading pgBackRest's archive listing: %w", err)
	}
	for name, f := range files {
		if f.Type == "file" && filepath.Ext(name) != ".history" && f.Time > newestWAL.Unix() && len(filepath.Base(name)) > 24 {
			newestWAL = time.Unix(f.Time, 0).UTC()
		}
	}
	return backups, newestWAL, nil
}

// pgbrChoose picks the newest pgBackRest backup that ended before target
// (here rather than by pgBackRest, whose own choice reads the target in
// whole seconds), refusing a target outside what the backups and the
// archive cover.
func pgbrChoose(ctx context.Context, cfg *PgBackRestConfig, target time.Time) (*pgbrBackup, error) {
	backups, newestWAL, err := pgbackrestWindow(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var set *pgbrBackup
	for i := range backups {
		if !time.Unix(backups[i].Timestamp.Stop, 0).After(target) {
			set = &backups[i]
		}
	}
	if set == nil {
		return nil, nonRetryable("TargetTooEarly", "the recovery target %s is before the end of the oldest pgBackRest backup (%s): no recovery can reach it",
			target.Format(time.RFC3339Nano), time.Unix(backups[0].Timestamp.Stop, 0).UTC().Format(time.RFC3339))
	}
	// The archive's times are whole seconds: allow the second the newest
	// segment was written in.
	if target.After(newestWAL.Add(time.Second)) {
		return nil, nonRetryable("TargetTooLate", "the recovery target %s is after the newest archived WAL (archived %s)",
			target.Format(time.RFC3339Nano), newestWAL.Format(time.RFC3339))
	}
	return set, nil
}

// pitrPgBackRest recovers a new instance with pgBackRest's own restore
// (--type=time, pausing at the target), then checks and promotes it as the
// native backend does.
func (p *Postgres) pitrPgBackRest(ctx context.Context, t *Target, in PITRInput) (PITROutput, error) {
	cfg := t.Instance.PgBackRest
	if cfg == nil {
		return PITROutput{}, nonRetryable("NotConfigured", "environment %s has no pgBackRest stanza (instance.pgbackrest)", t.Name)
	}
	target := in.Target.UTC()
	set, err := pgbrChoose(ctx, cfg, target)
	if err != nil {
		return PITROutput{}, err
	}
	out := PITROutput{Instance: in.Instance, BaseBackup: "pgbackrest:" + cfg.Stanza + "/" + set.Label}
	if done, err := p.resumeRecovery(ctx, t, in, &out); done || err != nil {
		return out, err
	}
	port, err := freeport.Loopback()
	if err != nil {
		return out, err
	}
	dir, err := pglocal.MakeDir(t.Instance.DataDir, in.Instance, in.Run.ID)
	if err != nil {
		return out, err
	}
	l := &pglocal.Instance{Name: in.Instance, Dir: dir, Port: port, PortPicked: true, CreatedBy: in.Run.ID, ServerEnv: p.ServerEnv}
	// The copy keeps the source's roles and passwords.
	if pw := p.superuserPassword(ctx, t); pw != "" {
		if err := l.SetPassword(pw); err != nil {
			return out, err
		}
	}
	if err := os.MkdirAll(l.DataDir(), 0o700); err != nil {
		return out, err
	}
	if err := pglocal.ChownTree(l.Dir); err != nil {
		return out, err
	}
	if _, err := pgbackrest(ctx, cfg, "restore", "--pg1-path="+l.DataDir(), "--set="+set.Label, "--type=time",
		"--target="+target.Format("2006-01-02 15:04:05.999999-07"), "--target-action=pause"); err != nil {
		return out, err
	}
	if err := l.AppendConf(map[string]string{"archive_mode": "off", "hot_standby": "on"}); err != nil {
		return out, err
	}
	if err := l.Save(); err != nil {
		return out, err
	}
	return p.finishRecovery(ctx, l, in, out)
}
