package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/pki"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/testenv"
)

// secureYAML is clusterYAML with the TLS annotation, a security.ssl.* key it overrides, and
// the stand-in image this branch tests (testenv.SimImageOf: $FLINK_SIM_REPOSITORY's when set).
func secureYAML(t *testing.T, name string, tms int, secure bool) string {
	t.Helper()
	extra := ""
	if secure {
		extra = "    security.ssl.algorithms: TLS_RSA_WITH_AES_128_CBC_SHA\n"
	}
	y := clusterYAML(name, "RUNNING", tms, extra)
	if secure {
		y = replaceOnce(t, y, "metadata:\n  name: "+name+"\n", "metadata:\n  name: "+name+"\n  annotations:\n    flink.security.ssl.enabled: \"true\"\n")
	}
	_, repo, tag, err := testenv.SplitImage(testenv.SimImageOf(t, dockerClient(t), "1.20"))
	if err != nil {
		t.Fatal(err)
	}
	y = replaceOnce(t, y, "flinkImageRepository: flink-sim\n", "flinkImageRepository: "+repo+"\n")
	return replaceOnce(t, y, "flinkImageTag: \"1.20\"\n", "flinkImageTag: \""+tag+"\"\n")
}

func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "10"}, args...)...).CombinedOutput()
	return string(out), err
}

func TestSecureClusterServesMutualTLSAndKeepsItsSecretsOutOfEverythingShown(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	sec, plain := uniqueName("secure"), uniqueName("plain")
	f.write("secure.yaml", secureYAML(t, sec, 2, true))
	f.write("plain.yaml", secureYAML(t, plain, 1, false))
	cs := f.waitRunning(sec, 2)
	ps := f.waitRunning(plain, 1)
	var captured strings.Builder // everything shown to a user

	// status shows https, and the overridden key.
	st := f.flinkctl("status")
	captured.WriteString(st.Stdout + st.Stderr)
	if !strings.HasPrefix(cs.RESTURL, "https://127.0.0.1:") || !strings.Contains(st.Stdout, cs.RESTURL) {
		t.Fatalf("secure REST URL %q, status:\n%s", cs.RESTURL, st)
	}
	if !strings.HasPrefix(ps.RESTURL, "http://127.0.0.1:") {
		t.Errorf("the plain cluster's REST URL changed: %s", ps.RESTURL)
	}
	sd := f.flinkctl("status", sec, "-o", "json")
	captured.WriteString(sd.Stdout + sd.Stderr)
	if !strings.Contains(sd.Stdout, "spec.flinkConfiguration[security.ssl.algorithms]: overridden") {
		t.Errorf("status does not warn about the overridden key:\n%s", sd)
	}

	// Plain http and https without a client certificate get nowhere.
	httpURL := "http://" + strings.TrimPrefix(cs.RESTURL, "https://")
	if out, err := curl(t, httpURL+"/overview"); err == nil {
		t.Errorf("plain http answered: %s", out)
	}
	if out, err := curl(t, "--insecure", cs.RESTURL+"/overview"); err == nil {
		t.Errorf("https without a client certificate answered: %s", out)
	}

	// With the files of flinkctl certs, /overview shows every TaskManager.
	dir := filepath.Join(t.TempDir(), "certs")
	cr := f.flinkctl("certs", sec, "--out", dir)
	captured.WriteString(cr.Stdout + cr.Stderr)
	if cr.Code != 0 || !strings.Contains(cr.Stdout, "curl --cacert") {
		t.Fatalf("flinkctl certs:\n%s", cr)
	}
	for _, name := range []string{"ca.crt", "client.crt", "client.key", "client.p12", "client.p12.password"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v, want 0600", name, err, st.Mode().Perm())
		}
	}
	out, err := curl(t, "--cacert", filepath.Join(dir, "ca.crt"), "--cert", filepath.Join(dir, "client.crt"),
		"--key", filepath.Join(dir, "client.key"), cs.RESTURL+"/overview")
	var ov struct {
		TaskManagers int `json:"taskmanagers"`
	}
	if err != nil || json.Unmarshal([]byte(out), &ov) != nil || ov.TaskManagers != 2 {
		t.Fatalf("curl with the certs from flinkctl certs: %v: %s", err, out)
	}

	// A TaskManager started by hand on the cluster's network, with a certificate of its own,
	// is refused and never registers.
	jm := containerName(sec, "jobmanager")
	intruder := startIntruder(t, f, sec)
	f.waitCluster(sec, "the JobManager refusing the intruder's handshake", func(api.ClusterStatus) bool {
		return strings.Contains(f.containerLogs(jm), "Remote connection to [/") &&
			strings.Contains(f.containerLogs(jm), "failed with javax.net.ssl.SSLHandshakeException")
	})
	if logs := f.containerLogs(intruder); !strings.Contains(logs, "Could not resolve ResourceManager address") {
		t.Errorf("the intruder does not log its failed registration:\n%s", logs)
	}
	out, _ = curl(t, "--cacert", filepath.Join(dir, "ca.crt"), "--cert", filepath.Join(dir, "client.crt"),
		"--key", filepath.Join(dir, "client.key"), cs.RESTURL+"/taskmanagers")
	if strings.Contains(out, "intruder") || json.Unmarshal([]byte(out), &struct{}{}) != nil {
		t.Errorf("/taskmanagers shows the intruder or failed: %s", out)
	}

	// Key files in the containers: 0600, the Flink user's.
	for _, inst := range []string{"jobmanager", "taskmanager-1"} {
		hdr := copyHeader(t, f, containerName(sec, inst), flinkconf.Dir+"/"+flinkconf.TLSInternalKeystore)
		if hdr.FileInfo().Mode().Perm() != 0o600 || hdr.Uid != flinkconf.ImageUID {
			t.Errorf("%s keystore mode %v owner %d, want 0600 %d", inst, hdr.FileInfo().Mode().Perm(), hdr.Uid, flinkconf.ImageUID)
		}
	}
	// The plain cluster has none of it.
	if ins := f.inspect(containerName(plain, "jobmanager")); ins.Config.Labels["flinkd.io/tls"] != "" {
		t.Error("the plain cluster's JobManager is labelled secure")
	}

	// No private key and no password in the database, events, logs or anything shown.
	a, err := pki.Open(filepath.Join(f.data, "tls"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Existing(runtime.Key{Namespace: "default", Name: sec})
	if err != nil {
		t.Fatal(err)
	}
	ev := f.flinkctl("events", sec)
	captured.WriteString(ev.Stdout + ev.Stderr)
	if !strings.Contains(ev.Stdout, "TLS certificates issued, valid until") {
		t.Errorf("events lack the issue:\n%s", ev)
	}
	var db bytes.Buffer
	matches, _ := filepath.Glob(filepath.Join(f.data, "flinkd.db*"))
	for _, p := range matches {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		db.Write(b)
	}
	if len(matches) == 0 || db.Len() == 0 {
		t.Fatalf("no database file in %s", f.data)
	}
	logs, err := os.ReadFile(f.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{
		"the database": db.String(), "flinkd's log": string(logs), "flinkctl's output": captured.String(),
		"the JobManager's log": f.containerLogs(jm),
	} {
		for _, s := range []string{"PRIVATE KEY", m.Internal.Password, m.REST.Password, m.ClientP12Password} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds %q (a private key marker or a password)", what, s[:min(len(s), 12)])
			}
		}
	}
}

