package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
	"github.com/flinkd/flinkd/internal/spec"
)

const (
	// stopCallTimeout bounds a stop call: the daemon answers once it has decided the stop,
	// a forced one after the cancelled jobs ended (the daemon waits up to 90 s).
	stopCallTimeout    = 2 * time.Minute
	defaultWaitTimeout = 5 * time.Minute
	waitPollInterval   = 500 * time.Millisecond
)

// waitOptions are the --wait and --timeout flags of stop and start.
type waitOptions struct {
	Wait    bool
	Timeout time.Duration
	// Interval is how often --wait asks the daemon.
	Interval time.Duration
}

func addWaitFlags(cmd *cobra.Command, w *waitOptions, phase spec.Phase) {
	cmd.Flags().BoolVar(&w.Wait, "wait", false, "wait until the cluster is "+string(phase)+", showing its phases")
	cmd.Flags().DurationVar(&w.Timeout, "timeout", defaultWaitTimeout, "how long --wait waits")
}

func checkWaitFlags(cmd *cobra.Command, w *waitOptions) error {
	if cmd.Flags().Changed("timeout") && !w.Wait {
		return usageErrorf("--timeout needs --wait")
	}
	if w.Timeout <= 0 {
		return usageErrorf("--timeout must be positive, not %s", w.Timeout)
	}
	return nil
}

type stopOptions struct {
	IO        IOStreams
	Client    func() *client.Client
	Namespace string
	Name      string
	Force     bool
	waitOptions
}

func newStopCmd(f *factory, runF func(*stopOptions) error) *cobra.Command {
	opts := &stopOptions{IO: f.streams, Client: f.client, waitOptions: waitOptions{Interval: waitPollInterval}}
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a cluster: set spec.state to STOPPED in its file",
		Long: `Stop a session cluster. flinkd sets spec.state: STOPPED in the cluster's own YAML file and then
tears the cluster down; the file stays, so that start brings the cluster back.

A cluster is not stopped while jobs run on it: stop is refused and names the jobs. With --force,
flinkd cancels the running jobs first.

With --wait, stop waits until the cluster's phase is STOPPED and shows each phase it goes through.`,
		Example: `  flinkctl stop analytics
  flinkctl stop team-a/analytics --wait
  flinkctl stop analytics --force --wait --timeout 10m`,
		Args:              nameArg("to stop"),
		ValidArgsFunction: f.completeClusterNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Namespace, opts.Name, err = f.key(cmd, args[0]); err != nil {
				return err
			}
			if err := checkWaitFlags(cmd, &opts.waitOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runStop(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "cancel the cluster's running jobs first")
	addWaitFlags(cmd, &opts.waitOptions, spec.PhaseStopped)
	return cmd
}

func runStop(ctx context.Context, opts *stopOptions) error {
	c := opts.Client()
	key := opts.Namespace + "/" + opts.Name
	// The daemon answers once the cluster's worker has decided the stop; a forced one waits
	// for the cancelled jobs to end first.
	callCtx, cancel := context.WithTimeout(ctx, stopCallTimeout)
	defer cancel()
	asked := time.Now()
	ch, err := c.Stop(callCtx, opts.Namespace, opts.Name, opts.Force)
	var ae *client.APIError
	switch {
	case client.IsNotFound(err):
		return noCluster(opts.Namespace, opts.Name)
	case client.IsRefused(err) && errors.As(err, &ae) && len(ae.Jobs) > 0:
		fmt.Fprintf(opts.IO.ErrOut, "refused: %d job(s) running on %s: %s; use --force to cancel them first\n",
			len(ae.Jobs), key, jobList(ae.Jobs))
		return errSilent
	case client.IsRefused(err):
		fmt.Fprintf(opts.IO.ErrOut, "refused: %v\n", err)
		return errSilent
	case err != nil:
		return fmt.Errorf("stop %s: %w", key, err)
	}
	if len(ch.Cancelled) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "cancelled %d job(s) on %s: %s\n", len(ch.Cancelled), key, jobList(ch.Cancelled))
	}
	if ch.Message != "" && len(ch.Cancelled) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "%s\n", ch.Message)
	}
	if ch.Orphan {
		fmt.Fprintf(opts.IO.ErrOut, "✓ %s removed: no spec file declared it\n", key)
		return nil
	}
	reportStateChange(opts.IO.ErrOut, key, ch)
	if !opts.Wait {
		return nil
	}
	return waitForPhase(ctx, opts.IO.ErrOut, c, opts.Namespace, opts.Name, spec.PhaseStopped, asked, opts.waitOptions)
}

type startOptions struct {
	IO        IOStreams
	Client    func() *client.Client
	Namespace string
	Name      string
	waitOptions
}

