package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One folder gives one identity however it is spelled; two folders never share one.
func TestIdentityIsTheFolderWhateverThePath(t *testing.T) {
	root := t.TempDir()
	specs := filepath.Join(root, "Team Specs")
	if err := os.Mkdir(specs, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(specs, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	want, canonical, err := Identity(specs)
	if err != nil {
		t.Fatal(err)
	}
	if resolved, _ := filepath.EvalSymlinks(specs); canonical != resolved {
		t.Errorf("canonical folder = %s, want %s", canonical, resolved)
	}
	if !strings.HasPrefix(want, "team-specs-") || ValidateOwner(want) != nil {
		t.Errorf("identity %q: want team-specs-<hash>, a valid label value (%v)", want, ValidateOwner(want))
	}
	for _, spelling := range []string{specs + "/", specs + "//", "Team Specs", "./Team Specs/.", link, link + "/", filepath.Join(specs, "..", "Team Specs")} {
		got, _, err := Identity(spelling)
		if err != nil || got != want {
			t.Errorf("Identity(%q) = %q, %v; want %q", spelling, got, err, want)
		}
	}
	other, _, _ := Identity(filepath.Join(root, "other"))
	if other == want {
		t.Errorf("two folders share the identity %s", want)
	}
}

// A folder that does not exist yet has the identity it will have once created, symlinks in
// its existing part resolved.
func TestIdentityOfAFolderNotMadeYet(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(root, "via")); err != nil {
		t.Fatal(err)
	}
	before, _, err := Identity(filepath.Join(root, "via", "specs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(real, "specs"), 0o755); err != nil {
		t.Fatal(err)
	}
	after, _, _ := Identity(filepath.Join(real, "specs"))
	if before != after {
		t.Errorf("identity before the folder exists %s, after %s", before, after)
	}
}

func TestValidateOwner(t *testing.T) {
	for _, ok := range []string{"prod", "0123456789abcdef", "specs-0a1b"} {
		if err := ValidateOwner(ok); err != nil {
			t.Errorf("ValidateOwner(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "-x", strings.Repeat("a", 64)} {
		if err := ValidateOwner(bad); err == nil {
			t.Errorf("ValidateOwner(%q) accepted it", bad)
		}
	}
}

func TestOwnershipRecognisesFormerIdentitiesAndKeepsThem(t *testing.T) {
	k := Key{Namespace: "default", Name: "c1"}
	o := Ownership{Owner: "new", Specs: "/s", Former: []string{"old"}}
	mine := Ownership{Owner: "new"}.Labels(k, ComponentJobManager, "h")
	legacy := Ownership{Owner: "old"}.Labels(k, ComponentJobManager, "h")
	theirs := Ownership{Owner: "them"}.Labels(k, ComponentJobManager, "h")
	if !o.Owns(mine) || !o.Owns(legacy) || o.Owns(theirs) {
		t.Errorf("Owns: mine %v, legacy %v, theirs %v; want true, true, false", o.Owns(mine), o.Owns(legacy), o.Owns(theirs))
	}
	if got := o.Keep(legacy).Owner; got != "old" {
		t.Errorf("Keep(legacy).Owner = %q, want old: a cluster stays under one owner", got)
	}
	if got := o.Keep(mine).Owner; got != "new" {
		t.Errorf("Keep(mine).Owner = %q", got)
	}
	if got := o.Keep(theirs).Owner; got != "new" {
		t.Errorf("Keep(theirs).Owner = %q: never take another daemon's identity", got)
	}
	if _, ok := o.Selector()[LabelOwner]; ok {
		t.Error("with former identities the selector names one owner; lists would miss the others")
	}
	if _, ok := o.ForeignClaim(legacy, nil); ok {
		t.Error("a former identity's cluster is listed as foreign")
	}
	if cl, ok := o.ForeignClaim(theirs, map[string]string{LabelSpecs: "/their/specs"}); !ok || cl.Owner != "them" || cl.Specs != "/their/specs" || cl.Key != k {
		t.Errorf("ForeignClaim(theirs) = %+v, %v", cl, ok)
	}
}

func TestCheckSaysWhoHoldsTheName(t *testing.T) {
	k := Key{Namespace: "default", Name: "c1"}
	o := Ownership{Owner: "me", Specs: "/my/specs"}
	theirs := Ownership{Owner: "them"}.Labels(k, "", "h")
	theirs[LabelSpecs] = "/their/specs"
	legacy := Ownership{Owner: "0123456789abcdef"}.Labels(k, "", "h")

	for _, tc := range []struct {
		name    string
		labels  map[string]string
		want    []string
		another bool
	}{
		{"unlabelled", map[string]string{"app": "x"}, []string{"network n1 exists but is not managed by flinkd"}, false},
		{"another flinkd", theirs, []string{`owner "them"`, "specs folder /their/specs", "rename this SessionCluster"}, true},
		{"an older flinkd", legacy, []string{`owner "0123456789abcdef"`, "--adopt 0123456789abcdef"}, true},
		{"another identity of this folder", func() map[string]string {
			l := Ownership{Owner: "earlier"}.Labels(k, "", "h")
			l[LabelSpecs] = "/my/specs"
			return l
		}(), []string{`owner "earlier"`, "this same specs folder /my/specs", "--adopt earlier"}, true},
		{"another cluster of mine", o.Labels(Key{Namespace: "team-a", Name: "c1"}, "", "h"), []string{"belongs to flinkd cluster team-a/c1, not default/c1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := o.Check("network", "n1", tc.labels, nil, k)
			if !errors.Is(err, ErrNotOwned) || errors.Is(err, ErrOwnedElsewhere) != tc.another {
				t.Fatalf("err = %v: want ErrNotOwned, ErrOwnedElsewhere %v", err, tc.another)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "not managed by flinkd") && tc.another {
				t.Errorf("another flinkd's resource reported as not flinkd's: %v", err)
			}
		})
	}
	if err := o.Check("network", "n1", o.Labels(k, "", "h"), nil, k); err != nil {
		t.Errorf("own resource: %v", err)
	}
}
