package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/go-cmp/cmp"
)

// wait bounds every wait for something that should happen (kubelet's expectUpdate uses 5s).
const wait = 5 * time.Second

// sentinelPrefix names files written only to mark a point in the event stream.
const sentinelPrefix = "zz-sentinel-"

type harness struct {
	dir string
	w   *Watcher
	out chan Change
	n   atomic.Int64 // sentinel counter
}

// startWatcher runs a Watcher on dir until the end of the test, and checks that Run
// returns nil promptly when its context ends.
func startWatcher(t testing.TB, dir string, setup ...func(*Watcher)) *harness {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, ok := t.(*testing.B); ok {
		log = slog.New(slog.DiscardHandler) // a benchmark's output is always printed
	}
	h := &harness{dir: dir, w: New(Config{Dir: dir, Logger: log}), out: make(chan Change)}
	for _, f := range setup {
		f(h.w)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx, h.out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(wait):
			t.Errorf("Run still running %v after its context ended", wait)
		}
	})
	return h
}

// next returns the next Change that is not about a sentinel file.
func (h *harness) next(t testing.TB) Change {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case c := <-h.out:
			if !isSentinel(c) {
				return c
			}
		case <-deadline:
			t.Fatalf("no change within %v", wait)
		}
	}
}

// waitFor reads Changes until want arrives and returns those before it.
func (h *harness) waitFor(t testing.TB, want Change) []Change {
	t.Helper()
	deadline := time.After(wait)
	var before []Change
	for {
		select {
		case c := <-h.out:
			if c == want {
				return before
			}
			if !isSentinel(c) {
				before = append(before, c)
			}
		case <-deadline:
			t.Fatalf("no %+v within %v; got %+v", want, wait, before)
		}
	}
}

// settle writes a new sentinel spec file and returns every Change that arrives before the
// sentinel's: all Changes of events that happened before settle was called, since Changes
// come in the order their bursts ended.
func (h *harness) settle(t testing.TB) []Change {
	t.Helper()
	p := filepath.Join(h.dir, fmt.Sprintf("%s%d.yaml", sentinelPrefix, h.n.Add(1)))
	writeFile(t, p, "")
	return h.waitFor(t, Change{Path: p})
}

func isSentinel(c Change) bool { return strings.HasPrefix(filepath.Base(c.Path), sentinelPrefix) }

func rescan() Change { return Change{Rescan: true} }

func TestFirstMessageIsRescan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "kind: SessionCluster\n")
	h := startWatcher(t, dir)

	if got := h.next(t); got != rescan() {
		t.Fatalf("first change = %+v, want a Rescan", got)
	}
	if got := h.settle(t); len(got) != 0 {
		t.Errorf("changes after the first Rescan with nothing written: %+v", got)
	}
}

func TestFirstMessageIsRescanWhenFolderIsMissing(t *testing.T) {
	t.Parallel()
	h := startWatcher(t, filepath.Join(t.TempDir(), "specs"))

	if got := h.next(t); got != rescan() {
		t.Fatalf("first change = %+v, want a Rescan", got)
	}
}

