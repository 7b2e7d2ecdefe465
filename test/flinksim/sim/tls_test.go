package sim

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// testPKI makes key material the way a deployment would: a self-signed internal
// certificate, a CA-issued REST server certificate and a self-signed client certificate.
type testPKI struct {
	dir string
}

type testIdentity struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newIdentity(t *testing.T, cn string, parent *testIdentity, usage []x509.ExtKeyUsage, ca bool, hosts ...string) *testIdentity {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: usage, BasicConstraintsValid: true, IsCA: ca,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		issuerCert, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testIdentity{key: key, cert: cert}
}

func (p testPKI) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p testPKI) keystore(t *testing.T, name string, id *testIdentity, password string) string {
	t.Helper()
	data, err := pkcs12.Modern.Encode(id.key, id.cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name, data)
}

func (p testPKI) truststore(t *testing.T, name string, password string, trusted ...*testIdentity) string {
	t.Helper()
	var certs []*x509.Certificate
	for _, id := range trusted {
		certs = append(certs, id.cert)
	}
	data, err := pkcs12.Modern.EncodeTrustStore(certs, password)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name, data)
}

// Cipher suites every JVM from 8 to 24 accepts with TLSv1.2 (Flink's default suite,
// TLS_RSA_WITH_AES_128_CBC_SHA, is disabled from JDK 24 on).
const testSuites = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"

func internalConf(keystore, truststore, password string) map[string]string {
	return map[string]string{
		"security.ssl.internal.enabled":             "true",
		"security.ssl.internal.keystore":            keystore,
		"security.ssl.internal.keystore-password":   password,
		"security.ssl.internal.key-password":        password,
		"security.ssl.internal.truststore":          truststore,
		"security.ssl.internal.truststore-password": password,
		"security.ssl.algorithms":                   testSuites,
	}
}

func clientWith(roots *x509.CertPool, certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
}

func pair(id *testIdentity) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{id.cert.Raw}, PrivateKey: id.key, Leaf: id.cert}
}

func TestRESTServesHTTPSFromItsKeystoreAndAdmitsOnlyTrustedClients(t *testing.T) {
	p := testPKI{t.TempDir()}
	ca := newIdentity(t, "ca", nil, nil, true)
	server := newIdentity(t, "rest", ca, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, false, "127.0.0.1", "localhost")
	client := newIdentity(t, "client", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, true)
	stranger := newIdentity(t, "stranger", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, true)
	c := startJobManager(t, testConf(map[string]string{
		"security.ssl.rest.enabled":                "true",
		"security.ssl.rest.authentication-enabled": "true",
		"security.ssl.rest.keystore":               p.keystore(t, "rest.p12", server, "restpw"),
		"security.ssl.rest.keystore-password":      "restpw",
		"security.ssl.rest.key-password":           "restpw",
		"security.ssl.rest.truststore":             p.truststore(t, "rest-trust.p12", "restpw", client),
		"security.ssl.rest.truststore-password":    "restpw",
		"security.ssl.algorithms":                  testSuites,
	}))
	if !strings.HasPrefix(c.rest, "https://127.0.0.1:") {
		t.Fatalf("RESTURL = %s, want https", c.rest)
	}
	waitForLog(t, c.log, "Web frontend listening at https://jm.test:")
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	resp, err := clientWith(roots, pair(client)).Get(c.rest + "/overview")
	if err != nil {
		t.Fatalf("GET /overview with the trusted client certificate: %v", err)
	}
	var ov map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&ov); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /overview = %d, %v", resp.StatusCode, err)
	}
	_ = resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS12 || tls.CipherSuiteName(resp.TLS.CipherSuite) != "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" {
		t.Errorf("negotiated %+v, want TLSv1.2 with the first configured suite", resp.TLS)
	}

	for name, cl := range map[string]*http.Client{
		"no client certificate":  clientWith(roots),
		"an untrusted one":       clientWith(roots, pair(stranger)),
		"the server certificate": clientWith(roots, pair(server)),
	} {
		if resp, err := cl.Get(c.rest + "/overview"); err == nil {
			_ = resp.Body.Close()
			t.Errorf("GET /overview with %s = %d, want a refused handshake", name, resp.StatusCode)
		}
	}

	// Plain http: no answer at all, as Netty's SslHandler closes the connection.
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.rest, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET /overview HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil || line != "" {
		t.Errorf("plain http got %q (err %v), want the connection closed without an answer", line, err)
	}
}

