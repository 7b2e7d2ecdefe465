// Package docker runs flinkd's session clusters as containers on a Docker engine.
//
// Each cluster gets a user-defined bridge network "flinkd_<ns>_<name>", a JobManager container
// "flinkd_<ns>_<name>_jobmanager" (network alias "jobmanager") and TaskManager containers
// "flinkd_<ns>_<name>_taskmanager-<n>" (alias and Instance.ID "taskmanager-<n>", n from 1).
// Every container and network carries flinkd's ownership labels and the spec hash; nothing
// without them is ever touched.
//
// Apply works as observe (labelled resources), plan (a pure function, plan.go), execute.
//
// Restart policy: containers run with the engine's restart policy "no". flinkd is the
// supervisor: a container that dies stays Exited (Observe reports its exit code, OOM kill and
// last log lines) until the next Apply replaces it with a new container under the same name
// and ID, whose label flinkd.io/restarts counts the replacements. The count therefore
// survives daemon restarts, and the daemon sees a crash loop in Instance.Restarts. Engine
// restarts would hide crashes between two observations and race with Apply.
package docker

import (
	"cmp"
	"context"
	"fmt"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Config configures a Runtime.
type Config struct {
	// Host is the engine address; "" takes it from the environment (DOCKER_HOST etc.). The
	// API version is negotiated.
	Host string
	// ImageFallback, when set, is used when a cluster's image is neither present nor
	// pullable; using it emits a Progress event saying so.
	ImageFallback string
	// PullTimeout is the budget for one image pull (default 10m).
	PullTimeout time.Duration
	// CallTimeout bounds every other engine call (default 30s).
	CallTimeout time.Duration
	// Ownership is the flinkd using this runtime (runtime.LabelOwner, its former identities,
	// its specs folder): it labels what it creates and sees only what it owns. The zero
	// value sees everything flinkd made.
	Ownership runtime.Ownership
	// ClientTLS gives the REST client configuration of a secure cluster (nil: its
	// endpoint has no client, and calls fail the handshake).
	ClientTLS runtime.ClientTLS
	// AddressPools are the ranges cluster networks get their subnets from
	// (DefaultAddressPools when empty); see subnets.go.
	AddressPools []AddressPool
	Logger       *slog.Logger
}

// Runtime runs session clusters on a Docker engine. It implements runtime.Runtime,
// runtime.LogSource and runtime.ChangeSource, and is safe for concurrent use.
type Runtime struct {
	cli         *client.Client
	log         *slog.Logger
	fallback    string
	pullTimeout time.Duration
	callTimeout time.Duration
	own         runtime.Ownership
	clientTLS   runtime.ClientTLS

	startsMu sync.Mutex
	starts   map[string]time.Time // start times of running containers, by container ID
	confsMu  sync.Mutex
	confs    map[string]*imageConf // each image's conf folder, by image ID (image.go)
	// restHost is where published ports are reached; bindIP is the host address they are
	// published on (loopback for a local engine).
	restHost string
	bindIP   string
	subnets  *subnets
	// cache holds the last lists of networks and containers (observecache.go); lists
	// shares one list of everything between concurrent callers.
	cache *observeCache
	lists singleflight.Group
}

var (
	_ runtime.Runtime      = (*Runtime)(nil)
	_ runtime.LogSource    = (*Runtime)(nil)
	_ runtime.ChangeSource = (*Runtime)(nil)
	_ runtime.Census       = (*Runtime)(nil)
)

// New connects to the engine named by cfg (lazily: the first call dials).
func New(cfg Config) (*Runtime, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pools := cfg.AddressPools
	if len(pools) == 0 {
		pools = DefaultAddressPools()
	}
	if err := ValidatePools(pools); err != nil {
		return nil, err
	}
	r := &Runtime{
		cli:         cli,
		log:         cfg.Logger,
		fallback:    cfg.ImageFallback,
		own:         cfg.Ownership,
		clientTLS:   cfg.ClientTLS,
		starts:      map[string]time.Time{},
		confs:       map[string]*imageConf{},
		pullTimeout: orDefault(cfg.PullTimeout, 10*time.Minute),
		callTimeout: orDefault(cfg.CallTimeout, 30*time.Second),
		restHost:    "127.0.0.1",
		bindIP:      "127.0.0.1",
		subnets:     &subnets{pools: pools, reserved: map[netip.Prefix]bool{}},
		cache:       newObserveCache(),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	// A remote engine publishes on its own interfaces: the loopback there is unreachable
	// from here, so publish on all of them and reach it by the engine's host name.
	u, err := url.Parse(cli.DaemonHost())
	if err == nil && (u.Scheme == "tcp" || u.Scheme == "http" || u.Scheme == "https") {
		if h := u.Hostname(); h != "" && !isLoopback(h) {
			r.restHost, r.bindIP = h, ""
		}
	}
	// An engine on a unix socket runs on this host: a cluster network must not overlap the
	// host's addresses and routes either. Elsewhere only its own networks are known.
	r.subnets.checkHost = err == nil && u.Scheme == "unix"
	return r, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Close releases the engine connection.
func (r *Runtime) Close() error { return r.cli.Close() }

// callCtx bounds one engine call.
func (r *Runtime) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.callTimeout)
}

// Ping says whether the engine answers.
func (r *Runtime) Ping(ctx context.Context) error {
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	if _, err := r.cli.Ping(cctx); err != nil {
		return fmt.Errorf("ping docker engine %s: %w", r.cli.DaemonHost(), err)
	}
	return nil
}

// List returns every cluster key that has labelled containers or networks on the engine.
// While the event stream runs it is the cache's list of everything (observecache.go).
func (r *Runtime) List(ctx context.Context) ([]runtime.Key, error) {
	var keys []runtime.Key
	if _, streaming := r.cache.begin(); streaming {
		k, ok := r.cache.keys(time.Now())
		if !ok {
			if err := r.listAll(ctx); err != nil {
				return nil, err
			}
			k, ok = r.cache.keys(time.Now())
		}
		if ok {
			keys = k
		}
	}
	if keys == nil {
		byKey, err := r.collectWith(ctx, ownedFilter(r.own), func(observedContainer) bool { return false })
		if err != nil {
			return nil, err
		}
		for k := range byKey {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b runtime.Key) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return keys, nil
}

// Foreign returns every flinkd-labelled cluster on the engine that this runtime does not own,
// with its owner and specs folder as its labels record them.
func (r *Runtime) Foreign(ctx context.Context) ([]runtime.Claim, error) {
	all := ownedFilter(runtime.Ownership{})
	cctx, cancel := r.callCtx(ctx)
	ctrs, err := r.cli.ContainerList(cctx, container.ListOptions{All: true, Filters: all})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	cctx, cancel = r.callCtx(ctx)
	nets, err := r.cli.NetworkList(cctx, network.ListOptions{Filters: all})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var claims []runtime.Claim
	for _, c := range ctrs {
		if cl, ok := r.own.ForeignClaim(c.Labels, nil); ok {
			claims = append(claims, cl)
		}
	}
	for _, n := range nets {
		if cl, ok := r.own.ForeignClaim(n.Labels, nil); ok {
			claims = append(claims, cl)
		}
	}
	return runtime.SortClaims(claims), nil
}

// Delete force-removes cluster k's containers (TaskManagers first, the JobManager last),
// then its network, and returns once nothing labelled for k is left.
func (r *Runtime) Delete(ctx context.Context, k runtime.Key) error {
	r.cache.change(k)
	defer r.cache.change(k)
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		o, err := r.collect(ctx, k, func(observedContainer) bool { return false })
		if err != nil {
			return false, err
		}
		if len(o.Containers) == 0 && len(o.Networks) == 0 {
			return true, nil
		}
		ctrs := o.Containers
		// TaskManagers (concurrently) before the JobManager, so that they shut down cleanly.
		var tms, jms []observedContainer
		for _, c := range ctrs {
			if c.State == container.StateRemoving {
				continue
			}
			if c.InstanceID == jobManagerID {
				jms = append(jms, c)
			} else {
				tms = append(tms, c)
			}
		}
		for _, batch := range [][]observedContainer{tms, jms} {
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(maxParallelOps)
			for _, c := range batch {
				g.Go(func() error {
					if err := r.removeContainer(gctx, c.ID); err != nil {
						return fmt.Errorf("remove container %s: %w", c.Name, err)
					}
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				return false, err
			}
		}
		if len(ctrs) > 0 {
			return false, nil // the network goes once its containers are gone
		}
		for _, n := range o.Networks {
			if err := r.removeNetwork(ctx, n.ID); err != nil {
				return false, fmt.Errorf("remove network %s: %w", n.Name, err)
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", k, err)
	}
	return nil
}

// stopGrace is how long a Flink process gets to shut down after SIGTERM before it is killed.
// A TaskManager that shuts down deregisters from its JobManager at once; one that is killed is
// only noticed after heartbeat.timeout (50 s by default), which holds up a scale-down.
const stopGrace = 10 * time.Second

// removeContainer stops a container gracefully (SIGTERM, then SIGKILL after stopGrace) and
// removes it; gone already, or being removed, is success.
func (r *Runtime) removeContainer(ctx context.Context, id string) error {
	sctx, scancel := context.WithTimeout(ctx, stopGrace+r.callTimeout)
	grace := int(stopGrace / time.Second)
	if err := r.cli.ContainerStop(sctx, id, container.StopOptions{Timeout: &grace}); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Debug("stop container before removal", "container_id", id, "err", err)
	}
	scancel()
	r.forgetStart(id)
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	err := r.cli.ContainerRemove(cctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	if cerrdefs.IsConflict(err) {
		// The engine refuses a second removal while one is in progress.
		ins, ierr := r.cli.ContainerInspect(cctx, id)
		if cerrdefs.IsNotFound(ierr) || (ierr == nil && ins.State != nil && ins.State.Status == container.StateRemoving) {
			return nil
		}
	}
	return err
}

func (r *Runtime) removeNetwork(ctx context.Context, id string) error {
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	err := r.cli.NetworkRemove(cctx, id)
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}
