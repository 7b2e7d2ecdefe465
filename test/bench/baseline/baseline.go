// Package baseline is the reference flinkd's Docker benchmarks are measured against: a
// program with no daemon, no database, no file watching and no observation that creates the
// same network and containers flinkd's Docker runtime creates, through the same engine API,
// all at once, and then polls the JobManager's /overview at flinkd's own cadence until it
// reports the wanted number of TaskManagers.
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
//   - the readiness condition: /overview reports every TaskManager, checked at once when
//     the containers are started and then every PollInterval (1 s, flinkd's requeue while a
//     cluster is STARTING or SCALING), counted from the end of the previous check.
//
// What differs, by design (it is the work a supervisor does and a one-shot script does not):
// the baseline does not look at the image (flinkd inspects it, and pulls it when missing),
// does not list or inspect containers before or after acting, creates every container at
// once (flinkd runs at most 8 engine operations at a time), writes nothing to disk, and
// labels its resources with its own labels (LabelRun), not flinkd's.
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
	"net/http"
	"strconv"
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

// DefaultPollInterval is flinkd's requeue interval while a cluster is STARTING or SCALING
// (internal/daemon/decide.go, requeueProgress).
const DefaultPollInterval = time.Second

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
}

type process struct {
	cpuMillis   int64
	memoryBytes int64
}

// New prepares a baseline for cfg.Spec, rendering what flinkd renders for it.
func New(cfg Config) (*Baseline, error) {
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
	return &Baseline{
		cfg:   cfg,
		image: cfg.Spec.Image(),
		conf:  conf,
		log4j: log4j,
		env:   env,
		jm:    process{cpuMillis: jm.CPUMillis(), memoryBytes: jm.MemoryBytes()},
		tm:    process{cpuMillis: tm.CPUMillis(), memoryBytes: tm.MemoryBytes()},
		http:  &http.Client{Timeout: restTimeout},
	}, nil
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

// Start creates cluster name's network, then its JobManager and taskManagers TaskManagers,
// all at once (each: create, copy the configuration in, start), then waits until the
// JobManager reports taskManagers registered TaskManagers.
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

	ids := []string{jobManagerID}
	for n := 1; n <= taskManagers; n++ {
		ids = append(ids, taskManagerID(n))
	}
	var jmContainer string
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, id := range ids {
		g.Go(func() error {
			cid, err := b.bringUp(gctx, c, id)
			if err != nil {
				return err
			}
			if id == jobManagerID {
				mu.Lock()
				jmContainer = cid
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return c, Result{}, err
	}
	started := time.Since(start)
	if c.RESTURL, err = b.restURL(ctx, jmContainer); err != nil {
		return c, Result{}, err
	}
	c.TaskManagers = taskManagers
	polls, err := b.waitRegistered(ctx, c, taskManagers)
	return c, Result{Started: started, Ready: time.Since(start), Polls: polls}, err
}

// ScaleUp adds TaskManagers taskmanager-(current+1) to taskmanager-n at once, then waits
// until the JobManager reports n registered TaskManagers.
func (c *Cluster) ScaleUp(ctx context.Context, n int) (Result, error) {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i := c.TaskManagers + 1; i <= n; i++ {
		g.Go(func() error {
			_, err := c.b.bringUp(gctx, c, taskManagerID(i))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	started := time.Since(start)
	c.TaskManagers = n
	polls, err := c.b.waitRegistered(ctx, c, n)
	return Result{Started: started, Ready: time.Since(start), Polls: polls}, err
}

// waitRegistered checks /overview at once and then PollInterval after each check ends, as
// flinkd re-checks a STARTING or SCALING cluster, until it reports n TaskManagers.
func (b *Baseline) waitRegistered(ctx context.Context, c *Cluster, n int) (int, error) {
	fc := &flink.Client{BaseURL: c.RESTURL, HTTP: b.http}
	polls := 0
	var last error
	for {
		polls++
		cctx, cancel := context.WithTimeout(ctx, restTimeout)
		ov, err := fc.Overview(cctx)
		cancel()
		if err == nil && ov.TaskManagers == n {
			return polls, nil
		}
		if err == nil {
			err = fmt.Errorf("%d/%d TaskManagers registered", ov.TaskManagers, n)
		}
		last = err
		t := time.NewTimer(b.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return polls, fmt.Errorf("wait for %d TaskManagers of %s: %w (last: %v)", n, c.Name, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// bringUp creates one instance's container, copies its configuration in and starts it, as
// flinkd's runtime does; it returns the container ID.
func (b *Baseline) bringUp(ctx context.Context, c *Cluster, id string) (string, error) {
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
	// One call budget for the create, one for copy and start, as flinkd's runtime has.
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	resp, err := b.cfg.Client.ContainerCreate(cctx, cfg, hc, nc, nil, name)
	cancel()
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	archive, err := b.configArchive(id, component)
	if err != nil {
		return resp.ID, err
	}
	cctx, cancel = context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	if err := b.cfg.Client.CopyToContainer(cctx, resp.ID, flinkconf.Dir, bytes.NewReader(archive), container.CopyToContainerOptions{}); err != nil {
		return resp.ID, fmt.Errorf("copy configuration into %s: %w", name, err)
	}
	if err := b.cfg.Client.ContainerStart(cctx, resp.ID, container.StartOptions{}); err != nil {
		return resp.ID, fmt.Errorf("start container %s: %w", name, err)
	}
	return resp.ID, nil
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

// configArchive is the tar of /opt/flink/conf's files, owned by the image's flink user: the
// cluster's configuration plus what only the runtime knows (flinkconf.RuntimeOptions), as
// internal/runtime/docker writes it, without reading the image's own file first.
func (b *Baseline) configArchive(id, component string) ([]byte, error) {
	in := flinkconf.Instance{JobManagerHost: jobManagerAlias}
	if component == componentTM {
		in.TaskManagerHost, in.ResourceID = id, id
	}
	v := flinkconf.VersionOf(b.cfg.Spec.Spec.FlinkVersion)
	name, legacy := flinkconf.FileName(v, false)
	f, err := flinkconf.Render(flinkconf.Layers{Version: v, Legacy: legacy, Cluster: b.conf, Runtime: flinkconf.RuntimeOptions(in)})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	files := []flinkconf.File{f, {Name: flinkconf.Log4jConsoleFile, Data: []byte(b.log4j)}}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Name, Mode: 0o664, Uid: flinkconf.ImageUID,
			Gid: flinkconf.ImageUID, Size: int64(len(f.Data)), ModTime: now}
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
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
	}
	return nil
}

// resourceName is the baseline's counterpart of flinkd's "flinkd_<ns>_<name>".
func resourceName(cluster string) string { return "flinkbench_" + cluster }

func taskManagerID(n int) string { return "taskmanager-" + strconv.Itoa(n) }
