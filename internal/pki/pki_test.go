package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestOpenCreatesTheAuthorityOnceWithPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	a, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{caCertFile, caKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("folder mode = %v, want 0700", st.Mode().Perm())
	}
	b, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.CertPEM()) != string(b.CertPEM()) {
		t.Error("a second Open made a new authority")
	}
	if !b.cert.IsCA {
		t.Error("the authority's certificate is not a CA")
	}
}

func TestOpenRefusesAHalfAuthority(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, caKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open with the key missing = %v, want an error naming %s", err, dir)
	}
}

func issue(t *testing.T, a *Authority, id string, hosts ...string) *Cluster {
	t.Helper()
	c, err := a.Cluster(ClusterRequest{ID: id, Name: id, RESTHosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClusterMaterialIsKeptAndReissuedForOtherHosts(t *testing.T) {
	a, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c1 := issue(t, a, "default_etl", "127.0.0.1", "localhost")
	c2 := issue(t, a, "default_etl", "127.0.0.1", "localhost")
	if c1.Fingerprint() != c2.Fingerprint() || c1.REST.Password != c2.REST.Password {
		t.Error("the same request issued new material; every instance must get the same")
	}
	c3 := issue(t, a, "default_etl", "etl-jobmanager.flink.svc")
	if c3.Fingerprint() == c1.Fingerprint() {
		t.Error("other REST hosts kept the old material")
	}
	for _, f := range []string{materialFile, fileRESTKeystore, fileClientKey} {
		st, err := os.Stat(filepath.Join(a.dir, clustersDir, "default_etl", f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
		}
	}
	if err := a.Forget("default_etl"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.dir, clustersDir, "default_etl")); !os.IsNotExist(err) {
		t.Errorf("material still there after Forget: %v", err)
	}
}

func TestMaterialIsRenewedOnlyWhenAllowedAndExpiring(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a, err := Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	c := issue(t, a, "x", "127.0.0.1")
	if c.ExpiresSoon(now) {
		t.Fatal("fresh material expires soon")
	}
	now = c.NotAfter.Add(-RenewBefore + time.Hour) // 29 days and 23 hours left
	if !c.ExpiresSoon(now) {
		t.Fatal("material with 29 days left does not expire soon")
	}
	kept := issue(t, a, "x", "127.0.0.1")
	if kept.Fingerprint() != c.Fingerprint() {
		t.Error("expiring material was replaced without Renew (instances run with it)")
	}
	renewed, err := a.Cluster(ClusterRequest{ID: "x", Name: "x", RESTHosts: []string{"127.0.0.1"}, Renew: true})
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Fingerprint() == c.Fingerprint() || !renewed.NotAfter.After(c.NotAfter) {
		t.Error("Renew kept expiring material")
	}
	now = renewed.NotAfter.Add(time.Minute)
	expired := issue(t, a, "x", "127.0.0.1")
	if expired.Fingerprint() == renewed.Fingerprint() {
		t.Error("expired material was handed out again")
	}
}

// serve runs an https server with a cluster's REST keystore and truststore, decoded as a JVM
// would read them, requiring a client certificate the truststore holds.
func serve(t *testing.T, c *Cluster) string {
	t.Helper()
	key, cert, chain, err := pkcs12.DecodeChain(c.REST.Keystore, c.REST.Password)
	if err != nil {
		t.Fatalf("decode rest keystore: %v", err)
	}
	trusted, err := pkcs12.DecodeTrustStore(c.REST.Truststore, c.REST.Password)
	if err != nil {
		t.Fatalf("decode rest truststore: %v", err)
	}
	pool := x509.NewCertPool()
	for _, tc := range trusted {
		pool.AddCert(tc)
	}
	certs := [][]byte{cert.Raw}
	for _, ch := range chain {
		certs = append(certs, ch.Raw)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: certs, PrivateKey: key}},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
		},
		ErrorLog: log.New(io.Discard, "", 0), // refused handshakes are the point
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}

func get(t *testing.T, url string, cfg *tls.Config) error {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestRESTAdmitsOnlyTheClusterClientCertificate(t *testing.T) {
	a, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	etl := issue(t, a, "etl", "127.0.0.1", "localhost")
	other := issue(t, a, "other", "127.0.0.1", "localhost")
	url := serve(t, etl)

	own, err := etl.ClientTLS(a.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, url, own); err != nil {
		t.Errorf("the cluster's own client certificate was refused: %v", err)
	}
	foreign, err := other.ClientTLS(a.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, url, foreign); err == nil {
		t.Error("another cluster's client certificate, issued by the same authority, was admitted")
	}
	if err := get(t, url, &tls.Config{RootCAs: a.Pool()}); err == nil {
		t.Error("a client without a certificate was admitted")
	}
	// The server certificate covers 127.0.0.1 and localhost, and nothing else verifies it.
	if err := get(t, strings.Replace(url, "127.0.0.1", "localhost", 1), own); err != nil {
		t.Errorf("https://localhost: %v", err)
	}
	if err := get(t, url, &tls.Config{Certificates: own.Certificates}); err == nil {
		t.Error("the server certificate verified without the authority")
	}
}

func TestInternalTruststoreTrustsExactlyTheClusterCertificate(t *testing.T) {
	a, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	etl, other := issue(t, a, "etl"), issue(t, a, "other")
	_, own, _, err := pkcs12.DecodeChain(etl.Internal.Keystore, etl.Internal.Password)
	if err != nil {
		t.Fatal(err)
	}
	_, foreign, _, err := pkcs12.DecodeChain(other.Internal.Keystore, other.Internal.Password)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := pkcs12.DecodeTrustStore(etl.Internal.Truststore, etl.Internal.Password)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, c := range trusted {
		pool.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := own.Verify(opts); err != nil {
		t.Errorf("the cluster's internal certificate is not trusted by its own truststore: %v", err)
	}
	if _, err := foreign.Verify(opts); err == nil {
		t.Error("another cluster's internal certificate is trusted")
	}
	if _, err := pkcs12.DecodeTrustStore(etl.Internal.Truststore, "wrong"); err == nil {
		t.Error("the truststore opened with a wrong password")
	}
}

func TestClusterRefusesPathLikeIDs(t *testing.T) {
	a, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "..", "a/b", "."} {
		if _, err := a.Cluster(ClusterRequest{ID: id, Name: "x"}); err == nil {
			t.Errorf("ID %q accepted", id)
		}
	}
}
