package kubetest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The folder Assets computes must be the one the script prints, or tests would run the
// script for nothing or never find what it built.
func TestCacheFolderIsTheOneTheScriptPrints(t *testing.T) {
	t.Setenv("KUBEBUILDER_ASSETS", "")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	script, err := findScript()
	if err != nil {
		t.Fatal(err)
	}
	want, err := scriptCacheDir(ctx, script)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := Assets(ctx, true)
	if errors.Is(err, ErrNoBinaries) && !Required() {
		t.Skipf("\n\n!!! SKIPPING: %v\n\n", err)
	}
	if err != nil {
		t.Fatalf("Assets: %v", err)
	}
	if dir != want {
		t.Errorf("Assets = %s, want %s", dir, want)
	}
	out, err := exec.CommandContext(ctx, "bash", script).Output()
	if err != nil {
		t.Fatalf("run %s: %v", script, err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("%s printed %q, want %q", script, got, want)
	}
}

func TestAssetsReportsAnIncompleteFolderAsNoBinaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/etcd", []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBEBUILDER_ASSETS", dir)
	_, err := Assets(t.Context(), false)
	if !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Errorf("Assets = %v, want ErrNoBinaries naming kube-apiserver", err)
	}
}

func TestRequiredUnderCIOrWhenAsked(t *testing.T) {
	for _, tt := range []struct {
		ci, require string
		want        bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"", "0", false},
	} {
		t.Setenv("CI", tt.ci)
		t.Setenv("FLINKD_REQUIRE_KUBE", tt.require)
		if got := Required(); got != tt.want {
			t.Errorf("CI=%q FLINKD_REQUIRE_KUBE=%q: Required() = %v, want %v", tt.ci, tt.require, got, tt.want)
		}
	}
}

func TestNamePrefixIsAShortDNSLabelPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"TestApplyCreates/sub_test": "testapplycreates-sub-test-",
		"9Lives":                    "t9lives-",
		"TestAVeryLongNameThatGoesOnAndOnAndOnForeverMore": "testaverylongnamethatgoesonandonandonfor-",
	} {
		if got := namePrefix(in); got != want {
			t.Errorf("namePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
