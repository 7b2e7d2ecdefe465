// Command flinkd runs one Apache Flink session cluster for every SessionCluster YAML file in
// a folder, on Docker or Kubernetes, and serves flinkctl on a unix socket.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flinkd/flinkd/internal/config"
	"github.com/flinkd/flinkd/internal/daemon"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/paths"
	"github.com/flinkd/flinkd/internal/pki"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/runtime/docker"
	"github.com/flinkd/flinkd/internal/runtime/kube"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

type options struct {
	specs, data, socket, configFile, listenTCP, logLevel, owner string
	adopt                                                       []string
	resync                                                      time.Duration
	workers                                                     int
	addressPools                                                []string
}

// gcPercent is flinkd's GOGC unless the environment sets one: a daemon that idles beside
// the clusters it runs keeps its heap within half its live size of garbage (Go's default
// lets it double). Measured with 100 clusters at rest: 2.7 MB less resident memory, no
// more CPU than at 100 (docs/benchmarks.md).
const gcPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	var o options
	cmd := &cobra.Command{
		Use:   "flinkd",
		Short: "Run an Apache Flink session cluster for every SessionCluster file in a folder",
		Long: `flinkd watches a folder of SessionCluster YAML files (Ververica Platform's resource) and runs,
for each, one Flink JobManager and spec.numberOfTaskManagers TaskManagers on the deployment
target the file names: the local Docker engine, or a Kubernetes namespace (see --config).

Drop a file in the folder and its cluster comes up; edit it and the cluster follows; remove it
and the cluster goes. While a cluster is not STOPPED only spec.state and
spec.numberOfTaskManagers may change; a cluster with running jobs is not torn down.

State is kept in SQLite under --data. flinkctl talks to flinkd over --socket. Stopping flinkd
(Ctrl-C, SIGTERM) leaves the clusters running; the next start adopts them.

Everything flinkd creates is labelled with its owner identity, derived from the specs
folder (see --owner): a flinkd that lost its database adopts the clusters its files declare,
and two daemons on different folders never touch each other's clusters.`,
		Example: `  # run the example specs on the local Docker engine
  flinkd --specs ./specs

  # with deployment targets (Docker and Kubernetes namespaces) from a file
  flinkd --specs ./specs --config ./flinkd.yaml`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), o, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.specs, "specs", "specs", "folder of SessionCluster YAML files to watch (it may not exist yet)")
	f.StringVar(&o.data, "data", paths.Data(), "folder for flinkd's database")
	f.StringVar(&o.socket, "socket", paths.Socket(), "unix socket for flinkctl (env "+paths.SocketEnv+")")
	f.StringVar(&o.configFile, "config", "", "deployment targets file (without one, target \"default\" is the local Docker engine)")
	f.StringVar(&o.listenTCP, "listen-tcp", "", "also serve the API on this TCP address (no authentication: keep it on loopback)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&o.resync, "resync", 10*time.Second, "period of the full resync of every cluster")
	f.IntVar(&o.workers, "workers", 4, "clusters reconciled at once")
	f.StringVar(&o.owner, "owner", "", "owner identity `NAME` (a label value) instead of the one derived from the specs folder: for flinkd in containers that each see their folder at the same path, or one folder reached by two paths")
	f.StringSliceVar(&o.adopt, "adopt", nil, "also own the clusters labelled with this former owner `IDENTITY` (see flinkctl status --all-owners); remembered in the database")
	f.StringArrayVar(&o.addressPools, "docker-address-pool", nil,
		"`base=CIDR,size=N`: a range Docker targets take their clusters' network subnets from (repeatable; for targets whose config names none; default base=10.200.0.0/14,size=22)")
	cmd.SetArgs(args)
	cmd.SetOut(stderr)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "flinkd: %v\n", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

func serve(ctx context.Context, o options, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	cfg := config.Default()
	if o.configFile != "" {
		if cfg, err = config.Load(o.configFile); err != nil {
			return err
		}
	}
	specs, err := filepath.Abs(o.specs)
	if err != nil {
		return err
	}
	owner, canonical, err := runtime.Identity(specs)
	if err != nil {
		return err
	}
	if o.owner != "" {
		if err := runtime.ValidateOwner(o.owner); err != nil {
			return fmt.Errorf("--owner: %w", err)
		}
		owner = o.owner
	}
	for _, a := range o.adopt {
		if err := runtime.ValidateOwner(a); err != nil {
			return fmt.Errorf("--adopt: %w", err)
		}
	}
	// Two daemons with one identity would fight over the same clusters.
	unlockOwner, err := lockIdentity(owner)
	if err != nil {
		return fmt.Errorf("%w (specs folder %s)", err, canonical)
	}
	defer unlockOwner()
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	unlock, err := lockData(o.data)
	if err != nil {
		return err
	}
	defer unlock()

	store, err := db.Open(ctx, filepath.Join(o.data, "flinkd.db"), nil)
	if err != nil {
		return err
	}
	defer store.Close()
	own, releaseFormer, err := ownership(ctx, store, owner, canonical, o.adopt, log)
	if err != nil {
		return err
	}
	defer releaseFormer()

	// The authority of secure clusters: created on first start, kept in the data folder.
	authority, err := pki.Open(filepath.Join(o.data, "tls"), nil)
	if err != nil {
		return err
	}

	pools, err := addressPools(o.addressPools)
	if err != nil {
		return err
	}
	targets, closeTargets, err := buildTargets(cfg, o.configFile, own, authority.ClientTLSFor, pools, log)
	if err != nil {
		return err
	}
	defer closeTargets()

	d, err := daemon.New(daemon.Config{
		SpecsDir: specs, DataDir: o.data, Store: store, Targets: targets, Logger: log, PKI: authority,
		Resync: o.resync, Workers: o.workers, Version: version, Owner: owner, FormerOwners: own.Former,
	})
	if err != nil {
		return err
	}
	ln, err := listenUnix(o.socket)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 3)
	go func() { errc <- ignoreClosed(srv.Serve(ln)) }()
	if o.listenTCP != "" {
		tln, err := net.Listen("tcp", o.listenTCP)
		if err != nil {
			return fmt.Errorf("--listen-tcp: %w", err)
		}
		go func() { errc <- ignoreClosed(srv.Serve(tln)) }()
		log.Warn("serving the API on TCP without authentication", "addr", tln.Addr().String())
	}
	log.Info("flinkd started", "specs", specs, "data", o.data, "socket", o.socket, "targets", cfg.Names(), "owner", owner, "former_owners", own.Former, "version", version)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- d.Run(runCtx) }()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("flinkd stopping; clusters keep running")
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	os.Remove(o.socket)
	return runErr
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// addressPools reads --docker-address-pool values.
func addressPools(flags []string) ([]docker.AddressPool, error) {
	var pools []docker.AddressPool
	for _, s := range flags {
		p, err := docker.ParseAddressPool(s)
		if err != nil {
			return nil, fmt.Errorf("--docker-address-pool: %w", err)
		}
		pools = append(pools, p)
	}
	if err := docker.ValidatePools(pools); err != nil {
		return nil, fmt.Errorf("--docker-address-pool: %w", err)
	}
	return pools, nil
}

