package bench

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	dockerclient "github.com/docker/docker/client"
	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/flinkconf"
)

// containerShape is everything about a container that makes it the same Flink process:
// not its name, ID or labels.
type containerShape struct {
	Image, Hostname, User, WorkingDir string
	Cmd, Entrypoint, Env              []string
	ExposedPorts                      []string
	Memory, MemorySwap                int64
	CPUPeriod, CPUQuota, NanoCPUs     int64
	RestartPolicy                     string
	PublishedOn                       []string // host IPs the REST port is published on
	Aliases                           []string // network aliases, without the engine's short ID
	Networks                          int
	Files                             map[string]confFile // /opt/flink/conf files
}

type confFile struct {
	Content  string
	UID, GID int
}

func shapeOf(t *testing.T, cli *dockerclient.Client, name string) containerShape {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ins, err := cli.ContainerInspect(ctx, name)
	if err != nil {
		t.Fatalf("inspect %s: %v", name, err)
	}
	s := containerShape{
		Image: ins.Config.Image, Hostname: ins.Config.Hostname, User: ins.Config.User, WorkingDir: ins.Config.WorkingDir,
		Cmd: ins.Config.Cmd, Entrypoint: ins.Config.Entrypoint, Env: ins.Config.Env,
		Memory: ins.HostConfig.Memory, MemorySwap: ins.HostConfig.MemorySwap,
		CPUPeriod: ins.HostConfig.CPUPeriod, CPUQuota: ins.HostConfig.CPUQuota, NanoCPUs: ins.HostConfig.NanoCPUs,
		RestartPolicy: string(ins.HostConfig.RestartPolicy.Name),
		Files:         map[string]confFile{},
	}
	for p := range ins.Config.ExposedPorts {
		s.ExposedPorts = append(s.ExposedPorts, string(p))
	}
	slices.Sort(s.ExposedPorts)
	for _, bindings := range ins.HostConfig.PortBindings {
		for _, pb := range bindings {
			s.PublishedOn = append(s.PublishedOn, pb.HostIP)
		}
	}
	for _, ep := range ins.NetworkSettings.Networks {
		s.Networks++
		for _, a := range ep.Aliases {
			if a != ins.ID[:12] {
				s.Aliases = append(s.Aliases, a)
			}
		}
	}
	slices.Sort(s.Aliases)
	for _, f := range []string{flinkconf.ConfigYAML, flinkconf.Log4jConsoleFile} {
		content, uid, gid, err := copyOut(ctx, cli, ins.ID, flinkconf.Dir+"/"+f)
		if err != nil {
			t.Fatalf("copy %s out of %s: %v", f, name, err)
		}
		s.Files[f] = confFile{Content: content, UID: uid, GID: gid}
	}
	return s
}

// readSingleTar reads the first regular file of a tar stream.
func readSingleTar(r io.Reader) (string, int, int, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", 0, 0, errors.New("no file in the archive")
			}
			return "", 0, 0, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		return string(b), h.Uid, h.Gid, err
	}
}

// TestBaselineCreatesTheSameContainersAsFlinkd checks the benchmarks' premise: for the same
// spec (here with an env var, a ${VAR} reference, loggers and resources, so that every
// rendering path is used), the baseline's JobManager and TaskManager containers have the
// same image, command, environment, limits, network aliases, published port and
// configuration files (as the entrypoint left them after start) as flinkd's.
func TestBaselineCreatesTheSameContainersAsFlinkd(t *testing.T) {
	cli := engine(t)
	d := startDaemon(t, cli)
	run := randomID(8)
	s := benchSpec{
		Name: "same-" + run, TaskManagers: 1, FastHeartbeats: true,
		Resources: "  resources:\n    jobmanager:\n      cpu: 0.5\n      memory: 700m\n    taskmanager:\n      cpu: 1.5\n      memory: 1200m\n",
		Extra: `    s3.access-key: ${KEY}
  logging:
    log4jLoggers:
      "": WARN
      org.apache.flink.streaming.examples: DEBUG
  kubernetes:
    pods:
      envVars:
        - name: KEY
          value: secret-value
`,
	}
	d.write(s.Name, s.yaml())
	d.waitRunning(s.Name, 1)
	bl := newBaseline(t, cli, run, s)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if _, _, err := bl.Start(ctx, s.Name, 1); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	for _, id := range []string{"jobmanager", "taskmanager-1"} {
		flinkd := shapeOf(t, cli, fmt.Sprintf("flinkd_default_%s_%s", s.Name, id))
		base := shapeOf(t, cli, fmt.Sprintf("flinkbench_%s_%s", s.Name, id))
		if diff := cmp.Diff(flinkd, base); diff != "" {
			t.Errorf("%s: the baseline's container differs from flinkd's (-flinkd +baseline):\n%s", id, diff)
		}
	}
	// A sanity check that the comparison saw what the spec asked for.
	tm := shapeOf(t, cli, fmt.Sprintf("flinkbench_%s_taskmanager-1", s.Name))
	if tm.CPUQuota != 150_000 || tm.Memory != 1_200_000_000 || !slices.Contains(tm.Env, "KEY=secret-value") ||
		!strings.Contains(tm.Files[flinkconf.ConfigYAML].Content, "secret-value") {
		t.Errorf("baseline taskmanager: cpu quota %d, memory %d, env %v, config.yaml:\n%s\nwant quota 150000, memory 1200000000, KEY=secret-value in env and config",
			tm.CPUQuota, tm.Memory, tm.Env, tm.Files[flinkconf.ConfigYAML].Content)
	}
}
