package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// simImage is the Flink stand-in image every test cluster runs (hack/sim-image.sh).
const simImage = "localhost/flink-sim:1.20"

// defaultParallel is how many tests run at once unless -parallel says otherwise: each test
// mostly waits on its own daemon and the engine, and GOMAXPROCS (the usual default) is 2 here.
const defaultParallel = 4

// bin holds what TestMain prepares once for every test: the module root and the binaries.
// It is written before m.Run and only read afterwards.
var bin struct {
	root     string // the module root (go env GOMOD's folder)
	flinkd   string
	flinkctl string
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself: -short is unit tests only
	}
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", fmt.Sprint(defaultParallel))
	}
	dir, err := os.MkdirTemp("", "flinkd-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	code := 1
	if err := setup(dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup builds flinkd and flinkctl into dir and makes sure the engine answers and the
// stand-in image exists (building it when missing).
func setup(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not inside the flinkd module (go env GOMOD = %q)", gomod)
	}
	bin.root = filepath.Dir(gomod)
	bin.flinkd = filepath.Join(dir, "flinkd")
	bin.flinkctl = filepath.Join(dir, "flinkctl")
	for _, b := range []struct{ out, pkg string }{{bin.flinkd, "./cmd/flinkd"}, {bin.flinkctl, "./cmd/flinkctl"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=e2e", "-o", b.out, b.pkg)
		cmd.Dir = bin.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}

	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = cli.Ping(pctx)
	pcancel()
	if err != nil {
		return fmt.Errorf("no Docker engine answers at %s (%v): run `bash hack/ensure-docker.sh` first", cli.DaemonHost(), err)
	}
	if _, err := cli.ImageInspect(ctx, simImage); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", simImage, err)
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(bin.root, "hack", "sim-image.sh"), "1.20")
	cmd.Dir = bin.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("image %s is missing; building it with hack/sim-image.sh: %w\n%s", simImage, err, out)
	}
	if _, err := cli.ImageInspect(ctx, simImage); err != nil {
		return fmt.Errorf("hack/sim-image.sh ran but image %s is still missing: %w", simImage, err)
	}
	return nil
}

// requireE2E skips the test under -short (make test-short runs unit tests only). A missing
// engine is never a reason to skip: TestMain fails the whole package then.
func requireE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs real binaries on the Docker engine (not with -short)")
	}
}
