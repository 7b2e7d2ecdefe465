// Package cli is flinkctl: a thin cobra tree over flinkd's unix-socket API, plus the offline
// commands (validate). Data goes to stdout, messages to stderr; errors are mapped to exit
// codes in one place, Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK      = 0 // success
	ExitFailed  = 1 // the operation failed or was refused, or the daemon is not running
	ExitUsage   = 2 // usage error: unknown command or flag, wrong arguments
	exitUnknown = ExitFailed
)

// IOStreams are the command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer // data
	ErrOut io.Writer // messages, progress, errors
}

// silentError exits with ExitFailed without printing anything more: the command already said
// what went wrong (validate prints every error of every file, for one).
type silentError struct{ err error }

func (e silentError) Error() string { return e.err.Error() }
func (e silentError) Unwrap() error { return e.err }

// errSilent is returned by commands that printed their own failure report.
var errSilent = silentError{errors.New("failed")}

// usageError marks wrong arguments; Main prints it with a hint and exits ExitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Main runs flinkctl with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, streams IOStreams) int {
	root := newRootCmd(streams)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	err := root.ExecuteContext(ctx)
	return exitCode(err, streams.ErrOut)
}

func exitCode(err error, errOut io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var silent silentError
	if errors.As(err, &silent) {
		return ExitFailed
	}
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(errOut, "Error: %v\nRun 'flinkctl --help' for usage.\n", err)
		return ExitUsage
	}
	fmt.Fprintf(errOut, "Error: %v\n", err)
	return exitUnknown
}

func newRootCmd(streams IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "flinkctl",
		Short: "Inspect and control the Flink session clusters that flinkd runs",
		Long: `flinkctl talks to flinkd, the daemon that runs one Apache Flink session cluster for every
SessionCluster YAML file in a folder. The folder is the source of truth: flinkctl start and stop
edit spec.state in the cluster's own file.

flinkctl validate works offline, without a daemon.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Cobra reports unknown commands and bad flags as plain errors; mark them as usage errors.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newValidateCmd(streams))
	return root
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs with a usage error.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
