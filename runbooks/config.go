package runbooks

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/chat"
	"github.com/drctl/drctl/activities/ops"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/workflows"
)

// Environment roles. Production is a source: it is backed up and never the
// destination of a routine restore. Staging is a target: it is restored into
// and never backed up from, since its data is a copy.
const (
	RoleSource = "source"
	RoleTarget = "target"
)

// Config is the environments file (drctl.yaml).
type Config struct {
	// Groups name sets of approvers: group:dba in an approval resolves here.
	Groups map[string][]string `yaml:"groups"`
	// Users are the people who decide, each with the public SSH keys
	// their decisions are signed with.
	Users map[string]*User `yaml:"users"`
	// Voucher is drctl serve's key: it signs the votes and starts of the
	// Slack users and API token owners it checked.
	Voucher      *Voucher                `yaml:"voucher"`
	Environments map[string]*Environment `yaml:"environments" drctl:"required"`
	// Slack is the Slack app that sends button clicks and slash commands
	// to drctl serve.
	Slack *SlackApp `yaml:"slack"`
	// API is who may call drctl serve's HTTP API.
	API  *API       `yaml:"api"`
	File string     `yaml:"-"`
	Node *yaml.Node `yaml:"-"`
}

// SlackApp is drctl's Slack app: its signing secret (requests that do not
// carry its signature are refused), its bot token, who is who, and who may
// start which runbook where from Slack.
type SlackApp struct {
	SigningSecret secret.Ref `yaml:"signing_secret" drctl:"required"`
	Token         secret.Ref `yaml:"token" drctl:"required"`
	// Users maps Slack user ids to approver names. A user not listed is
	// known by their Slack id, or with identity: email by the email of
	// their Slack profile (users.info).
	Users    map[string]string `yaml:"users"`
	Identity string            `yaml:"identity" enum:"id,email"`
	// Starters lists, per environment, who may start runbooks from Slack
	// ("*": anyone in the workspace).
	Starters map[string][]string `yaml:"starters"`
	// Runbooks is the folder /drctl run finds runbooks in.
	Runbooks string `yaml:"runbooks"`
}

// API lists the callers of drctl serve's HTTP API, each by name with the
// secret reference of their bearer token. A call acts as the caller its
// token names (a vote is that person's vote), never as a name it sends.
type API struct {
	Users map[string]secret.Ref `yaml:"users" drctl:"required"`
}

// Environment says what one environment is and what may be done to it.
type Environment struct {
	Role        string                         `yaml:"role" drctl:"required" enum:"source,target"`
	Description string                         `yaml:"description"`
	Database    Database                       `yaml:"database" drctl:"required"`
	Instance    *postgres.InstanceConfig       `yaml:"instance"`
	Stores      map[string]*backup.StoreConfig `yaml:"stores"`
	Slack       *chat.SlackConfig              `yaml:"slack"`
	Pipeline    *ops.PipelineConfig            `yaml:"pipeline"`
	Maintenance *ops.MaintenanceConfig         `yaml:"maintenance"`
	Policy      Policy                         `yaml:"policy"`
	Vars        map[string]any                 `yaml:"vars"`
	Node        *yaml.Node                     `yaml:"-"`
}

// Database is how the environment's database is reached. URL is a secret
// reference to a connection string, never the string itself.
type Database struct {
	Name string     `yaml:"name" drctl:"required"`
	URL  secret.Ref `yaml:"url" drctl:"required"`
	// OldSuffix marks databases set aside by a rename; only those may be
	// dropped. Default "-old".
	OldSuffix string `yaml:"old_suffix"`
	// SystemID pins the instance (its system identifier, from
	// pg_control_system()) backups must be taken of.
	SystemID string `yaml:"system_id"`
}

// Policy is what the environment demands of any runbook run against it.
type Policy struct {
	Approval *ApprovalPolicy `yaml:"approval"`
	// OnError is the default on_error of steps (production: pause).
	OnError string `yaml:"on_error" enum:"abort,continue,pause"`
	// Retention is the least backup.prune may keep without an approval
	// gate; on a source without one, every prune is gated.
	Retention *Retention `yaml:"retention"`
	// PauseTimeout fails a paused step nobody answered in that long, so
	// the run's on_failure alarms fire; 0 waits for an operator forever.
	PauseTimeout workflows.Duration `yaml:"pause_timeout"`
	// Alarm is where a pause or a failure of a run is raised, beside the
	// timeline, the worker's log and Slack.
	Alarm *ops.AlarmConfig `yaml:"alarm"`
}

