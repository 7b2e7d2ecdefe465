package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// outputFormat is the value of -o.
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
	outputYAML  outputFormat = "yaml"
)

// addOutputFlag adds -o/--output to cmd, bound to p.
func addOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", string(outputTable), "output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]cobra.Completion{string(outputTable), string(outputJSON), string(outputYAML)},
		cobra.ShellCompDirectiveNoFileComp))
}

// parseOutput checks the value of -o.
func parseOutput(s string) (outputFormat, error) {
	switch f := outputFormat(s); f {
	case outputTable, outputJSON, outputYAML:
		return f, nil
	}
	return "", usageErrorf("unknown output format %q: allowed formats are table, json, yaml", s)
}

// printData writes v as JSON (indented) or YAML. The YAML goes through the JSON encoding, so
// both use the same lowerCamel field names.
func printData(w io.Writer, format outputFormat, v any) error {
	switch format {
	case outputJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case outputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("printData: format %q is not a data format", format)
}

// table prints rows: aligned under a header on a terminal, tab-separated without a header
// otherwise (for cut, awk and friends).
type table struct {
	w   io.Writer
	tty bool
	tw  *tabwriter.Writer
}

func newTable(w io.Writer, tty bool, header ...string) *table {
	t := &table{w: w, tty: tty}
	if tty {
		t.tw = tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		t.row(header...)
	}
	return t
}

// row adds a row. On a terminal an empty cell shows as "-".
func (t *table) row(cells ...string) {
	clean := make([]string, len(cells))
	for i, c := range cells {
		c = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
		if c == "" && t.tty {
			c = "-"
		}
		clean[i] = c
	}
	line := strings.Join(clean, "\t") + "\n"
	if t.tw != nil {
		io.WriteString(t.tw, line)
		return
	}
	io.WriteString(t.w, line)
}

// flush writes the aligned table out.
func (t *table) flush() error {
	if t.tw != nil {
		return t.tw.Flush()
	}
	return nil
}

// timeCell shows t as an age ("5m") on a terminal and as an RFC 3339 time otherwise; the
// zero time is empty.
func timeCell(t time.Time, now time.Time, tty bool) string {
	if t.IsZero() {
		return ""
	}
	if tty {
		return shortDuration(now.Sub(t))
	}
	return t.UTC().Format(time.RFC3339)
}

// shortDuration renders d the way kubectl shows ages: 5s, 3m, 2h, 4d, 1y.
func shortDuration(d time.Duration) string {
	switch {
	case d < -time.Second:
		return "<future>"
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return fmt.Sprintf("%dy", int(d.Hours()/24/365))
}

// firstAndCount is errs[0] with "(+N more)" when there are more.
func firstAndCount(errs []string) string {
	switch len(errs) {
	case 0:
		return ""
	case 1:
		return errs[0]
	}
	return fmt.Sprintf("%s (+%d more)", errs[0], len(errs)-1)
}
