package sim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// TLS as Flink configures it, read from the same options with the same fallbacks and the
// same failures (apache/flink flink-runtime/src/main/java/org/apache/flink/runtime/net/
// SSLUtils.java, flink-core/.../configuration/SecurityOptions.java; docs/content/docs/
// deployment/security/security-ssl.md):
//
//   - security.ssl.internal.enabled turns on mutual TLS for the RPC port: the JobManager and
//     the TaskManagers present the keystore's key (security.ssl.internal.keystore,
//     -keystore-password, -key-password) and accept exactly the peers whose certificate the
//     truststore (security.ssl.internal.truststore, -truststore-password) verifies. There is
//     no hostname verification on internal connections (the certificate acts as a shared
//     secret). The generic security.ssl.keystore, ... are the fallbacks of every option, as
//     getAndCheckOption reads them; a missing one fails the start with Flink's
//     IllegalConfigurationException text. (The 1.x umbrella switch security.ssl.enabled,
//     gone in 2.0, is not modelled.)
//   - security.ssl.rest.enabled serves the REST API over https from security.ssl.rest.keystore.
//     With security.ssl.rest.authentication-enabled the server requires a client certificate
//     that security.ssl.rest.truststore verifies (Netty's ClientAuth.REQUIRE); without a
//     truststore option the JDK's default trust (public CAs) applies, which no test client
//     matches. Plain http to an https port gets no answer: Netty's SslHandler drops the
//     connection on a record that is not TLS (NotSslRecordException), where Go's server
//     would answer 400.
//   - Keystores and truststores are read as the JVM's KeyStore.load does: type
//     security.ssl.*.keystore-type / -truststore-type (default KeyStore.getDefaultType(),
//     "pkcs12" since Java 9; "jks" reads PKCS12 files too, keystore.type.compat), the file
//     through Files.newInputStream (NoSuchFileException, AccessDeniedException), the password
//     checked against the file's MAC ("keystore password was incorrect", as keytool prints
//     it). KeyManagerFactory.init then needs the key password; go-pkcs12 protects the key
//     under the store password, so any other key password fails as the JVM fails
//     (UnrecoverableKeyException). All of this happens when the process starts: a wrong
//     password or an unreadable file stops it before it serves anything.
//   - security.ssl.protocol (default TLSv1.2, one protocol) and security.ssl.algorithms
//     (default TLS_RSA_WITH_AES_128_CBC_SHA, comma separated) restrict the handshake, as
//     ConfiguringSSLServerSocketFactory and the Netty contexts set them.
//
// A refused internal connection is logged on the accepting side as Pekko's classic Netty
// transport logs it (pekko remote/transport/netty/TcpSupport.scala, TcpHandlers.onException):
// WARN "Remote connection to [/<ip>:<port>] failed with javax.net.ssl.SSLHandshakeException:
// ...", and the connecting TaskManager keeps retrying its registration.

// errSSL is a TLS configuration Flink refuses at start, worded as the Java exception.
type errSSL struct{ msg string }

func (e errSSL) Error() string { return e.msg }

// Option names, SecurityOptions.java.
const (
	optInternalEnabled  = "security.ssl.internal.enabled"
	optRESTEnabled      = "security.ssl.rest.enabled"
	optRESTAuthEnabled  = "security.ssl.rest.authentication-enabled"
	optSSLProtocol      = "security.ssl.protocol"
	optSSLAlgorithms    = "security.ssl.algorithms"
	defaultSSLProtocol  = "TLSv1.2"
	defaultSSLAlgorithm = "TLS_RSA_WITH_AES_128_CBC_SHA"
)

// sslStore names the options of one side (internal or rest) and their generic fallbacks.
type sslStore struct{ scope string }

func (s sslStore) opt(name string) string { return "security.ssl." + s.scope + "." + name }

// get reads a scoped option, falling back to the generic one.
func (s sslStore) get(c map[string]string, name string) (string, bool) {
	if v, ok := c[s.opt(name)]; ok {
		return strings.TrimSpace(v), true
	}
	v, ok := c["security.ssl."+name]
	return strings.TrimSpace(v), ok
}

// require is getAndCheckOption.
func (s sslStore) require(c map[string]string, name string) (string, error) {
	if v, ok := s.get(c, name); ok {
		return v, nil
	}
	return "", errSSL{fmt.Sprintf("org.apache.flink.configuration.IllegalConfigurationException: The config option %s or security.ssl.%s is missing.", s.opt(name), name)}
}

