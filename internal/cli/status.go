package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
)

// watchTimeout bounds one long poll of status --watch; the daemon answers sooner.
const watchTimeout = 5 * time.Minute

type statusOptions struct {
	IO     IOStreams
	Client func() *client.Client
	// Namespace limits the list to one namespace ("" is every namespace); with Name it is
	// the cluster's namespace.
	Namespace string
	Name      string // one cluster, or "" for all
	Output    outputFormat
	Watch     bool
	// AllOwners adds the clusters on the daemon's targets that other flinkd identities own.
	AllOwners bool
}

func newStatusCmd(f *factory, runF func(*statusOptions) error) *cobra.Command {
	opts := &statusOptions{IO: f.streams, Client: f.client}
	var output string
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show the session clusters and how they are doing",
		Long: `Show every session cluster flinkd knows, in every namespace (or in the one given with -n), or
one cluster with NAME.

The table shows each cluster's deployment target, desired state (spec.state in its file), phase,
ready/desired TaskManagers, the JobManager's REST URL, age and what needs attention. A spec file
that declares no valid cluster shows as a row named "-" with its first error. A cluster whose
file became invalid keeps running its last good spec and says so.

On a terminal the table is aligned under a header and times are ages; otherwise columns are
tab-separated, without a header, and times are RFC 3339. -o json and -o yaml print the same data
for scripts: a list, or one object for status NAME.

With --watch, status follows changes until interrupted (Ctrl-C).

With --all-owners, status also lists the flinkd clusters on the daemon's targets that another
flinkd owns (another specs folder, or an identity this flinkd no longer has), with their owner
identity and specs folder: flinkd never touches those. -o json then prints an object with
"clusters" and "otherOwners".`,
		Example: `  flinkctl status
  flinkctl status analytics
  flinkctl status -n team-a --watch
  flinkctl status --all-owners
  flinkctl status -o json | jq -r '.[] | select(.phase != "RUNNING") | .name'`,
		Args:              optionalNameArg,
		ValidArgsFunction: f.completeClusterNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Output, err = parseOutput(output); err != nil {
				return err
			}
			opts.Namespace = f.namespaceFilter(cmd)
			if len(args) == 1 {
				if opts.Namespace, opts.Name, err = f.key(cmd, args[0]); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return runStatus(cmd.Context(), opts)
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "follow changes until interrupted")
	cmd.Flags().BoolVar(&opts.AllOwners, "all-owners", false, "also list the clusters on these targets that other flinkd daemons own")
	cmd.MarkFlagsMutuallyExclusive("all-owners", "watch")
	return cmd
}

func runStatus(ctx context.Context, opts *statusOptions) error {
	if opts.Watch {
		return watchStatus(ctx, opts)
	}
	c := opts.Client()
	tty := isTerminal(opts.IO.Out)
	if opts.Name != "" {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		cs, err := c.Cluster(callCtx, opts.Namespace, opts.Name)
		if client.IsNotFound(err) {
			return noCluster(opts.Namespace, opts.Name)
		}
		if err != nil {
			return fmt.Errorf("get cluster %s/%s: %w", opts.Namespace, opts.Name, err)
		}
		if opts.Output != outputTable {
			return printData(opts.IO.Out, opts.Output, cs)
		}
		return printClusterDetail(opts.IO.Out, cs, time.Now(), tty)
	}

	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	all, _, err := c.Clusters(callCtx)
	if err != nil {
		return fmt.Errorf("list clusters: %w", err)
	}
	rows := selectClusters(all, opts.Namespace, "")
	if opts.AllOwners {
		return printAllOwners(callCtx, opts, c, rows, tty)
	}
	if opts.Output != outputTable {
		return printData(opts.IO.Out, opts.Output, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, noClustersMessage(opts.Namespace))
		return nil
	}
	return printClusterTable(opts.IO.Out, rows, time.Now(), tty)
}

