package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/flinkd/flinkd/test/testenv"
)

var (
	// moduleRoot is the repository root; flinkdBin and flinkctlBin the binaries built by
	// TestMain (FLINKD_BENCH_BIN replaces flinkd's).
	moduleRoot  string
	flinkdBin   string
	flinkctlBin string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := testenv.ModuleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	moduleRoot = root
	dir, err := os.MkdirTemp("", "flinkd-bench-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bins, err := testenv.BuildBinaries(ctx, dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	flinkdBin, flinkctlBin = bins.Flinkd, bins.Flinkctl
	// FLINKD_BENCH_BIN measures another flinkd build (a candidate fix, an older commit).
	if bin := os.Getenv("FLINKD_BENCH_BIN"); bin != "" {
		if flinkdBin, err = filepath.Abs(bin); err != nil {
			fmt.Fprintf(os.Stderr, "bench: FLINKD_BENCH_BIN: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "bench: measuring %s (FLINKD_BENCH_BIN)\n", flinkdBin)
	}
	return m.Run()
}

// engine returns a client of the local Docker engine, with the stand-in image present. No
// engine is a failure, never a skip.
func engine(tb testing.TB) *client.Client {
	tb.Helper()
	cli := testenv.Engine(tb)
	testenv.SimImageFor(tb, cli, "1.20")
	return cli
}

// randomID returns n random hex characters (names and labels of one run).
func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
