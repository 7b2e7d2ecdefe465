package fidelity

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flinkd/flinkd/test/flinkbox"
	"github.com/flinkd/flinkd/test/testenv"
)

// The lines every scenario runs on.
var lines = []string{"1.20", "2.2"}

// A flavor is one of the two images a scenario runs on.
type flavor struct {
	kind  string // "real" or "sim"
	line  string // 1.20, 2.2
	image string
	// env is added to every container's environment (see javaOfTheRealImage).
	env map[string]string
}

func (f flavor) String() string { return f.kind + ":" + f.line }

// javaOfTheRealImage: the real images run Debian's Java 17 on both lines (hack/flink-image.sh);
// the stand-in's 1.20 image is Java 11 like the official flink:1.20 tag. The stand-in takes
// its Java from $JAVA_VERSION (as eclipse-temurin sets it), so the suite runs it with the
// real image's Java. This is the only setting the two flavors do not share.
func javaOfTheRealImage() map[string]string {
	return map[string]string{"JAVA_VERSION": "jdk-17.0.19+10"}
}

func TestMain(m *testing.M) {
	// testcontainers must not guess the engine or where its ports are (see testenv).
	if _, err := testenv.Testcontainers(); err != nil {
		fmt.Fprintln(os.Stderr, "prepare testcontainers:", err)
		os.Exit(1)
	}
	code := m.Run()
	images.removeSim()
	os.Exit(code)
}

// images builds, once per test binary, the real image of each line (hack/flink-image.sh,
// cached: a warm run builds nothing) and a throwaway tag of the stand-in from this
// worktree's source (hack/sim-image.sh with FLINK_SIM_IMAGE), so that the suite judges the
// stand-in as it is written, not an image built earlier.
var images = &imageSet{tag: flinkbox.RandomHex(6), builds: map[string]*imageBuild{}}

type imageSet struct {
	tag    string
	mu     sync.Mutex
	builds map[string]*imageBuild
}

type imageBuild struct {
	once  sync.Once
	image string
	err   error
}

func (s *imageSet) simName(line string) string {
	return "localhost/flink-sim-fidelity:" + line + "-" + s.tag
}

func (s *imageSet) get(t *testing.T, kind, line string) string {
	t.Helper()
	s.mu.Lock()
	b, ok := s.builds[kind+line]
	if !ok {
		b = &imageBuild{}
		s.builds[kind+line] = b
	}
	s.mu.Unlock()
	b.once.Do(func() {
		root, err := testenv.ModuleRoot()
		if err != nil {
			b.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		var cmd *exec.Cmd
		switch kind {
		case "real":
			b.image = "localhost/flink-real:" + line
			cmd = exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "flink-image.sh"), line)
		case "sim":
			b.image = s.simName(line)
			cmd = exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "sim-image.sh"), line)
			cmd.Env = append(os.Environ(), "FLINK_SIM_IMAGE="+b.image)
		}
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("the %s image of Flink %s cannot be built, so the suite cannot run (CI=%q): %v", kind, line, os.Getenv("CI"), b.err)
	}
	return b.image
}

// removeSim removes the stand-in tags this run built (the real images are kept: they are
// cached builds that other tests use).
func (s *imageSet) removeSim() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.builds {
		if b.err == nil && strings.HasPrefix(b.image, "localhost/flink-sim-fidelity:") {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = exec.CommandContext(ctx, "docker", "rmi", "--force", b.image).Run()
			cancel()
		}
	}
}

// flavors returns the real image and the stand-in of a line, the real one first: it is
// the judge, and its run is the slow one.
func flavors(t *testing.T, line string) (real, sim flavor) {
	t.Helper()
	if out, err := exec.CommandContext(t.Context(), "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("no Docker engine answers (%v: %s); run: bash hack/ensure-docker.sh", err, out)
	}
	real = flavor{kind: "real", line: line, image: images.get(t, "real", line), env: map[string]string{}}
	sim = flavor{kind: "sim", line: line, image: images.get(t, "sim", line), env: javaOfTheRealImage()}
	return real, sim
}
