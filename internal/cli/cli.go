// Package cli is flinkctl: a thin cobra tree over flinkd's unix-socket API, plus the offline
// commands (validate). Data goes to stdout, messages to stderr; errors are mapped to exit
// codes in one place, Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/client"
)

// Exit codes.
const (
	ExitOK      = 0 // success
	ExitFailed  = 1 // the operation failed or was refused, or the daemon is not running
	ExitUsage   = 2 // usage error: unknown command or flag, wrong arguments
	exitUnknown = ExitFailed
)

// callTimeout bounds every API call that is not a stream or a long poll.
const callTimeout = 30 * time.Second

// IOStreams are the command's standard streams.
//
// Tables are aligned with a header when Out is a terminal: an *os.File, or any writer with a
// Stat method, whose mode is a character device.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer // data
	ErrOut io.Writer // messages, progress, errors
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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
	cmd, err := root.ExecuteContextC(ctx)
	// Cobra reports an unknown command as a plain error before any of our code runs.
	if err != nil && strings.HasPrefix(err.Error(), "unknown command ") {
		err = usageError{err}
	}
	return exitCodeFor(err, cmd, streams.ErrOut)
}

// exitCode maps err to an exit code and prints what the user needs to see.
func exitCode(err error, errOut io.Writer) int { return exitCodeFor(err, nil, errOut) }

// exitCodeFor is exitCode for an error of cmd: a usage error shows cmd's usage line.
func exitCodeFor(err error, cmd *cobra.Command, errOut io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var silent silentError
	if errors.As(err, &silent) {
		return ExitFailed
	}
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(errOut, "Error: %v\n", err)
		if cmd != nil && cmd.HasParent() {
			fmt.Fprintf(errOut, "Usage: %s\nRun '%s --help' for more.\n", cmd.UseLine(), cmd.CommandPath())
		} else {
			fmt.Fprintln(errOut, "Run 'flinkctl --help' for usage.")
		}
		return ExitUsage
	}
	// The daemon is not running: its one-line message says how to start it.
	var notRunning *client.NotRunningError
	if errors.As(err, &notRunning) {
		fmt.Fprintln(errOut, notRunning.Error())
		return ExitFailed
	}
	fmt.Fprintf(errOut, "Error: %v\n", err)
	return exitUnknown
}

func newRootCmd(streams IOStreams) *cobra.Command {
	f := &factory{streams: streams}
	root := &cobra.Command{
		Use:   "flinkctl",
		Short: "Inspect and control the Flink session clusters that flinkd runs",
		Long: `flinkctl talks to flinkd, the daemon that runs one Apache Flink session cluster for every
SessionCluster YAML file in a folder. The folder is the source of truth: flinkctl start and stop
edit spec.state in the cluster's own file, and the daemon follows.

A cluster is named NAME (in the namespace given by -n, "default" unless set) or NAMESPACE/NAME.

flinkctl finds the daemon on its unix socket: --socket, else $FLINKD_SOCKET, else the per-user
default. flinkctl validate works offline, without a daemon.

Exit codes: 0 success, 1 the operation failed or was refused (or the daemon is not running),
2 usage error.`,
		Example: `  # What runs, and how is it doing?
  flinkctl status
  flinkctl status analytics -o yaml

  # Stop a cluster and wait until it is down; cancel its running jobs first
  flinkctl stop analytics --force --wait

  # Follow the logs of the first TaskManager
  flinkctl logs analytics --component taskmanager-1 -f`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Cobra reports unknown commands and bad flags as plain errors; mark them as usage errors.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f.addGlobalFlags(root)

	root.AddGroup(
		&cobra.Group{ID: groupInspect, Title: "Inspect clusters:"},
		&cobra.Group{ID: groupControl, Title: "Control clusters:"},
		&cobra.Group{ID: groupOther, Title: "Other commands:"},
	)
	for _, c := range []*cobra.Command{
		newStatusCmd(f, nil),
		newEventsCmd(f, nil),
		newLogsCmd(f, nil),
		newTargetsCmd(f, nil),
		newCertsCmd(f, nil),
	} {
		c.GroupID = groupInspect
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newStartCmd(f, nil), newStopCmd(f, nil)} {
		c.GroupID = groupControl
		root.AddCommand(c)
	}
	validate := newValidateCmd(streams)
	validate.GroupID = groupOther
	root.AddCommand(validate)
	root.SetHelpCommandGroupID(groupOther)
	root.SetCompletionCommandGroupID(groupOther)
	return root
}

// Help groups of the root command.
const (
	groupInspect = "inspect"
	groupControl = "control"
	groupOther   = "other"
)

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

// nameArg accepts exactly one argument, the cluster NAME; what says what the cluster is for
// ("to stop"), for the message when it is missing.
func nameArg(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usageErrorf("missing NAME: the cluster %s", what)
		case len(args) > 1:
			return usageErrorf("too many arguments %q: give one NAME or NAMESPACE/NAME", args)
		}
		return nil
	}
}

// optionalNameArg accepts at most one argument, a cluster NAME.
func optionalNameArg(_ *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usageErrorf("too many arguments %q: give at most one NAME or NAMESPACE/NAME", args)
	}
	return nil
}