// printAllOwners prints this daemon's clusters, then those other flinkd identities own on
// its targets.
func printAllOwners(ctx context.Context, opts *statusOptions, c *client.Client, rows []api.ClusterStatus, tty bool) error {
	others, err := c.Others(ctx)
	if err != nil {
		return fmt.Errorf("list other owners' clusters: %w", err)
	}
	theirs := make([]api.OtherCluster, 0, len(others.Clusters))
	for _, o := range others.Clusters {
		if opts.Namespace == "" || o.Namespace == opts.Namespace {
			theirs = append(theirs, o)
		}
	}
	self, err := c.Version(ctx)
	if err != nil {
		return fmt.Errorf("read the daemon's identity: %w", err)
	}
	for _, e := range others.Errors {
		fmt.Fprintf(opts.IO.ErrOut, "could not list the clusters of other owners: %s\n", e)
	}
	if opts.Output != outputTable {
		return printData(opts.IO.Out, opts.Output, struct {
			Clusters    []api.ClusterStatus `json:"clusters"`
			OtherOwners []api.OtherCluster  `json:"otherOwners"`
		}{rows, theirs})
	}
	if len(rows) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, noClustersMessage(opts.Namespace))
	} else if err := printClusterTable(opts.IO.Out, rows, time.Now(), tty); err != nil {
		return err
	}
	if len(theirs) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "no clusters of other flinkd owners on these targets (this one is owner %s)\n", self.Owner)
		return nil
	}
	fmt.Fprintf(opts.IO.ErrOut, "\nclusters other flinkd daemons own on these targets (this one, owner %s, never touches them):\n", self.Owner)
	t := newTable(opts.IO.Out, tty, "TARGET", "NAMESPACE", "NAME", "OWNER", "SPECS FOLDER")
	for _, o := range theirs {
		specs := o.Specs
		if specs == "" && tty {
			specs = "(not recorded: an older flinkd's; flinkd --adopt " + o.Owner + " takes it over)"
		}
		t.row(o.Target, o.Namespace, o.Name, o.Owner, specs)
	}
	return t.flush()
}

func noCluster(ns, name string) error {
	return fmt.Errorf("no cluster %s/%s (see flinkctl status)", ns, name)
}

func noClustersMessage(ns string) string {
	if ns != "" {
		return fmt.Sprintf("no clusters in namespace %s", ns)
	}
	return "no clusters: add a SessionCluster YAML file to flinkd's specs folder"
}

// selectClusters returns the rows of namespace ns ("" for all) and, when name is set, of
// that cluster only, sorted by namespace and name, with spec files that declare no cluster
// last. The result is never nil, so that JSON shows [] for none.
func selectClusters(all []api.ClusterStatus, ns, name string) []api.ClusterStatus {
	rows := make([]api.ClusterStatus, 0, len(all))
	for _, cs := range all {
		// A file that declares no cluster may not know its namespace: it shows everywhere.
		if ns != "" && cs.Namespace != ns && cs.Namespace != "" {
			continue
		}
		if name != "" && (cs.Name != name || cs.Namespace != ns) {
			continue
		}
		rows = append(rows, cs)
	}
	slices.SortStableFunc(rows, func(a, b api.ClusterStatus) int {
		return cmp.Or(
			cmp.Compare(boolInt(a.Name == ""), boolInt(b.Name == "")),
			cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.File, b.File),
		)
	})
	return rows
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// printClusterTable prints the status table.
func printClusterTable(w io.Writer, rows []api.ClusterStatus, now time.Time, tty bool) error {
	t := newTable(w, tty, "NAME", "NAMESPACE", "TARGET", "DESIRED", "PHASE", "TASKMANAGERS", "REST URL", "AGE", "MESSAGE")
	for _, cs := range rows {
		name := cs.Name
		if name == "" {
			name = "-"
		}
		tms := ""
		if cs.Name != "" {
			tms = taskManagersCell(cs.TaskManagers)
		}
		t.row(name, cs.Namespace, cs.DeploymentTarget, cs.DesiredState, string(cs.Phase), tms, cs.RESTURL,
			timeCell(cs.CreatedAt, now, tty), statusMessage(cs))
	}
	return t.flush()
}

// taskManagersCell is the TASKMANAGERS cell: "ready/desired", and the bounds of an
// autoscaled cluster: "3/3 (1–6 auto)".
func taskManagersCell(tm api.TaskManagers) string {
	cell := fmt.Sprintf("%d/%d", tm.Ready, tm.Desired)
	if a := tm.Autoscale; a != nil {
		cell += fmt.Sprintf(" (%d–%d auto)", a.Min, a.Max)
	}
	return cell
}

// statusMessage is the MESSAGE cell: what needs attention.
func statusMessage(cs api.ClusterStatus) string {
	if cs.Name == "" {
		msg := cs.Message
		if len(cs.FileErrors) > 0 {
			msg = firstAndCount(cs.FileErrors)
		}
		if cs.File != "" {
			msg = cs.File + ": " + msg
		}
		return msg
	}
	var parts []string
	if cs.Message != "" {
		parts = append(parts, cs.Message)
	}
	if len(cs.FileErrors) > 0 {
		parts = append(parts, "file invalid: "+firstAndCount(cs.FileErrors)+"; keeps running its last good spec")
	}
	if cs.Refused != "" {
		parts = append(parts, "refused: "+cs.Refused)
	}
	return strings.Join(parts, "; ")
}

