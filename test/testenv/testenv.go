// Package testenv is what end-to-end and engine tests share: a Docker client that fails
// loudly (never skips) when no engine answers, the Flink stand-in image (built with
// hack/sim-image.sh when it is missing), and the flinkd and flinkctl binaries. Test-only: no
// product package imports it.
package testenv

import (
	"context"
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

// SimImage is the stand-in image of Flink 1.20.
const SimImage = "localhost/flink-sim:1.20"

// Connect returns a client to the engine of the environment (DOCKER_HOST, or the local
// socket), with the API version negotiated, once the engine answers a ping.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		host := cli.DaemonHost()
		cli.Close()
		return nil, fmt.Errorf("no Docker engine answers at %s (%v): run `bash hack/ensure-docker.sh` first", host, err)
	}
	return cli, nil
}

// Engine is Connect for a test: it fails the test when no engine answers, and closes the
// client at the end.
func Engine(tb testing.TB) *client.Client {
	tb.Helper()
	cli, err := Connect(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// ModuleRoot returns the folder of the module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the flinkd module")
	}
	return filepath.Dir(mod), nil
}

// BuildSimImage makes sure localhost/flink-sim:<version> exists, building it with
// hack/sim-image.sh when it does not.
func BuildSimImage(ctx context.Context, cli *client.Client, version string) error {
	image := "localhost/flink-sim:" + version
	if _, err := cli.ImageInspect(ctx, image); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	root, err := ModuleRoot()
	if err != nil {
		return fmt.Errorf("image %s is missing and cannot be built: %w", image, err)
	}
	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "bash", filepath.Join(root, "hack", "sim-image.sh"), version)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s with hack/sim-image.sh: %w\n%s", image, err, out)
	}
	return nil
}

// SimImageFor is BuildSimImage for a test: it fails the test when the image cannot be had.
func SimImageFor(tb testing.TB, cli *client.Client, version string) string {
	tb.Helper()
	if err := BuildSimImage(tb.Context(), cli, version); err != nil {
		tb.Fatal(err)
	}
	return "localhost/flink-sim:" + version
}

// Binaries are the built flinkd and flinkctl.
type Binaries struct {
	Root     string // the module's folder
	Flinkd   string
	Flinkctl string
}

// BuildBinaries builds flinkd and flinkctl into dir (version "test"), as make build does.
func BuildBinaries(ctx context.Context, dir string) (Binaries, error) {
	root, err := ModuleRoot()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Root: root, Flinkd: filepath.Join(dir, "flinkd"), Flinkctl: filepath.Join(dir, "flinkctl")}
	for _, t := range []struct{ out, pkg string }{{b.Flinkd, "./cmd/flinkd"}, {b.Flinkctl, "./cmd/flinkctl"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=test", "-o", t.out, t.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", t.pkg, err, out)
		}
	}
	return b, nil
}
