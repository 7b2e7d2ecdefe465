// Package baseline is the reference flinkd's Docker benchmarks are measured against: the
// honest limit of the engine. A program with no daemon, no database, no file watching and no
// observation creates the same network and containers flinkd's Docker runtime creates,
// through the same engine API, as early as each can be, and watches the JobManager's
// /overview as fast as is reasonable (every PollInterval, 20 ms) until it reports the wanted
// number of TaskManagers and their slots. Nothing of flinkd's own cadence is in it.
//
// What is the same as flinkd (internal/runtime/docker/apply.go, internal/daemon/desired.go):
//
//   - the image, the command ("jobmanager" or "taskmanager"), the host name (the instance
//     ID), the environment (the spec's env vars, then JOB_MANAGER_RPC_ADDRESS=jobmanager);
//   - the configuration: the spec's flinkConfiguration plus jobmanager/taskmanager memory
//     process sizes in bytes, plus what the runtime adds per instance, rendered with
//     flinkconf.Render, and the Log4j file rendered with flinkconf.Log4jProperties, both
//     copied into /opt/flink/conf as uid/gid 9999 before the container starts;
//   - the limits (memory = memory+swap, CPU as a CFS quota over a 100 ms period), restart
//     policy "no", one user-defined bridge network per cluster, the network aliases
//     ("jobmanager", "taskmanager-N"), the JobManager's REST port published on 127.0.0.1;
//   - the readiness condition: /overview reports every TaskManager, and every one of them has
//     offered its slots (Flink counts a TaskManager when it registers and its slots when its
//     slot report follows; flinkd's RUNNING waits for both). From /overview alone the
//     baseline takes "at least one slot per TaskManager", a condition no stricter than
//     flinkd's, so it never makes the reference slower.
//
// The schedule is the fastest the engine allows for a Flink cluster: the network first;
// then every container is created (and its configuration copied in) at once; the
// JobManager is started as soon as it is created, and each TaskManager as soon as it is
// created and the JobManager has started (a TaskManager started before its JobManager's
// name resolves waits cluster.registration.error-delay before it retries). /overview is
// checked from the moment the JobManager has started, every PollInterval, counted from the
// start of the previous check.
//
// What differs, by design (it is the work a supervisor does and a one-shot script does not):
// the baseline does not look at the image (flinkd inspects it, and pulls it when missing),
// does not list or inspect containers before or after acting, has no bound on concurrent
// engine calls (flinkd runs at most 24 at a time), writes nothing to disk, lets the engine
// pick the network's subnet, and labels its resources with its own labels (LabelRun), not
// flinkd's.
//
// TestBaselineCreatesTheSameContainersAsFlinkd (in package bench) checks the sameness
// against containers flinkd created.
package baseline

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"golang.org/x/sync/errgroup"

	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/spec"
)

// Labels of the baseline's resources. They are not flinkd's: no flinkd ever sees them.
const (
	// LabelRun marks every network and container of one baseline (Config.Run); Remove and
	// test cleanups find them by it.
	LabelRun = "flinkd-bench.baseline/run"
	// LabelCluster names the cluster a resource belongs to.
	LabelCluster = "flinkd-bench.baseline/cluster"
	// LabelInstance is the instance ID ("jobmanager", "taskmanager-3").
	LabelInstance = "flinkd-bench.baseline/instance"
)

// What flinkd's Docker runtime uses (internal/runtime/docker: names.go and apply.go).
const (
	jobManagerID    = "jobmanager"
	jobManagerAlias = "jobmanager"
	componentJM     = "jobmanager"
	componentTM     = "taskmanager"
	cpuPeriod       = 100_000
)

var restPort = nat.Port(strconv.Itoa(flinkconf.DefaultRESTPort) + "/tcp")

// restTimeout bounds one /overview call, as flinkd's flinkTimeout (internal/daemon).
const restTimeout = 3 * time.Second

// DefaultPollInterval is the pause between the starts of two /overview checks: the finest
// observation that is still not a busy loop against the JobManager.
const DefaultPollInterval = 20 * time.Millisecond

