// Package kubetest starts a real Kubernetes control plane for tests: etcd and kube-apiserver
// through controller-runtime's envtest and, on request, kube-controller-manager,
// kube-scheduler and kwok with one simulated Node, so that Deployments get Pods that reach
// Running and Ready without a kubelet.
//
// The binaries come from KUBEBUILDER_ASSETS or from the folder that hack/kube-test-bins.sh
// has already built (a test never triggers the ~10 minute cold build). When they are absent,
// tests are skipped with a loud message, unless CI is set or FLINKD_REQUIRE_KUBE=1, in which
// case the absence fails them. FLINKD_KEEP_KUBE_LOGS=1 keeps the processes' logs (the
// folder is ControlPlane.LogDir) after Stop.
package kubetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ErrNoBinaries means the control-plane binaries are not available on this machine.
var ErrNoBinaries = errors.New("kubernetes test binaries not found")

// Binaries every control plane needs, and those a control plane with nodes adds.
var (
	baseBinaries  = []string{"etcd", "kube-apiserver"}
	nodesBinaries = []string{"kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"}
)

// NodeName is the simulated Node of a control plane started with Options.Nodes.
const NodeName = "kwok-node-0"

// Options choose the parts of the control plane.
type Options struct {
	// Nodes adds kube-controller-manager (deployment, replicaset, garbage-collector,
	// namespace, endpointslice and node-lifecycle controllers), kube-scheduler, kwok and the
	// simulated Node NodeName. Without it there is no controller at all: Deployments get no
	// Pods and foreground deletion never finishes.
	Nodes bool
	// KwokOwnNodeOnly makes kwok manage NodeName alone (--manage-single-node) instead of every
	// Node, so that a test can add Nodes whose pods something else runs (see PodRunner).
	KwokOwnNodeOnly bool
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file (for kubectl and the controllers).
	Kubeconfig string
	// Assets is the folder the binaries came from.
	Assets string
	// LogDir holds the output of the processes started next to the API server.
	LogDir string

	env    *envtest.Environment
	apiLog *os.File
	procs  []*exec.Cmd
	dir    string
}

// Required reports whether absent binaries must fail tests instead of skipping them: under
// CI (CI set) or when FLINKD_REQUIRE_KUBE=1.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("FLINKD_REQUIRE_KUBE") == "1"
}

// Assets returns the folder that holds the binaries: KUBEBUILDER_ASSETS when set, else the
// folder hack/kube-test-bins.sh has already built (the script is run only when its cached
// folder is complete, so that it prints the folder at once). The error wraps ErrNoBinaries
// when there is none.
func Assets(ctx context.Context, nodes bool) (string, error) {
	want := baseBinaries
	if nodes {
		want = append(append([]string{}, baseBinaries...), nodesBinaries...)
	}
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if missing := missingFiles(dir, want); len(missing) > 0 {
			return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s lacks %s: %w", dir, strings.Join(missing, ", "), ErrNoBinaries)
		}
		return dir, nil
	}
	script, err := findScript()
	if err != nil {
		return "", fmt.Errorf("find hack/kube-test-bins.sh: %v: %w", err, ErrNoBinaries)
	}
	cached, err := scriptCacheDir(ctx, script)
	if err != nil {
		return "", fmt.Errorf("compute the cache folder of %s: %v: %w", script, err, ErrNoBinaries)
	}
	if missing := missingFiles(cached, append(append([]string{}, baseBinaries...), nodesBinaries...)); len(missing) > 0 {
		return "", fmt.Errorf("%s is not built (no complete %s); build it once with "+
			"`bash hack/kube-test-bins.sh` (~10 min cold) or set KUBEBUILDER_ASSETS: %w", script, cached, ErrNoBinaries)
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("run %s: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if missing := missingFiles(dir, want); len(missing) > 0 {
		return "", fmt.Errorf("%s printed %q, which lacks %s: %w", script, dir, strings.Join(missing, ", "), ErrNoBinaries)
	}
	return dir, nil
}

func missingFiles(dir string, names []string) []string {
	var missing []string
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Size() == 0 {
			missing = append(missing, n)
		}
	}
	return missing
}

