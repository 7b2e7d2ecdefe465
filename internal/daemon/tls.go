package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/pki"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// Secure clusters (metadata.annotations flink.security.ssl.enabled: "true").
//
// The key material comes from the daemon's authority (package pki, in the data folder) and
// is attached to the runtime.Cluster by the worker right before an apply: it is issued on
// the first start, kept while the cluster exists (every instance, and every restart, gets
// the same), and renewed only by a start from nothing (after a stop) once it is within
// pki.RenewBefore of expiring. Status warns from then on. Nothing of it is written to the
// database, events or logs; the runtimes place it (see their tls.go).
//
// Rotation without a stop is not done. It would take, in this order and without losing
// state: every process trusting the old and the new internal certificate (a truststore with
// both, copied in and reloaded), then every process presenting the new one, then the old one
// dropped; the same for the REST server certificate (issued by the authority, so clients
// keep trusting it) and for the client certificate (the REST truststore holding both while
// users switch). Flink reads its stores once at start, except where the image's Flink has
// security.ssl.reload (watching the store folders, newer than 1.20): on those, the files
// could be replaced in the running containers (Docker: copy in; Kubernetes: the Secret's
// update reaching the pods). Elsewhere each step is a restart of every process, which only a
// stop-with-savepoint and a resume from it make lossless; flinkd does not take savepoints
// for the user, so it renews on stop and start instead.

// restHosts are the names and addresses a cluster's REST API is reached by, for its server
// certificate.
func restHosts(t Target, k runtime.Key) []string {
	if rh, ok := t.Runtime.(runtime.RESTHosts); ok {
		return rh.RESTHosts(k)
	}
	return []string{"127.0.0.1", "localhost"}
}

// provisionTLS attaches the key material of a secure cluster to c (want is the spec about to
// run). fromNothing says nothing of the cluster runs, so expiring material may be renewed.
// The material of a cluster that is no longer secure is dropped.
func (d *Daemon) provisionTLS(c *runtime.Cluster, t Target, want *spec.SessionCluster, fromNothing bool, progress runtime.Progress) error {
	if want == nil || !want.TLS() {
		if d.cfg.PKI != nil && fromNothing {
			if err := d.cfg.PKI.Forget(pki.ClusterID(c.Key)); err != nil {
				d.log.Warn("remove the TLS material of a cluster without TLS", "cluster", c.Key.String(), "err", err)
			}
		}
		return nil
	}
	if d.cfg.PKI == nil {
		return errors.New("provision TLS: this flinkd has no certificate authority")
	}
	before, _ := d.cfg.PKI.Existing(c.Key)
	m, err := d.cfg.PKI.Cluster(pki.ClusterRequest{
		ID: pki.ClusterID(c.Key), Name: c.Key.Name, RESTHosts: restHosts(t, c.Key), Renew: fromNothing,
	})
	if err != nil {
		return fmt.Errorf("provision TLS: %w", err)
	}
	if before == nil || before.Fingerprint() != m.Fingerprint() {
		progress("Issued", fmt.Sprintf("TLS certificates issued, valid until %s", m.NotAfter.UTC().Format(time.DateOnly)))
	}
	c.TLS = m.RuntimeTLS()
	return nil
}

// forgetTLS removes the material of a cluster that is gone.
func (d *Daemon) forgetTLS(k runtime.Key) {
	if d.cfg.PKI == nil {
		return
	}
	if err := d.cfg.PKI.Forget(pki.ClusterID(k)); err != nil {
		d.log.Warn("remove the TLS material of a forgotten cluster", "cluster", k.String(), "err", err)
	}
}

// tlsWarning returns the expiry warning of cluster k's material ("" when none is due).
func (d *Daemon) tlsWarning(k runtime.Key) string {
	if d.cfg.PKI == nil {
		return ""
	}
	m, err := d.cfg.PKI.Existing(k)
	if err != nil {
		return ""
	}
	now := d.now()
	switch {
	case !now.Before(m.NotAfter):
		return fmt.Sprintf("tls: the cluster's certificates expired on %s; stop and start the cluster to renew them", m.NotAfter.UTC().Format(time.DateOnly))
	case m.ExpiresSoon(now):
		days := int(m.NotAfter.Sub(now).Hours() / 24)
		return fmt.Sprintf("tls: the cluster's certificates expire on %s (in %d days); stop and start the cluster to renew them", m.NotAfter.UTC().Format(time.DateOnly), days)
	}
	return ""
}

// withTLSWarning adds the expiry warning to a cluster's status.
func (d *Daemon) withTLSWarning(st api.ClusterStatus) api.ClusterStatus {
	if w := d.tlsWarning(runtime.Key{Namespace: st.Namespace, Name: st.Name}); w != "" {
		st.Warnings = append(st.Warnings, w)
	}
	return st
}

// handleCerts hands a secure cluster's client material to flinkctl certs (the API socket is
// the daemon user's alone).
func (d *Daemon) handleCerts(w http.ResponseWriter, r *http.Request) {
	c, ok := d.lookup(w, r)
	if !ok {
		return
	}
	k := runtime.Key{Namespace: c.Namespace, Name: c.Name}
	if d.cfg.PKI == nil {
		writeError(w, http.StatusNotFound, "this flinkd has no certificate authority", nil)
		return
	}
	m, err := d.cfg.PKI.Existing(k)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s has no TLS certificates: set metadata.annotations %s: \"true\" (they are issued when the cluster starts)", k, spec.AnnotationTLS), nil)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, api.Certs{
		CACert: string(d.cfg.PKI.CertPEM()), ClientCert: string(m.Client.CertPEM), ClientKey: string(m.Client.KeyPEM),
		ClientP12: m.ClientP12, ClientP12Password: m.ClientP12Password, RESTURL: c.RESTURL, NotAfter: m.NotAfter,
	})
}
