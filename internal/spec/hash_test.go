package spec

import (
	"regexp"
	"testing"
)

func TestHashIgnoresStateTaskManagersAndMetadata(t *testing.T) {
	a := validCluster()
	b := a.DeepCopy()
	b.Spec.State = StateStopped
	b.Spec.NumberOfTaskManagers = ptr(42)
	b.Metadata.Labels = map[string]string{"x": "y"}
	b.Metadata.Annotations = map[string]string{"x": "y"}
	if a.Hash() != b.Hash() {
		t.Error("hash changed with state, TaskManager count or metadata labels/annotations: scaling would recreate the cluster")
	}
}

func TestHashIsTheSameBeforeAndAfterDefault(t *testing.T) {
	raw := &SessionCluster{
		Kind: "SessionCluster", APIVersion: "v1",
		Metadata: Metadata{Name: "a"},
		Spec:     Spec{State: StateRunning, FlinkVersion: "1.20"},
	}
	defaulted := raw.DeepCopy()
	Default(defaulted)
	if raw.Hash() != defaulted.Hash() {
		t.Error("hash of an undefaulted spec differs from the defaulted one")
	}
	if raw.Metadata.Namespace != "" {
		t.Error("Hash defaulted its receiver")
	}
}

func TestHashIgnoresHowValuesAreWritten(t *testing.T) {
	a := validCluster()
	a.Spec.Kubernetes.Pods.EnvVars = []EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
	b := a.DeepCopy()
	b.Spec.Resources.JobManager = ResourceSpec{CPU: "1000m", Memory: "1000m"}
	b.Spec.Resources.TaskManager = ResourceSpec{CPU: "1.0", Memory: "2G"}
	b.Spec.Logging.Log4jLoggers["org.apache.flink"] = "debug"
	b.Spec.Kubernetes.Pods.EnvVars = []EnvVar{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}
	if a.Hash() != b.Hash() {
		t.Error("hash depends on how equal values are written")
	}
}

func TestHashIsAStableSHA256(t *testing.T) {
	c, _ := mustDecode(t, minimalYAML)
	h := c.Hash()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("Hash() = %q, want 64 hex digits", h)
	}
	if h != c.Hash() {
		t.Fatal("Hash() differs between calls")
	}
	// A change of this value recreates every running cluster after an upgrade of flinkd:
	// change it only on purpose.
	const want = "2f963a3b150c736a0bcd9ecc60c1f1f0f0c7814ebdbcb0329aae03971dbc651d"
	if h != want {
		t.Errorf("Hash() of minimalYAML = %s, want %s", h, want)
	}
}
