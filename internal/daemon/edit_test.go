package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flinkd/flinkd/internal/client"
)

func errorsAs(err error, target **client.APIError) bool { return errors.As(err, target) }

func TestSetStateKeepsEverythingElse(t *testing.T) {
	for _, tc := range []struct{ name, in, state, want string }{
		{"plain with comment", "kind: SessionCluster\nspec:\n  state: RUNNING # keep\n  x: 1\n", "STOPPED",
			"kind: SessionCluster\nspec:\n  state: STOPPED # keep\n  x: 1\n"},
		{"double quoted", "spec:\n    state: \"RUNNING\"\n", "STOPPED", "spec:\n    state: \"STOPPED\"\n"},
		{"single quoted", "spec:\n  state: 'STOPPED'\n", "RUNNING", "spec:\n  state: 'RUNNING'\n"},
		{"crlf", "spec:\r\n  state: RUNNING\r\n  n: 2\r\n", "STOPPED", "spec:\r\n  state: STOPPED\r\n  n: 2\r\n"},
		{"missing is inserted", "# c\nspec:\n  # first\n  flinkVersion: \"1.20\"\n", "STOPPED",
			"# c\nspec:\n  # first\n  state: STOPPED\n  flinkVersion: \"1.20\"\n"},
		{"metadata state untouched", "metadata:\n  state: RUNNING\nspec:\n  state: RUNNING\n", "STOPPED",
			"metadata:\n  state: RUNNING\nspec:\n  state: STOPPED\n"},
		{"unicode before", "metadata:\n  labels: {ü: ä}\nspec: \n  state:   RUNNING\n", "STOPPED",
			"metadata:\n  labels: {ü: ä}\nspec: \n  state:   STOPPED\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := setState([]byte(tc.in), tc.state)
			if err != nil {
				t.Fatal(err)
			}
			if !changed || string(out) != tc.want {
				t.Errorf("setState:\n%q\nwant\n%q", out, tc.want)
			}
		})
	}
	if _, changed, err := setState([]byte("spec:\n  state: RUNNING\n"), "RUNNING"); err != nil || changed {
		t.Errorf("no-op edit: changed=%v err=%v", changed, err)
	}
	for _, bad := range []string{"- a\n", "spec: {state: RUNNING}\n", "spec: 3\n", "spec:\n  state: [a]\n", ": :"} {
		if _, _, err := setState([]byte(bad), "STOPPED"); err == nil {
			t.Errorf("setState(%q) succeeded", bad)
		}
	}
}

func TestWriteFileAtomicKeepsMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(p, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "new" || st.Mode().Perm() != 0o640 {
		t.Errorf("content %q mode %v", b, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