func TestEachFileOperationGivesOneChangeForThePath(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	tests := []struct {
		name   string
		before func(t *testing.T, p string) // before the watcher starts
		op     func(t *testing.T, p string)
	}{
		{
			name: "create",
			op:   func(t *testing.T, p string) { writeFile(t, p, "kind: SessionCluster\n") },
		},
		{
			name:   "write",
			before: func(t *testing.T, p string) { writeFile(t, p, "kind: SessionCluster\n") },
			op: func(t *testing.T, p string) {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString("spec: {}\n"); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:   "chmod",
			before: func(t *testing.T, p string) { writeFile(t, p, "kind: SessionCluster\n") },
			op: func(t *testing.T, p string) {
				if err := os.Chmod(p, 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:   "remove",
			before: func(t *testing.T, p string) { writeFile(t, p, "kind: SessionCluster\n") },
			op: func(t *testing.T, p string) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:   "rename away",
			before: func(t *testing.T, p string) { writeFile(t, p, "kind: SessionCluster\n") },
			op: func(t *testing.T, p string) {
				if err := os.Rename(p, filepath.Join(outside, "renamed-away.yaml")); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "move in",
			op: func(t *testing.T, p string) {
				src := filepath.Join(outside, "moved-in.yaml")
				writeFile(t, src, "kind: SessionCluster\n")
				if err := os.Rename(src, p); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "wordcount.yaml")
			if tt.before != nil {
				tt.before(t, p)
			}
			h := startWatcher(t, dir)
			h.waitFor(t, rescan())

			tt.op(t, p)

			want := []Change{{Path: p}}
			if diff := cmp.Diff(want, h.settle(t)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEditorSaveGivesOneChangeForTheSpecAndNoneForItsTempFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		save func(t *testing.T, p string)
	}{
		{
			name: "swap file renamed over", // .x.yaml.swp written, then renamed over x.yaml
			save: func(t *testing.T, p string) {
				tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".swp")
				writeFile(t, tmp, "kind: SessionCluster\nspec: {}\n")
				if err := os.Rename(tmp, p); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "tmp file renamed over", // x.yaml.tmp written, chmod'ed, then renamed over x.yaml
			save: func(t *testing.T, p string) {
				tmp := p + ".tmp"
				writeFile(t, tmp, "kind: SessionCluster\nspec: {}\n")
				if err := os.Chmod(tmp, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, p); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "backup then rewrite", // vim: x.yaml -> x.yaml~, write x.yaml, remove x.yaml~
			save: func(t *testing.T, p string) {
				if err := os.Rename(p, p+"~"); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(filepath.Dir(p), "4913"), "")
				if err := os.Remove(filepath.Join(filepath.Dir(p), "4913")); err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, "kind: SessionCluster\nspec: {}\n")
				if err := os.Remove(p + "~"); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "x.yaml")
			writeFile(t, p, "kind: SessionCluster\n")
			h := startWatcher(t, dir)
			h.waitFor(t, rescan())

			tt.save(t, p)

			want := []Change{{Path: p}}
			if diff := cmp.Diff(want, h.settle(t)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilesThatAreNotSpecsGiveNoChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startWatcher(t, dir)
	h.waitFor(t, rescan())

	for _, name := range []string{"README.md", ".hidden.yaml", ".#x.yaml", "x.yaml~", "x.yaml.tmp", ".x.yaml.swp", "x.json"} {
		writeFile(t, filepath.Join(dir, name), "kind: SessionCluster\n")
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "nested.yaml"), "kind: SessionCluster\n")

	if got := h.settle(t); len(got) != 0 {
		t.Errorf("changes for files that are not specs: %+v", got)
	}
}

func TestBurstOfWritesGivesOneChangeAtLeastDebounceAfterTheLastWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "burst.yaml")
	h := startWatcher(t, dir)
	h.waitFor(t, rescan())

	var lastWrite time.Time
	for i := range 20 {
		lastWrite = time.Now()
		writeFile(t, p, fmt.Sprintf("kind: SessionCluster\n# write %d\n", i))
	}
	if got := h.next(t); got != (Change{Path: p}) {
		t.Fatalf("change = %+v, want one for %s", got, p)
	}
	if took := time.Since(lastWrite); took < DefaultDebounce {
		t.Errorf("change came %v after the last write began, want at least the debounce (%v)", took, DefaultDebounce)
	}
	if got := h.settle(t); len(got) != 0 {
		t.Errorf("more changes after the burst's one: %+v", got)
	}
}

// The watcher's half of "a file read half-written is retried, never applied": a writer
// slower than the quiet period may cause a Change for a half-written file, and its
// remaining writes then always cause another Change, after which the file is complete.
func TestSlowWriterGetsAnotherChangeAfterItsLastWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "slow.yaml")
	h := startWatcher(t, dir)
	h.waitFor(t, rescan())

	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString("kind: Session"); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, Change{Path: p}) // the consumer would read "kind: Session" and fail to parse it

	if _, err := f.WriteString("Cluster\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, Change{Path: p})
	if b, err := os.ReadFile(p); err != nil || string(b) != "kind: SessionCluster\n" {
		t.Fatalf("file at the second change = %q, %v; want the complete file", b, err)
	}
}

func TestFolderCreatedLateGivesRescanThenChanges(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "specs")
	h := startWatcher(t, dir)
	if got := h.next(t); got != rescan() {
		t.Fatalf("first change = %+v, want a Rescan", got)
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := h.next(t); got != rescan() {
		t.Fatalf("change after the folder appeared = %+v, want a Rescan", got)
	}

	p := filepath.Join(dir, "a.yaml")
	writeFile(t, p, "kind: SessionCluster\n")
	if diff := cmp.Diff([]Change{{Path: p}}, h.settle(t)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestFolderRemovedAndRecreatedGivesRescans(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "specs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "a.yaml")
	writeFile(t, p, "kind: SessionCluster\n")
	h := startWatcher(t, dir)
	h.waitFor(t, rescan())

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// The file's removal and the folder's: both say "a.yaml is gone".
	got := []Change{h.next(t), h.next(t)}
	slices.SortFunc(got, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	if diff := cmp.Diff([]Change{rescan(), {Path: p}}, got); diff != "" {
		t.Fatalf("changes after removing the folder (-want +got):\n%s", diff)
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := h.next(t); got != rescan() {
		t.Fatalf("change after the folder came back = %+v, want a Rescan", got)
	}
	writeFile(t, p, "kind: SessionCluster\n")
	if diff := cmp.Diff([]Change{{Path: p}}, h.settle(t)); diff != "" {
		t.Errorf("changes in the new folder (-want +got):\n%s", diff)
	}
}

func TestFolderRenamedAwayGivesRescanWithEmptyListing(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "specs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.yaml"), "kind: SessionCluster\n")
	h := startWatcher(t, dir)
	h.waitFor(t, rescan())

	if err := os.Rename(dir, filepath.Join(root, "specs.old")); err != nil {
		t.Fatal(err)
	}
	if got := h.next(t); got != rescan() {
		t.Fatalf("change after the folder was renamed away = %+v, want a Rescan", got)
	}
	if specs, err := ListSpecs(dir); err != nil || len(specs) != 0 {
		t.Errorf("ListSpecs after the folder was renamed away = %v, %v; want empty", specs, err)
	}
}

func TestFolderThatIsAFileIsRetriedUntilItIsAFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "specs")
	writeFile(t, dir, "not a folder")
	h := startWatcher(t, dir)
	if got := h.next(t); got != rescan() {
		t.Fatalf("first change = %+v, want a Rescan", got)
	}

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := h.next(t); got != rescan() {
		t.Fatalf("change after the folder appeared = %+v, want a Rescan", got)
	}
	p := filepath.Join(dir, "a.yaml")
	writeFile(t, p, "")
	if diff := cmp.Diff([]Change{{Path: p}}, h.settle(t)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestSymlinkedSpecFileGivesChangesWhenTheLinkChanges(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "wordcount.yaml")
	writeFile(t, target, "kind: SessionCluster\n")
	h := startWatcher(t, dir)
	h.waitFor(t, rescan())

	link := filepath.Join(dir, "wordcount.yaml")
	symlink(t, target, link)
	if diff := cmp.Diff([]Change{{Path: link}}, h.settle(t)); diff != "" {
		t.Errorf("changes after creating the link (-want +got):\n%s", diff)
	}
	if specs, err := ListSpecs(dir); err != nil || !slices.Contains(specs, link) {
		t.Errorf("ListSpecs = %v, %v; want it to contain %s", specs, err, link)
	}

	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Change{{Path: link}}, h.settle(t)); diff != "" {
		t.Errorf("changes after removing the link (-want +got):\n%s", diff)
	}
}

func TestSymlinkedFolderIsFollowedAndRepointingItGivesRescan(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, d := range []string{"specs.v1", "specs.v2"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, "specs")
	symlink(t, "specs.v1", dir)
	h := startWatcher(t, dir)
	h.waitFor(t, rescan())

	writeFile(t, filepath.Join(root, "specs.v1", "a.yaml"), "")
	if diff := cmp.Diff([]Change{{Path: filepath.Join(dir, "a.yaml")}}, h.settle(t)); diff != "" {
		t.Errorf("changes in the first target (-want +got):\n%s", diff)
	}

	// ln -sfn specs.v2 specs, atomically.
	symlink(t, "specs.v2", filepath.Join(root, "specs.tmp"))
	if err := os.Rename(filepath.Join(root, "specs.tmp"), dir); err != nil {
		t.Fatal(err)
	}
	if got := h.next(t); got != rescan() {
		t.Fatalf("change after re-pointing the folder link = %+v, want a Rescan", got)
	}

	writeFile(t, filepath.Join(root, "specs.v1", "old.yaml"), "")
	writeFile(t, filepath.Join(root, "specs.v2", "b.yaml"), "")
	if diff := cmp.Diff([]Change{{Path: filepath.Join(dir, "b.yaml")}}, h.settle(t)); diff != "" {
		t.Errorf("changes after re-pointing (-want +got):\n%s", diff)
	}
}

func TestConfigMapStyleUpdateGivesRescan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The layout Kubernetes' atomic writer gives a mounted ConfigMap.
	mkdir(t, filepath.Join(dir, "..2024_01_01"))
	writeFile(t, filepath.Join(dir, "..2024_01_01", "wordcount.yaml"), "kind: SessionCluster\n")
	symlink(t, "..2024_01_01", filepath.Join(dir, "..data"))
	symlink(t, "..data/wordcount.yaml", filepath.Join(dir, "wordcount.yaml"))
	h := startWatcher(t, dir)
	h.waitFor(t, rescan())

	// An update: new timestamped folder, ..data swapped by rename, old folder removed.
	mkdir(t, filepath.Join(dir, "..2024_01_02"))
	writeFile(t, filepath.Join(dir, "..2024_01_02", "wordcount.yaml"), "kind: SessionCluster\nspec: {}\n")
	symlink(t, "..2024_01_02", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2024_01_01")); err != nil {
		t.Fatal(err)
	}

	if diff := cmp.Diff([]Change{rescan()}, h.settle(t)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestWatchErrorGivesRescanAndWatchesAgain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	watchers := make(chan *fsnotify.Watcher, 4)
	h := startWatcher(t, dir, func(w *Watcher) {
		w.onWatch = func(fw *fsnotify.Watcher) { watchers <- fw }
	})
	h.waitFor(t, rescan())
	first := receive(t, watchers)

	for i, err := range []error{fsnotify.ErrEventOverflow, errors.New("read inotify: input/output error")} {
		first.Errors <- err // as fsnotify's reader would send it
		if got := h.next(t); got != rescan() {
			t.Fatalf("change %d after the watch broke = %+v, want a Rescan", i, got)
		}
		again := receive(t, watchers)
		if again == first {
			t.Fatal("the broken fsnotify watcher was kept")
		}
		if got := h.next(t); got != rescan() {
			t.Fatalf("change %d after watching again = %+v, want a Rescan", i, got)
		}
		first = again
	}

	p := filepath.Join(dir, "a.yaml")
	writeFile(t, p, "")
	if diff := cmp.Diff([]Change{{Path: p}}, h.settle(t)); diff != "" {
		t.Errorf("changes after watching again (-want +got):\n%s", diff)
	}
}

func TestRunWithNilChannelReturnsAnError(t *testing.T) {
	t.Parallel()
	if err := New(Config{Dir: t.TempDir()}).Run(t.Context(), nil); err == nil {
		t.Fatal("Run(ctx, nil) = nil, want an error")
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	t.Parallel()
	w := New(Config{})
	if w.dir != DefaultDir || w.debounce != DefaultDebounce || w.log == nil {
		t.Errorf("New(Config{}) = dir %q, debounce %v, logger %v; want %q, %v, a logger", w.dir, w.debounce, w.log, DefaultDir, DefaultDebounce)
	}
	if w := New(Config{Dir: "./specs/"}); w.dir != "specs" {
		t.Errorf("New(Dir ./specs/).dir = %q, want specs", w.dir)
	}
}

// Not parallel: parallel tests are paused while it runs, so any watch goroutine left is its.
func TestCancelStopsRunAndLeavesNoGoroutines(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan Change)
	done := make(chan error, 1)
	go func() { done <- New(Config{Dir: dir}).Run(ctx, out) }()
	if got := <-out; got != rescan() {
		t.Fatalf("first change = %+v, want a Rescan", got)
	}
	writeFile(t, filepath.Join(dir, "a.yaml"), "") // a pending debounce timer, an unread change

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(wait):
		t.Fatalf("Run still running %v after cancel", wait)
	}
	// Run waited for its own goroutines. fsnotify's reader has signalled its end when Close
	// returns, but may still be unwinding: poll until it is gone.
	deadline := time.Now().Add(wait)
	for {
		left := watchGoroutines(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left %v after Run returned:\n%s", wait, strings.Join(left, "\n\n"))
		}
		runtime.Gosched()
	}
}

// watchGoroutines returns the stacks of running goroutines that are in this package's
// watcher or in fsnotify, other than the caller's.
func watchGoroutines(t *testing.T) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "github.com/fsnotify/fsnotify.") ||
			strings.Contains(g, "internal/watch.(*loop)") ||
			strings.Contains(g, "internal/watch.debounce") ||
			strings.Contains(g, "internal/watch.(*Watcher)") {
			left = append(left, g)
		}
	}
	return left
}

