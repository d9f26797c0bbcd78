// Package stepio holds the few value types that step inputs of several
// systems share. It stays small on purpose: a type used by one system lives
// with that system.
package stepio

import (
	"github.com/drctl/drctl/workflows"
)

// Duration is the plans' duration type ("90s", "2h", "3d"): step inputs
// read durations exactly as the compiler and the interpreter do.
type Duration = workflows.Duration

// ExpectedError allows up to Max occurrences of an error that matches Pattern
// (a regular expression) without failing the step; anything else fails it.
type ExpectedError struct {
	Pattern string `json:"pattern" drctl:"required"` // a regular expression an error line matches
	Max     int    `json:"max"`                      // how many such errors are tolerated; default 1
}

// RunContext is filled in by the interpreter, never by a runbook: the
// environment the run acts on and the run's id. Steps read the environment
// from here, so no input can point a step at another environment.
type RunContext struct {
	Env string `json:"env"`
	ID  string `json:"id"`
}

// CheckOutput is what a step's preflight check found: what it checked,
// in a sentence for the timeline and the report.
type CheckOutput struct {
	Checked string `json:"checked"`
}
