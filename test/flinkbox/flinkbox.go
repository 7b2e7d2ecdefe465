// Package flinkbox is the container harness of the tests that run Flink images on the real
// Docker engine through testcontainers-go: a labelled user-defined bridge network per test,
// the containers of one image on it, waits for their REST API or their exit, their logs and
// files, REST calls, and the docker CLI. test/flinkreal and test/fidelity use it (test/e2e and
// test/bench its jar upload form); it is test support, never imported by the product.
//
// testcontainers-go must be prepared first (testenv.Testcontainers, in each package's
// TestMain): this package does not guess the engine either.
package flinkbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Docker runs the docker CLI and returns its combined output.
func Docker(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Config is what a Scope's containers share.
type Config struct {
	Label string // the label key of all the scope creates; its value is the scope's id
	Name  string // containers are named <Name>-<id>-<alias>
	Image string // the image of every container
	// Env is added to every container's environment; a node's own Env wins.
	Env map[string]string
	// Hostname makes each container's host name its alias.
	Hostname bool
	// StartTimeout bounds a start to the REST API (Node.REST).
	StartTimeout time.Duration
	// What, when set, opens the messages of a failed start ("real:1.20: run ...").
	What string
}

// Scope labels what one test creates; testcontainers removes it when the test ends.
type Scope struct {
	ID      string
	Labels  map[string]string
	Network *testcontainers.DockerNetwork
	cfg     Config
}

// NewScope makes a user-defined bridge network for the test's containers, as flinkd's
// Docker runtime does per cluster.
func NewScope(t testing.TB, cfg Config) *Scope {
	t.Helper()
	s := &Scope{ID: RandomHex(4), cfg: cfg}
	s.Labels = map[string]string{cfg.Label: s.ID}
	nw, err := tcnetwork.New(t.Context(), tcnetwork.WithLabels(s.Labels))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	s.Network = nw
	return s
}

// Node is one container of the scope's image.
type Node struct {
	Alias string            // its name on the network (and its host name with Config.Hostname)
	Cmd   []string          // jobmanager, taskmanager, help, ...
	Env   map[string]string // FLINK_PROPERTIES, ...
	Binds []string          // host:container[:ro]
	REST  bool              // publish 8081 and wait until GET /overview answers 200
}

// Start runs one container of the scope's image on its network.
func (s *Scope) Start(t testing.TB, n Node) *testcontainers.DockerContainer {
	t.Helper()
	env := map[string]string{}
	maps.Copy(env, s.cfg.Env)
	maps.Copy(env, n.Env)
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName(s.cfg.Name + "-" + s.ID + "-" + n.Alias),
		testcontainers.WithLabels(s.Labels),
		tcnetwork.WithNetwork([]string{n.Alias}, s.Network),
		testcontainers.WithEnv(env),
		testcontainers.WithCmd(n.Cmd...),
	}
	if s.cfg.Hostname {
		opts = append(opts, testcontainers.WithConfigModifier(func(c *container.Config) { c.Hostname = n.Alias }))
	}
	if len(n.Binds) > 0 {
		opts = append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, n.Binds...)
		}))
	}
	if n.REST {
		// The strategy's own timeout (testcontainers' default: 60 s) bounds it too, and a JVM
		// JobManager on a loaded 2-core machine can take longer (seen in CI): both are the
		// scope's.
		opts = append(opts, testcontainers.WithExposedPorts("8081/tcp"),
			testcontainers.WithWaitStrategyAndDeadline(s.cfg.StartTimeout,
				wait.ForHTTP("/overview").WithPort("8081/tcp").WithPollInterval(500*time.Millisecond).
					WithStartupTimeout(s.cfg.StartTimeout)))
	}
	c, err := testcontainers.Run(t.Context(), s.cfg.Image, opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		logs := ""
		if c != nil {
			logs = Logs(t, c)
		}
		what := ""
		if s.cfg.What != "" {
			what = s.cfg.What + ": "
		}
		t.Fatalf("%srun %s (%s): %v\nlogs:\n%s", what, n.Alias, strings.Join(n.Cmd, " "), err, logs)
	}
	return c
}

// Logs is the container's log as the engine keeps it (stdout and stderr in one).
func Logs(t testing.TB, c *testcontainers.DockerContainer) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(logs unavailable: %v)", err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Sprintf("(logs unavailable: %v)", err)
	}
	return string(data)
}

// WaitExit waits, up to timeout, for the container to stop and returns its exit code.
func WaitExit(t testing.TB, c *testcontainers.DockerContainer, timeout time.Duration) int {
	t.Helper()
	var code int
	WaitFor(t, timeout, "the container to exit", func() bool {
		st, err := c.State(t.Context())
		if err != nil {
			t.Fatalf("inspect container: %v", err)
		}
		code = st.ExitCode
		return !st.Running && st.Status != "created"
	})
	return code
}

// WaitFor polls cond until it holds; the test fails when it does not within timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

// RESTURL is the host's address of the container's published 8081.
func RESTURL(t testing.TB, c *testcontainers.DockerContainer) string {
	t.Helper()
	ep, err := c.PortEndpoint(t.Context(), "8081/tcp", "http")
	if err != nil {
		t.Fatalf("REST endpoint: %v", err)
	}
	return ep
}

// Call makes one REST request and returns the status and the body.
func Call(t testing.TB, method, url, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, data
}

// JarForm is the multipart body of POST /jars/upload for a jar named name, and its
// content type.
func JarForm(t testing.TB, name string, jar []byte) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile("jarfile", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Write(jar); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &body, w.FormDataContentType()
}

// ContainerFile reads a file of a container (running or stopped).
func ContainerFile(t testing.TB, c *testcontainers.DockerContainer, path string) string {
	t.Helper()
	r, err := c.CopyFileFromContainer(t.Context(), path)
	if err != nil {
		t.Fatalf("copy %s out of the container: %v", path, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(data)
}

// ImageFile is one regular file of an image.
type ImageFile struct {
	Path string // where it is in the image
	Data []byte
}

// ImageFiles copies path (a file or a folder) out of image and returns the regular files
// under it, in the order of docker cp's archive. The copy goes through a container created
// for it (named name, with the label "key=value" label) and removed at once.
func ImageFiles(t testing.TB, image, path, name, label string) []ImageFile {
	t.Helper()
	if out, err := Docker(t, "create", "--name", name, "--label", label, image); err != nil {
		t.Fatalf("docker create %s: %v\n%s", image, err, out)
	}
	defer Docker(t, "rm", "-f", name) //nolint:errcheck // best effort; the label finds leftovers
	out, err := exec.CommandContext(t.Context(), "docker", "cp", name+":"+path, "-").Output()
	if err != nil {
		t.Fatalf("docker cp %s:%s (of %s): %v", name, path, image, err)
	}
	var files []ImageFile
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read the archive of %s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		// docker cp names entries after the last element of path.
		files = append(files, ImageFile{Path: filepath.Join(filepath.Dir(path), h.Name), Data: data})
	}
	return files
}

// ChownFlink gives a folder to the images' user flink, uid 9999 (the tests run as root, as
// CI does).
func ChownFlink(t testing.TB, dir string) {
	t.Helper()
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, 9999, 9999)
	}); err != nil {
		t.Fatalf("give %s to uid 9999: %v", dir, err)
	}
}
