package docker

import (
	"maps"
	"net/http"
	"time"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Secure clusters on Docker. The key material is copied into each container's conf folder
// with the configuration, in the same archive, before the container starts: never
// bind-mounted, so nothing of it lives on the engine host outside the container. The files
// and the configuration file (which then holds the store passwords) are mode 0600 and owned
// by the image's flink user (9999), which is the only user that can read them; the
// JobManager alone gets the REST stores. The container's environment and arguments carry
// no secret, and its label flinkd.io/tls says that its REST API is https.

// labelTLS marks the containers of a secure cluster.
const labelTLS = "flinkd.io/tls"

// tlsLabels returns the labels a secure cluster's containers add.
func tlsLabels(c runtime.Cluster) map[string]string {
	if c.TLS == nil {
		return nil
	}
	return map[string]string{labelTLS: "true"}
}

// tlsFiles returns the key material files of one instance (nil without TLS).
func tlsFiles(c runtime.Cluster, component string) map[string][]byte {
	if c.TLS == nil {
		return nil
	}
	files := maps.Clone(c.TLS.Files)
	if component == runtime.ComponentJobManager {
		maps.Copy(files, c.TLS.JobManagerFiles)
	}
	return files
}

// tlsSecret returns the password options of one instance (nil without TLS).
func tlsSecret(c runtime.Cluster, component string) map[string]string {
	if c.TLS == nil {
		return nil
	}
	s := maps.Clone(c.TLS.Secret)
	if component == runtime.ComponentJobManager {
		maps.Copy(s, c.TLS.JobManagerSecret)
	}
	return s
}

// RESTHosts implements runtime.RESTHosts: the REST port is published on the engine host's
// loopback (or, for a remote engine, reached by the engine's host name).
func (r *Runtime) RESTHosts(runtime.Key) []string {
	hosts := []string{"127.0.0.1", "localhost"}
	if r.restHost != "127.0.0.1" && r.restHost != "localhost" {
		hosts = append(hosts, r.restHost)
	}
	return hosts
}

var _ runtime.RESTHosts = (*Runtime)(nil)

// secureClient is the REST client of secure cluster k: it presents the cluster's client
// certificate. A new one per observation, without keep-alive, so that nothing lingers.
func (r *Runtime) secureClient(k runtime.Key) *http.Client {
	if r.clientTLS == nil {
		return nil
	}
	tc, err := r.clientTLS(k)
	if err != nil {
		r.log.Warn("no client certificate for a secure cluster", "cluster", k.String(), "err", err)
		return nil
	}
	return &http.Client{Timeout: restClientTimeout, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
}

// restClientTimeout bounds one REST call of the daemon to a secure cluster.
const restClientTimeout = 5 * time.Second
