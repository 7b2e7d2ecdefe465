// Package daemon is flinkd's control loop. It keeps the database in line with the specs
// folder (files.go), and for every cluster compares the desired spec with what its runtime
// and its JobManager report, and acts on the difference (decide.go is the pure decision,
// reconcile.go the I/O around it). Work items are cluster keys, never events: a file change,
// a runtime event, an API call and the periodic resync all just enqueue a key. One worker
// handles a key at a time; different keys proceed in parallel, bounded by Config.Workers.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/util/workqueue"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/pki"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/watch"
)

// Target is a deployment target: a named runtime (spec.deploymentTargetName picks one).
type Target struct {
	Name    string
	Kind    string // docker | kubernetes | memory
	Detail  string // what it points at, for `flinkctl targets`
	Runtime runtime.Runtime
}

// Config configures a Daemon.
type Config struct {
	// SpecsDir is the watched folder of SessionCluster files.
	SpecsDir string
	// DataDir is where the database lives (shown by the version API).
	DataDir string
	// PKI issues the key material of secure clusters (nil: a secure cluster fails, saying so).
	PKI     *pki.Authority
	Store   *db.Store
	Targets []Target
	Logger  *slog.Logger
	// Resync is the period of the full resync (default 10s).
	Resync time.Duration
	// Workers bounds how many clusters are reconciled at once (default 4).
	Workers int
	// Debounce is the watcher's per-file debounce (zero: watch.DefaultDebounce).
	Debounce time.Duration
	// ReconcileTimeout bounds one pass over one cluster, image pulls included (default 15m).
	ReconcileTimeout time.Duration
	// RetryBase and RetryMax bound the per-cluster exponential backoff of failed passes
	// (defaults 1s and 2m).
	RetryBase, RetryMax time.Duration
	// Version is reported by the API.
	Version string
	// Owner is the daemon's identity (runtime.LabelOwner), and FormerOwners those whose
	// clusters it adopted; both are reported by the API.
	Owner        string
	FormerOwners []string
	// Now is the clock for timestamps (time.Now if nil).
	Now func() time.Time
}

// Daemon runs the control loop and serves the API (api.go).
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	store   *db.Store
	targets map[string]Target
	queue   workqueue.TypedRateLimitingInterface[runtime.Key]
	now     func() time.Time
	// flinkHTTP is the client of the JobManagers' REST APIs that need no client of their own
	// (Endpoint.Client nil): see newFlinkHTTP.
	flinkHTTP *http.Client

	fileMu sync.Mutex // serializes syncFile

	notifyMu sync.Mutex
	version  uint64
	notify   chan struct{} // closed and replaced on every change

	orphanMu  sync.Mutex
	orphans   map[runtime.Key]*orphan // keys seen with resources but no cluster (orphan.go)
	scanned   chan struct{}           // closed after the first full rescan
	scannedMu sync.Once
}

// New checks cfg and builds a Daemon; Run starts it.
func New(cfg Config) (*Daemon, error) {
	if cfg.Store == nil {
		return nil, errors.New("daemon: no store")
	}
	if cfg.SpecsDir == "" {
		return nil, errors.New("daemon: no specs folder")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&cfg.Resync, 10*time.Second)
	setDefault(&cfg.ReconcileTimeout, 15*time.Minute)
	setDefault(&cfg.RetryBase, time.Second)
	setDefault(&cfg.RetryMax, 2*time.Minute)
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	targets := make(map[string]Target, len(cfg.Targets))
	for _, t := range cfg.Targets {
		if t.Runtime == nil {
			return nil, fmt.Errorf("daemon: target %q has no runtime", t.Name)
		}
		if _, dup := targets[t.Name]; dup {
			return nil, fmt.Errorf("daemon: target %q configured twice", t.Name)
		}
		targets[t.Name] = t
	}
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[runtime.Key](cfg.RetryBase, cfg.RetryMax)
	return &Daemon{
		cfg:     cfg,
		log:     cfg.Logger,
		store:   cfg.Store,
		targets: targets,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[runtime.Key]{Name: "clusters"}),
		now:       cfg.Now,
		flinkHTTP: newFlinkHTTP(),
		notify:    make(chan struct{}),
		orphans:   map[runtime.Key]*orphan{},
		scanned:   make(chan struct{}),
	}, nil
}

// flinkIdleConn is how long a connection to a JobManager's REST API is kept for reuse:
// longer than the resync, so that a cluster at rest is asked over the connection of its
// last pass (a new connection per pass and cluster costs a fifth of an idle daemon's CPU
// with 100 clusters: the dial, the close).
const flinkIdleConn = 30 * time.Second

// flinkBuffer is the size of each kept connection's read and write buffers (net/http's
// default: 4 KiB). The daemon's requests are a line and a few headers, the answers it reads
// are small JSON documents; with one connection kept per cluster the default buffers would
// be most of the memory those connections cost.
const flinkBuffer = 1 << 10

