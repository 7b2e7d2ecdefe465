package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/flinkd/flinkd/test/testenv"
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
	// real hands out the real-Flink test images, each built (or found up to date) once.
	real testenv.RealImages
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
	b, err := testenv.BuildBinaries(ctx, dir)
	if err != nil {
		return err
	}
	bin.root, bin.flinkd, bin.flinkctl = b.Root, b.Flinkd, b.Flinkctl
	cli, err := testenv.Connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	return testenv.BuildSimImage(ctx, cli, "1.20")
}

// requireE2E skips the test under -short (make test-short runs unit tests only). A missing
// engine is never a reason to skip: TestMain fails the whole package then.
func requireE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs real binaries on the Docker engine (not with -short)")
	}
}