// Retention is how many daily and weekly backups a prune keeps.
type Retention struct {
	KeepDaily  int `yaml:"keep_daily"`
	KeepWeekly int `yaml:"keep_weekly"`
}

// User is a person who decides: their public SSH keys, in authorized_keys
// form (drctl keys prints the entry).
type User struct {
	SSHKeys []string   `yaml:"ssh_keys" drctl:"required"`
	Node    *yaml.Node `yaml:"-"`
}

// Voucher is the key drctl serve vouches with: its public keys, which runs
// check vouched decisions against, and a reference to its private key,
// which only serve reads.
type Voucher struct {
	SSHKeys []string   `yaml:"ssh_keys" drctl:"required"`
	Key     secret.Ref `yaml:"key"`
	Node    *yaml.Node `yaml:"-"`
}

// ApprovalPolicy demands an approval gate before any destructive step.
// Where approval is required, every decision (a vote, an operator's
// action, the start of a run on a source) is signed by the person's SSH
// key unless Signed is false, as on a laptop sandbox.
type ApprovalPolicy struct {
	Required       bool     `yaml:"required"`
	Quorum         int      `yaml:"quorum"`
	AllowInitiator bool     `yaml:"allow_initiator"`
	Approvers      []string `yaml:"approvers"`
	Signed         *bool    `yaml:"signed"`
	// LastVote cli: the vote that passes a gate is signed by the voter's
	// own key, not vouched for by drctl serve (Slack, the API).
	LastVote string     `yaml:"last_vote" enum:"cli,any"`
	Node     *yaml.Node `yaml:"-"`
}

// SignedDecisions says whether the policy takes only signed decisions.
func (p *ApprovalPolicy) SignedDecisions() bool {
	return p != nil && p.Required && (p.Signed == nil || *p.Signed)
}

// deciders is what a plan of env holds of who decides: whether decisions
// are signed, each user's keys, the approvers of the policy, serve's keys
// and whether a gate's last vote must come from the CLI.
func (c *Config) deciders(env *Environment) deciders {
	var d deciders
	if ap := env.Policy.Approval; ap != nil {
		d.signed, d.lastVoteCLI = ap.SignedDecisions(), ap.LastVote == "cli"
		d.approvers, _ = c.resolveApprovers(ap.Approvers)
	}
	if c.Voucher != nil {
		d.vouchers = c.Voucher.SSHKeys
	}
	d.keys = c.keys()
	return d
}

// deciders is what a plan holds of who decides on its environment.
type deciders struct {
	signed, lastVoteCLI bool
	keys                map[string][]string
	approvers, vouchers []string
}

// set writes them into a plan.
func (d deciders) set(p *workflows.Plan) {
	p.Signed, p.Signers, p.Approvers, p.Vouchers, p.LastVoteCLI = d.signed, d.keys, d.approvers, d.vouchers, d.lastVoteCLI
}

// keys is each user's SSH keys, for a plan's signers.
func (c *Config) keys() map[string][]string {
	if len(c.Users) == 0 {
		return nil
	}
	keys := map[string][]string{}
	for name, u := range c.Users {
		if u != nil {
			keys[name] = u.SSHKeys
		}
	}
	return keys
}

// envKeys are what expressions may read as env.*; vars.* is free-form.
var envKeys = []string{"name", "role", "database", "old_suffix", "channel", "pipeline", "maintenance", "stores", "vars"}

// Settings returns what expressions read as env.*: nothing secret.
func (e *Environment) Settings(name string) map[string]any {
	channel, board := "", false
	if e.Slack != nil {
		channel, board = e.Slack.Channel, e.Slack.Automatic
	}
	vars := e.Vars
	if vars == nil {
		vars = map[string]any{}
	}
	return map[string]any{"name": name, "role": e.Role, "database": e.Database.Name,
		"old_suffix": e.Database.OldSuffix, "channel": channel, "vars": vars,
		// Whether a pipeline and a maintenance switch are configured, so a
		// runbook may skip those steps where there are none:
		// if: ${{ env.pipeline }}.
		"pipeline": e.Pipeline != nil, "maintenance": e.Maintenance != nil,
		// The names of its stores, for a step that writes to a store only
		// where there is one: if: ${{ 'offsite' in env.stores }}.
		"stores": slices.Sorted(maps.Keys(e.Stores)),
		// board asks the interpreter to keep a status board in Slack.
		"board": board}
}

