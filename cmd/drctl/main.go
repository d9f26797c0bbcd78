// Command drctl runs disaster-recovery runbooks.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/workflows"
)

// Exit codes: 0 ok, 1 failed or refused (with the reason), 2 usage, 3 a
// run waited on paused for an operator.
const (
	exitFailed = 1
	exitUsage  = 2
	exitPaused = 3
)

// exitError carries an exit code; its message has already been printed when
// msg is empty.
type exitError struct {
	code int
	msg  string
	// cause is the error a %w in failed's format wrapped, for callers
	// that answer by its kind (the HTTP API's 404).
	cause error
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) Unwrap() error { return e.cause }

func failed(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &exitError{code: exitFailed, msg: err.Error(), cause: errors.Unwrap(err)}
}

// stepFailed is failed for an error of code shared with the activities,
// whose errors are Temporal application errors: the message alone, without
// the "(type: ..., retryable: ...)" a terminal has no use for.
func stepFailed(err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return failed("%s", appErr.Message())
	}
	return failed("%v", err)
}

// globals are the flags every subcommand shares.
type globals struct {
	config string
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "drctl",
		Short:         "drctl runs disaster-recovery runbooks as durable workflows",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	defaultConfig := os.Getenv("DRCTL_CONFIG")
	if defaultConfig == "" {
		defaultConfig = "drctl.yaml"
	}
	root.PersistentFlags().StringVar(&g.config, "config", defaultConfig, "environments file (env DRCTL_CONFIG)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, msg: fmt.Sprintf("%v\nsee '%s --help'", err, c.CommandPath())}
	})
	root.AddCommand(newValidateCmd(g), newPlanCmd(g), newSchemaCmd(),
		newRunCmd(g), newStatusCmd(), newVoteCmd(g, true), newVoteCmd(g, false),
		newActionCmd(g, workflows.ActionRetry), newActionCmd(g, workflows.ActionSkip), newActionCmd(g, workflows.ActionAbort), newCancelCmd(), newListCmd(),
		newWorkerCmd(g), newDevCmd(g), newWALPushCmd(g), newWALFetchCmd(g), newWALPrefetchCmd(g), newBackupsCmd(g), newDemoCmd(g), newServeCmd(g), newDrillCmd(g), newReportCmd(g), newArchiveCmd(g), newKeysCmd())
	return root
}

// run executes the CLI and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "drctl:", ee.msg)
		}
		return ee.code
	}
	// Cobra's own errors (unknown command, wrong number of args) are usage.
	fmt.Fprintln(stderr, "drctl:", err)
	return exitUsage
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// printJSON writes v as indented JSON, as every --json does.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
