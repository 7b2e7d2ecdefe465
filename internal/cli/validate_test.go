package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runCLI runs flinkctl with args and returns the exit code, stdout and stderr.
func execValidate(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(t.Context(), args, IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func writeValidateSpec(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func validateOutputLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

const (
	validateSessionSpec = "../../specs/session.yaml"
	validateMinimalSpec = "../../specs/minimal.yaml"
)

func TestValidatePrintsOneLinePerValidFile(t *testing.T) {
	code, stdout, stderr := execValidate(t, "", "validate", validateSessionSpec, validateMinimalSpec)
	if code != ExitOK {
		t.Errorf("exit code %d, want %d; stderr:\n%s", code, ExitOK, stderr)
	}
	want := []string{
		validateSessionSpec + ": ok  default/session RUNNING, image registry.ververica.com/v2.11/flink:1.17.2-stream1-scala_2.12-java11, 5 taskmanagers, target default",
		validateMinimalSpec + ": ok  default/minimal RUNNING, image flink:1.20-scala_2.12, 1 taskmanager, target default",
	}
	if diff := cmp.Diff(want, validateOutputLines(stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if stderr != "" {
		t.Errorf("stderr not empty:\n%s", stderr)
	}
}

func TestValidatePrintsEveryErrorOfAnInvalidFile(t *testing.T) {
	bad := writeValidateSpec(t, t.TempDir(), "bad.yaml", `kind: SessionCluster
apiVersion: v1
metadata:
  name: bad
spec:
  state: running
  flinkVersion: "1.20"
  numberOfTaskmanagers: 2
  resources:
    taskmanager:
      memory: 32x
`)
	code, stdout, stderr := execValidate(t, "", "validate", bad)
	if code != ExitFailed {
		t.Errorf("exit code %d, want %d", code, ExitFailed)
	}
	if stdout != "" {
		t.Errorf("stdout not empty:\n%s", stdout)
	}
	want := []string{
		bad + `: spec.state: "running" is not a state: write RUNNING or STOPPED (line 6)`,
		bad + ": spec.numberOfTaskmanagers: unknown field (did you mean numberOfTaskManagers?) (line 8)",
		bad + `: spec.resources.taskmanager.memory: "32x" is not a memory size: write bytes, or a decimal number with a k, m, g or t suffix in powers of ten (2g = 2,000,000,000 bytes) or a Ki, Mi, Gi or Ti suffix in powers of two (512Mi) (line 11)`,
	}
	if diff := cmp.Diff(want, validateOutputLines(stderr)); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

func TestValidateReportsAMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	code, stdout, stderr := execValidate(t, "", "validate", missing)
	if code != ExitFailed {
		t.Errorf("exit code %d, want %d", code, ExitFailed)
	}
	if stdout != "" {
		t.Errorf("stdout not empty:\n%s", stdout)
	}
	if diff := cmp.Diff([]string{missing + ": read: no such file or directory"}, validateOutputLines(stderr)); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

func TestValidateOfMixedFilesReportsEachAndFails(t *testing.T) {
	dir := t.TempDir()
	small := writeValidateSpec(t, dir, "small.yaml", `kind: SessionCluster
apiVersion: v1
metadata: {name: small, namespace: team-a}
spec:
  state: STOPPED
  flinkVersion: "1.19"
  numberOfTaskManagers: 0
  resources:
    jobmanager: {memory: 650m}
`)
	bad := writeValidateSpec(t, dir, "bad.yaml", "kind: SessionCluster\napiVersion: v1\nmetadata: {name: bad}\nspec: {state: RUNNING}\n")
	again := writeValidateSpec(t, dir, "again.yaml", "kind: SessionCluster\napiVersion: v1\nmetadata: {name: minimal}\nspec: {state: STOPPED, flinkVersion: '1.20'}\n")
	missing := filepath.Join(dir, "missing.yaml")

	code, stdout, stderr := execValidate(t, "", "validate", validateMinimalSpec, small, bad, again, missing)
	if code != ExitFailed {
		t.Errorf("exit code %d, want %d", code, ExitFailed)
	}
	wantOut := []string{
		validateMinimalSpec + ": ok  default/minimal RUNNING, image flink:1.20-scala_2.12, 1 taskmanager, target default",
		small + ": ok  team-a/small STOPPED, image flink:1.19-scala_2.12, 0 taskmanagers, target default",
	}
	if diff := cmp.Diff(wantOut, validateOutputLines(stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	wantErr := []string{
		small + ": warning: spec.resources.jobmanager.memory: 650m starts, but Flink warns: The configured or derived JVM heap memory size (43.888mb (46020224 bytes)) is less than its recommended minimum value (128.000mb (134217728 bytes)); 739m leaves the recommended heap",
		bad + `: spec.flinkVersion: is required: the Flink minor version, quoted: "1.20"`,
		again + ": metadata.name: default/minimal is also defined in " + validateMinimalSpec + "; each cluster needs a file of its own",
		missing + ": read: no such file or directory",
	}
	if diff := cmp.Diff(wantErr, validateOutputLines(stderr)); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

func TestValidateReadsStandardInput(t *testing.T) {
	spec, err := os.ReadFile(validateMinimalSpec)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := execValidate(t, string(spec), "validate", "-")
	if code != ExitOK || stdout != "-: ok  default/minimal RUNNING, image flink:1.20-scala_2.12, 1 taskmanager, target default\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = execValidate(t, "kind: [", "validate", "-")
	if code != ExitFailed || stderr != "-: invalid YAML: line 1: did not find expected node content\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestValidateWithoutFilesIsAUsageError(t *testing.T) {
	code, stdout, stderr := execValidate(t, "", "validate")
	if code != ExitUsage {
		t.Errorf("exit code %d, want %d", code, ExitUsage)
	}
	if stdout != "" || !strings.Contains(stderr, "requires at least 1 arg") {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
}

func TestValidateHelpExplainsTheCommand(t *testing.T) {
	code, stdout, _ := execValidate(t, "", "validate", "--help")
	if code != ExitOK {
		t.Errorf("exit code %d, want %d", code, ExitOK)
	}
	for _, want := range []string{
		"validate FILE...",
		"without a running daemon",
		"FILE: FIELD: MESSAGE",
		"flinkctl validate specs/*.yaml",
		"Use - as FILE to read standard input",
		"exit status is 0 when every file is valid",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help does not say %q:\n%s", want, stdout)
		}
	}
}
