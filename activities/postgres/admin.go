package postgres

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/childio"
	"github.com/drctl/drctl/internal/pglocal"
)

// CreateInstance creates (or recreates, after a loss) the instance. With
// the local provider it makes a cluster; with exec it runs the configured
// create command. An instance that is already there is left as it is.
func (p *Postgres) CreateInstance(ctx context.Context, in CreateInstanceInput) (InstanceOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return InstanceOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return InstanceOutput{}, err
	}
	name := instanceName(in.Instance)
	switch provider(t) {
	case "local":
		port := 0
		if name == MainInstance {
			// Where the application connects: the configured port, else
			// the one the environment's URL names.
			port = t.Instance.Port
			if ep, err := p.endpoint(ctx, t, "", ""); port == 0 && err == nil {
				port = int(ep.cfg.Port)
			}
		}
		settings := maps.Clone(t.Instance.Settings)
		if settings == nil {
			settings = map[string]string{}
		}
		maps.Copy(settings, in.Settings)
		l, created, err := pglocal.Create(ctx, t.Instance.DataDir, name, pglocal.Options{Port: port, Settings: settings, CreatedBy: in.Run.ID,
			Password: p.superuserPassword(ctx, t), ServerEnv: p.ServerEnv})
		if err != nil {
			return InstanceOutput{}, err
		}
		return InstanceOutput{Instance: name, Host: l.Host(), Port: l.Port, Created: created}, nil
	case "exec":
		log, err := p.execAction(ctx, t, "create", name)
		return InstanceOutput{Instance: name, Created: err == nil, Log: log}, err
	}
	return InstanceOutput{}, noProvider(t)
}

// Reboot restarts the instance.
func (p *Postgres) Reboot(ctx context.Context, in RebootInput) (InstanceOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return InstanceOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return InstanceOutput{}, err
	}
	name := instanceName(in.Instance)
	switch provider(t) {
	case "local":
		l, ok, err := pglocal.Open(t.Instance.DataDir, name)
		if err != nil {
			return InstanceOutput{}, err
		}
		if !ok {
			return InstanceOutput{}, nonRetryable("NoInstance", "environment %s has no instance %s to reboot", t.Name, name)
		}
		if err := l.Restart(ctx); err != nil {
			return InstanceOutput{}, err
		}
		return InstanceOutput{Instance: name, Host: l.Host(), Port: l.Port}, nil
	case "exec":
		log, err := p.execAction(ctx, t, "reboot", name)
		return InstanceOutput{Instance: name, Log: log}, err
	}
	return InstanceOutput{}, noProvider(t)
}

// Failover points the application at another instance: the exec
// provider's failover command does it (a DNS switch, a service binding);
// with local instances, the recovered one takes the main instance's place
// (failover.go).
func (p *Postgres) Failover(ctx context.Context, in FailoverInput) (InstanceOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return InstanceOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return InstanceOutput{}, err
	}
	switch provider(t) {
	case "local":
		if in.To == "" || in.To == MainInstance {
			return InstanceOutput{}, nonRetryable("BadInput", "failover needs the instance to move to (to:), other than %s", MainInstance)
		}
		return p.failoverLocal(ctx, t, in.To)
	case "exec":
		log, err := p.execAction(ctx, t, "failover", in.To)
		return InstanceOutput{Instance: in.To, Log: log}, err
	}
	return InstanceOutput{}, noProvider(t)
}

// instanceName is the instance a step names, or the environment's own.
func instanceName(name string) string {
	if name == "" {
		return MainInstance
	}
	return name
}

func provider(t *Target) string {
	if t.Instance == nil {
		return ""
	}
	return t.Instance.Provider
}

func noProvider(t *Target) error {
	return nonRetryable("NoProvider", "environment %s has no instance provider (instance.provider: local or exec)", t.Name)
}

// superuserPassword is the password the environment's URL gives the
// postgres user, so a recreated instance answers the URL the application
// and drctl already have; "" (a generated one) when it gives none.
func (p *Postgres) superuserPassword(ctx context.Context, t *Target) string {
	ep, err := p.endpoint(ctx, t, "", "")
	if err != nil || ep.cfg.User != "postgres" {
		return ""
	}
	return ep.cfg.Password
}

