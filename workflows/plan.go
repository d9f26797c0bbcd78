// Package workflows is the interpreter: one deterministic Temporal workflow
// that runs any compiled Plan. This file holds the plan types, the contract
// between the compiler (package runbooks) and the interpreter.
package workflows

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PlanVersion is the version of the plan format; the interpreter refuses a
// plan of a version it does not know. Version 2 plans say of each step
// what the interpreter must do for it (Timer, Gets) and name its activity
// as its step type; version 1 plans, in runs recorded before, are read as
// they always were (legacy.go).
const PlanVersion = 2

// oldestPlanVersion is the oldest plan format the interpreter still runs.
const oldestPlanVersion = 1

// Plan is a compiled, checked runbook bound to one environment and its
// parameters. Everything known before the run is resolved; only expressions
// that read step outputs or run facts are left for run time.
type Plan struct {
	Version     int          `json:"version"`
	Runbook     string       `json:"runbook"`
	Description string       `json:"description,omitempty"`
	Kind        string       `json:"kind"`
	Source      string       `json:"source"`
	Environment string       `json:"environment"`
	Role        string       `json:"role"`
	Params      []ParamValue `json:"params"`
	// Env is what expressions read as env.*: the environment's non-secret
	// settings.
	Env map[string]any `json:"env"`
	// Signed says every decision on this run must be signed (the
	// environment's approval policy); Signers are the SSH keys the
	// environments file lists for each person, what signatures are checked
	// against; Approvers are the people the policy names.
	Signed    bool                `json:"signed,omitempty"`
	Signers   map[string][]string `json:"signers,omitempty"`
	Approvers []string            `json:"approvers,omitempty"`
	// Vouchers are the keys of drctl serve, which signs for the Slack
	// users and API token owners it checked.
	Vouchers []string `json:"vouchers,omitempty"`
	// LastVoteCLI says the vote that passes a gate must be signed by the
	// voter's own key (the CLI), not vouched for by serve.
	LastVoteCLI bool    `json:"last_vote_cli,omitempty"`
	Targets     Targets `json:"targets"`
	// PauseTimeout fails a step paused that long without an answer (the
	// environment's policy); Alarm says the environment has an alarm to
	// raise when a step pauses or the run fails.
	PauseTimeout Duration `json:"pause_timeout,omitempty"`
	Alarm        bool     `json:"alarm,omitempty"`
	Steps        []Step   `json:"steps"`
	OnFailure    []Step   `json:"on_failure,omitempty"`
	Finally      []Step   `json:"finally,omitempty"`
	// Hash is the sha256 of the plan with Hash empty; it identifies exactly
	// what was approved and run.
	Hash string `json:"hash"`
}

// ParamValue is a parameter's resolved value. For a timestamp, Value is UTC
// (RFC 3339) and Original is what the operator typed.
type ParamValue struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Value    any    `json:"value"`
	Original string `json:"original,omitempty"`
}

// Targets are the recovery objectives drills and reports measure against.
type Targets struct {
	RTO Duration `json:"rto,omitempty"`
	RPO Duration `json:"rpo,omitempty"`
	// LostAt is when the data was lost (an incident's failure time): the
	// RPO is measured from it, else from the run's start.
	LostAt *time.Time `json:"lost_at,omitempty"`
}

// Step is one step of a plan: exactly one of Uses, Approval or Parallel.
type Step struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Uses is the step type ("postgres.rename"); Activity the registered
	// activity name it runs ("postgres.Rename").
	Uses     string `json:"uses,omitempty"`
	Activity string `json:"activity,omitempty"`
	// Check is the activity that checks, changing nothing, whether the
	// step can succeed: run before the first step for every step whose
	// inputs are known by then, else just before the step.
	Check string `json:"check,omitempty"`
	// Timer runs the step as a durable timer in the workflow instead of an
	// activity (a wait with only a duration). Gets is what of the run the
	// step receives besides its inputs: "run_status" (the run so far, for
	// its evidence), "thread" (the run's chat thread, to post in).
	Timer bool     `json:"timer,omitempty"`
	Gets  []string `json:"gets,omitempty"`
	// Preflight runs Check before the run's first step, not just before
	// this one: no step before it changes what the check reads.
	Preflight bool           `json:"preflight,omitempty"`
	With      map[string]any `json:"with,omitempty"`
	Approval  *Approval      `json:"approval,omitempty"`
	Parallel  *Parallel      `json:"parallel,omitempty"`
	// If is an expression; "" runs the step unconditionally.
	If               string          `json:"if,omitempty"`
	Timeout          Duration        `json:"timeout,omitempty"`
	HeartbeatTimeout Duration        `json:"heartbeat_timeout,omitempty"`
	Retry            Retry           `json:"retry"`
	OnError          string          `json:"on_error,omitempty"`
	ExpectedErrors   []ExpectedError `json:"expected_errors,omitempty"`
	Destructive      bool            `json:"destructive,omitempty"`
	Pos              Pos             `json:"pos"`
}

// On-error policies of a step.
const (
	OnErrorAbort    = "abort"
	OnErrorContinue = "continue"
	OnErrorPause    = "pause"
)

// Approval is a gate that waits for Quorum distinct approvals from Users.
// Expiry rejects.
type Approval struct {
	Prompt string `json:"prompt"`
	// Approvers are the entries as written (user:ana, group:dba); Users the
	// user ids they resolve to.
	Approvers      []string `json:"approvers"`
	Users          []string `json:"users"`
	Quorum         int      `json:"quorum"`
	AllowInitiator bool     `json:"allow_initiator"`
	Timeout        Duration `json:"timeout"`
	// Show is a template of what approvers see beside the prompt, e.g. the
	// output of a terraform plan step.
	Show string `json:"show,omitempty"`
}

// Parallel runs its steps concurrently, at most Limit at a time (0: all).
type Parallel struct {
	Limit int    `json:"limit,omitempty"`
	Steps []Step `json:"steps"`
}

// Retry maps onto the activity's retry policy.
type Retry struct {
	Attempts   int      `json:"attempts"`
	Backoff    Duration `json:"backoff,omitempty"`
	MaxBackoff Duration `json:"max_backoff,omitempty"`
}

// ExpectedError allows up to Max errors matching Pattern without failing.
type ExpectedError struct {
	Pattern string `json:"pattern"`
	Max     int    `json:"max"`
}

// Pos is where a step was written, so a failure at run time names the line.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Duration is a time.Duration written as text ("90s", "2h", "3d") in plans
// and step inputs alike: one type, so what the compiler accepts the
// interpreter and the activities read the same way.
type Duration time.Duration

// ParseDuration accepts Go durations plus a whole number of days ("3d");
// negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 2h, 3d)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return d, nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads text ("15m", "3d") or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration must be text such as \"15m\": %s", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := ParseDuration(s)
	*d = Duration(v)
	return err
}
