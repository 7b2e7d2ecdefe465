// Package pki is flinkd's certificate authority for secure session clusters
// (metadata.annotations flink.security.ssl.enabled: "true").
//
// One authority per daemon lives in the data folder (ca.crt, ca.key; mode 0600 in a 0700
// folder). For each secure cluster it issues, and keeps beside it, the material Flink needs:
//
//   - Internal: one key pair shared by every Flink process of the cluster, for RPC, blob and
//     data connections (security.ssl.internal.*). Flink does no hostname verification there,
//     and its truststore holds exactly this certificate: a process of another cluster, even
//     one whose certificate this authority issued, cannot join or talk to it.
//   - REST: a server certificate issued by the authority, whose SANs cover how the REST API
//     is reached (security.ssl.rest.*), and a truststore that holds exactly the cluster's
//     client certificate, so that with security.ssl.rest.authentication-enabled only holders
//     of that certificate (flinkd, and users given it by `flinkctl certs`) get in.
//   - Client: that client certificate (self-signed, see issue) and key, in PEM and in PKCS12
//     for browsers. The authority's certificate verifies the REST server.
//
// Keystores and truststores are PKCS12, the JVM's default keystore type since Java 9, written
// by software.sslmate.com/src/go-pkcs12 with random passwords. Nothing here is ever written to
// the database, events or logs: the material stays in files readable only by flinkd's user,
// and in the containers only by the Flink user.
package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
)

// Validity and renewal.
const (
	// AuthorityValidity is how long the daemon's authority is valid.
	AuthorityValidity = 10 * 365 * 24 * time.Hour
	// LeafValidity is how long a cluster's certificates are valid.
	LeafValidity = 365 * 24 * time.Hour
	// RenewBefore is how long before expiry a cluster's certificates count as expiring: status
	// warns, and the next start from nothing issues new ones.
	RenewBefore = 30 * 24 * time.Hour
	// rsaBits is the key size. RSA keys with ECDHE suites are what every JVM, curl and browser
	// take without configuration.
	rsaBits = 2048
)

// File names in the authority's folder.
const (
	caCertFile   = "ca.crt"
	caKeyFile    = "ca.key"
	clustersDir  = "clusters"
	materialFile = "material.json"
)

// Authority is a daemon's certificate authority.
type Authority struct {
	dir     string
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	now     func() time.Time
}

// Open loads the authority kept in dir, creating it (and dir, mode 0700) on first use.
// now is the clock (time.Now when nil).
func Open(dir string, now func() time.Time) (*Authority, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	a := &Authority{dir: dir, now: now}
	certPEM, certErr := os.ReadFile(filepath.Join(dir, caCertFile))
	keyPEM, keyErr := os.ReadFile(filepath.Join(dir, caKeyFile))
	switch {
	case certErr == nil && keyErr == nil:
		cert, key, err := parsePair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("read the authority in %s: %w", dir, err)
		}
		a.cert, a.key, a.certPEM = cert, key, certPEM
		return a, nil
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("read the authority in %s: %w", dir, errors.Join(certErr, keyErr))
	}
	key, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("generate the authority's key: %w", err)
	}
	start := now().Add(-time.Hour) // clocks of containers may lag a little
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "flinkd authority", Organization: []string{"flinkd"}},
		NotBefore:             start,
		NotAfter:              start.Add(AuthorityValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create the authority's certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	certPEM = pemBlock("CERTIFICATE", der)
	keyPEM, err = keyPEMOf(key)
	if err != nil {
		return nil, err
	}
	// The key first: a certificate without its key would be unusable at the next start.
	if err := writeFiles(dir, map[string][]byte{caKeyFile: keyPEM, caCertFile: certPEM}); err != nil {
		return nil, fmt.Errorf("write the authority to %s: %w", dir, err)
	}
	a.cert, a.key, a.certPEM = cert, key, certPEM
	return a, nil
}

// CertPEM returns the authority's certificate, which verifies every REST server certificate
// it issued (flinkctl certs writes it as ca.crt).
func (a *Authority) CertPEM() []byte { return bytes.Clone(a.certPEM) }

// Pool returns a certificate pool holding the authority's certificate.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.cert)
	return p
}

