package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinkd/flinkd/internal/client"
	"github.com/flinkd/flinkd/internal/paths"
)

// defaultNamespace is the namespace of a NAME given without one.
const defaultNamespace = "default"

// factory holds the global flags and builds what commands need from them (gh's Factory).
type factory struct {
	streams   IOStreams
	socket    string // --socket; "" means $FLINKD_SOCKET or the default
	namespace string // -n/--namespace
}

func (f *factory) addGlobalFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&f.socket, "socket", "", "flinkd's unix socket (default $"+paths.SocketEnv+", else "+paths.Socket()+")")
	pf.StringVarP(&f.namespace, "namespace", "n", defaultNamespace, "namespace of the cluster NAME")
}

// client returns the API client for the chosen socket.
func (f *factory) client() *client.Client { return &client.Client{Socket: f.socket} }

// namespaceFilter is the namespace a listing is limited to: the -n flag when it was given,
// else "" (every namespace).
func (f *factory) namespaceFilter(cmd *cobra.Command) string {
	if cmd.Flags().Changed("namespace") {
		return f.namespace
	}
	return ""
}

// key resolves a NAME argument ("name" or "namespace/name") against the -n flag.
func (f *factory) key(cmd *cobra.Command, arg string) (ns, name string, err error) {
	ns, name = f.namespace, arg
	if i := strings.IndexByte(arg, '/'); i >= 0 {
		ns, name = arg[:i], arg[i+1:]
		if cmd.Flags().Changed("namespace") && ns != f.namespace {
			return "", "", usageErrorf("cluster %q is in namespace %q, but -n says %q", arg, ns, f.namespace)
		}
	}
	for _, part := range []struct{ what, v string }{{"namespace", ns}, {"name", name}} {
		if errs := validation.IsDNS1123Label(part.v); len(errs) > 0 {
			return "", "", usageErrorf("invalid cluster %s %q in %q: %s", part.what, part.v, arg, strings.Join(errs, "; "))
		}
	}
	return ns, name, nil
}
