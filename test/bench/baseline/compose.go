package baseline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/flinkd/flinkd/internal/flinkconf"
)

// Compose runs the same cluster through docker compose v2 (the `docker compose` CLI plugin;
// hack/compose.sh builds it when missing), for the benchmarks' side-by-side runs.
//
// The project is what a careful compose user writes for these containers: one service per
// instance (jobmanager, taskmanager-1, …), each with the same image, command, host name,
// environment, limits, restart policy "no" and network alias (its service name) as
// flinkd's, the JobManager's REST port published on 127.0.0.1, and the same rendered Flink
// and Log4j files as inlined compose configs, which compose copies into the container
// before it starts it (owned by root, mode 0666: see file below). The TaskManagers depend on the JobManager
// (condition service_started), so compose starts the JobManager first. The project's
// network is compose's default one, labelled with LabelRun like everything else.
//
// Readiness is the baseline's: after `docker compose up -d` returns, /overview is checked
// every PollInterval until it reports every TaskManager.
type Compose struct {
	b   *Baseline
	dir string
}

// ComposeCluster is one cluster compose created.
type ComposeCluster struct {
	c       *Compose
	Name    string
	Project string
	RESTURL string
	file    string
}

// Compose returns a compose runner for b's spec; its project files go into dir.
func (b *Baseline) Compose(dir string) *Compose { return &Compose{b: b, dir: dir} }

// ComposeAvailable says whether `docker compose` answers, and which version it is.
func ComposeAvailable(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", "compose", "version", "--short").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker compose version: %w: %s", err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// ComposeContainerName is the name of instance id's container in the compose project of cluster.
func ComposeContainerName(cluster, id string) string { return "flinkcompose_" + cluster + "_" + id }

// Start writes cluster name's project with taskManagers TaskManagers, runs `docker compose
// up -d`, and returns once the JobManager reports them all.
func (c *Compose) Start(ctx context.Context, name string, taskManagers int) (*ComposeCluster, Result, error) {
	cc := &ComposeCluster{c: c, Name: name, Project: "flinkcompose-" + strings.ToLower(name),
		file: filepath.Join(c.dir, name+".compose.yaml")}
	start := time.Now()
	if err := cc.up(ctx, taskManagers); err != nil {
		return cc, Result{}, err
	}
	started := time.Since(start)
	url, err := c.b.restURL(ctx, ComposeContainerName(name, jobManagerID))
	if err != nil {
		return cc, Result{}, err
	}
	cc.RESTURL = url
	polls, ready, err := c.b.waitRegistered(ctx, &Cluster{Name: name, RESTURL: url}, taskManagers)
	return cc, Result{Started: started, Ready: ready.Sub(start), Polls: polls}, err
}

// ScaleUp rewrites the project with n TaskManagers, runs `docker compose up -d` (which
// creates the new services and leaves the others as they are), and returns once the
// JobManager reports n TaskManagers.
func (cc *ComposeCluster) ScaleUp(ctx context.Context, n int) (Result, error) {
	start := time.Now()
	if err := cc.up(ctx, n); err != nil {
		return Result{}, err
	}
	started := time.Since(start)
	polls, ready, err := cc.c.b.waitRegistered(ctx, &Cluster{Name: cc.Name, RESTURL: cc.RESTURL}, n)
	return Result{Started: started, Ready: ready.Sub(start), Polls: polls}, err
}

// Down removes the project as a compose user does (`docker compose down`, no stop timeout).
func (cc *ComposeCluster) Down(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "docker", "compose", "--progress", "quiet", "-p", cc.Project, "-f", cc.file,
		"down", "--timeout", "0", "--remove-orphans")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker compose down (%s): %w: %s", cc.Project, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

func (cc *ComposeCluster) up(ctx context.Context, taskManagers int) error {
	doc, err := cc.c.project(cc.Name, taskManagers)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cc.file, doc, 0o644); err != nil {
		return fmt.Errorf("write compose file: %w", err)
	}
	cmd := exec.CommandContext(ctx, "docker", "compose", "--progress", "quiet", "-p", cc.Project, "-f", cc.file,
		"up", "-d", "--pull", "never", "--no-build")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker compose up -d (%s): %w: %s", cc.Project, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// project renders the compose file of cluster name with taskManagers TaskManagers.
func (c *Compose) project(name string, taskManagers int) ([]byte, error) {
	b := c.b
	services := map[string]any{}
	configs := map[string]any{}
	var renderErr error
	service := func(id string) map[string]any {
		component, proc, alias := componentTM, b.tm, id
		if id == jobManagerID {
			component, proc, alias = componentJM, b.jm, jobManagerAlias
		}
		files, err := b.instanceFiles(id, component)
		if err != nil {
			renderErr = err
			return nil
		}
		var mounts []any
		for i, f := range files {
			key := fmt.Sprintf("%s-%d", id, i)
			configs[key] = map[string]any{"content": escapeCompose(string(f.Data))}
			// Not uid/gid: with them compose asks the engine to chown to the container's
			// user, and Docker 20.10 cannot resolve the image's "9999:9999" that way. The
			// files are root's, writable by all, so that the entrypoint can rewrite them.
			mounts = append(mounts, map[string]any{"source": key, "target": flinkconf.Dir + "/" + f.Name, "mode": 0o666})
		}
		env := make([]string, len(b.env))
		for i, e := range b.env {
			env[i] = escapeCompose(e)
		}
		s := map[string]any{
			"image":          b.image,
			"container_name": ComposeContainerName(name, id),
			"hostname":       id,
			"command":        []string{component},
			"environment":    env,
			"restart":        "no",
			"labels":         b.labels(name, id),
			"networks":       map[string]any{"default": map[string]any{"aliases": []string{alias}}},
			"configs":        mounts,
		}
		if proc.memoryBytes > 0 {
			s["mem_limit"] = proc.memoryBytes
			s["memswap_limit"] = proc.memoryBytes
		}
		if proc.cpuMillis > 0 {
			s["cpu_period"] = cpuPeriod
			s["cpu_quota"] = proc.cpuMillis * cpuPeriod / 1000
		}
		if component == componentJM {
			s["ports"] = []string{"127.0.0.1::" + strconv.Itoa(flinkconf.DefaultRESTPort)}
		} else {
			s["depends_on"] = map[string]any{jobManagerID: map[string]any{"condition": "service_started"}}
		}
		return s
	}
	services[jobManagerID] = service(jobManagerID)
	for n := 1; n <= taskManagers; n++ {
		services[taskManagerID(n)] = service(taskManagerID(n))
	}
	if renderErr != nil {
		return nil, renderErr
	}
	doc := map[string]any{
		"services": services,
		"configs":  configs,
		"networks": map[string]any{"default": map[string]any{"labels": b.labels(name, "")}},
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("render compose file: %w", err)
	}
	return out, nil
}

// escapeCompose keeps compose from interpolating $ in a value.
func escapeCompose(s string) string { return strings.ReplaceAll(s, "$", "$$") }
