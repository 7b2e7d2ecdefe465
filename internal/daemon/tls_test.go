package daemon

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/pki"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// A secure cluster's certificates: status says nothing while they are fresh, warns within
// pki.RenewBefore of their expiry and once they expired, saying how to renew them; a start
// over running instances keeps them (every instance must present the same), a start from
// nothing renews them, and the warning is gone.
func TestStatusWarnsOfExpiringCertificatesAndAStartFromNothingRenewsThem(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	authority, err := pki.Open(filepath.Join(dir, "pki"), clock)
	if err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(t.Context(), filepath.Join(dir, "flinkd.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	d, err := New(Config{Store: store, SpecsDir: dir, PKI: authority, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	sc, _, err := spec.Decode([]byte(strings.Replace(clusterYAML("secure", "RUNNING", 1, ""),
		"metadata:\n  name: secure\n", "metadata:\n  name: secure\n  annotations:\n    "+spec.AnnotationTLS+": \"true\"\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !sc.TLS() {
		t.Fatal("the spec does not ask for TLS")
	}
	k := runtime.Key{Namespace: "default", Name: "secure"}
	var events []string
	progress := func(reason, message string) { events = append(events, reason+": "+message) }
	provision := func(fromNothing bool) *pki.Cluster {
		t.Helper()
		c := &runtime.Cluster{Key: k}
		if err := d.provisionTLS(c, Target{Name: "default"}, sc, fromNothing, progress); err != nil {
			t.Fatal(err)
		}
		if c.TLS == nil {
			t.Fatal("no TLS material attached to the cluster")
		}
		m, err := authority.Existing(k)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// warning is what status adds to the cluster's warnings (the API's status and list).
	warning := func() string {
		t.Helper()
		ws := d.withTLSWarning(api.ClusterStatus{Namespace: k.Namespace, Name: k.Name}).Warnings
		if len(ws) > 1 {
			t.Errorf("warnings %q, want at most one", ws)
		}
		return strings.Join(ws, "; ")
	}

	first := provision(true)
	if w := warning(); w != "" {
		t.Errorf("fresh certificates: warning %q", w)
	}
	if len(events) != 1 || !strings.HasPrefix(events[0], "Issued: TLS certificates issued, valid until ") {
		t.Errorf("events after the first start = %q, want one Issued", events)
	}

	now = first.NotAfter.Add(-10*24*time.Hour - time.Hour)
	want := "tls: the cluster's certificates expire on " + first.NotAfter.UTC().Format(time.DateOnly) + " (in 10 days); stop and start the cluster to renew them"
	if w := warning(); w != want {
		t.Errorf("10 days before expiry: warning %q, want %q", w, want)
	}
	if kept := provision(false); kept.Fingerprint() != first.Fingerprint() {
		t.Error("a start over running instances replaced their certificates")
	}

	now = first.NotAfter.Add(time.Hour)
	want = "tls: the cluster's certificates expired on " + first.NotAfter.UTC().Format(time.DateOnly) + "; stop and start the cluster to renew them"
	if w := warning(); w != want {
		t.Errorf("after expiry: warning %q, want %q", w, want)
	}

	renewed := provision(true)
	if renewed.Fingerprint() == first.Fingerprint() || !renewed.NotAfter.After(now) {
		t.Errorf("a start from nothing kept expired certificates (valid until %s)", renewed.NotAfter)
	}
	if w := warning(); w != "" {
		t.Errorf("after the renewal: warning %q", w)
	}
	if len(events) != 2 || !strings.HasPrefix(events[1], "Issued: ") {
		t.Errorf("events = %q, want a second Issued for the renewal", events)
	}
}