// printClusterDetail prints one cluster's row and, under it, what the row has no room for.
func printClusterDetail(w io.Writer, cs api.ClusterStatus, now time.Time, tty bool) error {
	if err := printClusterTable(w, []api.ClusterStatus{cs}, now, tty); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("\n")
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-13s%s\n", k+":", v)
		}
	}
	list := func(k string, vs []string) {
		if len(vs) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", k)
		for _, v := range vs {
			fmt.Fprintf(&b, "  - %s\n", v)
		}
	}
	field("File", cs.File)
	field("Image", cs.Image)
	if !cs.PhaseSince.IsZero() {
		field("Phase since", fmt.Sprintf("%s (%s ago)", cs.PhaseSince.UTC().Format(time.RFC3339), shortDuration(now.Sub(cs.PhaseSince))))
	}
	if cs.Deleted {
		field("Deleted", "its file was removed; the cluster is being torn down")
	}
	if a := cs.TaskManagers.Autoscale; a != nil {
		field("Autoscale", fmt.Sprintf("%d to %d TaskManagers, idle timeout %s", a.Min, a.Max, a.IdleTimeout))
		field("Limited", a.Limited)
	}
	field("Refused", cs.Refused)
	list("Warnings", cs.Warnings)
	list("File errors", cs.FileErrors)
	_, err := io.WriteString(w, b.String())
	return err
}

// watchStatus prints the clusters, then again every time they change, until ctx ends.
func watchStatus(ctx context.Context, opts *statusOptions) error {
	c := opts.Client()
	tty := isTerminal(opts.IO.Out)

	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	all, version, err := c.Clusters(callCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("list clusters: %w", err)
	}
	if opts.Name != "" && len(selectClusters(all, opts.Namespace, opts.Name)) == 0 {
		return noCluster(opts.Namespace, opts.Name)
	}

	var prev []byte
	for {
		rows := selectClusters(all, opts.Namespace, opts.Name)
		var cur bytes.Buffer
		if err := renderWatch(&cur, opts, rows, tty); err != nil {
			return err
		}
		if !bytes.Equal(cur.Bytes(), prev) {
			if err := writeWatchUpdate(opts.IO.Out, prev, cur.Bytes(), opts.Output, tty); err != nil {
				return fmt.Errorf("write status: %w", err)
			}
			prev = cur.Bytes()
		}

		callCtx, cancel := context.WithTimeout(ctx, watchTimeout)
		next, nextVersion, err := c.WatchClusters(callCtx, version)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil // interrupted: the normal end of a watch
		case errors.Is(err, context.DeadlineExceeded):
			continue // our own bound on one long poll: ask again
		case err != nil:
			return fmt.Errorf("watch clusters: %w", err)
		}
		all, version = next, nextVersion
	}
}

// renderWatch renders one snapshot of a watch.
func renderWatch(w io.Writer, opts *statusOptions, rows []api.ClusterStatus, tty bool) error {
	now := time.Now()
	switch {
	case opts.Output == outputTable && len(rows) == 0:
		if !tty {
			return nil // no rows: nothing new for a pipe
		}
		if opts.Name != "" {
			fmt.Fprintf(w, "%s\n", noCluster(opts.Namespace, opts.Name))
			return nil
		}
		fmt.Fprintln(w, noClustersMessage(opts.Namespace))
		return nil
	case opts.Output == outputTable:
		return printClusterTable(w, rows, now, tty)
	case opts.Name != "" && len(rows) == 0:
		return nil // gone: nothing to print as data
	case opts.Name != "":
		return printData(w, opts.Output, rows[0])
	}
	return printData(w, opts.Output, rows)
}

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\x1b[H\x1b[2J"

// writeWatchUpdate writes a changed snapshot: a redrawn screen for a table on a terminal,
// only the lines that are new for a table in a pipe, and whole documents for JSON and YAML.
func writeWatchUpdate(w io.Writer, prev, cur []byte, format outputFormat, tty bool) error {
	var err error
	switch {
	case format == outputTable && tty:
		_, err = io.WriteString(w, clearScreen+string(cur))
	case format == outputTable:
		seen := map[string]bool{}
		for _, l := range strings.SplitAfter(string(prev), "\n") {
			seen[l] = true
		}
		var b strings.Builder
		for _, l := range strings.SplitAfter(string(cur), "\n") {
			if l != "" && !seen[l] {
				b.WriteString(l)
			}
		}
		_, err = io.WriteString(w, b.String())
	case format == outputYAML && prev != nil:
		_, err = io.WriteString(w, "---\n"+string(cur))
	default:
		_, err = w.Write(cur)
	}
	return err
}