// findScript walks up from the working directory to the module holding hack/kube-test-bins.sh.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "hack", "kube-test-bins.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no hack/kube-test-bins.sh above the working directory")
		}
		dir = parent
	}
}

// scriptCacheDir computes the folder hack/kube-test-bins.sh caches its output in, the same
// way the script does: versions, Go version and the script's own hash.
func scriptCacheDir(ctx context.Context, script string) (string, error) {
	data, err := os.ReadFile(script)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])[:12]
	gover := runtime.Version()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		gover = strings.TrimSpace(string(out))
	}
	root := os.Getenv("FLINKD_KUBE_BINS_CACHE")
	if root == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			cache = filepath.Join(home, ".cache")
		}
		root = filepath.Join(cache, "flinkd", "kube-test-bins")
	}
	k8s := envOr("K8S_VERSION", "v1.37.2")
	kwok := envOr("KWOK_VERSION", "v0.8.0")
	return filepath.Join(root, fmt.Sprintf("%s-kwok%s-%s-%s", k8s, kwok, gover, hash)), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Start starts a control plane. The caller must Stop it. The error wraps ErrNoBinaries when
// the binaries are absent.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	assets, err := Assets(ctx, opts.Nodes)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "flinkd-kubetest-")
	if err != nil {
		return nil, fmt.Errorf("create control-plane folder: %w", err)
	}
	cp := &ControlPlane{Assets: assets, LogDir: filepath.Join(dir, "logs"), dir: dir}
	if err := os.MkdirAll(cp.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("create log folder: %w", err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	env.ControlPlane.GetAPIServer().Path = filepath.Join(assets, "kube-apiserver")
	// The API server reaches a kubelet (pods/portforward, and logs or exec where served) at
	// the first of the Node's addresses of these types. Its default puts Hostname first, and
	// a PodRunner's Node's hostname does not resolve; InternalIP first is what kubeadm (so
	// kind) sets (k8s.io/kubernetes cmd/kubeadm/app/phases/controlplane/manifests.go). The
	// kubelet's serving certificate is not verified: without --kubelet-certificate-authority
	// the API server's kubelet client skips verification (k8s.io/kubernetes
	// pkg/kubelet/client/kubelet_client.go, transportConfig).
	env.ControlPlane.GetAPIServer().Configure().Set("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname")
	env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(assets, "etcd")}
	apiLog, err := os.Create(filepath.Join(cp.LogDir, "kube-apiserver.log"))
	if err != nil {
		return nil, fmt.Errorf("create apiserver log: %w", err)
	}
	env.ControlPlane.GetAPIServer().Out = apiLog
	env.ControlPlane.GetAPIServer().Err = apiLog
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		_ = apiLog.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start etcd and kube-apiserver from %s: %w", assets, err)
	}
	cp.env = env
	cp.apiLog = apiLog
	cp.Config = cfg
	cp.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(cp.Kubeconfig, env.KubeConfig, 0o600); err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("write admin kubeconfig: %w", err)
	}
	if opts.Nodes {
		if err := cp.startNodes(ctx, opts); err != nil {
			_ = cp.Stop()
			return nil, err
		}
	}
	return cp, nil
}

