package e2ekube

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Issue #11 on a Kubernetes target: a cluster with flink.security.ssl.enabled reaches
// RUNNING, flinkd talking mutual TLS to the JobManager pod end to end (the TaskManagers
// registered over internal TLS, each pod with the Secret's stores). A user with the files of
// `flinkctl certs` reaches /overview at the Service's name (the pod's address, as
// `kubectl port-forward` or an in-cluster client would); plain http, https without a client
// certificate and the API server's service proxy (which ends TLS and presents none) are
// refused. The passwords are in the Secret only, masked in Flink's configuration; a stop
// leaves no Secret behind.
func TestSecureClusterOnAKubernetesTargetServesMutualTLSEndToEnd(t *testing.T) {
	t.Parallel()
	e := kube(t)
	ns := e.cp.Namespace(t)
	d := startDaemon(t, configYAML(kubeTarget{"kube", e.cp.Kubeconfig, ns}))
	y := clusterYAML("sec", "kube", "RUNNING", 2)
	meta := "metadata:\n  name: sec\n"
	if !strings.Contains(y, meta) {
		t.Fatalf("clusterYAML changed shape:\n%s", y)
	}
	d.write("sec.yaml", strings.Replace(y, meta, meta+"  annotations:\n    flink.security.ssl.enabled: \"true\"\n", 1))
	st := d.waitRunning("sec", 2)
	svc := "sec-default-jobmanager"
	if want := fmt.Sprintf("kubectl -n %s port-forward svc/%s 8081, then https://localhost:8081", ns, svc); st.RESTURL != want {
		t.Errorf("status restURL = %q, want %q", st.RESTURL, want)
	}

	jm := e.pods(t, ns, "sec", runtime.ComponentJobManager)
	if len(jm) != 1 || jm[0].Status.PodIP == "" {
		t.Fatalf("jobmanager pods %v, want one with an IP", podNames(jm))
	}
	host := svc + "." + ns + ".svc"
	base := "https://" + net.JoinHostPort(host, "8081")
	at := []string{"--resolve", host + ":8081:" + jm[0].Status.PodIP}

	if out, err := curl(t, "http://"+net.JoinHostPort(jm[0].Status.PodIP, "8081")+"/overview"); err == nil {
		t.Errorf("plain http answered: %s", out)
	}
	if out, err := curl(t, append(at, "--insecure", base+"/overview")...); err == nil {
		t.Errorf("https without a client certificate answered: %s", out)
	}
	var ov struct {
		TaskManagers int `json:"taskmanagers"`
	}
	if err := e.flink(t, ns, "sec").do("GET", "/overview", "", nil, &ov); err == nil {
		t.Errorf("the API server's service proxy reached the secure REST API (it presents no client certificate): %+v", ov)
	}

	dir := filepath.Join(t.TempDir(), "certs")
	if res := d.flinkctl("certs", "sec", "--out", dir); res.code != 0 || !strings.Contains(res.stdout, "curl --cacert") {
		t.Fatalf("flinkctl certs: %s", res)
	}
	withCerts := append(at, "--cacert", filepath.Join(dir, "ca.crt"), "--cert", filepath.Join(dir, "client.crt"),
		"--key", filepath.Join(dir, "client.key"))
	out, err := curl(t, append(withCerts, base+"/overview")...)
	if err != nil || json.Unmarshal([]byte(out), &ov) != nil || ov.TaskManagers != 2 {
		t.Fatalf("curl with the certs from flinkctl certs at %s: %v: %s", base, err, out)
	}

	// The passwords: in the Secret, never in Flink's shown configuration or the ConfigMap.
	sel := metav1.ListOptions{LabelSelector: labels.Set{runtime.LabelInstance: "sec"}.String()}
	secrets, err := e.cs.CoreV1().Secrets(ns).List(t.Context(), sel)
	if err != nil || len(secrets.Items) != 1 {
		t.Fatalf("secrets of sec: %v (%v)", secrets, err)
	}
	var passwords []string
	for k, v := range secrets.Items[0].Data {
		if strings.HasPrefix(k, "option.") && strings.Contains(k, "password") {
			passwords = append(passwords, string(v))
		}
	}
	if len(passwords) == 0 {
		t.Fatalf("the Secret holds no password option: keys %v", keysOf(secrets.Items[0].Data))
	}
	conf, err := curl(t, append(withCerts, base+"/jobmanager/config")...)
	if err != nil || !strings.Contains(conf, "security.ssl.internal.enabled") {
		t.Fatalf("/jobmanager/config: %v: %s", err, conf)
	}
	cms, err := e.cs.CoreV1().ConfigMaps(ns).List(t.Context(), sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range passwords {
		if strings.Contains(conf, p) {
			t.Errorf("/jobmanager/config shows a store password")
		}
		for _, cm := range cms.Items {
			for k, v := range cm.Data {
				if strings.Contains(v, p) {
					t.Errorf("ConfigMap %s key %s holds a store password", cm.Name, k)
				}
			}
		}
	}

	// flinkd reached it through a port-forward (it runs outside the cluster): to the pod, on
	// a loopback port of its own. The JobManager pod replaced, it forwards to the new one.
	if !forwardedTo(t, d, jm[0].Name) {
		t.Errorf("flinkd's log names no port-forward to %s:\n%s", jm[0].Name, tail(d.logf, 40))
	}
	if err := e.cs.CoreV1().Pods(ns).Delete(t.Context(), jm[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the JobManager pod: %v", err)
	}
	var next string
	eventually(t, 2*time.Minute, "flinkd forwarding to a new JobManager pod", func() (bool, string) {
		pods := e.pods(t, ns, "sec", runtime.ComponentJobManager)
		for _, p := range pods {
			if p.Name != jm[0].Name && p.DeletionTimestamp == nil {
				next = p.Name
			}
		}
		return next != "" && forwardedTo(t, d, next), fmt.Sprint(podNames(pods))
	})
	d.waitRunning("sec", 2)
	// (That status may predate the replacement: wait until the new JobManager has both.)
	eventually(t, 2*time.Minute, "both TaskManagers registered at the new JobManager", func() (bool, string) {
		pods := e.pods(t, ns, "sec", runtime.ComponentJobManager)
		if len(pods) != 1 || pods[0].Name != next || pods[0].Status.PodIP == "" {
			return false, fmt.Sprint(podNames(pods))
		}
		at := []string{"--resolve", host + ":8081:" + pods[0].Status.PodIP}
		out, err := curl(t, append(append(at, withCerts[2:]...), base+"/overview")...)
		return err == nil && json.Unmarshal([]byte(out), &ov) == nil && ov.TaskManagers == 2, fmt.Sprintf("%v: %s", err, out)
	})

	// The stop goes through: flinkd asks the new JobManager (through the new forward) whether
	// jobs run; one it could not ask would be refused (it cannot tell).

	if res := d.flinkctl("stop", "sec", "--wait", "--timeout", "3m"); res.code != 0 {
		t.Fatalf("flinkctl stop --wait: %s", res)
	}
	eventually(t, time.Minute, "nothing of sec left in namespace "+ns, func() (bool, string) {
		left := e.leftovers(t, ns, "sec")
		secrets, err := e.cs.CoreV1().Secrets(ns).List(t.Context(), sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets.Items {
			left = append(left, "secret/"+s.Name)
		}
		return len(left) == 0, fmt.Sprint(left)
	})
}

// forwardedTo says whether flinkd's log tells of a port-forward to pod.
func forwardedTo(t *testing.T, d *daemon, pod string) bool {
	t.Helper()
	b, err := os.ReadFile(d.logf)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		var rec struct{ Msg, Pod, Local string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "port-forward to the JobManager's REST API" &&
			rec.Pod == pod && strings.HasPrefix(rec.Local, "127.0.0.1:") {
			return true
		}
	}
	return false
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// curl runs curl with args (failing on HTTP errors), for what a user would type.
func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--fail", "--max-time", "10"}, args...)...).CombinedOutput()
	return string(out), err
}
