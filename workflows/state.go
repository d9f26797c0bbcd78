package workflows

import "time"

// Names under which the interpreter is registered and addressed.
const (
	WorkflowName = "drctl.Runbook"
	QueryStatus  = "status"
	UpdateVote   = "vote"
	UpdateAction = "operator"
)

// Step states, as the status query reports them.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StateWaiting   = "waiting-approval"
	StatePaused    = "paused"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateSkipped   = "skipped"
	// StateNotRun is a step the run ended without reaching: the steps
	// after a failure, and on_failure's when nothing failed. Pending
	// would read as if the run might still get to them.
	StateNotRun = "not-run"
	// StateCancelled ends a run that was cancelled (after its clean-up).
	StateCancelled = "cancelled"
	// StateRefused ends a run whose checks failed before its first step:
	// nothing was changed. StateChecked ends a check-only run whose
	// checks all passed.
	StateRefused = "refused"
	StateChecked = "checked"
)

// RunInput starts a run of a plan.
type RunInput struct {
	Plan      Plan   `json:"plan"`
	Initiator string `json:"initiator"`
	Incident  string `json:"incident,omitempty"`
	// URL is the run's page in the Temporal Web UI, for chat posts.
	URL string `json:"url,omitempty"`
	// CheckOnly runs the preflight checks alone (drctl plan --check).
	CheckOnly bool `json:"check_only,omitempty"`
	// PauseTimeout, when set, replaces the plan's: a drill's schedule
	// gives one, since no operator watches it.
	PauseTimeout Duration `json:"pause_timeout,omitempty"`
	// Signature is the initiator's signed statement that they start this
	// plan: a signed policy on a source environment requires it.
	Signature *Signature `json:"signature,omitempty"`
}

// RunResult is how a run ended.
type RunResult struct {
	State  string `json:"state"`
	Failed string `json:"failed_step,omitempty"`
	Error  string `json:"error,omitempty"`
}

// StepStatus is one step's progress.
type StepStatus struct {
	ID       string         `json:"id"`
	Uses     string         `json:"uses,omitempty"`
	State    string         `json:"state"`
	Attempts int            `json:"attempts"`
	Started  time.Time      `json:"started,omitzero"`
	Ended    time.Time      `json:"ended,omitzero"`
	Outputs  map[string]any `json:"outputs,omitempty"`
	Error    string         `json:"error,omitempty"`
	// Progress is the step's latest heartbeat, filled in by clients from
	// the pending activity (the workflow never sees heartbeats).
	Progress string `json:"progress,omitempty"`
	Pos      Pos    `json:"pos"`
}

// Vote is one approver's decision at a gate.
type Vote struct {
	User    string    `json:"user"`
	Approve bool      `json:"approve"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
	// Signer is the fingerprint of the key that signed the vote, "" for
	// an unsigned one; Signature is the vote as signed, for a later check.
	Signer    string     `json:"signer,omitempty"`
	Signature *Signature `json:"signature,omitempty"`
}

// GateStatus is an approval gate with its votes.
type GateStatus struct {
	Step           string    `json:"step"`
	Prompt         string    `json:"prompt"`
	Show           string    `json:"show,omitempty"`
	Users          []string  `json:"users"`
	Quorum         int       `json:"quorum"`
	AllowInitiator bool      `json:"allow_initiator"`
	Open           bool      `json:"open"`
	Deadline       time.Time `json:"deadline"`
	Votes          []Vote    `json:"votes"`
	Outcome        string    `json:"outcome,omitempty"`
}

// Event is one line of the run's timeline.
type Event struct {
	At      time.Time `json:"at"`
	Step    string    `json:"step,omitempty"`
	Kind    string    `json:"kind"`
	By      string    `json:"by,omitempty"`
	Message string    `json:"message"`
	// Signature is the signed statement of a decision (a vote, an
	// operator's action, the start), kept so it can be checked again.
	Signature *Signature `json:"signature,omitempty"`
}

// Status is what the status query returns.
type Status struct {
	Runbook     string  `json:"runbook"`
	Environment string  `json:"environment"`
	PlanHash    string  `json:"plan_hash"`
	Initiator   string  `json:"initiator"`
	Incident    string  `json:"incident,omitempty"`
	State       string  `json:"state"`
	Targets     Targets `json:"targets"`
	// Thread is the run's Slack thread (the ts of its first post).
	Thread   string       `json:"thread,omitempty"`
	Steps    []StepStatus `json:"steps"`
	Gates    []GateStatus `json:"gates"`
	Timeline []Event      `json:"timeline"`
}

// VoteInput is an approver's vote, sent as the vote update.
type VoteInput struct {
	// Gate is the approval step's id; "" means the gate that is open.
	Gate    string `json:"gate,omitempty"`
	User    string `json:"user"`
	Approve bool   `json:"approve"`
	Comment string `json:"comment,omitempty"`
	// Signature is User's signed statement of the vote.
	Signature *Signature `json:"signature,omitempty"`
}

// CheckInputsInput is a step's inputs as they will run, for the worker to
// hold to the step type's (plan.CheckInputs).
type CheckInputsInput struct {
	Uses string         `json:"uses"`
	With map[string]any `json:"with"`
}

// Operator actions on a paused step.
const (
	ActionRetry = "retry"
	ActionSkip  = "skip"
	ActionAbort = "abort"
)

// ActionInput is an operator's decision on a paused step.
type ActionInput struct {
	Step   string `json:"step"`
	Action string `json:"action"`
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	// With changes inputs of the step on retry (the keys given only).
	With map[string]any `json:"with,omitempty"`
	// Signature is By's signed statement of the action.
	Signature *Signature `json:"signature,omitempty"`
}