func (cp *ControlPlane) startNodes(ctx context.Context, opts Options) error {
	kc := "--kubeconfig=" + cp.Kubeconfig
	kwokNodes := "--manage-all-nodes=true"
	if opts.KwokOwnNodeOnly {
		kwokNodes = "--manage-single-node=" + NodeName
	}
	procs := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{kc, "--leader-elect=false", "--secure-port=0",
			"--controllers=deployment-controller,replicaset-controller,garbage-collector-controller," +
				"namespace-controller,endpointslice-controller,node-lifecycle-controller"}},
		{"kube-scheduler", []string{kc, "--leader-elect=false", "--secure-port=0"}},
		{"kwok", []string{kc, kwokNodes, "--config=" + filepath.Join(cp.Assets, "kwok-stages.yaml"),
			"--cidr=10.244.0.0/16", "--node-ip=10.1.0.1", "--server-address="}},
	}
	for _, p := range procs {
		logf, err := os.Create(filepath.Join(cp.LogDir, p.name+".log"))
		if err != nil {
			return fmt.Errorf("create %s log: %w", p.name, err)
		}
		cmd := exec.Command(filepath.Join(cp.Assets, p.name), p.args...)
		cmd.Stdout = logf
		cmd.Stderr = logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			_ = logf.Close()
			return fmt.Errorf("start %s: %w", p.name, err)
		}
		cp.procs = append(cp.procs, cmd)
	}

	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return fmt.Errorf("client for the control plane: %w", err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        NodeName,
		Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": NodeName},
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
	}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	// The node is usable once kwok has made it Ready and the node-lifecycle controller has
	// lifted the not-ready taint the API server puts on every new Node.
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = wait.PollUntilContextCancel(wctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, c := range cp.procs {
			if c.ProcessState != nil {
				return false, fmt.Errorf("%s exited: %s", filepath.Base(c.Path), c.ProcessState)
			}
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
				return false, nil
			}
		}
		return ready, nil
	})
	if err != nil {
		return fmt.Errorf("wait for node %s to be ready and untainted (logs in %s): %w", NodeName, cp.LogDir, err)
	}
	return nil
}

// Stop stops every process of the control plane and removes its files.
func (cp *ControlPlane) Stop() error {
	var errs []error
	for i := len(cp.procs) - 1; i >= 0; i-- {
		if err := stopProcess(cp.procs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	cp.procs = nil
	if cp.env != nil {
		if err := cp.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop etcd and kube-apiserver: %w", err))
		}
		cp.env = nil
	}
	if cp.apiLog != nil {
		_ = cp.apiLog.Close()
		cp.apiLog = nil
	}
	if os.Getenv("FLINKD_KEEP_KUBE_LOGS") == "" {
		if err := os.RemoveAll(cp.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", cp.dir, err))
		}
	}
	return errors.Join(errs...)
}

func stopProcess(cmd *exec.Cmd) error {
	name := filepath.Base(cmd.Path)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", name, err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	if f, ok := cmd.Stdout.(*os.File); ok {
		_ = f.Close()
	}
	return nil
}

// Shared starts one control plane per test binary, on first use, so that a package pays the
// start-up cost (~3 s, ~5 s with nodes) once. Call Stop from TestMain after m.Run.
type Shared struct {
	Options Options

	once sync.Once
	cp   *ControlPlane
	err  error
}

// Get returns the shared control plane, starting it if needed. It skips the test with a
// loud message when the binaries are absent, or fails it when Required says they must be
// there; any other start failure fails the test.
func (s *Shared) Get(tb testing.TB) *ControlPlane {
	tb.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.cp, s.err = Start(ctx, s.Options)
	})
	if s.err != nil {
		if errors.Is(s.err, ErrNoBinaries) && !Required() {
			tb.Skipf("\n\n!!! SKIPPING: no real Kubernetes API server for this test: %v\n"+
				"!!! Run `bash hack/kube-test-bins.sh` once (or set KUBEBUILDER_ASSETS); under CI=true or "+
				"FLINKD_REQUIRE_KUBE=1 this is a failure.\n\n", s.err)
		}
		tb.Fatalf("start a real Kubernetes control plane: %v", s.err)
	}
	return s.cp
}

// Stop stops the shared control plane if it was started.
func (s *Shared) Stop() error {
	if s.cp == nil {
		return nil
	}
	return s.cp.Stop()
}

// Namespace creates a namespace with a name derived from the test's and deletes it when the
// test ends (without waiting: with Options.Nodes, the namespace controller empties it).
func (cp *ControlPlane) Namespace(tb testing.TB) string {
	tb.Helper()
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		tb.Fatalf("client for the control plane: %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: namePrefix(tb.Name())}}
	ns, err = cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("create namespace: %v", err)
	}
	tb.Cleanup(func() {
		err := cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			tb.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// namePrefix turns a test name into a short DNS-1123 prefix ending in "-".
func namePrefix(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
		}
		if b.Len() >= 40 {
			break
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "t" + s
	}
	return s + "-"
}
