package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
)

type targetsOptions struct {
	IO     IOStreams
	Client func() *client.Client
	Output outputFormat
}

func newTargetsCmd(f *factory, runF func(*targetsOptions) error) *cobra.Command {
	opts := &targetsOptions{IO: f.streams, Client: f.client}
	var output string
	cmd := &cobra.Command{
		Use:   "targets",
		Short: "List the deployment targets and whether each answers",
		Long: `List the deployment targets of flinkd's configuration (a Docker engine or a Kubernetes
namespace each), which a SessionCluster names in spec.deploymentTargetName, and whether each one
answers now.

A target that does not answer is reported, not an error: targets exits 0 and says so on stderr.`,
		Example: `  flinkctl targets
  flinkctl targets -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("targets takes no arguments, got %q", args)
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Output, err = parseOutput(output); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runTargets(cmd.Context(), opts)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runTargets(ctx context.Context, opts *targetsOptions) error {
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	targets, err := opts.Client().Targets(callCtx)
	if err != nil {
		return fmt.Errorf("list targets: %w", err)
	}
	if targets == nil {
		targets = []api.Target{}
	}
	var down []string
	for _, t := range targets {
		if !t.OK {
			down = append(down, t.Name)
		}
	}
	if opts.Output != outputTable {
		err = printData(opts.IO.Out, opts.Output, targets)
	} else {
		t := newTable(opts.IO.Out, isTerminal(opts.IO.Out), "NAME", "KIND", "DETAIL", "STATUS")
		for _, tg := range targets {
			status := "ok"
			if !tg.OK {
				status = tg.Error
				if status == "" {
					status = "not answering"
				}
			}
			t.row(tg.Name, tg.Kind, tg.Detail, status)
		}
		err = t.flush()
	}
	if err != nil {
		return fmt.Errorf("print targets: %w", err)
	}
	switch {
	case len(targets) == 0:
		fmt.Fprintln(opts.IO.ErrOut, "no deployment targets configured")
	case len(down) > 0:
		fmt.Fprintf(opts.IO.ErrOut, "warning: %d of %d target(s) not answering: %s\n", len(down), len(targets), strings.Join(down, ", "))
	}
	return nil
}
