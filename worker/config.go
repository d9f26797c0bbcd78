package worker

import (
	"maps"
	"slices"

	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/activities/ops"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/runbooks"
	"github.com/drctl/drctl/workflows"
)

// DepsFrom wires an environments file into the activities: each system's
// view of an environment, the stores, and the worker's own check of the
// plans it is given. walCommand is how Postgres runs drctl's WAL commands
// (this program and its --config).
func DepsFrom(cfg *runbooks.Config, walCommand []string) Deps {
	return Deps{
		Envs:        slices.Sorted(maps.Keys(cfg.Environments)),
		WALCommand:  walCommand,
		ServerEnv:   cfg.StoreSecretEnv(),
		CheckPlan:   func(p *workflows.Plan) []string { return runbooks.CheckPlan(cfg, p) },
		CheckInputs: runbooks.CheckInputs,
		Stores:      cfg.Store,
		ChatTargets: func(env string) (*chat.Target, error) {
			e, err := cfg.Environment(env)
			if err != nil {
				return nil, err
			}
			return &chat.Target{Name: env, Slack: e.Slack}, nil
		},
		SlackAPIURL: chat.APIURL(),
		OpsTargets: func(env string) (*ops.Target, error) {
			e, err := cfg.Environment(env)
			if err != nil {
				return nil, err
			}
			return &ops.Target{Name: env, Pipeline: e.Pipeline, Maintenance: e.Maintenance, Alarm: e.Policy.Alarm}, nil
		},
		Targets: func(env string) (*postgres.Target, error) {
			e, err := cfg.Environment(env)
			if err != nil {
				return nil, err
			}
			return &postgres.Target{Name: env, Role: e.Role, Database: e.Database.Name, URL: e.Database.URL,
				OldSuffix: e.Database.OldSuffix, Instance: e.Instance, SystemID: e.Database.SystemID}, nil
		},
	}
}
