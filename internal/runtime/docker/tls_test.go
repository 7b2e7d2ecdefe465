package docker

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/pki"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/testenv"
)

// secureCluster is testCluster with auto-provisioned TLS, as the daemon builds it.
func secureCluster(t *testing.T, r *Runtime, k runtime.Key, n int) (runtime.Cluster, *pki.Cluster, *pki.Authority) {
	t.Helper()
	a, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Cluster(pki.ClusterRequest{ID: k.Namespace + "_" + k.Name, Name: k.Name, RESTHosts: r.RESTHosts(k)})
	if err != nil {
		t.Fatal(err)
	}
	c := testCluster(t, k, n, "hash-secure-0123456789abcdef")
	c.Image = testenv.SimImageOf(t, r.cli, "1.20")
	c.FlinkConfig = flinkconf.WithTLS(c.FlinkConfig)
	c.TLS = m.RuntimeTLS()
	return c, m, a
}

func TestSecureClusterServesHTTPSAndKeepsItsKeyMaterialPrivate(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c, m, a := secureCluster(t, r, k, 1)
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	obs := waitFor(t, r, k, "1 jobmanager and 1 taskmanager running", up(1, c.Hash))
	if !strings.HasPrefix(obs.REST.URL, "https://127.0.0.1:") || !obs.REST.TLS {
		t.Fatalf("REST endpoint %+v, want https and TLS", obs.REST)
	}
	tc, err := m.ClientTLS(a.Pool())
	if err != nil {
		t.Fatal(err)
	}
	fc := &flink.Client{BaseURL: obs.REST.URL, HTTP: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}}
	deadline := time.Now().Add(waitTimeout)
	for {
		ov, err := fc.Overview(t.Context())
		if err == nil && ov.TaskManagers == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/overview over https with the client certificate never showed the taskmanager: %+v, %v", ov, err)
		}
		poll(t, 200*time.Millisecond)
	}

	// Without the client certificate, or in plain http: nothing.
	bare := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls12{RootCAs: a.Pool()}}}
	if resp, err := bare.Get(obs.REST.URL + "/overview"); err == nil {
		_ = resp.Body.Close()
		t.Errorf("https without a client certificate answered %s", resp.Status)
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(obs.REST.URL, "https://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "GET /overview HTTP/1.1\r\nHost: x\r\n\r\n")
	if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
		t.Errorf("plain http answered %q", line)
	}
	_ = conn.Close()

	// Key material: copied in, 0600, owned by the image's flink user; the REST stores only on
	// the JobManager; no password in the containers' environment or arguments.
	base := runtime.ResourceName(k)
	secrets := []string{m.Internal.Password, m.REST.Password}
	for _, tc := range []struct {
		id    string
		files []string
		not   []string
	}{
		{"jobmanager", []string{flinkconf.TLSInternalKeystore, flinkconf.TLSInternalTruststore, flinkconf.TLSRESTKeystore, flinkconf.TLSRESTTruststore, flinkconf.ConfigYAML}, nil},
		{"taskmanager-1", []string{flinkconf.TLSInternalKeystore, flinkconf.TLSInternalTruststore, flinkconf.ConfigYAML}, []string{flinkconf.TLSRESTKeystore, flinkconf.TLSRESTTruststore}},
	} {
		name := base + "_" + tc.id
		for _, f := range tc.files {
			hdr, _ := copyFile(t, cli, name, flinkconf.Dir+"/"+f)
			if hdr.FileInfo().Mode().Perm() != 0o600 || hdr.Uid != flinkconf.ImageUID || hdr.Gid != flinkconf.ImageUID {
				t.Errorf("%s %s: mode %v owner %d:%d, want 0600 %d:%d", tc.id, f, hdr.FileInfo().Mode().Perm(), hdr.Uid, hdr.Gid, flinkconf.ImageUID, flinkconf.ImageUID)
			}
		}
		for _, f := range tc.not {
			if _, _, err := cli.CopyFromContainer(t.Context(), name, flinkconf.Dir+"/"+f); !cerrdefs.IsNotFound(err) {
				t.Errorf("%s has %s (err %v): the REST stores belong to the JobManager only", tc.id, f, err)
			}
		}
		ins, err := cli.ContainerInspect(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		plain := strings.Join(ins.Config.Env, "\n") + strings.Join(ins.Config.Cmd, " ") + strings.Join(ins.Args, " ")
		for k, v := range ins.Config.Labels {
			plain += k + "=" + v + "\n"
		}
		if ins.Config.Labels[labelTLS] != "true" {
			t.Errorf("%s lacks label %s", tc.id, labelTLS)
		}
		logs := containerLogs(t, name)
		for _, s := range secrets {
			if strings.Contains(plain, s) {
				t.Errorf("%s: a store password is in the container's environment, arguments or labels", tc.id)
			}
			if strings.Contains(logs, s) {
				t.Errorf("%s: a store password is in the container's log", tc.id)
			}
		}
		if strings.Contains(logs, "PRIVATE KEY") {
			t.Errorf("%s: a private key is in the container's log", tc.id)
		}
		if tc.id == "jobmanager" && !strings.Contains(logs, "security.ssl.rest.keystore-password, ******") {
			t.Errorf("the JobManager does not log its REST keystore password masked:\n%s", logs)
		}
	}
	// /jobmanager/config masks them.
	body := getBody(t, fc, obs.REST.URL+"/jobmanager/config")
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Error("/jobmanager/config shows a store password")
		}
	}
	if !strings.Contains(body, `"key":"security.ssl.internal.keystore-password","value":"******"`) {
		t.Errorf("/jobmanager/config does not mask the internal keystore password: %s", body)
	}
}

type tls12 = tls.Config

func containerLogs(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rc, err := engine(t).ContainerLogs(ctx, name, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("logs of %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getBody(t *testing.T, fc *flink.Client, url string) string {
	t.Helper()
	resp, err := fc.HTTP.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
