package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/client"
)

func TestEveryDaemonCommandSaysInOneLineHowToStartAMissingDaemon(t *testing.T) {
	dir, err := os.MkdirTemp("", "flinkctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	// A socket file nobody listens on any more (connection refused), and no file at all.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	missing := filepath.Join(dir, "missing.sock")

	for _, sock := range []string{stale, missing} {
		want := (&client.NotRunningError{Socket: sock}).Error() + "\n"
		for _, args := range [][]string{
			{"status"}, {"status", "x"}, {"status", "--watch"}, {"stop", "x"}, {"start", "x", "--wait"},
			{"events", "x"}, {"logs", "x", "-f"}, {"targets"},
		} {
			t.Run(filepath.Base(sock)+" "+strings.Join(args, " "), func(t *testing.T) {
				r := runMain(t, false, append([]string{"--socket", sock}, args...)...)
				if r.code != ExitFailed || r.stderr != want || r.stdout != "" {
					t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, %q", r.code, r.stdout, r.stderr, want)
				}
			})
		}
	}
}

func TestTheSocketComesFromTheEnvironmentWithoutTheFlag(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(nil)
	t.Setenv("FLINKD_SOCKET", d.socket)

	r := runMain(t, false, "status", "-o", "json")

	if r.code != ExitOK || r.stdout != "[]\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and []", r.code, r.stdout, r.stderr)
	}
}

func TestUnknownCommandIsAUsageErrorWithASuggestion(t *testing.T) {
	r := runMain(t, false, "stauts")

	if r.code != ExitUsage {
		t.Errorf("exit %d, want %d", r.code, ExitUsage)
	}
	for _, s := range []string{`Error: unknown command "stauts" for "flinkctl"`, "\tstatus\n", "Run 'flinkctl --help' for usage.\n"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

func TestUnknownFlagIsAUsageError(t *testing.T) {
	for _, args := range [][]string{{"--verbose"}, {"status", "--all-namespaces"}, {"targets", "-x"}} {
		r := runMain(t, false, args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "unknown") {
			t.Errorf("flinkctl %s: exit %d, stderr %q; want %d", strings.Join(args, " "), r.code, r.stderr, ExitUsage)
		}
	}
}

func TestMissingNameIsAUsageErrorWithTheCommandsUsage(t *testing.T) {
	for _, cmd := range []string{"stop", "start", "events", "logs"} {
		r := runMain(t, false, cmd)
		want := "Error: missing NAME: the cluster "
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, want) ||
			!strings.HasSuffix(r.stderr, "Usage: flinkctl "+cmd+" NAME [flags]\nRun 'flinkctl "+cmd+" --help' for more.\n") {
			t.Errorf("flinkctl %s: exit %d, stderr:\n%s", cmd, r.code, r.stderr)
		}
	}
}

func TestHelpIntroducesTheCommandsByGroup(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {}} {
		r := runMain(t, false, args...)
		if r.code != ExitOK {
			t.Errorf("flinkctl %s: exit %d, want 0", strings.Join(args, " "), r.code)
		}
		for _, s := range []string{
			"Inspect clusters:\n  certs", "  events ", "Control clusters:\n  start", "Other commands:\n  completion",
			"  validate ", "--socket", "-n, --namespace", "Exit codes: 0 success",
		} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("flinkctl %s: help lacks %q:\n%s", strings.Join(args, " "), s, r.stdout)
			}
		}
	}
}

func TestEveryCommandHasAShortTextAndExamples(t *testing.T) {
	root := newRootCmd(IOStreams{})
	for _, c := range root.Commands() {
		if c.Name() == "validate" {
			continue // another file's command
		}
		if c.Short == "" || c.Example == "" || !strings.Contains(c.Example, "flinkctl "+c.Name()) {
			t.Errorf("flinkctl %s: Short %q, Example %q; want both, with a real invocation", c.Name(), c.Short, c.Example)
		}
	}
}

func TestCompletionWritesShellScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := runMain(t, false, "completion", shell)
		if r.code != ExitOK || !strings.Contains(r.stdout, "flinkctl") {
			t.Errorf("flinkctl completion %s: exit %d, %d bytes of script", shell, r.code, len(r.stdout))
		}
	}
}

func TestCompletionOfNAMEListsTheDaemonsClusters(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(someClusters(fixedTime))

	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"stop", ""}, []string{"team-a/etl\tSCALING", "batch\tSTOPPED", "analytics\tRUNNING"}},
		{[]string{"status", "a"}, []string{"analytics\tRUNNING"}},
		{[]string{"events", "-n", "team-a", ""}, []string{"etl\tSCALING"}},
		{[]string{"logs", "analytics", ""}, nil},
		{[]string{"logs", "analytics", "--component", ""}, []string{"jobmanager", "taskmanager-1", "taskmanager-2"}},
		{[]string{"status", "-o", ""}, []string{"table", "json", "yaml"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runMain(t, false, append([]string{"--socket", d.socket, "__complete"}, tt.args...)...)
			got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if r.code != ExitOK || len(got) == 0 || got[len(got)-1] != ":4" {
				t.Fatalf("exit %d, stdout %q; want 0 and the no-file directive :4 last", r.code, r.stdout)
			}
			if diff := cmp.Diff(tt.want, got[:len(got)-1], cmpEmptyIsNil); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompletionWithoutADaemonOffersNothingAndDoesNotFail(t *testing.T) {
	r := runMain(t, false, "--socket", "/nonexistent/flinkd.sock", "__complete", "stop", "")
	if r.code != ExitOK || r.stdout != ":4\n" {
		t.Errorf("exit %d, stdout %q; want 0 and only the directive", r.code, r.stdout)
	}
}

var cmpEmptyIsNil = cmp.Transformer("emptyIsNil", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})