// startIntruder runs a stand-in TaskManager on sec's network with an internal keystore of its
// own (another authority's cluster), and returns its container name.
func startIntruder(t *testing.T, f *flinkd, sec string) string {
	t.Helper()
	other, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := other.Cluster(pki.ClusterRequest{ID: "intruder", Name: "intruder", RESTHosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	conf := flinkconf.WithTLS(map[string]string{
		"jobmanager.rpc.address": "jobmanager", "taskmanager.memory.process.size": "1728m",
		"taskmanager.resource-id": "intruder", "taskmanager.host": "intruder", "cluster.registration.error-delay": "500 ms",
	})
	for k, v := range flinkconf.TLSSecretOptions(m.Internal.Password, "", false) {
		conf[k] = v
	}
	rendered, err := flinkconf.Render(flinkconf.Layers{Version: flinkconf.VersionOf("1.20"), Cluster: conf})
	if err != nil {
		t.Fatal(err)
	}
	yaml := rendered.Data
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range map[string][]byte{
		flinkconf.ConfigYAML: yaml, flinkconf.TLSInternalKeystore: m.Internal.Keystore, flinkconf.TLSInternalTruststore: m.Internal.Truststore,
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Uid: flinkconf.ImageUID, Gid: flinkconf.ImageUID, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(data)
	}
	_ = tw.Close()
	name := "flinkd-e2e-intruder-" + sec
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	resp, err := f.docker.ContainerCreate(ctx, &container.Config{Image: testenv.SimImageOf(t, f.docker, "1.20"), Cmd: []string{"taskmanager"},
		Env: []string{"JOB_MANAGER_RPC_ADDRESS=jobmanager"}, Labels: map[string]string{"flinkd-e2e.test": "intruder"}},
		&container.HostConfig{NetworkMode: container.NetworkMode("flinkd_default_" + sec)},
		&network.NetworkingConfig{}, nil, name)
	if err != nil {
		t.Fatalf("create the intruder: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = f.docker.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
	})
	if err := f.docker.CopyToContainer(ctx, resp.ID, flinkconf.Dir, &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.docker.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func copyHeader(t *testing.T, f *flinkd, ctr, path string) *tar.Header {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	rc, _, err := f.docker.CopyFromContainer(ctx, ctr, path)
	if err != nil {
		t.Fatalf("copy %s from %s: %v", path, ctr, err)
	}
	defer rc.Close()
	hdr, err := tar.NewReader(rc).Next()
	if err != nil {
		t.Fatal(err)
	}
	return hdr
}
