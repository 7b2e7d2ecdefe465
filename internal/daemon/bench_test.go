package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/cli"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/fake"
)

// BenchmarkFileWriteToFirstRuntimeCall measures the time from writing a new spec file into
// the watched folder to the runtime's first call for that cluster, with the daemon's default
// debounce (50ms). Reported: median and p90 in ms.
//
//	go test -run '^$' -bench FileWriteToFirstRuntimeCall -benchtime 40x ./internal/daemon
func BenchmarkFileWriteToFirstRuntimeCall(b *testing.B) {
	specs := filepath.Join(b.TempDir(), "specs")
	os.MkdirAll(specs, 0o755)
	store, err := db.Open(b.Context(), filepath.Join(b.TempDir(), "flinkd.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	rt := fake.New()
	defer rt.Close()
	first := make(chan runtime.Key, 1024)
	seen := map[runtime.Key]bool{}
	rt.OnCall = func(c fake.Call) {
		if c.Key.Name != "" && !seen[c.Key] {
			seen[c.Key] = true
			first <- c.Key
		}
	}
	d, err := New(Config{SpecsDir: specs, Store: store, Targets: []Target{{Name: "default", Runtime: rt}},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(200 * time.Millisecond) // let the first rescan pass; not part of what is measured

	var lat []time.Duration
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("b%d", i)
		i++
		start := time.Now()
		if err := os.WriteFile(filepath.Join(specs, name+".yaml"), []byte(clusterYAML(name, "STOPPED", 1, "")), 0o644); err != nil {
			b.Fatal(err)
		}
		select {
		case k := <-first:
			if k.Name != name {
				b.Fatalf("first call for %s, want %s", k, name)
			}
		case <-time.After(10 * time.Second):
			b.Fatal("no runtime call within 10s")
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
}

// BenchmarkStatusJSON1000 measures `flinkctl status -o json` (cli.Main end to end: dial the
// unix socket, the daemon reads 1,000 clusters from SQLite, encodes, the CLI decodes and
// prints) against the real daemon API.
//
//	go test -run '^$' -bench StatusJSON1000 -benchtime 50x ./internal/daemon
func BenchmarkStatusJSON1000(b *testing.B) {
	store, err := db.Open(b.Context(), filepath.Join(b.TempDir(), "flinkd.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	yaml := []byte(clusterYAML("x", "RUNNING", 2, ""))
	err = store.Update(b.Context(), func(tx *db.Tx) error {
		for i := range 1000 {
			name := fmt.Sprintf("cluster-%04d", i)
			if err := tx.PutDesired(db.DesiredSpec{Namespace: "default", Name: name, File: "/specs/" + name + ".yaml",
				SpecYAML: yaml, FileHash: "h", Desired: []byte(`{"spec":{"flinkImageRepository":"flink","flinkImageTag":"1.20"}}`),
				DesiredState: "RUNNING", Target: "default", Image: "flink:1.20"}, "RUNNING"); err != nil {
				return err
			}
			if err := tx.SetStatus("default", name, db.Status{Phase: "RUNNING", TMDesired: 2, TMReady: 2,
				RESTURL: "http://127.0.0.1:32768", Message: "2/2 TaskManagers registered, 2/4 slots free"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Config{SpecsDir: b.TempDir(), Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	sock := filepath.Join(b.TempDir(), "flinkd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler()}
	go srv.Serve(ln)
	defer srv.Close()

	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		code := cli.Main(b.Context(), []string{"status", "-o", "json", "--socket", sock},
			cli.IOStreams{In: bytes.NewReader(nil), Out: &out, ErrOut: io.Discard})
		if code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	if !bytes.Contains(out.Bytes(), []byte(`"name": "cluster-0999"`)) && !bytes.Contains(out.Bytes(), []byte(`"name":"cluster-0999"`)) {
		b.Fatalf("output lacks the last cluster: %.200s", out.String())
	}
}