// gap is a setting an environment's section lacks.
type gap struct{ section, msg string }

// gaps lists what the pipeline, maintenance and instance sections lack
// for their provider: told when the file is read, not when a step needs
// it in the middle of an incident.
func (e *Environment) gaps() []gap {
	var out []gap
	need := func(section, provider string, missing ...string) {
		for i := 0; i+1 < len(missing); i += 2 {
			if missing[i+1] == "" {
				out = append(out, gap{section, fmt.Sprintf("%s: provider %s needs %s", section, provider, missing[i])})
			}
		}
	}
	if p := e.Pipeline; p != nil {
		switch p.Provider {
		case "github", "gitlab":
			need("pipeline", p.Provider, "repository", p.Repository, "token", string(p.Token))
		case "webhook":
			need("pipeline", p.Provider, "url", p.URL, "hmac_key", string(p.HMACKey))
		}
	}
	if m := e.Maintenance; m != nil {
		switch m.Provider {
		case "http":
			need("maintenance", m.Provider, "url", m.URL)
		case "file":
			need("maintenance", m.Provider, "file", m.File)
		case "exec":
			need("maintenance", m.Provider, "enable", strings.Join(m.Enable, " "), "disable", strings.Join(m.Disable, " "))
		}
	}
	if i := e.Instance; i != nil && i.Provider == "local" {
		need("instance", i.Provider, "data_dir", i.DataDir)
	}
	return out
}