func TestRESTWithoutAuthenticationAdmitsClientsWithoutCertificates(t *testing.T) {
	p := testPKI{t.TempDir()}
	ca := newIdentity(t, "ca", nil, nil, true)
	server := newIdentity(t, "rest", ca, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, false, "127.0.0.1")
	c := startJobManager(t, testConf(map[string]string{
		"security.ssl.rest.enabled":           "true",
		"security.ssl.rest.keystore":          p.keystore(t, "rest.p12", server, "pw"),
		"security.ssl.rest.keystore-password": "pw",
		"security.ssl.rest.key-password":      "pw",
		"security.ssl.algorithms":             testSuites,
	}))
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	resp, err := clientWith(roots).Get(c.rest + "/overview")
	if err != nil {
		t.Fatalf("GET /overview without a client certificate, authentication off: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestInternalTLSAdmitsOnlyTaskManagersTheTruststoreTrusts(t *testing.T) {
	p := testPKI{t.TempDir()}
	internal := newIdentity(t, "internal", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true)
	other := newIdentity(t, "other cluster", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true)
	ours := internalConf(p.keystore(t, "internal.p12", internal, "pw"), p.truststore(t, "internal-trust.p12", "pw", internal), "pw")
	c := startJobManager(t, testConf(ours))
	c.addTaskManager(t, "tm-ours", 1, nil)
	c.waitTaskManagers(t, 1)

	// A TaskManager with another cluster's material, and one without TLS at all.
	theirs := internalConf(p.keystore(t, "other.p12", other, "pw2"), p.truststore(t, "other-trust.p12", "pw2", other, internal), "pw2")
	tmTheirs, logTheirs := c.addTaskManager(t, "tm-theirs", 1, theirs)
	plain := mergeConf(c.conf, map[string]string{"security.ssl.internal.enabled": "false"})
	tmPlain, _ := startTaskManager(t, c.jm.RPCAddr(), "tm-plain", 1, testConf(plain))

	waitForLog(t, c.log, "WARN  org.apache.pekko.remote.transport.netty.NettyTransport")
	waitForLog(t, c.log, "failed with javax.net.ssl.SSLHandshakeException: Empty client certificate chain")
	waitForLog(t, c.log, "failed with javax.net.ssl.SSLException: Unsupported or unrecognized SSL message")
	waitForLog(t, logTheirs, "Could not resolve ResourceManager address pekko.tcp://flink@jm.test:")
	if tmTheirs.Registered() || tmPlain.Registered() {
		t.Error("a TaskManager without the cluster's certificate registered")
	}
	if n := c.overview(t)["taskmanagers"]; n != float64(1) {
		t.Errorf("taskmanagers = %v, want only the one with the cluster's certificate", n)
	}
	if !strings.Contains(c.log.String(), "Registering TaskManager with ResourceID tm-ours") ||
		strings.Contains(c.log.String(), "Registering TaskManager with ResourceID tm-theirs") {
		t.Errorf("registrations in the JobManager's log are wrong:\n%s", c.log)
	}
}

func TestAKeystoreFlinkCannotReadStopsTheStart(t *testing.T) {
	p := testPKI{t.TempDir()}
	internal := newIdentity(t, "internal", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true)
	ks := p.keystore(t, "internal.p12", internal, "pw")
	ts := p.truststore(t, "internal-trust.p12", "pw", internal)
	good := internalConf(ks, ts, "pw")
	with := func(k, v string) map[string]string {
		c := mergeConf(good, map[string]string{k: v})
		if v == "" {
			delete(c, k)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		conf map[string]string
		want string
	}{
		{"wrong keystore password", with("security.ssl.internal.keystore-password", "nope"), "java.io.IOException: keystore password was incorrect"},
		{"wrong truststore password", with("security.ssl.internal.truststore-password", "nope"), "java.io.IOException: keystore password was incorrect"},
		{"wrong key password", with("security.ssl.internal.key-password", "nope"), "java.security.UnrecoverableKeyException: Get Key failed"},
		{"missing keystore file", with("security.ssl.internal.keystore", filepath.Join(p.dir, "absent.p12")), "java.nio.file.NoSuchFileException: " + filepath.Join(p.dir, "absent.p12")},
		{"a folder for a file", with("security.ssl.internal.truststore", p.dir), "java.io.IOException: " + p.dir},
		{"no key password", with("security.ssl.internal.key-password", ""), "IllegalConfigurationException: The config option security.ssl.internal.key-password or security.ssl.key-password is missing."},
		{"no truststore", with("security.ssl.internal.truststore", ""), "The config option security.ssl.internal.truststore or security.ssl.truststore is missing."},
		{"unknown store type", with("security.ssl.internal.keystore-type", "bks"), "java.security.KeyStoreException: bks not found"},
		{"unknown cipher suite", with("security.ssl.algorithms", "TLS_NOPE"), "Unsupported CipherSuite: TLS_NOPE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := StartJobManager(t.Context(), JobManagerConfig{Config: testConf(tc.conf), RPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("JobManager start = %v, want an error containing %q", err, tc.want)
			}
			_, err = StartTaskManager(t.Context(), TaskManagerConfig{JobManagerRPC: "127.0.0.1:1", Config: testConf(tc.conf)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("TaskManager start = %v, want an error containing %q", err, tc.want)
			}
			var se errSSL
			if !errors.As(err, &se) {
				t.Errorf("%v is not a TLS configuration error", err)
			}
		})
	}
	// The generic options are the fallbacks of the scoped ones.
	generic := map[string]string{"security.ssl.internal.enabled": "true", "security.ssl.algorithms": testSuites}
	for _, k := range []string{"keystore", "keystore-password", "key-password", "truststore", "truststore-password"} {
		generic["security.ssl."+k] = good["security.ssl.internal."+k]
	}
	jm, err := StartJobManager(t.Context(), JobManagerConfig{Config: testConf(generic), RPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start with the generic security.ssl.* options: %v", err)
	}
	_ = jm.Close()
}