// Store is a keystore and its truststore, both under one password (keystore, key and
// truststore password alike, as Flink's options allow).
type Store struct {
	Keystore   []byte
	Truststore []byte
	Password   string
}

// Identity is a certificate and its private key, in PEM.
type Identity struct {
	CertPEM []byte
	KeyPEM  []byte
}

// Cluster is the key material of one secure session cluster.
type Cluster struct {
	Internal Store
	REST     Store
	Client   Identity
	// ClientP12 holds the client key and certificate, for a browser, under ClientP12Password.
	ClientP12         []byte
	ClientP12Password string
	// RESTHosts are the REST server certificate's SANs.
	RESTHosts []string
	// NotAfter is when the first of the cluster's certificates expires.
	NotAfter time.Time
}

// ExpiresSoon reports whether the material expires within RenewBefore of now.
func (c *Cluster) ExpiresSoon(now time.Time) bool { return now.Add(RenewBefore).After(c.NotAfter) }

// Fingerprint identifies the material (not secret): it changes when certificates are issued
// anew, so that a runtime can tell instances that carry older material.
func (c *Cluster) Fingerprint() string {
	h := sha256.New()
	h.Write(c.Internal.Keystore)
	h.Write(c.REST.Keystore)
	h.Write(c.Client.CertPEM)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ClientTLS returns the TLS configuration of a client of the cluster's REST API: it presents
// the cluster's client certificate and verifies the server against roots (the authority's
// pool).
func (c *Cluster) ClientTLS(roots *x509.CertPool) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(c.Client.CertPEM, c.Client.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// material is the part of a cluster's material kept in material.json (the rest are files).
type material struct {
	Version           int       `json:"version"`
	InternalPassword  string    `json:"internalPassword"`
	RESTPassword      string    `json:"restPassword"`
	ClientP12Password string    `json:"clientP12Password"`
	RESTHosts         []string  `json:"restHosts"`
	NotAfter          time.Time `json:"notAfter"`
}

// Files of a cluster's folder besides materialFile.
const (
	fileInternalKeystore   = "internal.p12"
	fileInternalTruststore = "internal-trust.p12"
	fileRESTKeystore       = "rest.p12"
	fileRESTTruststore     = "rest-trust.p12"
	fileClientCert         = "client.crt"
	fileClientKey          = "client.key"
	fileClientP12          = "client.p12"
)

// ClusterRequest says what a cluster's material must cover.
type ClusterRequest struct {
	// ID names the cluster's folder: a file name, unique per cluster ("default_etl").
	ID string
	// Name goes into the certificates' subjects.
	Name string
	// RESTHosts are the DNS names and IP addresses the REST API is reached by.
	RESTHosts []string
	// Renew allows replacing material that expires soon (nothing runs with it: a start from
	// nothing). Material for other REST hosts is always replaced.
	Renew bool
}

// Cluster returns the material of a cluster, issuing it on first use, when the REST hosts
// changed, or when it expires soon and req.Renew allows replacing it. Issued material is kept
// in the authority's folder, so every instance of the cluster gets the same.
func (a *Authority) Cluster(req ClusterRequest) (*Cluster, error) {
	if req.ID == "" || req.ID != filepath.Base(req.ID) || req.ID == "." || req.ID == ".." {
		return nil, fmt.Errorf("cluster material: %q is not a folder name", req.ID)
	}
	dir := filepath.Join(a.dir, clustersDir, req.ID)
	c, err := load(dir)
	switch {
	case err == nil && slices.Equal(c.RESTHosts, req.RESTHosts) && !(req.Renew && c.ExpiresSoon(a.now())) &&
		a.now().Before(c.NotAfter):
		return c, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read the material of %s: %w", req.Name, err)
	}
	c, err = a.issue(req)
	if err != nil {
		return nil, fmt.Errorf("issue the material of %s: %w", req.Name, err)
	}
	if err := store(dir, c); err != nil {
		return nil, fmt.Errorf("keep the material of %s: %w", req.Name, err)
	}
	return c, nil
}

// Forget removes a cluster's material (the cluster is gone).
func (a *Authority) Forget(id string) error {
	if id == "" || id != filepath.Base(id) {
		return fmt.Errorf("cluster material: %q is not a folder name", id)
	}
	return os.RemoveAll(filepath.Join(a.dir, clustersDir, id))
}

func (a *Authority) issue(req ClusterRequest) (*Cluster, error) {
	now := a.now()
	start := now.Add(-time.Hour)
	end := start.Add(LeafValidity)
	if end.After(a.cert.NotAfter) {
		end = a.cert.NotAfter
	}

	// Internal: self-signed, trusted by exactly itself. Both ends present it (mutual TLS).
	ikey, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, err
	}
	itmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.Name + " internal", Organization: []string{"flinkd"}},
		NotBefore:    start, NotAfter: end,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // a trust anchor for itself: the JVM's PKIX checks accept it
	}
	icert, err := createCert(itmpl, itmpl, ikey.Public(), ikey)
	if err != nil {
		return nil, err
	}

	// REST server: issued by the authority, for the hosts it is reached by.
	skey, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, err
	}
	stmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.Name + " rest", Organization: []string{"flinkd"}},
		NotBefore:    start, NotAfter: end,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range req.RESTHosts {
		if ip := net.ParseIP(h); ip != nil {
			stmpl.IPAddresses = append(stmpl.IPAddresses, ip)
		} else {
			stmpl.DNSNames = append(stmpl.DNSNames, h)
		}
	}
	scert, err := createCert(stmpl, a.cert, skey.Public(), a.key)
	if err != nil {
		return nil, err
	}

	// Client: self-signed, and the REST truststore holds exactly it. A TLS client (the JVM's
	// key manager, Go's) offers only a certificate whose issuer is among the acceptable
	// authorities the server names, which are the truststore's subjects: a self-signed
	// certificate names itself, so the flink CLI, curl, browsers and flinkd all present it.
	ckey, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, err
	}
	ctmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.Name + " client", Organization: []string{"flinkd"}},
		NotBefore:    start, NotAfter: end,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own trust anchor, like the internal certificate
	}
	ccert, err := createCert(ctmpl, ctmpl, ckey.Public(), ckey)
	if err != nil {
		return nil, err
	}

	c := &Cluster{RESTHosts: slices.Clone(req.RESTHosts), NotAfter: end}
	c.Internal.Password, c.REST.Password, c.ClientP12Password = password(), password(), password()
	enc := pkcs12.Modern
	if c.Internal.Keystore, err = enc.Encode(ikey, icert, nil, c.Internal.Password); err != nil {
		return nil, fmt.Errorf("internal keystore: %w", err)
	}
	if c.Internal.Truststore, err = enc.EncodeTrustStore([]*x509.Certificate{icert}, c.Internal.Password); err != nil {
		return nil, fmt.Errorf("internal truststore: %w", err)
	}
	if c.REST.Keystore, err = enc.Encode(skey, scert, []*x509.Certificate{a.cert}, c.REST.Password); err != nil {
		return nil, fmt.Errorf("rest keystore: %w", err)
	}
	if c.REST.Truststore, err = enc.EncodeTrustStore([]*x509.Certificate{ccert}, c.REST.Password); err != nil {
		return nil, fmt.Errorf("rest truststore: %w", err)
	}
	if c.ClientP12, err = enc.Encode(ckey, ccert, nil, c.ClientP12Password); err != nil {
		return nil, fmt.Errorf("client keystore: %w", err)
	}
	c.Client.CertPEM = pemBlock("CERTIFICATE", ccert.Raw)
	if c.Client.KeyPEM, err = keyPEMOf(ckey); err != nil {
		return nil, err
	}
	return c, nil
}