// internalTLSEnabled reports security.ssl.internal.enabled.
func internalTLSEnabled(c map[string]string) bool { return boolConf(c, optInternalEnabled, false) }

// restTLSEnabled reports security.ssl.rest.enabled.
func restTLSEnabled(c map[string]string) bool { return boolConf(c, optRESTEnabled, false) }

// readStoreFile reads a keystore or truststore file as Files.newInputStream does.
func readStoreFile(path, typ string) ([]byte, error) {
	switch strings.ToLower(typ) {
	case "pkcs12", "jks": // JKS reads PKCS12 files (keystore.type.compat)
	default:
		return nil, errSSL{fmt.Sprintf("java.security.KeyStoreException: %s not found", typ)}
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errSSL{"java.nio.file.NoSuchFileException: " + path}
	case errors.Is(err, fs.ErrPermission):
		return nil, errSSL{"java.nio.file.AccessDeniedException: " + path}
	case err != nil:
		return nil, errSSL{"java.io.IOException: " + path + ": " + err.Error()}
	}
	return data, nil
}

func storeError(err error) error {
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return errSSL{"java.io.IOException: keystore password was incorrect"}
	}
	return errSSL{"java.io.IOException: " + err.Error()}
}

// loadKeystore is getKeyManagerFactory: the key and certificate chain of scope's keystore.
func loadKeystore(c map[string]string, s sslStore) (tls.Certificate, error) {
	path, err := s.require(c, "keystore")
	if err != nil {
		return tls.Certificate{}, err
	}
	storePass, err := s.require(c, "keystore-password")
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPass, err := s.require(c, "key-password")
	if err != nil {
		return tls.Certificate{}, err
	}
	typ := strings.TrimSpace(c[s.opt("keystore-type")])
	if typ == "" {
		typ = "pkcs12"
	}
	data, err := readStoreFile(path, typ)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, cert, chain, err := pkcs12.DecodeChain(data, storePass)
	if err != nil {
		return tls.Certificate{}, storeError(err)
	}
	if keyPass != storePass {
		if _, _, _, err := pkcs12.DecodeChain(data, keyPass); err != nil {
			return tls.Certificate{}, errSSL{"java.security.UnrecoverableKeyException: Get Key failed: Given final block not properly padded. Such issues can arise if a bad key is used during decryption."}
		}
	}
	out := tls.Certificate{PrivateKey: key, Leaf: cert, Certificate: [][]byte{cert.Raw}}
	for _, ca := range chain {
		out.Certificate = append(out.Certificate, ca.Raw)
	}
	return out, nil
}

// loadTruststore is getTrustManagerFactory: the certificates scope's truststore trusts.
// optional says a missing truststore means the JDK's default trust (REST only): nil, nil.
func loadTruststore(c map[string]string, s sslStore, optional bool) (*x509.CertPool, error) {
	path, hasPath := s.get(c, "truststore")
	pass, hasPass := s.get(c, "truststore-password")
	switch {
	case optional && !hasPath && !hasPass:
		return nil, nil
	case !hasPath:
		return nil, errSSL{fmt.Sprintf("org.apache.flink.configuration.IllegalConfigurationException: The config option %s or security.ssl.truststore is missing.", s.opt("truststore"))}
	case !hasPass:
		return nil, errSSL{fmt.Sprintf("org.apache.flink.configuration.IllegalConfigurationException: The config option %s or security.ssl.truststore-password is missing.", s.opt("truststore-password"))}
	}
	typ := strings.TrimSpace(c[s.opt("truststore-type")])
	if typ == "" {
		typ = "pkcs12"
	}
	data, err := readStoreFile(path, typ)
	if err != nil {
		return nil, err
	}
	certs, err := pkcs12.DecodeTrustStore(data, pass)
	if err != nil {
		return nil, storeError(err)
	}
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	return pool, nil
}

