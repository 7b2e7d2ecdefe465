package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
)

type eventsOptions struct {
	IO        IOStreams
	Client    func() *client.Client
	Namespace string
	Name      string
	Limit     int // 0: every event the daemon keeps
	Output    outputFormat
}

func newEventsCmd(f *factory, runF func(*eventsOptions) error) *cobra.Command {
	opts := &eventsOptions{IO: f.streams, Client: f.client}
	var output string
	cmd := &cobra.Command{
		Use:   "events NAME",
		Short: "Show what happened to a cluster",
		Long: `Show a cluster's event log, oldest first: phase changes, scaling, refused changes, failures.
flinkd keeps the last events of every cluster; --limit shows only the newest N.

On a terminal TIME is an age ("3m"); otherwise it is an RFC 3339 time.`,
		Example: `  flinkctl events analytics
  flinkctl events team-a/analytics --limit 5
  flinkctl events analytics -o json`,
		Args:              nameArg("whose events to show"),
		ValidArgsFunction: f.completeClusterNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Output, err = parseOutput(output); err != nil {
				return err
			}
			if opts.Limit < 0 {
				return usageErrorf("--limit must be 0 (all) or more, not %d", opts.Limit)
			}
			if opts.Namespace, opts.Name, err = f.key(cmd, args[0]); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runEvents(cmd.Context(), opts)
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "show only the newest N events (0: all)")
	return cmd
}

func runEvents(ctx context.Context, opts *eventsOptions) error {
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	events, err := opts.Client().Events(callCtx, opts.Namespace, opts.Name, opts.Limit)
	if client.IsNotFound(err) {
		return noCluster(opts.Namespace, opts.Name)
	}
	if err != nil {
		return fmt.Errorf("events of %s/%s: %w", opts.Namespace, opts.Name, err)
	}
	if events == nil {
		events = []api.Event{}
	}
	if opts.Output != outputTable {
		return printData(opts.IO.Out, opts.Output, events)
	}
	if len(events) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "no events for %s/%s\n", opts.Namespace, opts.Name)
		return nil
	}
	tty := isTerminal(opts.IO.Out)
	now := time.Now()
	t := newTable(opts.IO.Out, tty, "TIME", "TYPE", "REASON", "MESSAGE")
	for _, e := range events {
		t.row(timeCell(e.Time, now, tty), e.Type, e.Reason, e.Message)
	}
	return t.flush()
}
