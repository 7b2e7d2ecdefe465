package kube

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
)

// Secure clusters on Kubernetes.
//
// The key material is a Secret "<name>-flink-tls" with flinkd's labels: the PKCS12 stores
// and, one key per option, the store passwords. The ConfigMap holds no password. The init
// container mounts the Secret read-only (mode 0400) next to the ConfigMap and copies the
// stores the process needs into the conf folder (the emptyDir, after initScript) with umask 077, so that they are the Flink
// user's own, mode 0400 (the TaskManagers' volume lists only the internal stores). The
// passwords reach Flink as dynamic properties: an environment variable per password, from
// the Secret (secretKeyRef), and an argument -D<option>=$(VAR) that the kubelet expands, so
// that the pod spec shows only the variable's name. Flink logs such arguments masked.
//
// How flinkd reaches the REST API. With client authentication on, the API server's service
// proxy cannot be used: it ends flinkd's TLS connection at the API server and opens its own
// to the pod, which presents no client certificate (the API server has none for a pod's
// port; with the https: scheme it does not even check the pod's certificate). Flink refuses
// that connection, as it should. The honest routes are the ones where TLS runs end to end
// between flinkd and the JobManager:
//
//   - In the cluster (inCluster targets): directly to the JobManager pod's IP.
//   - From outside: a port-forward (API server → kubelet → pod), a byte tunnel, as
//     `kubectl port-forward` makes (portforward.go). It needs the pods/portforward
//     permission in the namespace.
//
// Either way the server certificate is checked against the Service's name (its SANs hold
// the Service's DNS names).
//
// Users reach it the same ways: `kubectl port-forward svc/<name>-jobmanager 8081` and then
// https://localhost:8081 (localhost and 127.0.0.1 are among the SANs), with the files of
// `flinkctl certs`.

// Names and paths of the TLS material in the pods.
const (
	volumeTLS      = "flink-tls"
	tlsMountPath   = "/flinkd/tls"
	annotationTLS  = "flinkd.io/tls"
	tlsSecretMode  = int32(0o400)
	envSecretPrefx = "FLINKD_SECRET_"
)

// secretKey is the Secret key of a password option (keys allow letters, digits, '-', '_', '.').
func secretKey(option string) string { return "option." + option }

// tlsSecret is the Secret of a secure cluster (nil without TLS).
func tlsSecret(o runtime.Ownership, c runtime.Cluster, ns string, n names) *applycorev1.SecretApplyConfiguration {
	if c.TLS == nil {
		return nil
	}
	data := map[string][]byte{}
	for _, files := range []map[string][]byte{c.TLS.Files, c.TLS.JobManagerFiles} {
		maps.Copy(data, files)
	}
	for _, opts := range []map[string]string{c.TLS.Secret, c.TLS.JobManagerSecret} {
		for k, v := range opts {
			data[secretKey(k)] = []byte(v)
		}
	}
	return applycorev1.Secret(n.secret, ns).
		WithLabels(o.Labels(c.Key, "", c.Hash)).
		WithAnnotations(map[string]string{AnnotationSpecHash: c.Hash, annotationFingerprint: c.TLS.Fingerprint}).
		WithType(corev1.SecretTypeOpaque).
		WithData(data)
}

// annotationFingerprint on the Secret and the pod templates names the material (not
// secret): new material rolls the pods.
const annotationFingerprint = "flinkd.io/tls-fingerprint"