// buildTargets makes a runtime per configured target. A configuration error (a kubeconfig
// that cannot be read, an unknown context) stops the daemon here, naming the file, the target
// and the field; a target that does not answer is not an error here: only its clusters fail.
// Docker targets whose configuration names no address pools get pools (the flag's).
func buildTargets(cfg *config.Config, file string, own runtime.Ownership, clientTLS runtime.ClientTLS, pools []docker.AddressPool, log *slog.Logger) ([]daemon.Target, func(), error) {
	var out []daemon.Target
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	where := file
	if where == "" {
		where = "built-in configuration"
	}
	for _, name := range cfg.Names() {
		t := cfg.Targets[name]
		tlog := log.With("target", name)
		switch {
		case t.Docker != nil:
			tp := t.Docker.AddressPools
			if len(tp) == 0 {
				tp = pools
			}
			rt, err := docker.New(docker.Config{Host: t.Docker.Host, ImageFallback: t.Docker.ImageFallback, Ownership: own, ClientTLS: clientTLS,
				AddressPools: tp, Logger: tlog})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("%s: targets.%s.docker: %w", where, name, err)
			}
			closers = append(closers, rt.Close)
			detail := t.Docker.Host
			if detail == "" {
				detail = "local engine"
				if h := os.Getenv("DOCKER_HOST"); h != "" {
					detail = h
				}
			}
			out = append(out, daemon.Target{Name: name, Kind: "docker", Detail: detail, Runtime: rt})
		case t.Kubernetes != nil:
			k := t.Kubernetes
			rt, err := kube.New(kube.Config{Kubeconfig: k.Kubeconfig, Context: k.Context, Namespace: k.Namespace, InCluster: k.InCluster, Ownership: own, ClientTLS: clientTLS, Logger: tlog})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("%s: targets.%s.kubernetes: %w", where, name, err)
			}
			closers = append(closers, rt.Close)
			detail := "namespace " + rt.Namespace()
			if k.Context != "" {
				detail = "context " + k.Context + ", " + detail
			}
			out = append(out, daemon.Target{Name: name, Kind: "kubernetes", Detail: detail, Runtime: rt})
		}
	}
	return out, closeAll, nil
}

