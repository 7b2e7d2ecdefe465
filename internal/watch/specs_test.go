package watch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIsSpecFile(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"wordcount.yaml", true},
		{"wordcount.yml", true},
		{"Prod.YAML", true},
		{"a.b.yaml", true},
		{"x", false},
		{"", false},
		{"wordcount.json", false},
		{"wordcount.yaml.bak", false},
		{"README.md", false},
		{".hidden.yaml", false},        // dotfile
		{".#wordcount.yaml", false},    // Emacs lock file
		{"#wordcount.yaml#", false},    // Emacs autosave
		{"wordcount.yaml~", false},     // editor backup
		{".wordcount.yaml.swp", false}, // vim swap file
		{".wordcount.yaml.swx", false}, // vim swap file
		{"wordcount.yaml.tmp", false},  // temporary file of an atomic save
		{"wordcount.tmp", false},
		{"4913", false},         // vim's write test file
		{"..data", false},       // Kubernetes ConfigMap internals
		{"..2024_01_01", false}, // Kubernetes ConfigMap internals
		{".yaml", false},        // hidden, no base name
		{"sub/x.yaml", false},   // not a base name
	}
	for _, tt := range tests {
		if got := IsSpecFile(tt.name); got != tt.want {
			t.Errorf("IsSpecFile(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestListSpecsReturnsSortedSpecFilesOnly(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	for _, name := range []string{"b.yaml", "a.yml", "c.YAML", "README.md", ".hidden.yaml", "x.yaml~", "x.yaml.tmp", ".x.yaml.swp"} {
		writeFile(t, filepath.Join(dir, name), "kind: SessionCluster\n")
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub.yaml", "nested.yaml"), "kind: SessionCluster\n")
	writeFile(t, filepath.Join(outside, "target.yaml"), "kind: SessionCluster\n")
	symlink(t, filepath.Join(outside, "target.yaml"), filepath.Join(dir, "linked.yaml"))
	symlink(t, filepath.Join(outside, "missing.yaml"), filepath.Join(dir, "dangling.yaml"))
	symlink(t, outside, filepath.Join(dir, "dirlink.yaml"))

	got, err := ListSpecs(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "a.yml"),
		filepath.Join(dir, "b.yaml"),
		filepath.Join(dir, "c.YAML"),
		filepath.Join(dir, "linked.yaml"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListSpecs (-want +got):\n%s", diff)
	}
}

func TestListSpecsOfMissingFolderIsEmpty(t *testing.T) {
	got, err := ListSpecs(filepath.Join(t.TempDir(), "nope"))
	if err != nil || len(got) != 0 {
		t.Fatalf("ListSpecs(missing) = %v, %v; want empty, nil", got, err)
	}
}

func TestListSpecsOfAFileIsAnError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "specs")
	writeFile(t, f, "")
	if got, err := ListSpecs(f); err == nil {
		t.Fatalf("ListSpecs(file) = %v, nil; want an error", got)
	}
}

func TestListSpecsUsesTheFolderAsGiven(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "specs.v2")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(target, "a.yaml"), "")
	link := filepath.Join(root, "specs")
	symlink(t, "specs.v2", link)

	got, err := ListSpecs(link)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{filepath.Join(link, "a.yaml")}, got); diff != "" {
		t.Errorf("ListSpecs (-want +got):\n%s", diff)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
