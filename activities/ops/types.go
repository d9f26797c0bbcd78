// Package ops holds the steps around the database work: the deploy pipeline
// freeze, maintenance mode, exec, http, notify and wait.
package ops

import (
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
)

// PipelineConfig says how an environment's deploy pipeline is frozen.
type PipelineConfig struct {
	Provider   string     `json:"provider" drctl:"required" enum:"github,gitlab,webhook"`
	BaseURL    string     `json:"base_url,omitempty"`
	Repository string     `json:"repository,omitempty"`
	Branch     string     `json:"branch,omitempty"`
	Token      secret.Ref `json:"token,omitempty"`
	URL        string     `json:"url,omitempty"`
	HMACKey    secret.Ref `json:"hmac_key,omitempty"`
}

// MaintenanceConfig says how an environment's maintenance mode is switched.
type MaintenanceConfig struct {
	Provider  string     `json:"provider" drctl:"required" enum:"http,file,exec"`
	URL       string     `json:"url,omitempty"`
	Token     secret.Ref `json:"token,omitempty"`
	HealthURL string     `json:"health_url,omitempty"`
	// EnabledStatus and DisabledStatus are what the health URL answers in
	// each state (default 503 and 200).
	EnabledStatus  int      `json:"enabled_status,omitempty"`
	DisabledStatus int      `json:"disabled_status,omitempty"`
	File           string   `json:"file,omitempty"`
	Enable         []string `json:"enable,omitempty"`
	Disable        []string `json:"disable,omitempty"`
}

// FreezeInput freezes the deploy pipeline.
type FreezeInput struct {
	Branch string            `json:"branch,omitempty"` // the branch to freeze; default the pipeline's
	Reason string            `json:"reason,omitempty"` // why, shown where the pipeline shows it
	Run    stepio.RunContext `json:"run" drctl:"internal"`
}

// FreezeOutput records what freezing changed, so unfreeze can restore it
// exactly.
type FreezeOutput struct {
	Provider      string         `json:"provider"`
	Repository    string         `json:"repository"`
	Branch        string         `json:"branch"`
	Frozen        bool           `json:"frozen"`
	AlreadyFrozen bool           `json:"already_frozen"`
	Previous      map[string]any `json:"previous"`
}

// UnfreezeInput takes the freeze step's record; a missing record (the freeze
// never ran) unfreezes nothing.
type UnfreezeInput struct {
	Freeze *FreezeOutput     `json:"freeze,omitempty"` // the freeze step's outputs, so unfreeze restores exactly what it changed
	Run    stepio.RunContext `json:"run" drctl:"internal"`
}

// UnfreezeOutput reports whether protection was restored.
type UnfreezeOutput struct {
	Restored bool   `json:"restored"`
	Message  string `json:"message"`
}

// MaintenanceInput switches maintenance mode.
type MaintenanceInput struct {
	Message string            `json:"message,omitempty"` // what the maintenance page says
	Run     stepio.RunContext `json:"run" drctl:"internal"`
}

// MaintenanceOutput reports the state after the switch.
type MaintenanceOutput struct {
	Enabled bool `json:"enabled"`
	Changed bool `json:"changed"`
}

// ExecInput runs a command as argv, never through a shell.
type ExecInput struct {
	Command []string          `json:"command" drctl:"required"` // the program and its arguments (never a shell)
	Dir     string            `json:"dir,omitempty"`            // the working folder
	Env     map[string]string `json:"env,omitempty"`            // extra environment variables (the worker's own are not passed on)
	// Secrets are environment variables whose values are secret references;
	// their values are redacted from everything the command prints.
	Secrets   map[string]secret.Ref `json:"secrets,omitempty"`
	Timeout   stepio.Duration       `json:"timeout,omitempty"`    // how long it may run
	ExitCodes []int                 `json:"exit_codes,omitempty"` // exit codes that count as success; default 0
	ParseJSON bool                  `json:"parse_json,omitempty"` // parse stdout as JSON into the json output
	// Stdin is written to the command's standard input.
	Stdin          string                 `json:"stdin,omitempty"`
	ExpectedErrors []stepio.ExpectedError `json:"expected_errors,omitempty"`
	Run            stepio.RunContext      `json:"run" drctl:"internal"`
}

// ExecOutput holds the exit code and the captured (capped, redacted) output.
type ExecOutput struct {
	ExitCode int    `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	JSON     any    `json:"json"`
}

// HTTPInput makes one HTTP request.
type HTTPInput struct {
	Method  string            `json:"method,omitempty" enum:"GET,HEAD,POST,PUT,PATCH,DELETE"` // the method; default GET
	URL     string            `json:"url" drctl:"required"`                                   // the URL
	Headers map[string]string `json:"headers,omitempty"`                                      // request headers
	// SecretHeaders are headers whose values are secret references.
	SecretHeaders map[string]secret.Ref `json:"secret_headers,omitempty"`
	Body          any                   `json:"body,omitempty"`          // the body, sent as JSON
	ExpectStatus  []int                 `json:"expect_status,omitempty"` // statuses that count as success; default any 2xx
	Timeout       stepio.Duration       `json:"timeout,omitempty"`       // how long the request may take
	Run           stepio.RunContext     `json:"run" drctl:"internal"`
}

// HTTPOutput holds the response.
type HTTPOutput struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	JSON   any    `json:"json"`
}

// NotifyInput tells the people involved something.
type NotifyInput struct {
	Message string `json:"message" drctl:"required"` // what to tell: the worker's log, the timeline, and the run's Slack thread where there is one
	// Thread is the run's Slack thread, kept by the interpreter.
	Thread string            `json:"thread" drctl:"internal"`
	Run    stepio.RunContext `json:"run" drctl:"internal"`
}

// NotifyOutput reports where the message went.
type NotifyOutput struct {
	Slack   bool   `json:"slack"`
	Thread  string `json:"thread,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// Check is a condition a wait step polls for.
type Check struct {
	HTTP   *HTTPInput `json:"http,omitempty"`
	Exec   *ExecInput `json:"exec,omitempty"`
	Status []int      `json:"status,omitempty"`
}

// WaitInput waits for a duration (a durable timer) or until a check passes.
type WaitInput struct {
	Duration stepio.Duration   `json:"duration,omitempty"`
	Until    *Check            `json:"until,omitempty"`
	Interval stepio.Duration   `json:"interval,omitempty"`
	Deadline stepio.Duration   `json:"deadline,omitempty"`
	Run      stepio.RunContext `json:"run" drctl:"internal"`
}

// WaitOutput reports how long the wait took.
type WaitOutput struct {
	Waited stepio.Duration `json:"waited"`
	Polls  int             `json:"polls"`
}

// AlarmConfig is where an environment's alarms go when a run pauses or
// fails: an HTTP endpoint (a paging tool's events API), a command, or
// both.
type AlarmConfig struct {
	URL           string                `json:"url,omitempty"`
	Headers       map[string]string     `json:"headers,omitempty"`
	SecretHeaders map[string]secret.Ref `json:"secret_headers,omitempty"`
	// Command gets the alarm as JSON on its standard input.
	Command []string `json:"command,omitempty"`
}

// AlarmInput is one alarm of a run.
type AlarmInput struct {
	Kind    string            `json:"kind"`
	Step    string            `json:"step,omitempty"`
	Message string            `json:"message"`
	Run     stepio.RunContext `json:"run" drctl:"internal"`
}

// AlarmOutput says where the alarm went.
type AlarmOutput struct {
	Sent []string `json:"sent"`
}