// Config configures a Baseline.
type Config struct {
	// Client is the engine client (the caller owns it).
	Client *client.Client
	// Spec is the decoded SessionCluster (spec.Decode) whose containers to create; its
	// numberOfTaskManagers is ignored (Start and ScaleUp say how many).
	Spec *spec.SessionCluster
	// Run labels everything this baseline creates (LabelRun); required.
	Run string
	// PollInterval is the pause between two /overview checks (DefaultPollInterval when 0).
	PollInterval time.Duration
	// CallTimeout bounds each engine call (2 min when 0). flinkd's runtime allows
	// 30 s per call, but it never has more than 8 calls in flight; the baseline makes all its
	// calls at once, and a small engine queues them (a timeout only turns a slow run into a
	// failed one).
	CallTimeout time.Duration
}

// Baseline creates clusters the way flinkd's Docker runtime lays them out.
type Baseline struct {
	cfg   Config
	image string
	// conf is the cluster-wide Flink configuration, before what each instance adds; log4j
	// is the rendered Log4j file; env is the container environment.
	conf  map[string]string
	log4j string
	env   []string
	jm    process
	tm    process
	http  *http.Client
	// imageConf is what the image has in /opt/flink/conf (read once, by New, as flinkd
	// reads it once per image): the base of the configuration file and its owner.
	imageConf imageConf
}

type imageConf struct {
	uid, gid         int
	standard, legacy *flinkconf.Base
}

type process struct {
	cpuMillis   int64
	memoryBytes int64
}

