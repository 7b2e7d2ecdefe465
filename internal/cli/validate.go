package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/spec"
)

// stdinName is the FILE argument that reads standard input.
const stdinName = "-"

type validateOptions struct {
	IO    IOStreams
	Files []string
}

func newValidateCmd(streams IOStreams) *cobra.Command {
	opts := &validateOptions{IO: streams}
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check SessionCluster files offline, the way flinkd reads them",
		Long: `Check SessionCluster YAML files the way flinkd reads them, without a running daemon.

Each FILE must hold one SessionCluster (kind: SessionCluster, apiVersion: v1). It is read
strictly: unknown or misspelled keys, Ververica keys flinkd does not support, wrong types,
duplicate keys, a second YAML document and files over 1 MiB are errors. Missing keys get
their defaults, then every value is checked.

For each valid file, one line goes to standard output: the cluster's namespace/name, its
desired state, image, number of TaskManagers and deployment target, after defaults.
Warnings (valid but unwise values, such as less memory than Flink needs) go to standard
error as FILE: warning: FIELD: MESSAGE.

For each invalid file, every error goes to standard error, one per line, as
FILE: FIELD: MESSAGE (line N).

Use - as FILE to read standard input. The exit status is 0 when every file is valid, 1 when
any file is invalid or cannot be read, and 2 when the command is used wrongly.`,
		Example: `  # Check the examples that come with flinkd
  flinkctl validate specs/session.yaml specs/minimal.yaml

  # Check every spec in a folder before pointing flinkd at it
  flinkctl validate specs/*.yaml

  # Check a spec written by another program
  render-spec | flinkctl validate -`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			return runValidate(cmd.Context(), opts)
		},
	}
}

// runValidate checks every file and reports each one; it returns errSilent when any is invalid.
func runValidate(ctx context.Context, opts *validateOptions) error {
	out, errOut := opts.IO.Out, opts.IO.ErrOut
	// defined maps a cluster key to the first file that defines it: flinkd runs one cluster
	// per key, so two files with the same key cannot both run.
	defined := map[string]string{}
	failed := false
	for _, file := range opts.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, warns, err := load(file, opts.IO.In)
		if err != nil {
			failed = true
			var fe *spec.FileError
			if !errors.As(err, &fe) {
				return err // load returns *spec.FileError only
			}
			for _, line := range fe.Lines() {
				fmt.Fprintln(errOut, line)
			}
			printWarnings(errOut, file, warns)
			continue
		}
		ns, name := c.Key()
		key := ns + "/" + name
		if first, dup := defined[key]; dup && filepath.Clean(first) != filepath.Clean(file) {
			failed = true
			fmt.Fprintf(errOut, "%s: metadata.name: %s is also defined in %s; each cluster needs a file of its own\n", file, key, first)
			continue
		}
		defined[key] = file
		tms := plural(c.TaskManagers(), "taskmanager")
		if a := c.Autoscale(); a.Enabled {
			tms = fmt.Sprintf("%d–%d taskmanagers (autoscaled, idle timeout %s)", a.Min, a.Max, a.IdleTimeout)
		}
		fmt.Fprintf(out, "%s: ok  %s %s, image %s, %s, target %s\n",
			file, key, c.Spec.State, c.Image(), tms, c.Spec.DeploymentTargetName)
		printWarnings(errOut, file, warns)
	}
	if failed {
		return errSilent
	}
	return nil
}

// load reads a file, or standard input for "-", and decodes it.
func load(file string, in io.Reader) (*spec.SessionCluster, []spec.Warning, error) {
	if file != stdinName {
		return spec.LoadFile(file)
	}
	if in == nil {
		in = eofReader{}
	}
	data, err := io.ReadAll(io.LimitReader(in, spec.MaxFileSize+1))
	if err != nil {
		return nil, nil, spec.NewFileError(file, fmt.Errorf("read: %w", err))
	}
	c, warns, err := spec.Decode(data)
	if err != nil {
		return nil, warns, spec.AsFileError(file, err)
	}
	return c, warns, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func printWarnings(w io.Writer, file string, warns []spec.Warning) {
	for _, warn := range warns {
		fmt.Fprintf(w, "%s: warning: %s\n", file, warn)
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
