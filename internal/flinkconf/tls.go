package flinkconf

import (
	"maps"
	"path"
	"slices"
	"strings"
)

// TLS of a secure session cluster (metadata.annotations flink.security.ssl.enabled: "true"),
// in Flink's own options (apache/flink SecurityOptions.java, SSLUtils.java;
// docs/content/docs/deployment/security/security-ssl.md):
//
//   - security.ssl.internal.*: mutual TLS for RPC, blob and data connections, every process
//     presenting the cluster's internal key and trusting exactly its certificate.
//   - security.ssl.rest.*: the REST API and web UI over https, with
//     security.ssl.rest.authentication-enabled: a client must present a certificate the REST
//     truststore holds.
//   - security.ssl.protocol TLSv1.2 and security.ssl.algorithms limited to ECDHE RSA GCM
//     suites. Flink's default suite, TLS_RSA_WITH_AES_128_CBC_SHA, has no forward secrecy and
//     is in jdk.tls.disabledAlgorithms from JDK 24 on (the Debian JDK 17.0.15 here still
//     allows it); the ECDHE suites are enabled in every JDK Flink runs on (8 to 21) and in
//     curl, browsers and Go.
//   - Stores are PKCS12 (the JVM's default keystore type since Java 9, so no *-type option
//     is needed), one password per store, used for the store and its key alike; Flink
//     requires the key password option even then (getAndCheckOption).
//
// Passwords are kept apart from the other options (TLSSecretOptions): runtimes must keep them
// out of anything shown or stored in plain form (a Kubernetes ConfigMap, container
// arguments). Flink masks them in /jobmanager/config and its logs, as their keys contain
// "password".

// TLSProtocol and TLSCipherSuites are what every secure cluster's processes accept.
const (
	TLSProtocol     = "TLSv1.2"
	TLSCipherSuites = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
)

// Key material files, in the conf folder (Dir), readable only by the Flink user.
const (
	TLSInternalKeystore   = "flinkd-internal.p12"
	TLSInternalTruststore = "flinkd-internal-trust.p12"
	TLSRESTKeystore       = "flinkd-rest.p12"
	TLSRESTTruststore     = "flinkd-rest-trust.p12"
)

// TLSOptions returns the options of a secure cluster without passwords (the same for every
// process; the REST ones matter on the JobManager only, where its files are).
func TLSOptions() map[string]string {
	return map[string]string{
		"security.ssl.internal.enabled":            "true",
		"security.ssl.internal.keystore":           path.Join(Dir, TLSInternalKeystore),
		"security.ssl.internal.truststore":         path.Join(Dir, TLSInternalTruststore),
		"security.ssl.rest.enabled":                "true",
		"security.ssl.rest.authentication-enabled": "true",
		"security.ssl.rest.keystore":               path.Join(Dir, TLSRESTKeystore),
		"security.ssl.rest.truststore":             path.Join(Dir, TLSRESTTruststore),
		"security.ssl.protocol":                    TLSProtocol,
		"security.ssl.algorithms":                  TLSCipherSuites,
	}
}

// TLSSecretOptions returns the password options: the internal ones for every process, the
// REST ones too when rest is set (the JobManager).
func TLSSecretOptions(internalPassword, restPassword string, rest bool) map[string]string {
	m := map[string]string{
		"security.ssl.internal.keystore-password":   internalPassword,
		"security.ssl.internal.key-password":        internalPassword,
		"security.ssl.internal.truststore-password": internalPassword,
	}
	if rest {
		maps.Copy(m, map[string]string{
			"security.ssl.rest.keystore-password":   restPassword,
			"security.ssl.rest.key-password":        restPassword,
			"security.ssl.rest.truststore-password": restPassword,
		})
	}
	return m
}

// tlsTuning returns the security.ssl.* options a secure cluster keeps from the spec: they
// tune the handshake machinery without deciding what is trusted.
func tlsTuning() []string {
	return []string{
		"security.ssl.provider",
		"security.ssl.internal.session-cache-size",
		"security.ssl.internal.session-timeout",
		"security.ssl.internal.handshake-timeout",
		"security.ssl.internal.close-notify-flush-timeout",
		"security.ssl.verify-hostname",
	}
}

// TLSOverridden returns the keys of conf (a spec's flinkConfiguration) that a secure cluster
// drops or replaces, sorted: every security.ssl.* option except the tuning ones. They name
// other stores, switches or trust (fingerprints, the generic security.ssl.keystore
// fallbacks, the 1.x switch security.ssl.enabled), any of which would undo or break the
// provisioned TLS.
func TLSOverridden(conf map[string]string) []string {
	var out []string
	keep := tlsTuning()
	for k := range conf {
		if strings.HasPrefix(k, "security.ssl.") && !slices.Contains(keep, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// WithTLS returns conf without the keys TLSOverridden names and with TLSOptions.
func WithTLS(conf map[string]string) map[string]string {
	out := make(map[string]string, len(conf)+10)
	maps.Copy(out, conf)
	for _, k := range TLSOverridden(conf) {
		delete(out, k)
	}
	maps.Copy(out, TLSOptions())
	return out
}
