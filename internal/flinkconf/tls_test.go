package flinkconf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWithTLSReplacesTheUsersTLSOptionsAndKeepsTheRest(t *testing.T) {
	user := map[string]string{
		"taskmanager.numberOfTaskSlots":           "2",
		"security.ssl.rest.enabled":               "false",
		"security.ssl.keystore":                   "/mine.jks",
		"security.ssl.internal.handshake-timeout": "5000",
	}
	got := WithTLS(user)
	if got["taskmanager.numberOfTaskSlots"] != "2" || got["security.ssl.internal.handshake-timeout"] != "5000" {
		t.Errorf("lost a key that is not overridden: %v", got)
	}
	if _, ok := got["security.ssl.keystore"]; ok {
		t.Error("the generic keystore fallback survived")
	}
	if got["security.ssl.rest.enabled"] != "true" || got["security.ssl.rest.authentication-enabled"] != "true" ||
		got["security.ssl.internal.enabled"] != "true" || got["security.ssl.algorithms"] != TLSCipherSuites {
		t.Errorf("TLS options missing: %v", got)
	}
	for k := range got {
		if strings.Contains(k, "password") {
			t.Errorf("a password key %s among the plain options", k)
		}
	}
	if diff := cmp.Diff([]string{"security.ssl.keystore", "security.ssl.rest.enabled"}, TLSOverridden(user)); diff != "" {
		t.Errorf("TLSOverridden (-want +got):\n%s", diff)
	}
	if user["security.ssl.rest.enabled"] != "false" {
		t.Error("WithTLS changed its argument")
	}
}

func TestTLSSecretOptionsGiveTheRESTPasswordsOnlyWhereAsked(t *testing.T) {
	tm := TLSSecretOptions("i", "r", false)
	jm := TLSSecretOptions("i", "r", true)
	if len(tm) != 3 || len(jm) != 6 || jm["security.ssl.rest.key-password"] != "r" || tm["security.ssl.internal.key-password"] != "i" {
		t.Errorf("taskmanager %v, jobmanager %v", tm, jm)
	}
	for k := range jm {
		if !strings.Contains(k, "password") {
			t.Errorf("%s is not masked by Flink (its key has no \"password\")", k)
		}
	}
}
