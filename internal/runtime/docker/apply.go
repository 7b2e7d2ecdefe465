package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/flinkmem"
	"github.com/flinkd/flinkd/internal/runtime"
)

const (
	restContainerPort = flinkconf.DefaultRESTPort
	// cpuPeriod is the CFS period the CPU limit is expressed in (100ms). A quota, unlike
	// NanoCPUs, may exceed the host's core count: a spec may ask for 16 cores on a laptop.
	cpuPeriod = 100_000
)

var restPort = nat.Port(strconv.Itoa(restContainerPort) + "/tcp")

// Apply converges cluster c's network and containers toward c: observe, plan, execute. It
// returns without waiting for Flink to be ready.
func (r *Runtime) Apply(ctx context.Context, c runtime.Cluster, progress runtime.Progress) error {
	if c.Key.Namespace == "" || c.Key.Name == "" {
		return fmt.Errorf("apply: cluster key %q is incomplete", c.Key)
	}
	// While it works and after, k's lists are outdated (what it creates is in none yet).
	r.cache.change(c.Key)
	defer r.cache.change(c.Key)
	o, err := r.collect(ctx, c.Key, func(oc observedContainer) bool {
		return oc.State == container.StateExited || oc.State == container.StateDead
	})
	if err != nil {
		return fmt.Errorf("observe: %w", err)
	}
	p := makePlan(desiredOf(c), o)
	if len(p) == 0 {
		return nil
	}
	// What is added to a cluster made under a former identity keeps that identity.
	own := r.own.Keep(o.ownerLabels())
	r.log.Debug("plan", "cluster", c.Key.String(), "plan", p.String())
	var (
		img   string
		netID string // of the network this plan creates
	)
	if p.creates() {
		// Before anything is removed: an unavailable image must not take a cluster down.
		if img, err = r.ensureImage(ctx, c, progress); err != nil {
			return err
		}
	}
	// The plan is staged: container removals, network operations, then the bring-ups.
	// Network operations run one by one; removals and bring-ups run concurrently (bounded),
	// so that scaling to 20 TaskManagers costs about one container's start, not 20. The
	// TaskManagers' containers are created once the JobManager's exists, while it is
	// configured and started, and start only once it has: a TaskManager that starts before
	// its JobManager's name resolves waits Flink's registration error delay (10 s) to retry.
	for len(p) > 0 {
		n := 1
		if parallel(p[0]) {
			for n < len(p) && (stage(p[n]) == stage(p[0]) || bringUp(p[n]) && bringUp(p[0])) {
				n++
			}
		}
		group := p[:n]
		p = p[n:]
		if len(group) == 1 {
			op := group[0]
			if op.Kind == opCreateContainer && op.NetworkID == "" {
				op.NetworkID = netID
			}
			id, err := r.execute(ctx, own, c, img, op, nil, progress)
			if op.Kind == opCreateNetwork {
				netID = id
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", op.Kind, op.Name, err)
			}
			continue
		}
		// The JobManager's bring-up runs beside maxParallelOps others.
		gate := newBringUpGate()
		limit := maxParallelOps + 1
		jm := slices.IndexFunc(group, func(op operation) bool { return bringUp(op) && op.InstanceID == jobManagerID })
		switch {
		case jm < 0:
			gate.up()
			limit = maxParallelOps
		case group[jm].Kind == opStartContainer:
			gate.created() // it exists, created by an earlier pass
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(limit)
		for _, op := range group {
			if op.Kind == opCreateContainer && op.NetworkID == "" {
				op.NetworkID = netID
			}
			g.Go(func() error {
				if _, err := r.execute(gctx, own, c, img, op, gate, progress); err != nil {
					return fmt.Errorf("%s %s: %w", op.Kind, op.Name, err)
				}
				if bringUp(op) && op.InstanceID == jobManagerID {
					gate.up()
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// maxParallelOps bounds the engine calls one Apply or Delete makes at once (a JobManager's
// bring-up runs beside them). A scale to 20 TaskManagers is one wave: measured against the
// baseline (test/bench), which creates all at once, a bound of 8 (three waves of
// TaskManagers) made the scale 2 -> 20 about 10 % slower on 2 cores.
const maxParallelOps = 24

// stage groups operations that may run together.
func stage(op operation) int {
	switch {
	case op.Kind == opRemoveContainer:
		return 0
	case op.Kind == opRemoveNetwork || op.Kind == opCreateNetwork:
		return 1
	case op.InstanceID == jobManagerID:
		return 2
	default:
		return 3
	}
}

func parallel(op operation) bool { return stage(op) != 1 }

// bringUp says whether op creates or starts a container.
func bringUp(op operation) bool { return op.Kind == opCreateContainer || op.Kind == opStartContainer }

// bringUpGate orders one stage of bring-ups: a TaskManager's container is created once the
// JobManager's exists, and started once the JobManager has started. A nil gate holds nothing.
type bringUpGate struct {
	jmCreated, jmUp     chan struct{}
	createdOnce, upOnce sync.Once
}

func newBringUpGate() *bringUpGate {
	return &bringUpGate{jmCreated: make(chan struct{}), jmUp: make(chan struct{})}
}

func (g *bringUpGate) created() { g.createdOnce.Do(func() { close(g.jmCreated) }) }
func (g *bringUpGate) up() {
	g.created() // an adopted, running JobManager was never created here
	g.upOnce.Do(func() { close(g.jmUp) })
}

// wait returns once the JobManager has reached what op needs before its next step (start:
// false, before the create; true, before the start), at once for the JobManager itself, or
// with ctx's error.
func (g *bringUpGate) wait(ctx context.Context, op operation, start bool) error {
	if g == nil || op.InstanceID == jobManagerID {
		return nil
	}
	ch := g.jmCreated
	if start {
		ch = g.jmUp
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// execute runs one operation and returns the engine ID of what it created, if anything. own
// labels what it creates; gate orders a bring-up after the JobManager's (nil: at once).
func (r *Runtime) execute(ctx context.Context, own runtime.Ownership, c runtime.Cluster, img string, op operation, gate *bringUpGate, progress runtime.Progress) (string, error) {
	log := r.log.With("cluster", c.Key.String())
	switch op.Kind {
	case opRemoveContainer:
		if err := r.removeContainer(ctx, op.EngineID); err != nil {
			return "", err
		}
		log.Info("container removed", "container", op.Name, "container_id", op.EngineID, "cause", op.Cause)
		if op.Reason != "" {
			emit(progress, op.Reason, fmt.Sprintf("%s removed: %s", instanceOf(op), op.Cause))
		}
	case opRemoveNetwork:
		if err := r.removeNetwork(ctx, op.EngineID); err != nil {
			return "", err
		}
		log.Info("network removed", "network", op.Name, "cause", op.Cause)
	case opCreateNetwork:
		id, err := r.createNetwork(ctx, own, c)
		if err != nil {
			return "", err
		}
		log.Info("network created", "network", op.Name, "network_id", id)
		emit(progress, op.Reason, "network "+op.Name+" created")
		return id, nil
	case opStartContainer:
		if err := gate.wait(ctx, op, true); err != nil {
			return "", err
		}
		if err := r.configureAndStart(ctx, c, op.EngineID, op.InstanceID, op.Component); err != nil {
			if cerrdefs.IsNotFound(err) {
				// Its network is gone (a removed duplicate): the next pass creates it anew.
				if rerr := r.removeContainer(ctx, op.EngineID); rerr != nil {
					return "", fmt.Errorf("%w (and removing it: %v)", err, rerr)
				}
			}
			return "", err
		}
		log.Info("container started", "container", op.Name, "container_id", op.EngineID, "cause", op.Cause)
		emit(progress, op.Reason, fmt.Sprintf("%s started: %s", op.InstanceID, op.Cause))
	case opCreateContainer:
		id, err := r.createContainer(ctx, own, c, img, op, gate)
		if err != nil {
			return "", err
		}
		log.Info("container created", "container", op.Name, "container_id", id, "image", img, "restarts", op.Restarts, "cause", op.Cause)
		msg := fmt.Sprintf("%s %s: %s", op.InstanceID, pastTense(op.Reason), op.Cause)
		if op.Crash {
			msg = fmt.Sprintf("%s replaced (restart %d): %s", op.InstanceID, op.Restarts, op.Cause)
		}
		emit(progress, op.Reason, msg)
		return id, nil
	default:
		return "", fmt.Errorf("unknown operation %v", op.Kind)
	}
	return "", nil
}

func pastTense(reason string) string {
	switch reason {
	case "Created":
		return "created"
	case "Replaced":
		return "replaced"
	}
	return reason
}

// instanceOf names the instance an operation acts on, for messages.
func instanceOf(op operation) string {
	if op.InstanceID != "" {
		return op.InstanceID
	}
	return op.Name
}

// createNetwork creates the cluster's bridge network, on a subnet of the address pools that
// overlaps nothing in use (subnets.go); a subnet the engine refuses as overlapping (taken
// since the list, by someone else) is left for the next. A network of that name without
// this flinkd's labels for this cluster is not its to use.
func (r *Runtime) createNetwork(ctx context.Context, own runtime.Ownership, c runtime.Cluster) (string, error) {
	name := networkName(c.Key)
	var refused []netip.Prefix
	for {
		inUse, err := r.inUse(ctx)
		if err != nil {
			return "", err
		}
		subnet, err := r.subnets.reserve(c.Key, inUse, refused)
		if err != nil {
			return "", err
		}
		cctx, cancel := r.callCtx(ctx)
		resp, err := r.cli.NetworkCreate(cctx, name, network.CreateOptions{
			Driver: "bridge",
			Labels: networkLabels(own, c.Key, c.Hash),
			IPAM:   &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet.String()}}},
		})
		cancel()
		r.subnets.release(subnet)
		switch {
		case err == nil:
			clash, cerr := r.takenOnHost(ctx, subnet, resp.ID)
			if cerr != nil {
				return "", cerr
			}
			if len(clash) == 0 {
				return resp.ID, nil
			}
			if len(refused) >= maxRefusedSubnets {
				return "", fmt.Errorf("subnet %s: also routed elsewhere on the host (%s); gave up after %d subnets", subnet, strings.Join(clash, ", "), len(refused)+1)
			}
			r.log.Info("subnet taken on the host meanwhile, trying another", "network", name, "subnet", subnet.String(), "routes", strings.Join(clash, ", "))
			refused = append(refused, subnet)
			continue
		case isPoolOverlap(err) && len(refused) < maxRefusedSubnets:
			r.log.Debug("subnet taken meanwhile, trying another", "network", name, "subnet", subnet.String(), "err", err)
			refused = append(refused, subnet)
			continue
		case !cerrdefs.IsConflict(err):
			return "", fmt.Errorf("subnet %s: %w", subnet, err)
		}
		return r.adoptNetwork(ctx, c, name, err)
	}
}

// maxRefusedSubnets bounds the subnets one creation tries after the engine refused one.
const maxRefusedSubnets = 64

// adoptNetwork handles a create that found the name taken (err): this flinkd's network for
// this cluster and spec (an earlier create whose answer was lost) is adopted.
func (r *Runtime) adoptNetwork(ctx context.Context, c runtime.Cluster, name string, err error) (string, error) {
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	n, ierr := r.cli.NetworkInspect(cctx, name, network.InspectOptions{})
	if ierr != nil {
		return "", fmt.Errorf("%w (inspect: %v)", err, ierr)
	}
	if err := r.own.Check("network", name, n.Labels, nil, c.Key); err != nil {
		return "", err
	}
	if !sameHash(hashOf(n.Labels), c.Hash) {
		return "", fmt.Errorf("network %s exists with another spec hash; the next apply replaces it", name)
	}
	return n.ID, nil
}

// createContainer creates one instance's container, copies its configuration in and starts
// it, each when gate lets it (the JobManager's container is created first, a TaskManager
// starts once the JobManager has). A container of that name without flinkd's labels for this
// instance is not flinkd's; one with them is adopted (an earlier create whose answer was
// lost).
func (r *Runtime) createContainer(ctx context.Context, own runtime.Ownership, c runtime.Cluster, img string, op operation, gate *bringUpGate) (string, error) {
	if err := gate.wait(ctx, op, false); err != nil {
		return "", err
	}
	cfg, hc, nc := r.containerSpec(own, c, img, op)
	var id string
	for attempt := 0; ; attempt++ {
		cctx, cancel := r.callCtx(ctx)
		resp, err := r.cli.ContainerCreate(cctx, cfg, hc, nc, nil, op.Name)
		cancel()
		id = resp.ID
		if err == nil {
			for _, w := range resp.Warnings {
				r.log.Warn("engine warning", "container", op.Name, "warning", w)
			}
			break
		}
		if !cerrdefs.IsConflict(err) {
			return "", err
		}
		adopted, running, aerr := r.adoptContainer(ctx, c, op)
		if cerrdefs.IsNotFound(aerr) && attempt == 0 {
			// The name was held by a create the engine then rolled back (one an earlier
			// apply cancelled, seen in CI): it is free now.
			continue
		}
		if aerr != nil {
			return "", aerr
		}
		if running {
			return adopted, nil
		}
		id = adopted
		break
	}
	if op.InstanceID == jobManagerID && gate != nil {
		gate.created()
	}
	if err := gate.wait(ctx, op, true); err != nil {
		return id, err
	}
	if err := r.configureAndStart(ctx, c, id, op.InstanceID, op.Component); err != nil {
		return id, err
	}
	return id, nil
}

// adoptContainer handles a create that found the name taken: by flinkd's container for the
// same instance and spec (adopted; running says whether it needs starting), or by anything
// else (ErrNotOwned, or a retryable error for an outdated container of ours).
func (r *Runtime) adoptContainer(ctx context.Context, c runtime.Cluster, op operation) (id string, running bool, err error) {
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	ins, err := r.cli.ContainerInspect(cctx, op.Name)
	if err != nil {
		return "", false, fmt.Errorf("name is taken (inspect: %w)", err)
	}
	var labels map[string]string
	if ins.Config != nil {
		labels = ins.Config.Labels
	}
	if err := r.own.Check("container", op.Name, labels, nil, c.Key); err != nil {
		return "", false, err
	}
	if labels[runtime.LabelInstanceID] != op.InstanceID {
		return "", false, fmt.Errorf("container %s is %s of %s, not %s: %w", op.Name, labels[runtime.LabelInstanceID], c.Key, op.InstanceID, runtime.ErrNotOwned)
	}
	state := ""
	if ins.State != nil {
		state = ins.State.Status
	}
	if !sameHash(hashOf(labels), c.Hash) || (state != container.StateCreated && state != container.StateRunning) {
		return "", false, fmt.Errorf("container %s exists (%s, another spec or state); the next apply replaces it", op.Name, state)
	}
	return ins.ID, state == container.StateRunning, nil
}

// containerSpec is what one instance's container is created with; own labels it.
func (r *Runtime) containerSpec(own runtime.Ownership, c runtime.Cluster, img string, op operation) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	proc := c.TaskManager
	if op.Component == runtime.ComponentJobManager {
		proc = c.JobManager
	}
	cfg := &container.Config{
		Hostname: op.InstanceID,
		Image:    img,
		Cmd:      []string{op.Component}, // "jobmanager" or "taskmanager": the entrypoint's commands
		Env:      containerEnv(proc.Env),
		Labels:   containerLabels(own, c, op.InstanceID, op.Component, op.Restarts),
	}
	net := op.NetworkID
	if net == "" {
		net = networkName(c.Key)
	}
	hc := &container.HostConfig{
		NetworkMode:   container.NetworkMode(net),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	if proc.MemoryBytes > 0 {
		hc.Memory = proc.MemoryBytes
		hc.MemorySwap = proc.MemoryBytes // no swap on top: the limit is the limit
	}
	if proc.CPUMillis > 0 {
		hc.CPUPeriod = cpuPeriod
		hc.CPUQuota = proc.CPUMillis * cpuPeriod / 1000
	}
	alias := op.InstanceID
	if op.Component == runtime.ComponentJobManager {
		alias = jobManagerAlias
		cfg.ExposedPorts = nat.PortSet{restPort: {}}
		hc.PortBindings = nat.PortMap{restPort: {{HostIP: r.bindIP, HostPort: ""}}}
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		net: {Aliases: []string{alias}},
	}}
	return cfg, hc, nc
}

// configureAndStart copies the instance's Flink and Log4j configuration into a created
// container and starts it. The image's own conf folder is read first (once per image), so
// that flinkd's file keeps the image's defaults and is the file the image's Flink reads.
func (r *Runtime) configureAndStart(ctx context.Context, c runtime.Cluster, id, instanceID, component string) error {
	ic, err := r.imageConfOf(ctx, id, c.Image)
	if err != nil {
		return err
	}
	if ic.err != nil {
		return ic.err
	}
	archive, err := configArchive(c, ic, instanceID, component)
	if err != nil {
		return err
	}
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	// CopyUIDGID stays false: the engine then keeps the archive's owner (the image's conf
	// folder's), where true would chown to the container's configured user (root in 1.20).
	if err := r.cli.CopyToContainer(cctx, id, flinkconf.Dir, bytes.NewReader(archive), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy configuration into %s: %w", flinkconf.Dir, err)
	}
	if err := r.cli.ContainerStart(cctx, id, container.StartOptions{}); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("start: %w", err)
		}
		// A container the engine refuses to start stays refused (after an engine restart,
		// containerd may still hold its old task: "task ... already exists"): remove it, so
		// that the next pass creates a new one instead of retrying this one forever.
		if rerr := r.removeContainer(ctx, id); rerr != nil {
			return fmt.Errorf("start: %w (and removing it: %v)", err, rerr)
		}
		if net, name := networkName(c.Key), containerName(c.Key, instanceID); staleEndpoint(err, net, name) {
			// After an engine restart, the cluster's network can keep the endpoint of this
			// container's dead predecessor (Docker 20.10; seen in CI), and every container of
			// that name then fails to start. With the container gone, a forced disconnect by
			// name deletes that endpoint (the engine's own remedy, `docker network disconnect
			// -f`). Both the network and the name are this cluster's.
			dctx, dcancel := r.callCtx(ctx)
			derr := r.cli.NetworkDisconnect(dctx, net, name, true)
			dcancel()
			if derr != nil {
				return fmt.Errorf("start: %w; removed the container, but not the network's stale endpoint %s: %v", err, name, derr)
			}
			return fmt.Errorf("start: %w; removed the container and the network's stale endpoint of that name, the next pass creates it anew", err)
		}
		return fmt.Errorf("start: %w; removed the container, the next pass creates it anew", err)
	}
	return nil
}

// staleEndpoint says whether a start failed because network net still holds an endpoint
// named like the container.
func staleEndpoint(err error, net, name string) bool {
	return err != nil && strings.Contains(err.Error(), "endpoint with name "+name+" already exists in network "+net)
}

// containerEnv is the process environment plus JOB_MANAGER_RPC_ADDRESS: without it the
// official image's entrypoint overwrites jobmanager.rpc.address with the container's host
// name at every start.
func containerEnv(env []runtime.EnvVar) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if e.Name == "JOB_MANAGER_RPC_ADDRESS" {
			continue
		}
		out = append(out, e.Name+"="+e.Value)
	}
	return append(out, "JOB_MANAGER_RPC_ADDRESS="+jobManagerAlias)
}

// instanceFile renders the configuration file of one instance: the image's own file (its
// defaults), the cluster's configuration, and what only this runtime knows, which wins. The
// file is the one the image's Flink reads (flinkconf.FileName): flink-conf.yaml for 1.19 and
// 1.20 when the image ships one. The result is checked against Flink's memory model once
// more, now with the image's memory options in it, which validation cannot see.
func instanceFile(c runtime.Cluster, ic *imageConf, instanceID, component string) (flinkconf.File, error) {
	v := flinkconf.VersionOf(c.FlinkVersion)
	name, legacy := flinkconf.FileName(v, ic.legacy != nil)
	base := ic.standard
	if legacy {
		base = ic.legacy
	}
	in := flinkconf.Instance{JobManagerHost: jobManagerAlias}
	if component == runtime.ComponentTaskManager {
		in.TaskManagerHost, in.ResourceID = instanceID, instanceID
	}
	f, err := flinkconf.Render(flinkconf.Layers{Version: v, Legacy: legacy, Base: base, Cluster: c.FlinkConfig, Runtime: flinkconf.RuntimeOptions(in)})
	if err != nil {
		return flinkconf.File{}, fmt.Errorf("image %s, %s: %w", c.Image, name, err)
	}
	written := flinkconf.ParseLegacy(f.Data)
	if !legacy {
		if written, err = flinkconf.ParseStandard(f.Data); err != nil {
			return flinkconf.File{}, fmt.Errorf("read back %s: %w", name, err)
		}
	}
	conf := map[string]string{}
	for _, k := range written.Keys() {
		conf[k], _ = written.Get(k)
	}
	if component == runtime.ComponentJobManager {
		_, err = flinkmem.DeriveJobManager(conf, v)
	} else {
		_, err = flinkmem.DeriveTaskManager(conf, v)
	}
	if err != nil {
		return flinkconf.File{}, fmt.Errorf("with image %s's own configuration, Flink %s refuses the %s memory: %w", c.Image, v, component, err)
	}
	return f, nil
}

// configArchive is a tar of the files placed into /opt/flink/conf, owned by the owner of the
// image's conf folder (the image's Flink user: 9999 in the official image, which Flink 2.2
// images run as) and writable by it: the entrypoint rewrites the configuration at every start.
//
// A secure cluster's key material goes in too (tls.go): the files and the configuration
// file, which then holds the store passwords, mode 0600.
func configArchive(c runtime.Cluster, ic *imageConf, instanceID, component string) ([]byte, error) {
	secret := tlsSecret(c, component)
	if len(secret) > 0 {
		c.FlinkConfig = maps.Clone(c.FlinkConfig)
		maps.Copy(c.FlinkConfig, secret)
	}
	f, err := instanceFile(c, ic, instanceID, component)
	if err != nil {
		return nil, err
	}
	confMode := int64(0o664)
	if len(secret) > 0 {
		confMode = 0o600
	}
	type file struct {
		flinkconf.File
		mode int64
	}
	files := []file{{f, confMode}}
	if c.Log4jProperties != "" {
		files = append(files, file{flinkconf.File{Name: flinkconf.Log4jConsoleFile, Data: []byte(c.Log4jProperties)}, 0o664})
	}
	tf := tlsFiles(c, component)
	for _, n := range slices.Sorted(maps.Keys(tf)) {
		files = append(files, file{flinkconf.File{Name: n, Data: tf[n]}, 0o600})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Name,
			Mode:     f.mode,
			Uid:      ic.uid,
			Gid:      ic.gid,
			Size:     int64(len(f.Data)),
			ModTime:  now,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("archive %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("archive %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("archive configuration: %w", err)
	}
	return buf.Bytes(), nil
}
