package kube

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/pki"
	"github.com/flinkd/flinkd/internal/runtime"
)

func TestSecureClusterKeepsItsMaterialInALabelledSecretAndNoPasswordInTheConfigMap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "sec", 1)
	a, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Cluster(pki.ClusterRequest{ID: pki.ClusterID(c.Key), Name: c.Key.Name, RESTHosts: e.r.RESTHosts(c.Key)})
	if err != nil {
		t.Fatal(err)
	}
	c.FlinkConfig = flinkconf.WithTLS(c.FlinkConfig)
	c.TLS = m.RuntimeTLS()
	var progress progressLog
	if err := e.r.Apply(ctx, c, progress.fn()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !slices.Contains([]string(progress), "Created secret "+nm("sec").secret) {
		t.Errorf("progress %q does not report the secret", progress)
	}
	passwords := []string{m.Internal.Password, m.REST.Password}

	sec, err := e.cs.CoreV1().Secrets(e.ns).Get(ctx, nm("sec").secret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get secret: %v", err)
	}
	checkMeta(t, "secret", sec.ObjectMeta, runtime.OwnerLabels(c.Key, "", c.Hash),
		map[string]string{AnnotationSpecHash: c.Hash, annotationFingerprint: m.Fingerprint()})
	for name, want := range map[string][]byte{
		flinkconf.TLSInternalKeystore: m.Internal.Keystore, flinkconf.TLSInternalTruststore: m.Internal.Truststore,
		flinkconf.TLSRESTKeystore: m.REST.Keystore, flinkconf.TLSRESTTruststore: m.REST.Truststore,
		"option.security.ssl.internal.keystore-password": []byte(m.Internal.Password),
		"option.security.ssl.rest.key-password":          []byte(m.REST.Password),
	} {
		if string(sec.Data[name]) != string(want) {
			t.Errorf("secret key %s does not hold what Flink needs", name)
		}
	}

	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, nm("sec").configMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap: %v", err)
	}
	conf := cm.Data[flinkconf.ConfigYAML]
	for _, p := range passwords {
		if strings.Contains(conf, p) {
			t.Error("the ConfigMap holds a store password")
		}
	}
	if strings.Contains(conf, "password") {
		t.Errorf("the ConfigMap names a password option:\n%s", conf)
	}
	read := configMapConf(t, cm.Data)
	for k, v := range map[string]string{"security.ssl.internal.enabled": "true", "security.ssl.rest.authentication-enabled": "true",
		"security.ssl.rest.keystore": "/opt/flink/conf/flinkd-rest.p12"} {
		if read[k] != v {
			t.Errorf("config.yaml %s = %q, want %q", k, read[k], v)
		}
	}

	for _, tc := range []struct {
		name      string
		files     []string
		passwords int
	}{
		{nm("sec").jobManager, []string{flinkconf.TLSInternalKeystore, flinkconf.TLSInternalTruststore, flinkconf.TLSRESTKeystore, flinkconf.TLSRESTTruststore}, 6},
		{nm("sec").taskManager, []string{flinkconf.TLSInternalKeystore, flinkconf.TLSInternalTruststore}, 3},
	} {
		d := getDeployment(t, e, tc.name)
		spec := d.Spec.Template.Spec
		var vol *corev1.Volume
		for i := range spec.Volumes {
			if spec.Volumes[i].Name == volumeTLS {
				vol = &spec.Volumes[i]
			}
		}
		if vol == nil || vol.Secret == nil || vol.Secret.SecretName != nm("sec").secret || *vol.Secret.DefaultMode != 0o400 {
			t.Fatalf("%s: TLS volume %+v, want secret %s mode 0400", tc.name, vol, nm("sec").secret)
		}
		var items []string
		for _, it := range vol.Secret.Items {
			items = append(items, it.Key)
		}
		slices.Sort(items)
		want := slices.Sorted(slices.Values(tc.files))
		if diff := cmp.Diff(want, items); diff != "" {
			t.Errorf("%s: stores mounted (-want +got):\n%s", tc.name, diff)
		}
		init := spec.InitContainers[0]
		ro := false
		for _, mnt := range init.VolumeMounts {
			if mnt.Name == volumeTLS {
				ro = mnt.ReadOnly
			}
		}
		if !ro {
			t.Errorf("%s: the init container does not mount the secret read-only", tc.name)
		}
		if !strings.Contains(init.Command[2], "umask 077 && cp /flinkd/tls/* "+stageMountPath+"/") {
			t.Errorf("%s: init command %q does not copy the stores privately", tc.name, init.Command)
		}
		main := spec.Containers[0]
		for _, mnt := range main.VolumeMounts {
			if mnt.Name == volumeTLS {
				t.Errorf("%s: the main container mounts the secret; only the copies are needed", tc.name)
			}
		}
		refs := 0
		for _, ev := range main.Env {
			if ev.ValueFrom != nil && ev.ValueFrom.SecretKeyRef != nil && ev.ValueFrom.SecretKeyRef.Name == nm("sec").secret {
				refs++
			}
			for _, p := range passwords {
				if strings.Contains(ev.Value, p) {
					t.Errorf("%s: a password in env %s", tc.name, ev.Name)
				}
			}
		}
		if refs != tc.passwords {
			t.Errorf("%s: %d password variables from the secret, want %d", tc.name, refs, tc.passwords)
		}
		args := strings.Join(main.Args, " ")
		for _, p := range passwords {
			if strings.Contains(args, p) {
				t.Errorf("%s: a password in the arguments", tc.name)
			}
		}
		if !strings.Contains(args, "-Dsecurity.ssl.internal.keystore-password=$(FLINKD_SECRET_") {
			t.Errorf("%s: args %q do not pass the internal keystore password from a variable", tc.name, args)
		}
		if d.Spec.Template.Annotations[annotationFingerprint] != m.Fingerprint() {
			t.Errorf("%s: pod template lacks the material's fingerprint", tc.name)
		}
	}

	// The pods run on the control plane's fake nodes, whose kubelet serves no port-forward:
	// flinkd (outside the cluster) cannot open its tunnel, and says so; it tries again only
	// after a back-off.
	obs := waitReady(t, e.r, c.Key, 1, c.Hash)
	jm, err := e.r.pods(ctx, c.Key, runtime.ComponentJobManager)
	if err != nil || len(jm) != 1 {
		t.Fatalf("jobmanager pods: %d (%v)", len(jm), err)
	}
	if obs.REST.URL != "" || obs.REST.Err == nil || !strings.Contains(obs.REST.Err.Error(), "port-forward to pod "+jm[0].Name+" port 8081") {
		t.Errorf("REST endpoint %+v, want no URL and the port-forward's failure", obs.REST)
	}
	t.Logf("REST endpoint error: %v", obs.REST.Err)
	began := time.Now()
	again, err := e.r.Observe(ctx, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); again.REST.Err == nil || again.REST.Err.Error() != obs.REST.Err.Error() || took > time.Second {
		t.Errorf("observed again at once: %v after %s, want the same failure without a new dial", again.REST.Err, took)
	}
	if !obs.REST.TLS || obs.REST.ServerName != nm("sec").service+"."+e.ns+".svc" || !strings.Contains(obs.REST.Display, "https://localhost:8081") {
		t.Errorf("REST endpoint %+v, want TLS to the pod, checked as the Service's name", obs.REST)
	}
	if obs.REST.URL != "" && !strings.HasPrefix(obs.REST.URL, "https://") {
		t.Errorf("REST URL %s is not https", obs.REST.URL)
	}
	if !slices.Contains(m.RESTHosts, obs.REST.ServerName) || !slices.Contains(m.RESTHosts, "localhost") {
		t.Errorf("the server certificate's hosts %v miss %s or localhost", m.RESTHosts, obs.REST.ServerName)
	}

	if err := e.r.Delete(ctx, c.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.CoreV1().Secrets(e.ns).Get(ctx, nm("sec").secret, metav1.GetOptions{}); err == nil {
		t.Error("the secret outlived Delete")
	}
}