// handshakeParams reads security.ssl.protocol and security.ssl.algorithms.
func handshakeParams(c map[string]string) (version uint16, suites []uint16, err error) {
	proto := strings.TrimSpace(c[optSSLProtocol])
	if proto == "" {
		proto = defaultSSLProtocol
	}
	switch proto {
	case "TLSv1.2":
		version = tls.VersionTLS12
	case "TLSv1.3":
		version = tls.VersionTLS13
	default:
		return 0, nil, errSSL{"java.lang.IllegalArgumentException: Unsupported protocol: " + proto}
	}
	names := strings.TrimSpace(c[optSSLAlgorithms])
	if names == "" {
		names = defaultSSLAlgorithm
	}
	known := map[string]uint16{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[cs.Name] = cs.ID
	}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		id, ok := known[n]
		if !ok {
			return 0, nil, errSSL{"java.lang.IllegalArgumentException: Unsupported CipherSuite: " + n}
		}
		suites = append(suites, id)
	}
	return version, suites, nil
}

// internalTLS holds the two sides of internal mutual TLS: the configuration a process
// accepts connections with and the one it connects with.
type internalTLS struct {
	server, client *tls.Config
}

// loadInternalTLS reads the internal TLS options; nil when security.ssl.internal.enabled is
// off.
func loadInternalTLS(c map[string]string) (*internalTLS, error) {
	if !internalTLSEnabled(c) {
		return nil, nil
	}
	s := sslStore{"internal"}
	cert, err := loadKeystore(c, s)
	if err != nil {
		return nil, err
	}
	pool, err := loadTruststore(c, s, false)
	if err != nil {
		return nil, err
	}
	version, suites, err := handshakeParams(c)
	if err != nil {
		return nil, err
	}
	server := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   version, MaxVersion: version, CipherSuites: suites,
	}
	client := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   version, MaxVersion: version, CipherSuites: suites,
		// No hostname verification on internal connections: the chain must verify against
		// the truststore, whatever name the peer was dialled by.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, pool, x509.ExtKeyUsageServerAuth)
		},
	}
	return &internalTLS{server: server, client: client}, nil
}

// loadRESTTLS reads the REST TLS options; nil when security.ssl.rest.enabled is off.
func loadRESTTLS(c map[string]string) (*tls.Config, error) {
	if !restTLSEnabled(c) {
		return nil, nil
	}
	s := sslStore{"rest"}
	cert, err := loadKeystore(c, s)
	if err != nil {
		return nil, err
	}
	version, suites, err := handshakeParams(c)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   version, MaxVersion: version, CipherSuites: suites,
	}
	if boolConf(c, optRESTAuthEnabled, false) {
		pool, err := loadTruststore(c, s, true)
		if err != nil {
			return nil, err
		}
		if pool == nil {
			pool = x509.NewCertPool() // the JDK's public CAs: no test client has such a certificate
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func verifyChain(raw [][]byte, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(raw) == 0 {
		return errors.New("empty certificate chain")
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return err
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// javaHandshakeError words a failed server-side handshake as the JVM's SSLHandshakeException.
func javaHandshakeError(err error) string {
	var (
		unknownAuth x509.UnknownAuthorityError
		invalid     x509.CertificateInvalidError
	)
	msg := err.Error()
	switch {
	case strings.Contains(msg, "didn't provide a certificate"), strings.Contains(msg, "empty certificate chain"):
		return "javax.net.ssl.SSLHandshakeException: Empty client certificate chain"
	case errors.As(err, &unknownAuth), strings.Contains(msg, "unknown authority"):
		return "javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target"
	case errors.As(err, &invalid):
		return "javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertPathValidatorException: " + invalid.Error()
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "javax.net.ssl.SSLException: Unsupported or unrecognized SSL message"
	}
	return "javax.net.ssl.SSLHandshakeException: " + msg
}

// tlsListener accepts TLS connections without letting net/http see them as TLS: a failed
// handshake closes the connection without an answer (as Netty's SslHandler does), and
// onFail, when set, hears of it.
type tlsListener struct {
	net.Listener
	cfg    *tls.Config
	onFail func(remote net.Addr, err error)
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, l.cfg), remote: c.RemoteAddr(), onFail: l.onFail}, nil
}

// handshakeConn completes the handshake on first use, with a deadline.
type handshakeConn struct {
	*tls.Conn
	remote net.Addr
	onFail func(net.Addr, error)
	once   sync.Once
	err    error
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		c.err = c.Handshake()
		_ = c.SetDeadline(time.Time{})
		if c.err != nil && c.onFail != nil {
			c.onFail(c.remote, c.err)
		}
	})
	return c.err
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *handshakeConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
