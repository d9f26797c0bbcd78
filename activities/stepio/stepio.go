// Package stepio holds the few value types that step inputs of several
// systems share. It stays small on purpose: a type used by one system lives
// with that system.
package stepio

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Duration is a time.Duration that reads and writes as text ("90s", "2h",
// "3d"), so plans and step inputs stay readable.
type Duration time.Duration

// ParseDuration accepts Go durations plus a whole number of days ("3d").
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

// UnmarshalJSON reads text ("15m") or a number of nanoseconds.
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

// ExpectedError allows up to Max occurrences of an error that matches Pattern
// (a regular expression) without failing the step; anything else fails it.
type ExpectedError struct {
	Pattern string `json:"pattern" drctl:"required"`
	Max     int    `json:"max"`
}

// NotImplemented is the error of a step type whose activity this build of
// drctl does not carry yet: non-retryable, so a run stops (or pauses) at
// once and says which step type is missing.
func NotImplemented(stepType string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("step type %s is not implemented in this version of drctl", stepType), "NotImplemented", nil)
}

// RunContext is filled in by the interpreter, never by a runbook: the
// environment the run acts on and the run's id. Steps read the environment
// from here, so no input can point a step at another environment.
type RunContext struct {
	Env string `json:"env"`
	ID  string `json:"id"`
}