// newFlinkHTTP is the daemon's own transport to the JobManagers (never the process-wide
// http.DefaultTransport).
func newFlinkHTTP() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.IdleConnTimeout = flinkIdleConn
	tr.ReadBufferSize, tr.WriteBufferSize = flinkBuffer, flinkBuffer
	tr.MaxIdleConns = 0 // no limit: one per cluster (MaxIdleConnsPerHost stays 2)
	return &http.Client{Timeout: flinkTimeout, Transport: tr}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Run runs the control loop until ctx ends. Clusters keep running when it returns: the daemon
// is not their parent, and adopts them at its next start.
func (d *Daemon) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-ctx.Done()
		d.queue.ShutDown()
		return nil
	})

	// Adopt: whatever the runtimes run for clusters we know is reconciled first.
	d.enqueueRuntimeKeys(ctx)
	for range d.cfg.Workers {
		g.Go(func() error {
			for d.processNext(ctx) {
			}
			return nil
		})
	}

	changes := make(chan watch.Change, 64)
	w := watch.New(watch.Config{Dir: d.cfg.SpecsDir, Debounce: d.cfg.Debounce, Logger: d.log.With("component", "watch")})
	g.Go(func() error { return w.Run(ctx, changes) })
	g.Go(func() error { return d.consumeChanges(ctx, changes) })

	for _, t := range d.targets {
		if cs, ok := t.Runtime.(runtime.ChangeSource); ok {
			g.Go(func() error { return d.consumeRuntimeChanges(ctx, t, cs) })
		}
	}
	g.Go(func() error { return d.resyncLoop(ctx) })
	return g.Wait()
}

func (d *Daemon) consumeChanges(ctx context.Context, changes <-chan watch.Change) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ch := <-changes:
			var err error
			if ch.Rescan {
				err = d.rescan(ctx)
				if err == nil {
					d.scannedMu.Do(func() { close(d.scanned) })
				}
			} else {
				err = d.syncFile(ctx, ch.Path)
			}
			if err != nil && ctx.Err() == nil {
				d.log.Error("read specs", "err", err)
			}
		}
	}
}

func (d *Daemon) consumeRuntimeChanges(ctx context.Context, t Target, cs runtime.ChangeSource) error {
	ch, err := cs.Changes(ctx)
	if err != nil {
		d.log.Warn("runtime change events unavailable; relying on resync", "target", t.Name, "err", err)
		return nil
	}
	for k := range ch {
		d.queue.Add(k)
	}
	return nil
}

func (d *Daemon) resyncLoop(ctx context.Context) error {
	tick := time.NewTicker(d.cfg.Resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		clusters, err := d.store.Clusters(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("resync: list clusters", "err", err)
			}
			continue
		}
		for _, c := range clusters {
			d.queue.Add(runtime.Key{Namespace: c.Namespace, Name: c.Name})
		}
		select {
		case <-d.scanned:
			d.sweep(ctx)
		default:
		}
	}
}

// enqueueRuntimeKeys enqueues every key the runtimes have resources for and that the
// database knows (adoption at start).
func (d *Daemon) enqueueRuntimeKeys(ctx context.Context) {
	for _, t := range d.targets {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		keys, err := t.Runtime.List(lctx)
		cancel()
		if err != nil {
			d.log.Warn("list clusters of target", "target", t.Name, "err", err)
			continue
		}
		for _, k := range keys {
			if _, err := d.store.Cluster(ctx, k.Namespace, k.Name); err == nil {
				d.log.Info("adopting cluster", "cluster", k.String(), "target", t.Name)
				d.queue.Add(k)
			}
		}
	}
}

func (d *Daemon) processNext(ctx context.Context) bool {
	k, quit := d.queue.Get()
	if quit {
		return false
	}
	defer d.queue.Done(k)
	log := d.log.With("cluster", k.String())
	start := time.Now()
	res, err := d.reconcileSafe(ctx, k)
	switch {
	case ctx.Err() != nil:
		// Shutting down: the pass was abandoned; the next start picks it up.
	case err != nil:
		d.queue.AddRateLimited(k)
		log.Warn("reconcile failed", "err", err, "attempt", d.queue.NumRequeues(k))
	case res.Backoff:
		d.queue.AddRateLimited(k)
	case res.RequeueAfter > 0:
		d.queue.Forget(k)
		d.queue.AddAfter(k, res.RequeueAfter)
	default:
		d.queue.Forget(k)
	}
	log.Debug("reconciled", "took", time.Since(start))
	return true
}

// result is what a pass asks of the queue.
type result struct {
	RequeueAfter time.Duration
	Backoff      bool
}

func (d *Daemon) reconcileSafe(ctx context.Context, k runtime.Key) (res result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ReconcileTimeout)
	defer cancel()
	return d.reconcile(ctx, k)
}

// changed wakes API watchers.
func (d *Daemon) changed() {
	d.notifyMu.Lock()
	d.version++
	close(d.notify)
	d.notify = make(chan struct{})
	d.notifyMu.Unlock()
}

// stateVersion returns the current version and a channel closed at the next change.
func (d *Daemon) stateVersion() (uint64, <-chan struct{}) {
	d.notifyMu.Lock()
	defer d.notifyMu.Unlock()
	return d.version, d.notify
}

func (d *Daemon) targetNames() string {
	names := make([]string, 0, len(d.targets))
	for n := range d.targets {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