func newStartCmd(f *factory, runF func(*startOptions) error) *cobra.Command {
	opts := &startOptions{IO: f.streams, Client: f.client, waitOptions: waitOptions{Interval: waitPollInterval}}
	cmd := &cobra.Command{
		Use:   "start NAME",
		Short: "Start a cluster: set spec.state to RUNNING in its file",
		Long: `Start a session cluster. flinkd sets spec.state: RUNNING in the cluster's own YAML file and then
brings the cluster up.

With --wait, start waits until the cluster's phase is RUNNING and shows each phase it goes through.`,
		Example: `  flinkctl start analytics
  flinkctl start team-a/analytics --wait --timeout 2m`,
		Args:              nameArg("to start"),
		ValidArgsFunction: f.completeClusterNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Namespace, opts.Name, err = f.key(cmd, args[0]); err != nil {
				return err
			}
			if err := checkWaitFlags(cmd, &opts.waitOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runStart(cmd.Context(), opts)
		},
	}
	addWaitFlags(cmd, &opts.waitOptions, spec.PhaseRunning)
	return cmd
}

func runStart(ctx context.Context, opts *startOptions) error {
	c := opts.Client()
	key := opts.Namespace + "/" + opts.Name
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	asked := time.Now()
	ch, err := c.Start(callCtx, opts.Namespace, opts.Name)
	switch {
	case client.IsNotFound(err):
		return noCluster(opts.Namespace, opts.Name)
	case client.IsRefused(err):
		fmt.Fprintf(opts.IO.ErrOut, "refused: %v\n", err)
		return errSilent
	case err != nil:
		return fmt.Errorf("start %s: %w", key, err)
	}
	reportStateChange(opts.IO.ErrOut, key, ch)
	if !opts.Wait {
		return nil
	}
	return waitForPhase(ctx, opts.IO.ErrOut, c, opts.Namespace, opts.Name, spec.PhaseRunning, asked, opts.waitOptions)
}

// jobList renders jobs as "name (id), name (id)".
func jobList(jobs []api.Job) string {
	s := make([]string, len(jobs))
	for i, j := range jobs {
		s[i] = fmt.Sprintf("%s (%s)", j.Name, j.ID)
	}
	return strings.Join(s, ", ")
}

func reportStateChange(w io.Writer, key string, ch api.StateChange) {
	if ch.Changed {
		fmt.Fprintf(w, "✓ %s: spec.state set to %s in %s\n", key, ch.DesiredState, ch.File)
		return
	}
	fmt.Fprintf(w, "%s: spec.state is already %s in %s\n", key, ch.DesiredState, ch.File)
}

// waitForPhase polls the cluster until its phase is want, printing every phase it sees. A
// FAILED phase entered after asked (the time of the request) fails the wait; an older one is
// what the daemon had not yet acted on.
func waitForPhase(ctx context.Context, w io.Writer, c *client.Client, ns, name string, want spec.Phase, asked time.Time, opts waitOptions) error {
	key := ns + "/" + name
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()
	var last spec.Phase
	for {
		callCtx, callCancel := context.WithTimeout(ctx, callTimeout)
		cs, err := c.Cluster(callCtx, ns, name)
		callCancel()
		switch {
		case ctx.Err() != nil:
			return waitEnded(ctx, key, want, last, opts.Timeout)
		case client.IsNotFound(err):
			return fmt.Errorf("waiting for %s to be %s: %w", key, want, noCluster(ns, name))
		case err != nil:
			return fmt.Errorf("waiting for %s to be %s: %w", key, want, err)
		}
		if cs.Phase != last {
			fmt.Fprintf(w, "%s: %s\n", key, cs.Phase)
			last = cs.Phase
		}
		if cs.Phase == want {
			fmt.Fprintf(w, "✓ %s is %s\n", key, want)
			return nil
		}
		if cs.Phase == spec.PhaseFailed && (cs.PhaseSince.IsZero() || !cs.PhaseSince.Before(asked)) {
			msg := cs.Message
			if msg == "" {
				msg = "no message"
			}
			return fmt.Errorf("%s failed: %s", key, msg)
		}
		select {
		case <-ctx.Done():
			return waitEnded(ctx, key, want, last, opts.Timeout)
		case <-ticker.C:
		}
	}
}

func waitEnded(ctx context.Context, key string, want, last spec.Phase, timeout time.Duration) error {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s waiting for %s to be %s (phase %s); the daemon goes on", timeout, key, want, orNone(last))
	}
	return fmt.Errorf("interrupted while waiting for %s to be %s (phase %s); the daemon goes on", key, want, orNone(last))
}

func orNone(p spec.Phase) spec.Phase {
	if p == "" {
		return "unknown"
	}
	return p
}