// StoreSecretEnv names the variables that the stores' env: references
// read, sorted: what drctl's WAL commands, run by a Postgres server, need
// of the worker's environment.
func (c *Config) StoreSecretEnv() []string {
	var names []string
	for _, e := range c.Environments {
		if e == nil {
			continue
		}
		for _, st := range e.Stores {
			if st == nil {
				continue
			}
			for _, ref := range []secret.Ref{st.Connection, st.Key, st.Identity} {
				if name, ok := strings.CutPrefix(string(ref), "env:"); ok {
					names = append(names, name)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Environment returns the named environment, or an error that names the
// file.
func (c *Config) Environment(name string) (*Environment, error) {
	e, ok := c.Environments[name]
	if !ok || e == nil {
		return nil, fmt.Errorf("environment %q is not in %s", name, c.File)
	}
	return e, nil
}

// Store returns one of the environment's stores, or an error listing the
// stores it has.
func (c *Config) Store(env, store string) (*backup.StoreConfig, error) {
	e, err := c.Environment(env)
	if err != nil {
		return nil, err
	}
	st, ok := e.Stores[store]
	if !ok || st == nil {
		return nil, fmt.Errorf("environment %s has no store %q (it has %s)", env, store, strings.Join(slices.Sorted(maps.Keys(e.Stores)), ", "))
	}
	return st, nil
}

// LoadConfig reads and checks an environments file.
func LoadConfig(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{File: path, Msg: fmt.Sprintf("cannot read the environments file: %v", err)}}
	}
	cfg, diags := ParseConfig(path, src)
	return cfg, diags.Err()
}

// ParseConfig parses and checks an environments file held in memory.
func ParseConfig(file string, src []byte) (*Config, Diagnostics) {
	var diags Diagnostics
	r := reporter{file: file, diags: &diags}
	root := parseYAML(r, src)
	if root == nil {
		return nil, diags
	}
	cfg := &Config{File: file}
	decodeInto(r, root, reflect.ValueOf(cfg).Elem(), "")
	checkKeys := func(who string, keys []string, node *yaml.Node) {
		for i, k := range keys {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
				r.at(nodeAt(valueOf(node, "ssh_keys"), i), "%s: ssh_keys[%d] is not a public SSH key (%v): paste a line of ~/.ssh/*.pub, or what drctl keys prints", who, i, err)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Users)) {
		if u := cfg.Users[name]; u != nil {
			checkKeys(fmt.Sprintf("user %q", name), u.SSHKeys, u.Node)
		}
	}
	if v := cfg.Voucher; v != nil {
		checkKeys("voucher", v.SSHKeys, v.Node)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Environments)) {
		env := cfg.Environments[name]
		if env == nil {
			// A mapping that failed to decode has had its problems told.
			if n := resolve(valueOf(valueOf(cfg.Node, "environments"), name)); isNull(n) || n.Kind == yaml.MappingNode && len(n.Content) == 0 {
				r.at(keyOf(valueOf(cfg.Node, "environments"), name), "environment %q is empty", name)
			}
			continue
		}
		if !identRE.MatchString(name) {
			r.at(keyOf(valueOf(cfg.Node, "environments"), name), "environment name %q must be letters, digits, - and _", name)
		}
		if env.Database.OldSuffix == "" {
			env.Database.OldSuffix = "-old"
		}
		if ap := env.Policy.Approval; ap != nil {
			if ap.Quorum == 0 {
				ap.Quorum = 1
			}
			resolved, unknown := cfg.resolveApprovers(ap.Approvers)
			for _, u := range unknown {
				r.at(valueOf(ap.Node, "approvers"), "environment %q: %s", name, u)
			}
			if ap.SignedDecisions() {
				for _, u := range resolved {
					if cfg.Users[u] == nil {
						r.at(valueOf(ap.Node, "approvers"), "environment %q takes only signed decisions, but approver %s has no ssh_keys under users: (drctl keys prints the entry; or signed: false on a sandbox)", name, u)
					}
				}
			}
			if ap.Quorum < 1 {
				r.at(valueOf(ap.Node, "quorum"), "environment %q: quorum must be at least 1", name)
			} else if len(ap.Approvers) > 0 && len(unknown) == 0 && len(resolved) < ap.Quorum {
				r.at(valueOf(ap.Node, "quorum"), "environment %q: quorum %d needs at least %d approvers, but only %d are listed", name, ap.Quorum, ap.Quorum, len(resolved))
			}
		}
		if env.Role == RoleSource && env.Policy.OnError == "" {
			env.Policy.OnError = "pause"
		}
		for _, gap := range env.gaps() {
			r.at(valueOf(env.Node, gap.section), "environment %q: %s", name, gap.msg)
		}
		places := map[string]string{}
		for _, storeName := range slices.Sorted(maps.Keys(env.Stores)) {
			st := env.Stores[storeName]
			if st == nil {
				r.at(valueOf(env.Node, "stores"), "environment %q: store %q is empty", name, storeName)
				continue
			}
			if !identRE.MatchString(storeName) {
				r.at(keyOf(valueOf(env.Node, "stores"), storeName), "environment %q: store name %q must be letters, digits, - and _", name, storeName)
			}
			// Two stores in one place hold one copy, which each backup
			// writes over the other's as it goes.
			if other, ok := places[storePlace(st)]; ok {
				r.at(keyOf(valueOf(env.Node, "stores"), storeName), "environment %q: stores %q and %q are the same place (%s): a backup written to both would be one copy, written twice over itself",
					name, other, storeName, storePlace(st))
			}
			places[storePlace(st)] = storeName
		}
	}
	return cfg, diags
}

// storePlace is where a store keeps its objects, as one string.
func storePlace(st *backup.StoreConfig) string {
	switch st.Type {
	case "azure":
		return fmt.Sprintf("azure %s%s/%s/%s", st.Account, st.Connection, st.Container, strings.Trim(st.Prefix, "/"))
	case "sftp":
		return fmt.Sprintf("sftp %s:%d%s", st.Host, cmp.Or(st.Port, 22), path.Clean("/"+st.Path))
	}
	return st.Type + " " + filepath.Clean(st.Path)
}

// resolveApprovers expands user:/group: entries into sorted, distinct user
// ids, and describes the entries that do not resolve.
func (c *Config) resolveApprovers(entries []string) (users, problems []string) {
	for _, e := range entries {
		kind, name, ok := strings.Cut(e, ":")
		switch {
		case !ok || name == "" || kind != "user" && kind != "group":
			problems = append(problems, fmt.Sprintf("approver %q must be written user:NAME or group:NAME", e))
		case kind == "user":
			users = append(users, name)
		default:
			members, found := c.Groups[name]
			if !found {
				problems = append(problems, fmt.Sprintf("unknown group %q%s", name, didYouMean(name, slices.Sorted(maps.Keys(c.Groups)))))
				continue
			}
			users = append(users, members...)
		}
	}
	slices.Sort(users)
	return slices.Compact(users), problems
}
