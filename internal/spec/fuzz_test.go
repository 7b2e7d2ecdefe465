package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecode feeds Decode arbitrary input: it must never panic, must report failures as a
// non-empty *Errors, and what it accepts must be valid, hash stably and survive a JSON round
// trip. Run it with: go test -run '^$' -fuzz FuzzDecode -fuzztime 3m ./internal/spec
func FuzzDecode(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"testdata/*.yaml", "../../specs/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, string(b))
		}
	}
	if len(seeds) < 4 {
		f.Fatalf("found %d seed files, want the testdata and specs examples", len(seeds))
	}
	example, err := os.ReadFile("testdata/seed-example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	full := string(example)
	seeds = append(seeds,
		minimalYAML,
		// The seed example with its placeholders filled in one at a time.
		strings.NewReplacer("{flinkVersion}", `"1.17"`).Replace(full),
		strings.NewReplacer("{ververicaFlinkRelease}", "1.17.2-stream1").Replace(full),
		// Malformed variants.
		full[:len(full)/2],
		full[:len(full)/3]+"\t"+full[len(full)/3:],
		strings.Replace(full, "kind: SessionCluster", "kind: SessionCluster\nkind: SessionCluster", 1),
		full+"---\n"+full,
		"---\n---\n---\n",
		"kind: SessionCluster\napiVersion: v1\nmetadata: &m {name: a}\nspec: *m\n",
		"a: &a [x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nspec: {kubernetes: {pods: {envVars: *c}}}\n",
		strings.Repeat("[", 200)+strings.Repeat("]", 200),
		strings.Repeat("{a: ", 100)+"b"+strings.Repeat("}", 100),
		"kind: !!binary aGVsbG8=\n",
		"spec: {resources: {<<: {jobmanager: {cpu: 1}}}}\n",
		"spec:\n  numberOfTaskManagers: 99999999999999999999999999\n",
		"\xef\xbb\xbfkind: SessionCluster\n",
		"kind: Session\x00Cluster\n",
		"kind: \xff\xfe\n",
		`{"kind":"SessionCluster","apiVersion":"v1","metadata":{"name":"j"},"spec":{"state":"RUNNING","flinkVersion":"1.20"}}`,
		"metadata:\n  name: a\n  labels:\n    ? [a]\n    : b\n",
		"spec:\n  resources:\n    taskmanager:\n      memory: 1.0000000000000000000000000001g\n      cpu: 0.0001\n",
	)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	hexHash := regexp.MustCompile(`^[0-9a-f]{64}$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Decode(data)
		if err != nil {
			var e *Errors
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *Errors: %v", err, err)
			}
			if c != nil {
				t.Fatal("a cluster returned with an error")
			}
			lines := e.Lines()
			if len(lines) == 0 || len(lines) != len(e.List) {
				t.Fatalf("%d error lines for %d errors", len(lines), len(e.List))
			}
			for _, l := range lines {
				if strings.TrimSpace(l) == "" {
					t.Fatalf("empty error line in %q", lines)
				}
			}
			return
		}
		if errs, _ := Validate(c); len(errs) != 0 {
			t.Fatalf("Decode accepted a spec Validate refuses: %v", errs)
		}
		if h := c.Hash(); !hexHash.MatchString(h) || h != c.Hash() {
			t.Fatalf("Hash() = %q, not a stable sha256", h)
		}
		if ch := CheckChange(c, c.DeepCopy(), PhaseRunning); !ch.Allowed {
			t.Fatalf("a spec differs from its own copy: %v", ch)
		}
		if c.TaskManagers() < 0 || c.Spec.Resources.TaskManager.MemoryBytes() <= 0 || c.Spec.Resources.JobManager.CPUMillis() <= 0 {
			t.Fatalf("accepted resources are not positive: %+v", c.Spec.Resources)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := Decode(b)
		if err != nil {
			t.Fatalf("JSON of an accepted spec does not decode: %v\n%s", err, b)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Fatalf("JSON round trip (-first +second):\n%s", diff)
		}
	})
}
