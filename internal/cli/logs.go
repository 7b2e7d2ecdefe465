package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"k8s.io/apimachinery/pkg/util/validation"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/client"
)

const (
	componentJobManager        = "jobmanager"
	componentTaskManagerPrefix = "taskmanager-"
)

type logsOptions struct {
	IO        IOStreams
	Client    func() *client.Client
	Namespace string
	Name      string
	Component string // "jobmanager" or "taskmanager-N"
	Follow    bool
	Tail      int // 0: all
}

func newLogsCmd(f *factory, runF func(*logsOptions) error) *cobra.Command {
	opts := &logsOptions{IO: f.streams, Client: f.client}
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print the logs of a cluster's JobManager or of one TaskManager",
		Long: `Print the logs of one process of a cluster: the JobManager (the default), or with
--component taskmanager-N a TaskManager: on Docker the one with that ID (taskmanager-1 is
the first, as flinkctl events shows them), on Kubernetes the N-th TaskManager pod in name
order. An exact pod name works too.

With -f the logs are followed until the process ends or until interrupted (Ctrl-C).`,
		Example: `  flinkctl logs analytics
  flinkctl logs analytics --tail 100 -f
  flinkctl logs team-a/analytics --component taskmanager-1`,
		Args:              nameArg("whose logs to print"),
		ValidArgsFunction: f.completeClusterNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if err := checkComponent(opts.Component); err != nil {
				return err
			}
			if opts.Tail < 0 {
				return usageErrorf("--tail must be 0 (all) or more, not %d", opts.Tail)
			}
			if opts.Namespace, opts.Name, err = f.key(cmd, args[0]); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Component, "component", componentJobManager, "jobmanager or taskmanager-N")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "follow the logs until interrupted")
	cmd.Flags().IntVar(&opts.Tail, "tail", 0, "start with the last N lines (0: all)")
	_ = cmd.RegisterFlagCompletionFunc("component", f.completeComponents)
	return cmd
}

func checkComponent(c string) error {
	if c == componentJobManager {
		return nil
	}
	if n, ok := strings.CutPrefix(c, componentTaskManagerPrefix); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 1 && strconv.Itoa(i) == n {
			return nil
		}
	} else if len(validation.IsDNS1123Subdomain(c)) == 0 && (strings.Contains(c, "-taskmanager-") || strings.Contains(c, "-jobmanager-")) {
		return nil // an exact pod name: <name>-taskmanager-<hash>-<id>
	}
	return usageErrorf("unknown component %q: use jobmanager, taskmanager-N (N = 1, 2, …) or an exact pod name", c)
}

// runLogs copies the log stream to stdout. The stream is bounded by ctx only: it may be
// long, and with -f it has no end.
func runLogs(ctx context.Context, opts *logsOptions) error {
	key := opts.Namespace + "/" + opts.Name
	rc, err := opts.Client().Logs(ctx, opts.Namespace, opts.Name, opts.Component, opts.Follow, opts.Tail)
	switch {
	case ctx.Err() != nil:
		return nil // interrupted before the stream began
	case client.IsNotFound(err):
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Message != "" {
			return fmt.Errorf("logs of %s %s: %s (see flinkctl status %s)", key, opts.Component, ae.Message, key)
		}
		return noCluster(opts.Namespace, opts.Name)
	case err != nil:
		return fmt.Errorf("logs of %s %s: %w", key, opts.Component, err)
	}
	defer rc.Close()
	_, err = io.Copy(opts.IO.Out, rc)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of %s %s: %w", key, opts.Component, err)
	}
	return nil
}
