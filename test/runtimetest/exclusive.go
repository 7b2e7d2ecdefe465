package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Exclusive wraps a runtime and holds its caller to the contract of runtime.Runtime: Apply,
// Observe and Delete are never called for a key while another of them runs for the same key.
// An overlapping call fails t at once, naming both calls. List, Ping and the optional
// capabilities (LogSource.Logs only reads) pass through unchecked.
type Exclusive struct {
	t testing.TB
	r runtime.Runtime

	mu       sync.Mutex
	busy     map[runtime.Key]string // the call running for a key
	calls    atomic.Int64
	overlaps atomic.Int64
}

var (
	_ runtime.Runtime      = (*Exclusive)(nil)
	_ runtime.LogSource    = (*Exclusive)(nil)
	_ runtime.ChangeSource = (*Exclusive)(nil)
)

// NewExclusive wraps r.
func NewExclusive(t testing.TB, r runtime.Runtime) *Exclusive {
	return &Exclusive{t: t, r: r, busy: map[runtime.Key]string{}}
}

// Calls is how many key calls were made; Overlaps how many of them overlapped another.
func (e *Exclusive) Calls() int64    { return e.calls.Load() }
func (e *Exclusive) Overlaps() int64 { return e.overlaps.Load() }

func (e *Exclusive) enter(k runtime.Key, op string) func() {
	e.calls.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if other, ok := e.busy[k]; ok {
		e.overlaps.Add(1)
		e.t.Errorf("runtime contract broken: %s(%s) called while %s(%s) runs", op, k, other, k)
		return func() {}
	}
	e.busy[k] = op
	return func() {
		e.mu.Lock()
		delete(e.busy, k)
		e.mu.Unlock()
	}
}

func (e *Exclusive) Apply(ctx context.Context, c runtime.Cluster, progress runtime.Progress) error {
	defer e.enter(c.Key, "Apply")()
	return e.r.Apply(ctx, c, progress)
}

func (e *Exclusive) Observe(ctx context.Context, k runtime.Key) (runtime.Observed, error) {
	defer e.enter(k, "Observe")()
	return e.r.Observe(ctx, k)
}

func (e *Exclusive) Delete(ctx context.Context, k runtime.Key) error {
	defer e.enter(k, "Delete")()
	return e.r.Delete(ctx, k)
}

func (e *Exclusive) List(ctx context.Context) ([]runtime.Key, error) { return e.r.List(ctx) }
func (e *Exclusive) Ping(ctx context.Context) error                  { return e.r.Ping(ctx) }

// errNoCapability is returned by a capability the wrapped runtime lacks.
var errNoCapability = errors.New("the wrapped runtime lacks this capability")

func (e *Exclusive) Logs(ctx context.Context, k runtime.Key, instance string, opts runtime.LogOptions) (io.ReadCloser, error) {
	ls, ok := e.r.(runtime.LogSource)
	if !ok {
		return nil, fmt.Errorf("logs: %w", errNoCapability)
	}
	return ls.Logs(ctx, k, instance, opts)
}

func (e *Exclusive) Changes(ctx context.Context) (<-chan runtime.Key, error) {
	cs, ok := e.r.(runtime.ChangeSource)
	if !ok {
		return nil, fmt.Errorf("changes: %w", errNoCapability)
	}
	return cs.Changes(ctx)
}