// New prepares a baseline for cfg.Spec, rendering what flinkd renders for it; it reads the
// image's conf folder once, from a container it creates and removes.
func New(ctx context.Context, cfg Config) (*Baseline, error) {
	if cfg.Client == nil || cfg.Spec == nil || cfg.Run == "" {
		return nil, errors.New("baseline: Client, Spec and Run are required")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 2 * time.Minute
	}
	s := &cfg.Spec.Spec
	// As internal/daemon/desired.go clusterFor: env vars in order, the Flink configuration of
	// spec.Spec.FlinkConfig (${VAR} expanded, memory sizes as exact byte counts unless set).
	env := make([]string, 0, len(s.Kubernetes.Pods.EnvVars)+1)
	for _, e := range s.Kubernetes.Pods.EnvVars {
		if e.Name != "JOB_MANAGER_RPC_ADDRESS" {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	env = append(env, "JOB_MANAGER_RPC_ADDRESS="+jobManagerAlias)
	conf, _ := s.FlinkConfig()
	jm, tm := s.Resources.JobManager, s.Resources.TaskManager
	log4j, err := flinkconf.Log4jProperties(s.Logging.LoggingProfile, s.Logging.Log4jLoggers)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	b := &Baseline{
		cfg:   cfg,
		image: cfg.Spec.Image(),
		conf:  conf,
		log4j: log4j,
		env:   env,
		jm:    process{cpuMillis: jm.CPUMillis(), memoryBytes: jm.MemoryBytes()},
		tm:    process{cpuMillis: tm.CPUMillis(), memoryBytes: tm.MemoryBytes()},
		http:  &http.Client{Timeout: restTimeout},
	}
	if b.imageConf, err = b.readImageConf(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// readImageConf reads the image's /opt/flink/conf as flinkd's runtime does (its
// config.yaml and flink-conf.yaml, and the folder's owner unless root), from a created,
// never started container.
func (b *Baseline) readImageConf(ctx context.Context) (imageConf, error) {
	ic := imageConf{uid: flinkconf.ImageUID, gid: flinkconf.ImageUID}
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	resp, err := b.cfg.Client.ContainerCreate(cctx, &container.Config{Image: b.image, Labels: b.labels("image-conf", "")}, nil, nil, nil, "")
	if err != nil {
		return ic, fmt.Errorf("baseline: read the image's conf folder: %w", err)
	}
	defer func() {
		_ = b.cfg.Client.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true})
	}()
	rc, _, err := b.cfg.Client.CopyFromContainer(cctx, resp.ID, flinkconf.Dir)
	if err != nil {
		return ic, fmt.Errorf("baseline: read the image's conf folder: %w", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	dir := path.Base(flinkconf.Dir)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return ic, nil
		}
		if err != nil {
			return ic, fmt.Errorf("baseline: read the image's conf folder: %w", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		switch {
		case name == dir && hdr.Typeflag == tar.TypeDir && hdr.Uid != 0:
			ic.uid, ic.gid = hdr.Uid, hdr.Gid
		case hdr.Typeflag != tar.TypeReg:
		case name == dir+"/"+flinkconf.LegacyConfigYAML:
			data, err := io.ReadAll(tr)
			if err != nil {
				return ic, err
			}
			ic.legacy = flinkconf.ParseLegacy(data)
		case name == dir+"/"+flinkconf.ConfigYAML:
			data, err := io.ReadAll(tr)
			if err != nil {
				return ic, err
			}
			if ic.standard, err = flinkconf.ParseStandard(data); err != nil {
				return ic, fmt.Errorf("baseline: the image's %s: %w", flinkconf.ConfigYAML, err)
			}
		}
	}
}

// Cluster is one cluster the baseline created.
type Cluster struct {
	b            *Baseline
	Name         string
	NetworkID    string
	RESTURL      string
	TaskManagers int
}

// Result tells where the time of a Start or ScaleUp went.
type Result struct {
	// Started is the time from the call until every container was started.
	Started time.Duration
	// Ready is the time from the call until /overview reported every TaskManager.
	Ready time.Duration
	// Polls is how many /overview checks were made.
	Polls int
}

// Start creates cluster name's network, then its JobManager and taskManagers TaskManagers
// on the schedule of the package doc, and returns once the JobManager reports taskManagers
// registered TaskManagers.
func (b *Baseline) Start(ctx context.Context, name string, taskManagers int) (*Cluster, Result, error) {
	start := time.Now()
	c := &Cluster{b: b, Name: name}
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	resp, err := b.cfg.Client.NetworkCreate(cctx, resourceName(name), network.CreateOptions{
		Driver: "bridge",
		Labels: b.labels(name, ""),
	})
	cancel()
	if err != nil {
		return nil, Result{}, fmt.Errorf("create network %s: %w", resourceName(name), err)
	}
	c.NetworkID = resp.ID

	var (
		jmStarted = make(chan struct{})
		jmID      string
		res       Result
		upMu      sync.Mutex
		allUp     time.Time
	)
	up := func() {
		upMu.Lock()
		allUp = time.Now() // the last one wins
		upMu.Unlock()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		id, err := b.create(gctx, c, jobManagerID)
		if err != nil {
			return err
		}
		if err := b.start(gctx, c, id, jobManagerID); err != nil {
			return err
		}
		up()
		jmID = id
		close(jmStarted)
		return nil
	})
	for n := 1; n <= taskManagers; n++ {
		g.Go(func() error {
			id, err := b.create(gctx, c, taskManagerID(n))
			if err != nil {
				return err
			}
			select {
			case <-jmStarted:
			case <-gctx.Done():
				return gctx.Err()
			}
			if err := b.start(gctx, c, id, taskManagerID(n)); err != nil {
				return err
			}
			up()
			return nil
		})
	}
	g.Go(func() error {
		select {
		case <-jmStarted:
		case <-gctx.Done():
			return gctx.Err()
		}
		url, err := b.restURL(gctx, jmID)
		if err != nil {
			return err
		}
		c.RESTURL = url
		var ready time.Time
		res.Polls, ready, err = b.waitRegistered(gctx, c, taskManagers)
		res.Ready = ready.Sub(start)
		return err
	})
	if err := g.Wait(); err != nil {
		return c, Result{}, err
	}
	c.TaskManagers = taskManagers
	res.Started = allUp.Sub(start)
	return c, res, nil
}

// ScaleUp adds TaskManagers taskmanager-(current+1) to taskmanager-n at once (each is
// started as soon as it is created), and returns once the JobManager reports n registered
// TaskManagers, checked from the start.
func (c *Cluster) ScaleUp(ctx context.Context, n int) (Result, error) {
	start := time.Now()
	var (
		res   Result
		upMu  sync.Mutex
		allUp time.Time
	)
	g, gctx := errgroup.WithContext(ctx)
	for i := c.TaskManagers + 1; i <= n; i++ {
		g.Go(func() error {
			id, err := c.b.create(gctx, c, taskManagerID(i))
			if err != nil {
				return err
			}
			if err := c.b.start(gctx, c, id, taskManagerID(i)); err != nil {
				return err
			}
			upMu.Lock()
			allUp = time.Now() // the last one wins
			upMu.Unlock()
			return nil
		})
	}
	g.Go(func() error {
		var ready time.Time
		var err error
		res.Polls, ready, err = c.b.waitRegistered(gctx, c, n)
		res.Ready = ready.Sub(start)
		return err
	})
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	c.TaskManagers = n
	res.Started = allUp.Sub(start)
	return res, nil
}

// waitRegistered checks /overview at once and then every PollInterval (from the start of
// one check to the start of the next; at once when a check took longer) until it reports n
// TaskManagers with at least n slots, and returns the number of checks and when the last
// one answered.
func (b *Baseline) waitRegistered(ctx context.Context, c *Cluster, n int) (int, time.Time, error) {
	fc := &flink.Client{BaseURL: c.RESTURL, HTTP: b.http}
	polls := 0
	var last error
	next := time.Now()
	for {
		polls++
		cctx, cancel := context.WithTimeout(ctx, restTimeout)
		ov, err := fc.Overview(cctx)
		cancel()
		if err == nil && ov.TaskManagers == n && ov.SlotsTotal >= n {
			return polls, time.Now(), nil
		}
		if err == nil {
			err = fmt.Errorf("%d/%d TaskManagers registered, %d slots", ov.TaskManagers, n, ov.SlotsTotal)
		}
		last = err
		next = next.Add(b.cfg.PollInterval)
		wait := time.Until(next)
		if wait <= 0 {
			next, wait = time.Now(), 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return polls, time.Time{}, fmt.Errorf("wait for %d TaskManagers of %s: %w (last: %v)", n, c.Name, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// create creates one instance's container and copies its configuration in, as flinkd's
// runtime does; it returns the container ID.
func (b *Baseline) create(ctx context.Context, c *Cluster, id string) (string, error) {
	component, proc, alias := componentTM, b.tm, id
	if id == jobManagerID {
		component, proc, alias = componentJM, b.jm, jobManagerAlias
	}
	cfg := &container.Config{
		Hostname: id,
		Image:    b.image,
		Cmd:      []string{component},
		Env:      b.env,
		Labels:   b.labels(c.Name, id),
	}
	hc := &container.HostConfig{
		NetworkMode:   container.NetworkMode(c.NetworkID),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	if proc.memoryBytes > 0 {
		hc.Memory = proc.memoryBytes
		hc.MemorySwap = proc.memoryBytes
	}
	if proc.cpuMillis > 0 {
		hc.CPUPeriod = cpuPeriod
		hc.CPUQuota = proc.cpuMillis * cpuPeriod / 1000
	}
	if component == componentJM {
		cfg.ExposedPorts = nat.PortSet{restPort: {}}
		hc.PortBindings = nat.PortMap{restPort: {{HostIP: "127.0.0.1", HostPort: ""}}}
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		c.NetworkID: {Aliases: []string{alias}},
	}}
	name := resourceName(c.Name) + "_" + id
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	resp, err := b.cfg.Client.ContainerCreate(cctx, cfg, hc, nc, nil, name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	archive, err := b.configArchive(id, component)
	if err != nil {
		return resp.ID, err
	}
	if err := b.cfg.Client.CopyToContainer(cctx, resp.ID, flinkconf.Dir, bytes.NewReader(archive), container.CopyToContainerOptions{}); err != nil {
		return resp.ID, fmt.Errorf("copy configuration into %s: %w", name, err)
	}
	return resp.ID, nil
}

// start starts a created container.
func (b *Baseline) start(ctx context.Context, c *Cluster, cid, id string) error {
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	if err := b.cfg.Client.ContainerStart(cctx, cid, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s_%s: %w", resourceName(c.Name), id, err)
	}
	return nil
}

// restURL reads the JobManager's published REST port.
func (b *Baseline) restURL(ctx context.Context, id string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	ins, err := b.cfg.Client.ContainerInspect(cctx, id)
	if err != nil {
		return "", fmt.Errorf("inspect jobmanager: %w", err)
	}
	if ins.NetworkSettings != nil {
		for _, pb := range ins.NetworkSettings.Ports[restPort] {
			if pb.HostPort != "" {
				return "http://127.0.0.1:" + pb.HostPort, nil
			}
		}
	}
	return "", errors.New("inspect jobmanager: REST port not published")
}

// instanceFiles are one instance's /opt/flink/conf files: the cluster's configuration plus
// what only the runtime knows (flinkconf.RuntimeOptions), as internal/runtime/docker writes
// it, without reading the image's own file first, and the Log4j file.
func (b *Baseline) instanceFiles(id, component string) ([]flinkconf.File, error) {
	in := flinkconf.Instance{JobManagerHost: jobManagerAlias}
	if component == componentTM {
		in.TaskManagerHost, in.ResourceID = id, id
	}
	v := flinkconf.VersionOf(b.cfg.Spec.Spec.FlinkVersion)
	name, legacy := flinkconf.FileName(v, b.imageConf.legacy != nil)
	base := b.imageConf.standard
	if legacy {
		base = b.imageConf.legacy
	}
	f, err := flinkconf.Render(flinkconf.Layers{Version: v, Legacy: legacy, Base: base, Cluster: b.conf, Runtime: flinkconf.RuntimeOptions(in)})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return []flinkconf.File{f, {Name: flinkconf.Log4jConsoleFile, Data: []byte(b.log4j)}}, nil
}

// configArchive is the tar of instanceFiles, owned by the image's flink user.
func (b *Baseline) configArchive(id, component string) ([]byte, error) {
	files, err := b.instanceFiles(id, component)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Name, Mode: 0o664, Uid: b.imageConf.uid,
			Gid: b.imageConf.gid, Size: int64(len(f.Data)), ModTime: now}
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

func (b *Baseline) labels(cluster, instance string) map[string]string {
	l := map[string]string{LabelRun: b.cfg.Run, LabelCluster: cluster}
	if instance != "" {
		l[LabelInstance] = instance
	}
	return l
}

// Remove force-removes every container and network labelled with this baseline's run.
func (b *Baseline) Remove(ctx context.Context) error {
	return RemoveRun(ctx, b.cfg.Client, b.cfg.Run)
}

// RemoveRun force-removes every container and network labelled LabelRun=run.
func RemoveRun(ctx context.Context, cli *client.Client, run string) error {
	f := filters.NewArgs(filters.Arg("label", LabelRun+"="+run))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list baseline containers: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, c := range ctrs {
		g.Go(func() error {
			err := cli.ContainerRemove(gctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
				return fmt.Errorf("remove container %s: %w", c.ID, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list baseline networks: %w", err)
	}
	for _, n := range nets {
		if err := removeNetwork(ctx, cli, n.ID); err != nil {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
	}
	return nil
}

// ErrStaleEndpoint: the engine keeps an endpoint of a container that is gone, so the
// network cannot be removed (Docker 20.10, seen twice in 20 runs after compose's
// containers, with no container left on the network; only an engine restart clears it).
var ErrStaleEndpoint = errors.New("the engine keeps an endpoint of a removed container")

// removeNetwork removes a network whose containers were just removed. The engine may
// still hold an endpoint of one of them for a moment ("has active endpoints"): it is tried
// again until it goes, for up to 10 s; after that the error wraps ErrStaleEndpoint.
func removeNetwork(ctx context.Context, cli *client.Client, id string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cli.NetworkRemove(ctx, id)
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		if !strings.Contains(err.Error(), "active endpoints") {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %v", ErrStaleEndpoint, err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

// resourceName is the baseline's counterpart of flinkd's "flinkd_<ns>_<name>".
func resourceName(cluster string) string { return "flinkbench_" + cluster }

func taskManagerID(n int) string { return "taskmanager-" + strconv.Itoa(n) }
