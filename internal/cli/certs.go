package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/client"
)

// Files flinkctl certs writes.
const (
	certsCA          = "ca.crt"
	certsClientCert  = "client.crt"
	certsClientKey   = "client.key"
	certsClientP12   = "client.p12"
	certsP12Password = "client.p12.password"
)

type certsOptions struct {
	IO        IOStreams
	Client    func() *client.Client
	Namespace string
	Name      string
	Out       string
}

func newCertsCmd(f *factory, runF func(*certsOptions) error) *cobra.Command {
	opts := &certsOptions{IO: f.streams, Client: f.client}
	cmd := &cobra.Command{
		Use:   "certs NAME --out DIR",
		Short: "Write the files that reach a secure cluster's REST API and web UI",
		Long: `Write what a client needs to reach the REST API and web UI of a secure cluster
(metadata.annotations flink.security.ssl.enabled: "true"), which are https and require a
client certificate:

  ca.crt               the authority that issued the REST server's certificate
  client.crt           the cluster's client certificate (PEM)
  client.key           its private key (PEM, PKCS #8)
  client.p12           both, for a browser (PKCS #12)
  client.p12.password  the password of client.p12

Every file is mode 0600 in DIR (created 0700 when missing). Keep them as you would a password:
whoever holds client.key can run any code on the cluster.`,
		Example: `  flinkctl certs secure --out ~/.flink/secure
  curl --cacert ~/.flink/secure/ca.crt --cert ~/.flink/secure/client.crt --key ~/.flink/secure/client.key https://127.0.0.1:PORT/overview`,
		Args:              nameArg("whose certificates to write"),
		ValidArgsFunction: f.completeClusterNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Out == "" {
				return usageErrorf("--out DIR is required")
			}
			if opts.Namespace, opts.Name, err = f.key(cmd, args[0]); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runCerts(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Out, "out", "", "folder to write the files into")
	return cmd
}

func runCerts(ctx context.Context, opts *certsOptions) error {
	key := opts.Namespace + "/" + opts.Name
	cs, err := opts.Client().Certs(ctx, opts.Namespace, opts.Name)
	switch {
	case client.IsNotFound(err):
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Message != "" {
			return errors.New(ae.Message)
		}
		return noCluster(opts.Namespace, opts.Name)
	case err != nil:
		return fmt.Errorf("certificates of %s: %w", key, err)
	}
	if err := os.MkdirAll(opts.Out, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", opts.Out, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{certsCA, []byte(cs.CACert)},
		{certsClientCert, []byte(cs.ClientCert)},
		{certsClientKey, []byte(cs.ClientKey)},
		{certsClientP12, cs.ClientP12},
		{certsP12Password, []byte(cs.ClientP12Password + "\n")},
	} {
		if err := writePrivate(filepath.Join(opts.Out, f.name), f.data); err != nil {
			return err
		}
	}
	dir := opts.Out
	url := cs.RESTURL
	if url == "" {
		url = "https://HOST:PORT"
	}
	fmt.Fprintf(opts.IO.ErrOut, "✓ wrote %s, %s, %s, %s and %s to %s (mode 0600; valid until %s)\n",
		certsCA, certsClientCert, certsClientKey, certsClientP12, certsP12Password, dir, cs.NotAfter.UTC().Format(time.DateOnly))
	fmt.Fprintf(opts.IO.Out, `REST API (%s):
  curl --cacert %s --cert %s --key %s %s/overview
flink CLI: flink list -m %s with these options in its configuration:
  security.ssl.rest.enabled: true
  security.ssl.rest.authentication-enabled: true
  security.ssl.rest.keystore: %s (type pkcs12, key and store password in %s)
  security.ssl.rest.truststore: a PKCS12 truststore holding %s
Browser: import %s (its password is in %s) and trust %s, then open %s
`, url,
		filepath.Join(dir, certsCA), filepath.Join(dir, certsClientCert), filepath.Join(dir, certsClientKey), url,
		url, filepath.Join(dir, certsClientP12), filepath.Join(dir, certsP12Password), filepath.Join(dir, certsCA),
		filepath.Join(dir, certsClientP12), filepath.Join(dir, certsP12Password), filepath.Join(dir, certsCA), url)
	return nil
}

// writePrivate writes a file readable by its owner only, replacing any earlier one.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(path, 0o600)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
