package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/api"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// stubDaemon is a canned flinkd: an HTTP server on a unix socket answering what each test
// registers. It is the one stand-in of these tests; the daemon's own tests run the real one.
type stubDaemon struct {
	socket string
	mux    *http.ServeMux

	mu       sync.Mutex
	requests []string // "GET /v1/clusters?watch=1", in order
}

func newStubDaemon(tb testing.TB) *stubDaemon {
	tb.Helper()
	// A short folder: unix socket paths are limited to about 100 bytes, and t.TempDir()
	// carries the test's name.
	dir, err := os.MkdirTemp("", "flinkctl")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	d := &stubDaemon{socket: filepath.Join(dir, "flinkd.sock"), mux: http.NewServeMux()}
	l, err := net.Listen("unix", d.socket)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.requests = append(d.requests, r.Method+" "+r.URL.RequestURI())
		d.mu.Unlock()
		d.mux.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	tb.Cleanup(srv.Close)
	return d
}

// handle registers h for a ServeMux pattern ("GET /v1/clusters").
func (d *stubDaemon) handle(pattern string, h http.HandlerFunc) { d.mux.HandleFunc(pattern, h) }

// answer registers a fixed JSON answer.
func (d *stubDaemon) answer(pattern string, code int, v any) {
	d.handle(pattern, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, code, v) })
}

// serveClusters answers GET /v1/clusters with clusters (state version 1) and /v1/clusters/{ns}/{name}.
func (d *stubDaemon) serveClusters(clusters []api.ClusterStatus) {
	d.handle("GET "+api.PathClusters, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(api.HeaderVersion, "1")
		writeJSON(w, http.StatusOK, clusters)
	})
	d.handle("GET "+api.PathCluster, func(w http.ResponseWriter, r *http.Request) {
		for _, cs := range clusters {
			if cs.Name != "" && cs.Namespace == r.PathValue("ns") && cs.Name == r.PathValue("name") {
				writeJSON(w, http.StatusOK, cs)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, api.Error{Error: "no cluster " + r.PathValue("ns") + "/" + r.PathValue("name")})
	})
}

func (d *stubDaemon) requestLog() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.requests...)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// output is a stdout or stderr for Main: safe for concurrent use (watch and follow tests read
// it while Main writes) and, when tty is set, a terminal as far as isTerminal can tell.
type output struct {
	tty bool
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func (o *output) Stat() (os.FileInfo, error) { return fileInfo{tty: o.tty}, nil }

type fileInfo struct{ tty bool }

func (fi fileInfo) Name() string       { return "stdout" }
func (fi fileInfo) Size() int64        { return 0 }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return false }
func (fi fileInfo) Sys() any           { return nil }
func (fi fileInfo) Mode() os.FileMode {
	if fi.tty {
		return os.ModeDevice | os.ModeCharDevice | 0o620
	}
	return 0o644
}

// result is what one flinkctl run did.
type result struct {
	code           int
	stdout, stderr string
}

// runMain runs Main with args and stdout as a terminal or not.
func runMain(t *testing.T, tty bool, args ...string) result {
	t.Helper()
	return runMainContext(t.Context(), tty, args...)
}

func runMainContext(ctx context.Context, tty bool, args ...string) result {
	stdout, stderr := &output{tty: tty}, &output{}
	code := Main(ctx, args, IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// startMain runs Main in the background (watch, follow) and returns its streams and a
// function that interrupts it (as Ctrl-C does) and returns its exit code.
func startMain(t *testing.T, tty bool, args ...string) (stdout, stderr *output, interrupt func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr = &output{tty: tty}, &output{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, args, IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr})
	}()
	var once sync.Once
	code := -1
	interrupt = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("flinkctl %s did not end within 10s of being interrupted", strings.Join(args, " "))
			}
		})
		return code
	}
	t.Cleanup(func() { interrupt() })
	return stdout, stderr, interrupt
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out after 10s waiting for %s", what)
		case <-tick.C:
		}
	}
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// parse runs only flag and argument parsing of one command built by newCmd, under a root
// with the global flags, and returns the options its runF received.
func parse[T any](t *testing.T, newCmd func(*factory, func(*T) error) *cobra.Command, args ...string) (*T, error) {
	t.Helper()
	streams := IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}
	f := &factory{streams: streams}
	root := &cobra.Command{Use: "flinkctl", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	f.addGlobalFlags(root)
	var got *T
	root.AddCommand(newCmd(f, func(o *T) error { got = o; return nil }))
	root.SetArgs(args)
	if err := root.ExecuteContext(t.Context()); err != nil {
		return nil, err
	}
	if got == nil {
		t.Fatalf("flinkctl %s: runF was not called", strings.Join(args, " "))
	}
	return got, nil
}

// cmpIgnoreIOAndClient leaves the dependencies out of an options comparison.
var cmpIgnoreIOAndClient = cmp.FilterPath(func(p cmp.Path) bool {
	sf, ok := p.Last().(cmp.StructField)
	return ok && (sf.Name() == "IO" || sf.Name() == "Client")
}, cmp.Ignore())
