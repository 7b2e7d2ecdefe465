package spec

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/flinkd/flinkd/internal/flinkconf"
)

// AnnotationTLS turns on auto-provisioned TLS for a session cluster, in Ververica's
// spelling: "true" gives mutual TLS between the cluster's processes and an https REST API
// with client authentication (see package pki and flinkconf.TLSOptions); "false" or absent
// leaves TLS to the user's own security.ssl.* options, as before.
const AnnotationTLS = "flink.security.ssl.enabled"

// TLS reports whether the cluster asks for auto-provisioned TLS.
func (c *SessionCluster) TLS() bool { return c.Metadata.Annotations[AnnotationTLS] == "true" }

func tlsPath() *field.Path { return field.NewPath("metadata", "annotations").Key(AnnotationTLS) }

// tls validates the annotation (exactly "true" or "false") and warns about every
// flinkConfiguration key it overrides, naming it.
func (v *validator) tls(c *SessionCluster) {
	val, set := c.Metadata.Annotations[AnnotationTLS]
	if !set {
		return
	}
	switch val {
	case "true":
		for _, k := range flinkconf.TLSOverridden(c.Spec.FlinkConfiguration) {
			v.warnf(field.NewPath("spec", "flinkConfiguration").Key(k),
				"overridden: %s is \"true\", so flinkd provisions the cluster's TLS and drops this key", tlsPath())
		}
	case "false":
	default:
		v.errorf(tlsPath(), field.ErrorTypeNotSupported, val, `%.40q is not supported: write "true" or "false"`, val)
	}
}