func load(dir string) (*Cluster, error) {
	data, err := os.ReadFile(filepath.Join(dir, materialFile))
	if err != nil {
		return nil, err
	}
	var m material
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", materialFile, err)
	}
	c := &Cluster{RESTHosts: m.RESTHosts, NotAfter: m.NotAfter, ClientP12Password: m.ClientP12Password}
	c.Internal.Password, c.REST.Password = m.InternalPassword, m.RESTPassword
	for name, dst := range map[string]*[]byte{
		fileInternalKeystore: &c.Internal.Keystore, fileInternalTruststore: &c.Internal.Truststore,
		fileRESTKeystore: &c.REST.Keystore, fileRESTTruststore: &c.REST.Truststore,
		fileClientCert: &c.Client.CertPEM, fileClientKey: &c.Client.KeyPEM, fileClientP12: &c.ClientP12,
	} {
		if *dst, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	if _, _, err := parsePair(c.Client.CertPEM, c.Client.KeyPEM); err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return c, nil
}

func store(dir string, c *Cluster) error {
	m, err := json.Marshal(material{
		Version: 1, InternalPassword: c.Internal.Password, RESTPassword: c.REST.Password,
		ClientP12Password: c.ClientP12Password, RESTHosts: c.RESTHosts, NotAfter: c.NotAfter,
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// material.json last: its presence says the folder is complete.
	_ = os.Remove(filepath.Join(dir, materialFile))
	if err := writeFiles(dir, map[string][]byte{
		fileInternalKeystore: c.Internal.Keystore, fileInternalTruststore: c.Internal.Truststore,
		fileRESTKeystore: c.REST.Keystore, fileRESTTruststore: c.REST.Truststore,
		fileClientCert: c.Client.CertPEM, fileClientKey: c.Client.KeyPEM, fileClientP12: c.ClientP12,
	}); err != nil {
		return err
	}
	return writeFiles(dir, map[string][]byte{materialFile: m})
}

// writeFiles writes each file with mode 0600, atomically (a temporary file renamed over it).
func writeFiles(dir string, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f, err := os.CreateTemp(dir, "."+n+".tmp-")
		if err != nil {
			return err
		}
		_, werr := f.Write(files[n])
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			_ = os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", n, err)
		}
		if err := os.Chmod(f.Name(), 0o600); err != nil {
			_ = os.Remove(f.Name())
			return err
		}
		if err := os.Rename(f.Name(), filepath.Join(dir, n)); err != nil {
			_ = os.Remove(f.Name())
			return err
		}
	}
	return nil
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, nil, errors.New("no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("the private key cannot sign")
	}
	return cert, signer, nil
}

