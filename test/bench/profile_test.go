package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pprofFile is added to package main of cmd/flinkd by `go build -overlay` for profiling
// builds only: the product has no profiling endpoint, and the repository's files are not
// touched.
const pprofFile = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("FLINKD_BENCH_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
`

// buildProfilingFlinkd builds cmd/flinkd plus a net/http/pprof listener on
// $FLINKD_BENCH_PPROF_ADDR, into dir.
func buildProfilingFlinkd(tb testing.TB, dir string) string {
	tb.Helper()
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofFile), 0o644); err != nil {
		tb.Fatal(err)
	}
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(moduleRoot, "cmd", "flinkd", "zz_bench_pprof.go"): src},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, "flinkd-pprof")
	cmd := exec.Command("go", "build", "-overlay", ov, "-o", bin, "./cmd/flinkd")
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build flinkd with pprof: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fetchProfile saves http://addr/debug/pprof/<what> into file.
func fetchProfile(ctx context.Context, addr, what, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s profile: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s profile: %s", what, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("save %s profile: %w", what, err)
	}
	return f.Close()
}

// profiler collects a CPU profile over a window and a heap profile at its end, when
// FLINKD_BENCH_PROFILE names a folder.
type profiler struct {
	addr, dir string
	cpuDone   chan error
}

func (p *profiler) startCPU(window time.Duration) {
	p.cpuDone = make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), window+time.Minute)
		defer cancel()
		p.cpuDone <- fetchProfile(ctx, p.addr, fmt.Sprintf("profile?seconds=%d", int(window.Seconds())), filepath.Join(p.dir, "cpu.pprof"))
	}()
}

func (p *profiler) finish(tb testing.TB) {
	tb.Helper()
	if err := <-p.cpuDone; err != nil {
		tb.Errorf("cpu profile: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fetchProfile(ctx, p.addr, "heap", filepath.Join(p.dir, "heap.pprof")); err != nil {
		tb.Errorf("heap profile: %v", err)
	}
	tb.Logf("profiles in %s: go tool pprof -top %s/cpu.pprof (binary %s)", p.dir, p.dir, filepath.Join(p.dir, "flinkd-pprof"))
}
