// Package e2ekube tests flinkd end to end on a Kubernetes deployment target against a real
// API server: the real flinkd and flinkctl binaries, a real control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler; test/kubetest) and a
// kubetest.PodRunner that plays the kubelet of one Node, running the pods flinkd's
// Deployments create as Docker containers of the Flink stand-in image. So the JobManager's
// REST API really answers through the API server's service proxy, TaskManagers really
// register, and Deployments really scale.
//
// Pods land on the runner's Node because it is the only schedulable one: kwok manages only
// its own Node (Options.KwokOwnNodeOnly), which the runner cordons (Exclusive).
//
// Run: bash hack/kube-test-bins.sh && go test ./test/e2ekube (add -v to follow the pod
// runner; FLINKD_PODRUNNER_LOG=debug shows every pod status it writes). Without the control
// plane's binaries the tests skip loudly, unless CI is set or FLINKD_REQUIRE_KUBE=1; without
// a Docker engine they fail (run `bash hack/ensure-docker.sh`); -short skips them.
package e2ekube

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flinkd/flinkd/test/testenv"

	"github.com/docker/docker/client"
	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flinkd/flinkd/test/kubetest"
)

// simImage is the Flink stand-in the specs name (built by hack/sim-image.sh).
const simImage = "localhost/flink-sim:1.20"

var (
	// bin holds the flinkd and flinkctl binaries built by TestMain.
	bin string
	// root is the module's folder.
	root string

	controlPlane = kubetest.Shared{Options: kubetest.Options{Nodes: true, KwokOwnNodeOnly: true}}

	runnerOnce sync.Once
	runner     *kubetest.PodRunner
	runnerErr  error
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // every test skips itself: -short is unit tests only
	}
	// envtest logs through controller-runtime's logger; without one it prints a stack trace.
	ctrllog.SetLogger(logr.Discard())
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		fmt.Fprintf(os.Stderr, "find the module root (go env GOMOD): %v\n", err)
		return 1
	}
	root = filepath.Dir(strings.TrimSpace(string(out)))
	bin, err = os.MkdirTemp("", "flinkd-e2ekube-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "create bin folder: %v\n", err)
		return 1
	}
	defer os.RemoveAll(bin)
	for _, name := range []string{"flinkd", "flinkctl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), "./cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build ./cmd/%s: %v\n%s", name, err, out)
			return 1
		}
	}

	code := m.Run()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if runner != nil {
		if err := runner.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "stop the pod runner: %v\n", err)
			code = max(code, 1)
		}
	}
	if err := controlPlane.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop the kubernetes control plane: %v\n", err)
		code = max(code, 1)
	}
	return code
}

// env is what a test works with: the control plane, the Docker engine and the pod runner.
type env struct {
	cp     *kubetest.ControlPlane
	cs     kubernetes.Interface
	docker *client.Client
	runner *kubetest.PodRunner
}

// kube returns the shared environment, starting it on first use. No Docker engine fails the
// test; no control-plane binaries skips it loudly (fails it under CI or
// FLINKD_REQUIRE_KUBE=1).
func kube(t *testing.T) env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: real binaries, a Kubernetes control plane and the Docker engine (not with -short)")
	}
	docker := dockerEngine(t)
	ensureSimImage(t, docker)
	cp := controlPlane.Get(t)
	runnerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		runner, runnerErr = kubetest.StartPodRunner(ctx, kubetest.PodRunnerConfig{
			REST: cp.Config, Docker: docker, Exclusive: true, Logger: runnerLogger(),
		})
	})
	if runnerErr != nil {
		t.Fatalf("start the pod runner: %v", runnerErr)
	}
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatalf("client for the control plane: %v", err)
	}
	return env{cp: cp, cs: cs, docker: docker, runner: runner}
}

// dockerEngine returns a client to the Docker engine; the test fails when none answers.
func dockerEngine(t *testing.T) *client.Client {
	t.Helper()
	return testenv.Engine(t)
}

// ensureSimImage builds the stand-in image with hack/sim-image.sh when it is missing.
func ensureSimImage(t *testing.T, cli *client.Client) {
	t.Helper()
	testenv.SimImageFor(t, cli, "1.20")
}