func keyPEMOf(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// password returns a random password of 32 URL-safe characters: nothing in it needs quoting
// in YAML or a shell.
func password() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// RuntimeTLS returns the material as a runtime places it: the stores as the files Flink's
// options name (flinkconf.TLSOptions) and the passwords as Flink options, the REST ones for
// the JobManager only.
func (c *Cluster) RuntimeTLS() *runtime.TLS {
	return &runtime.TLS{
		Files: map[string][]byte{
			flinkconf.TLSInternalKeystore:   bytes.Clone(c.Internal.Keystore),
			flinkconf.TLSInternalTruststore: bytes.Clone(c.Internal.Truststore),
		},
		JobManagerFiles: map[string][]byte{
			flinkconf.TLSRESTKeystore:   bytes.Clone(c.REST.Keystore),
			flinkconf.TLSRESTTruststore: bytes.Clone(c.REST.Truststore),
		},
		Secret:           flinkconf.TLSSecretOptions(c.Internal.Password, c.REST.Password, false),
		JobManagerSecret: flinkconf.TLSSecretOptions(c.Internal.Password, c.REST.Password, true),
		Fingerprint:      c.Fingerprint(),
	}
}

// ClusterID is the folder name of cluster k's material.
func ClusterID(k runtime.Key) string { return k.Namespace + "_" + k.Name }

// Existing returns cluster k's material without issuing any (an error wrapping
// fs.ErrNotExist when there is none).
func (a *Authority) Existing(k runtime.Key) (*Cluster, error) {
	c, err := load(filepath.Join(a.dir, clustersDir, ClusterID(k)))
	if err != nil {
		return nil, fmt.Errorf("read the material of %s: %w", k, err)
	}
	return c, nil
}

// ClientTLSFor returns the TLS configuration flinkd's REST client uses with cluster k: the
// cluster's client certificate, and the authority as the only root. It never issues
// material: a cluster without any gets an error.
func (a *Authority) ClientTLSFor(k runtime.Key) (*tls.Config, error) {
	c, err := a.Existing(k)
	if err != nil {
		return nil, err
	}
	return c.ClientTLS(a.Pool())
}