// tlsPod adds what a secure cluster's pod of component needs: the Secret volume (the init
// container copies from it), the password variables and the -D arguments of the main
// container. It returns the extra copy command for the init container ("" without TLS).
func tlsPod(c runtime.Cluster, n names, component string, main *applycorev1.ContainerApplyConfiguration) (vol *applycorev1.VolumeApplyConfiguration, copyCmd string) {
	if c.TLS == nil {
		return nil, ""
	}
	files := slices.Sorted(maps.Keys(c.TLS.Files))
	secret := maps.Clone(c.TLS.Secret)
	if component == runtime.ComponentJobManager {
		files = append(files, slices.Sorted(maps.Keys(c.TLS.JobManagerFiles))...)
		maps.Copy(secret, c.TLS.JobManagerSecret)
	}
	items := make([]*applycorev1.KeyToPathApplyConfiguration, 0, len(files))
	for _, f := range files {
		items = append(items, applycorev1.KeyToPath().WithKey(f).WithPath(f))
	}
	vol = applycorev1.Volume().WithName(volumeTLS).WithSecret(applycorev1.SecretVolumeSource().
		WithSecretName(n.secret).WithDefaultMode(tlsSecretMode).WithItems(items...))
	for i, opt := range slices.Sorted(maps.Keys(secret)) {
		env := envSecretPrefx + strconv.Itoa(i)
		main.WithEnv(applycorev1.EnvVar().WithName(env).WithValueFrom(applycorev1.EnvVarSource().
			WithSecretKeyRef(applycorev1.SecretKeySelector().WithName(n.secret).WithKey(secretKey(opt)))))
		main.WithArgs("-D" + opt + "=$(" + env + ")")
	}
	return vol, fmt.Sprintf("(umask 077 && cp %s/* %s/)", tlsMountPath, stageMountPath)
}

// RESTHosts implements runtime.RESTHosts: the Service's DNS names (under both names it may
// have, see get), and the loopback names a port-forward is reached by.
func (r *Runtime) RESTHosts(k runtime.Key) []string {
	var hosts []string
	for _, n := range allNames(k) {
		svc := n.service
		hosts = append(hosts, svc, svc+"."+r.ns, svc+"."+r.ns+".svc", svc+"."+r.ns+".svc.cluster.local")
	}
	return append(hosts, "localhost", "127.0.0.1")
}

var _ runtime.RESTHosts = (*Runtime)(nil)

// secureEndpoint is how flinkd reaches a secure cluster's REST API, TLS end to end (see the
// package comment above), the server certificate checked against the Service's name: in the
// cluster, the JobManager pod's IP; from outside, a port-forward to the pod (portforward.go).
func (r *Runtime) secureEndpoint(ctx context.Context, k runtime.Key, svc string, jm *corev1.Pod) runtime.Endpoint {
	ep := runtime.Endpoint{
		TLS:        true,
		ServerName: svc + "." + r.ns + ".svc",
		Display:    fmt.Sprintf("kubectl -n %s port-forward svc/%s %d, then https://localhost:%d", r.ns, svc, flinkconf.DefaultRESTPort, flinkconf.DefaultRESTPort),
	}
	if jm == nil {
		r.fwd.end(k)
		return ep
	}
	host := jm.Status.PodIP
	if !r.inCluster {
		port, err := r.forwardTo(ctx, k, jm.Name)
		if err != nil {
			ep.Err = err
			return ep
		}
		host = "127.0.0.1:" + strconv.Itoa(port)
	} else {
		host = net.JoinHostPort(host, strconv.Itoa(flinkconf.DefaultRESTPort))
	}
	ep.URL = "https://" + host
	if r.clientTLS == nil {
		return ep
	}
	tc, err := r.clientTLS(k)
	if err != nil {
		r.log.Warn("no client certificate for a secure cluster", "cluster", k.String(), "err", err)
		return ep
	}
	tc = tc.Clone()
	tc.ServerName = ep.ServerName
	ep.Client = &http.Client{Timeout: restClientTimeout, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	return ep
}

// restClientTimeout bounds one REST call of the daemon to a secure cluster.
const restClientTimeout = 5 * time.Second

// jobManagerPod is the newest JobManager pod that has an IP (nil when none).
func jobManagerPod(pods []corev1.Pod) *corev1.Pod {
	var best *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Labels[runtime.LabelComponent] != runtime.ComponentJobManager || strings.TrimSpace(p.Status.PodIP) == "" {
			continue
		}
		if best == nil || p.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = p
		}
	}
	return best
}
