package spec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func withTLS(c *SessionCluster, v string) *SessionCluster {
	if c.Metadata.Annotations == nil {
		c.Metadata.Annotations = map[string]string{}
	}
	c.Metadata.Annotations[AnnotationTLS] = v
	return c
}

func TestTLSAnnotationTakesOnlyTrueOrFalse(t *testing.T) {
	for _, v := range []string{"true", "false"} {
		if errs, _ := Validate(withTLS(validCluster(), v)); len(errs) != 0 {
			t.Errorf("%q: %v", v, validationLines(errs))
		}
	}
	for _, v := range []string{"True", "yes", "1", "", " true"} {
		errs, _ := Validate(withTLS(validCluster(), v))
		want := []string{`metadata.annotations[flink.security.ssl.enabled]: "` + v + `" is not supported: write "true" or "false"`}
		if diff := cmp.Diff(want, validationLines(errs)); diff != "" {
			t.Errorf("%q (-want +got):\n%s", v, diff)
		}
	}
	if !withTLS(validCluster(), "true").TLS() || withTLS(validCluster(), "false").TLS() || validCluster().TLS() {
		t.Error("TLS() does not read the annotation")
	}
}

func TestTLSAnnotationWarnsAboutEveryKeyItOverrides(t *testing.T) {
	c := withTLS(validCluster(), "true")
	c.Spec.FlinkConfiguration["security.ssl.rest.enabled"] = "false"
	c.Spec.FlinkConfiguration["security.ssl.algorithms"] = "TLS_RSA_WITH_AES_128_CBC_SHA"
	c.Spec.FlinkConfiguration["security.ssl.internal.cert.fingerprint"] = "ab:cd"
	c.Spec.FlinkConfiguration["security.ssl.internal.handshake-timeout"] = "5000" // tuning: kept
	errs, warns := Validate(c)
	if len(errs) != 0 {
		t.Fatal(validationLines(errs))
	}
	var fields []string
	for _, w := range warns {
		fields = append(fields, w.Field)
		if w.Message != `overridden: metadata.annotations[flink.security.ssl.enabled] is "true", so flinkd provisions the cluster's TLS and drops this key` {
			t.Errorf("warning %s", w)
		}
	}
	want := []string{
		"spec.flinkConfiguration[security.ssl.algorithms]",
		"spec.flinkConfiguration[security.ssl.internal.cert.fingerprint]",
		"spec.flinkConfiguration[security.ssl.rest.enabled]",
	}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("warned fields (-want +got):\n%s", diff)
	}
	// Without the annotation the user's own TLS options are theirs: no warning.
	delete(c.Metadata.Annotations, AnnotationTLS)
	if _, warns := Validate(c); len(warns) != 0 {
		t.Errorf("warnings without the annotation: %v", warns)
	}
}

func TestTurningTLSOnOrOffWhileRunningIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		was, now string // "" is absent
		refused  []RefusedField
	}{
		{"on", "", "true", []RefusedField{{"metadata.annotations[flink.security.ssl.enabled]", `added with value "true"`}}},
		{"off", "true", "false", []RefusedField{{"metadata.annotations[flink.security.ssl.enabled]", `changed from "true" to "false"`}}},
		{"removed", "true", "", []RefusedField{{"metadata.annotations[flink.security.ssl.enabled]", `removed (was "true")`}}},
		{"absent to false means the same", "", "false", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := validCluster(), validCluster()
			if tc.was != "" {
				withTLS(a, tc.was)
			}
			if tc.now != "" {
				withTLS(b, tc.now)
			}
			ch := CheckChange(a, b, PhaseRunning)
			if diff := cmp.Diff(tc.refused, ch.Refused); diff != "" {
				t.Errorf("refused (-want +got):\n%s", diff)
			}
			if ch.Allowed != (tc.refused == nil) {
				t.Errorf("allowed = %v", ch.Allowed)
			}
			if !CheckChange(a, b, PhaseStopped).Allowed {
				t.Error("refused while STOPPED")
			}
			if same := a.Hash() == b.Hash(); same != (tc.refused == nil) {
				t.Errorf("hash equal = %v, want %v: TLS on and off are different processes", same, tc.refused == nil)
			}
		})
	}
	// A cluster without the annotation hashes as before it existed.
	c := validCluster()
	before := c.Hash()
	withTLS(c, "false")
	if c.Hash() != before {
		t.Error("the annotation set to false changed the hash")
	}
}
