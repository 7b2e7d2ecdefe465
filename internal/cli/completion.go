package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/api"
)

// Shell completion: cobra's own `completion` command (bash, zsh, fish, powershell) writes the
// scripts; the functions here complete cluster names and components by asking the daemon.
// When the daemon does not answer they complete nothing, silently.

// completionTimeout bounds the daemon call behind one <TAB>.
const completionTimeout = 2 * time.Second

// completeClusterNames completes the NAME argument: clusters of the -n namespace as NAME when
// -n was given; otherwise those of "default" as NAME and the others as NAMESPACE/NAME.
func (f *factory) completeClusterNames(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	clusters := f.clustersForCompletion(cmd)
	ns := f.namespaceFilter(cmd)
	var out []cobra.Completion
	for _, cs := range clusters {
		if cs.Name == "" || (ns != "" && cs.Namespace != ns) {
			continue
		}
		name := cs.Namespace + "/" + cs.Name
		if ns != "" || cs.Namespace == defaultNamespace {
			name = cs.Name
		}
		if strings.HasPrefix(name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(name, string(cs.Phase)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeComponents completes --component: the JobManager and, once NAME is known, one
// taskmanager-N per desired TaskManager.
func (f *factory) completeComponents(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	out := []cobra.Completion{componentJobManager}
	if len(args) == 0 {
		return append(out, componentTaskManagerPrefix+"1"), cobra.ShellCompDirectiveNoFileComp
	}
	ns, name, err := f.key(cmd, args[0])
	if err != nil {
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	for _, cs := range f.clustersForCompletion(cmd) {
		if cs.Namespace == ns && cs.Name == name {
			for i := 1; i <= cs.TaskManagers.Desired; i++ {
				out = append(out, fmt.Sprintf("%s%d", componentTaskManagerPrefix, i))
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// clustersForCompletion lists the daemon's clusters, or none when it does not answer.
func (f *factory) clustersForCompletion(cmd *cobra.Command) []api.ClusterStatus {
	// cmd.Context() is Main's ctx: cobra hands it to the command being completed.
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	clusters, _, err := f.client().Clusters(ctx)
	if err != nil {
		return nil
	}
	return clusters
}
