package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// RealRepository is the repository of the real-Flink test images that hack/flink-image.sh
// builds from Flink's own jars (test/flinkreal/image): RealRepository:<line>.
const RealRepository = "localhost/flink-real"

// RealLines are the Flink lines hack/flink-image.sh builds (hack/flink-real.versions).
func RealLines() []string { return []string{"1.20", "2.2"} }

// realBuildTimeout bounds one cold build (a Debian rootfs and Maven's jars; ~2 min when the
// machine is idle, much more on a loaded one).
const realBuildTimeout = 30 * time.Minute

// RealImages hands out the real-Flink test images, making each one up to date with
// hack/flink-image.sh at most once per test binary (a warm run builds nothing and takes
// under a second; a cold one fetches Debian's packages and Maven's jars). The zero value is
// ready; share one per test binary.
//
// An image that cannot be built (no Maven repository reachable, say) fails every test that
// asks for it, with the script's own words: these tests never skip, under CI=true or not.
type RealImages struct {
	mu     sync.Mutex
	builds map[string]*realBuild
}

type realBuild struct {
	once sync.Once
	err  error
}

// Image returns RealRepository:<line>, built or found up to date, or fails the test saying
// why it cannot be had.
func (r *RealImages) Image(tb testing.TB, line string) string {
	tb.Helper()
	b := r.build(line)
	b.once.Do(func() { b.err = buildRealImage(line) })
	if b.err != nil {
		ci := ""
		if os.Getenv("CI") == "true" {
			ci = " (CI=true: the real images are part of every CI run)"
		}
		tb.Fatalf("real Flink %s: the image %s:%s cannot be built, so this test on real Flink fails%s; it is never skipped. %v",
			line, RealRepository, line, ci, b.err)
	}
	return RealRepository + ":" + line
}

func (r *RealImages) build(line string) *realBuild {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.builds == nil {
		r.builds = map[string]*realBuild{}
	}
	b, ok := r.builds[line]
	if !ok {
		b = &realBuild{}
		r.builds[line] = b
	}
	return b
}

// buildRealImage runs hack/flink-image.sh for one line (which builds nothing when the image
// carries the hash of its inputs already).
func buildRealImage(line string) error {
	root, err := ModuleRoot()
	if err != nil {
		return fmt.Errorf("find hack/flink-image.sh: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), realBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "flink-image.sh"), line)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("bash hack/flink-image.sh %s did not finish within %s:\n%s", line, realBuildTimeout, out)
	}
	if err != nil {
		return fmt.Errorf("bash hack/flink-image.sh %s: %w:\n%s", line, err, out)
	}
	return nil
}