// execAction runs the exec provider's command for an action, as argv with
// a child's environment (never the worker's, which holds its secrets) plus
// DRCTL_INSTANCE, DRCTL_ENVIRONMENT and env, and returns its output, with
// the database password redacted and then capped, for an approval gate to
// show.
func (p *Postgres) execAction(ctx context.Context, t *Target, action, instance string, env ...string) (string, error) {
	argv := t.Instance.Exec[action]
	if len(argv) == 0 {
		return "", nonRetryable("NotConfigured", "environment %s has no %s command (instance.exec.%s)", t.Name, action, action)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	childio.Bind(cmd)
	cmd.Env = childio.Env(append([]string{"DRCTL_INSTANCE=" + instance, "DRCTL_ENVIRONMENT=" + t.Name}, env...)...)
	var redact childio.Redactor
	if ep, err := p.endpoint(ctx, t, "", ""); err == nil && ep.cfg.Password != "" {
		redact = childio.Redactor{ep.cfg.Password}
	}
	out := &childio.Capture{Max: childio.MaxOutput, Redact: redact}
	cmd.Stdout, cmd.Stderr = out, out
	done := make(chan struct{})
	go heartbeatUntil(ctx, done, func() any { return map[string]any{"phase": action} })
	err := cmd.Run()
	close(done)
	log := out.String()
	if err != nil {
		return log, fmt.Errorf("%s of instance %s (%s): %w\n%s", action, instance, strings.Join(argv, " "), err, log)
	}
	return log, nil
}

// heartbeatUntil heartbeats details() every few seconds until done is
// closed, so a dead worker is noticed while a long command runs.
func heartbeatUntil(ctx context.Context, done <-chan struct{}, details func() any) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			activity.RecordHeartbeat(ctx, details())
		}
	}
}

// Rename renames a database, e.g. the damaged one to "<name>-old": it
// stops new connections, ends the open ones, renames, and lets connections
// in again. Renaming what was already renamed says so and succeeds.
func (p *Postgres) Rename(ctx context.Context, in RenameInput) (RenameOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return RenameOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return RenameOutput{}, err
	}
	c, _, err := p.admin(ctx, t, in.Instance)
	if err != nil {
		return RenameOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	out := RenameOutput{From: in.Database, To: in.NewName}
	from, err := dbExists(ctx, c, in.Database)
	if err != nil {
		return out, err
	}
	to, err := dbExists(ctx, c, in.NewName)
	if err != nil {
		return out, err
	}
	switch {
	case !from && to:
		out.AlreadyDone = true
		return out, nil
	case from && to:
		return out, nonRetryable("Conflict", "cannot rename %s to %s: both exist; drop or rename %s first", in.Database, in.NewName, in.NewName)
	case !from:
		return out, nonRetryable("NotFound", "database %s does not exist (nor does %s)", in.Database, in.NewName)
	}
	if _, err := c.Exec(ctx, "alter database "+ident(in.Database)+" allow_connections false"); err != nil {
		return out, fmt.Errorf("closing %s to new connections: %w", in.Database, err)
	}
	renamed := false
	defer func() {
		name := in.Database
		if renamed {
			name = in.NewName
		}
		_, _ = c.Exec(context.WithoutCancel(ctx), "alter database "+ident(name)+" allow_connections true")
	}()
	// Sessions ended a moment ago may still be on their way out; try a
	// few times before giving up.
	for attempt := 0; ; attempt++ {
		var n int
		err := c.QueryRow(ctx, `select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, in.Database).Scan(&n)
		if err != nil {
			return out, fmt.Errorf("ending the sessions on %s: %w", in.Database, err)
		}
		out.Terminated += n
		_, err = c.Exec(ctx, "alter database "+ident(in.Database)+" rename to "+ident(in.NewName))
		if err == nil {
			renamed = true
			return out, nil
		}
		if attempt == 20 || !strings.Contains(err.Error(), "being accessed by other users") {
			return out, fmt.Errorf("renaming %s to %s: %w", in.Database, in.NewName, err)
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// createdMarker is the comment on databases drctl creates.
const createdMarker = "drctl:"

// Drop drops a database, but only one set aside by a rename (its name ends
// with the environment's old suffix) or one drctl created. Dropping what is
// gone already succeeds.
func (p *Postgres) Drop(ctx context.Context, in DropInput) (DropOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return DropOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return DropOutput{}, err
	}
	c, _, err := p.admin(ctx, t, in.Instance)
	if err != nil {
		return DropOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	out := DropOutput{Database: in.Database}
	exists, err := dbExists(ctx, c, in.Database)
	if err != nil {
		return out, err
	}
	if !exists {
		// After a local failover the damaged database went with the
		// damaged cluster, kept whole as instance main-old.
		if out.Dropped, err = p.dropSetAside(ctx, t, in.Database); err != nil {
			return out, fmt.Errorf("removing the cluster set aside by failover: %w", err)
		}
		out.AlreadyGone = !out.Dropped
		return out, nil
	}
	comment, err := dbComment(ctx, c, in.Database)
	if err != nil {
		return out, err
	}
	if !strings.HasSuffix(in.Database, t.OldSuffix) && !strings.HasPrefix(comment, createdMarker) {
		return out, nonRetryable("Refused", "refusing to drop %s: only databases whose name ends in %q, or that drctl created, may be dropped", in.Database, t.OldSuffix)
	}
	if _, err := c.Exec(ctx, "drop database "+ident(in.Database)+" with (force)"); err != nil {
		return out, fmt.Errorf("dropping %s: %w", in.Database, err)
	}
	out.Dropped = true
	return out, nil
}