func receive[T any](t testing.TB, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(wait):
		t.Fatalf("nothing received within %v", wait)
		panic("unreachable")
	}
}

func mkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWriteToChange measures the time from writing a spec file to its Change; the
// median should be the debounce (DefaultDebounce) plus a few milliseconds.
func BenchmarkWriteToChange(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "bench.yaml")
	h := startWatcher(b, dir)
	h.waitFor(b, rescan())

	var took []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		writeFile(b, p, fmt.Sprintf("kind: SessionCluster\n# %d\n", i))
		h.waitFor(b, Change{Path: p})
		took = append(took, time.Since(start))
	}
	reportMedian(b, took)
}

// BenchmarkBurstToChange measures the time from the last of 20 quick writes to the one
// Change of the burst.
func BenchmarkBurstToChange(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "bench.yaml")
	h := startWatcher(b, dir)
	h.waitFor(b, rescan())

	var took []time.Duration
	for b.Loop() {
		var last time.Time
		for i := range 20 {
			last = time.Now()
			writeFile(b, p, fmt.Sprintf("kind: SessionCluster\n# %d\n", i))
		}
		h.waitFor(b, Change{Path: p})
		took = append(took, time.Since(last))
	}
	reportMedian(b, took)
}

func reportMedian(b *testing.B, took []time.Duration) {
	b.Helper()
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
}