// listenUnix listens on a unix socket with mode 0600, replacing a stale socket file but
// refusing to steal the socket of a flinkd that answers.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create socket folder: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another flinkd answers on %s; stop it first, or pass --socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// lockData takes an exclusive lock on the data folder: two daemons on one database would
// fight over the same clusters.
func lockData(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "flinkd.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another flinkd uses the data folder %s (%v)", dir, err)
	}
	return func() { f.Close() }, nil
}

// ownership works out whose clusters this flinkd owns: its identity, and the former
// identities whose clusters it adopts. A former identity is one the database recorded
// (the random identity of a flinkd before identities were derived from the specs folder;
// the identity this database ran with before, when the folder's path changed), or one given
// with --adopt; it is adopted only while no flinkd on this host runs with it (its identity
// lock is free, and held from here on). The outcome is recorded for the next start.
func ownership(ctx context.Context, store *db.Store, owner, specs string, adopt []string, log *slog.Logger) (runtime.Ownership, func(), error) {
	ids, err := store.Identities(ctx)
	if err != nil {
		return runtime.Ownership{}, nil, err
	}
	candidates := append(slices.Clone(ids.Former), adopt...)
	if ids.Owner != "" && ids.Owner != owner {
		log.Info("owner identity changed since the last start; adopting the clusters of the former one",
			"former_owner", ids.Owner, "owner", owner)
		candidates = append(candidates, ids.Owner)
	}
	var former []string
	var unlocks []func()
	release := func() {
		for _, u := range unlocks {
			u()
		}
	}
	for _, f := range candidates {
		if f == owner || slices.Contains(former, f) {
			continue
		}
		unlock, err := lockIdentity(f)
		if err != nil {
			log.Warn("not adopting the clusters of a former owner identity: a flinkd runs with it", "former_owner", f, "err", err)
			continue
		}
		unlocks = append(unlocks, unlock)
		former = append(former, f)
	}
	if err := store.SetIdentities(ctx, db.Identities{Owner: owner, Former: former}); err != nil {
		release()
		return runtime.Ownership{}, nil, err
	}
	return runtime.Ownership{Owner: owner, Specs: specs, Former: former}, release, nil
}

// lockIdentity takes this host's exclusive lock on an owner identity (a file in the temporary
// folder, which every user of the host shares): a second flinkd on the same specs folder,
// whatever its data folder, would fight the first over the same clusters.
func lockIdentity(owner string) (func(), error) {
	path := filepath.Join(os.TempDir(), "flinkd-owner-"+owner+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock owner identity %s: %w", owner, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another flinkd runs with owner identity %s (lock %s: %v): stop it first, or give this one its own specs folder or --owner", owner, path, err)
	}
	return func() { f.Close() }, nil
}
