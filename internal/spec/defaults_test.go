package spec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const minimalYAML = `kind: SessionCluster
apiVersion: v1
metadata:
  name: bare
spec:
  state: RUNNING
  flinkVersion: "1.20"
`

func TestDecodeDefaultsEveryMissingField(t *testing.T) {
	c, warns := mustDecode(t, minimalYAML)
	want := &SessionCluster{
		Kind:       "SessionCluster",
		APIVersion: "v1",
		Metadata:   Metadata{Name: "bare", Namespace: "default"},
		Spec: Spec{
			State:                StateRunning,
			DeploymentTargetName: "default",
			FlinkVersion:         "1.20",
			FlinkImageRegistry:   "",
			FlinkImageRepository: "flink",
			FlinkImageTag:        "1.20-scala_2.12",
			FlinkImagePullPolicy: "IfNotPresent",
			NumberOfTaskManagers: ptr(1),
			Resources: Resources{
				JobManager:  ResourceSpec{CPU: "1", Memory: "1g"},
				TaskManager: ResourceSpec{CPU: "1", Memory: "2g"},
			},
			Logging: Logging{LoggingProfile: "default", Log4jLoggers: map[string]string{"": "INFO"}},
		},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("defaulted spec (-want +got):\n%s", diff)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if got := c.Image(); got != "flink:1.20-scala_2.12" {
		t.Errorf("Image() = %q, want the official image's default tag flink:1.20-scala_2.12", got)
	}
	if got := c.Spec.Resources.TaskManager.MemoryBytes(); got != 2_000_000_000 {
		t.Errorf("default TaskManager memory = %d bytes, want 2e9", got)
	}
}

func TestDefaultFillsOnlyWhatIsMissing(t *testing.T) {
	// Each row leaves one field unset in an otherwise complete spec and checks only it changes.
	full := func() *SessionCluster {
		return &SessionCluster{
			Kind: "SessionCluster", APIVersion: "v1",
			Metadata: Metadata{Name: "a", Namespace: "ns"},
			Spec: Spec{
				State: StateRunning, DeploymentTargetName: "t", FlinkVersion: "1.19",
				FlinkImageRegistry: "r.example.com", FlinkImageRepository: "repo", FlinkImageTag: "tag",
				FlinkImagePullPolicy: PullAlways, NumberOfTaskManagers: ptr(0),
				Resources: Resources{
					JobManager:  ResourceSpec{CPU: "3", Memory: "3g"},
					TaskManager: ResourceSpec{CPU: "4", Memory: "4g"},
				},
				Logging: Logging{LoggingProfile: "default", Log4jLoggers: map[string]string{"": "WARN"}},
			},
		}
	}
	tests := []struct {
		name  string
		unset func(*SessionCluster)
		want  func(*SessionCluster) // the field after Default
	}{
		{"namespace", func(c *SessionCluster) { c.Metadata.Namespace = "" }, func(c *SessionCluster) { c.Metadata.Namespace = "default" }},
		{"deploymentTargetName", func(c *SessionCluster) { c.Spec.DeploymentTargetName = "" }, func(c *SessionCluster) { c.Spec.DeploymentTargetName = "default" }},
		{"numberOfTaskManagers", func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = nil }, func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = ptr(1) }},
		{"registry stays empty", func(c *SessionCluster) { c.Spec.FlinkImageRegistry = "" }, func(c *SessionCluster) {}},
		{"repository", func(c *SessionCluster) { c.Spec.FlinkImageRepository = "" }, func(c *SessionCluster) { c.Spec.FlinkImageRepository = "flink" }},
		{"tag from flinkVersion", func(c *SessionCluster) { c.Spec.FlinkImageTag = "" }, func(c *SessionCluster) { c.Spec.FlinkImageTag = "1.19-scala_2.12" }},
		{"tag from a patch version", func(c *SessionCluster) { c.Spec.FlinkImageTag, c.Spec.FlinkVersion = "", "1.20.1" }, func(c *SessionCluster) {
			c.Spec.FlinkImageTag, c.Spec.FlinkVersion = "1.20.1-scala_2.12", "1.20.1"
		}},
		{"no tag without flinkVersion", func(c *SessionCluster) { c.Spec.FlinkImageTag, c.Spec.FlinkVersion = "", "" }, func(c *SessionCluster) {
			c.Spec.FlinkImageTag, c.Spec.FlinkVersion = "", ""
		}},
		{"pull policy", func(c *SessionCluster) { c.Spec.FlinkImagePullPolicy = "" }, func(c *SessionCluster) { c.Spec.FlinkImagePullPolicy = "IfNotPresent" }},
		{"jobmanager cpu", func(c *SessionCluster) { c.Spec.Resources.JobManager.CPU = "" }, func(c *SessionCluster) { c.Spec.Resources.JobManager.CPU = "1" }},
		{"jobmanager memory", func(c *SessionCluster) { c.Spec.Resources.JobManager.Memory = "" }, func(c *SessionCluster) { c.Spec.Resources.JobManager.Memory = "1g" }},
		{"taskmanager cpu", func(c *SessionCluster) { c.Spec.Resources.TaskManager.CPU = "" }, func(c *SessionCluster) { c.Spec.Resources.TaskManager.CPU = "1" }},
		{"taskmanager memory", func(c *SessionCluster) { c.Spec.Resources.TaskManager.Memory = "" }, func(c *SessionCluster) { c.Spec.Resources.TaskManager.Memory = "2g" }},
		{"logging profile", func(c *SessionCluster) { c.Spec.Logging.LoggingProfile = "" }, func(c *SessionCluster) { c.Spec.Logging.LoggingProfile = "default" }},
		{"root logger", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers = nil }, func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers = map[string]string{"": "INFO"} }},
		{"root logger beside others", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers = map[string]string{"org.x": "DEBUG"} }, func(c *SessionCluster) {
			c.Spec.Logging.Log4jLoggers = map[string]string{"": "INFO", "org.x": "DEBUG"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := full()
			tt.unset(got)
			Default(got)
			want := full()
			tt.unset(want)
			tt.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after Default (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a complete spec is left alone", func(t *testing.T) {
		got := full()
		Default(got)
		if diff := cmp.Diff(full(), got); diff != "" {
			t.Errorf("Default changed a complete spec (-want +got):\n%s", diff)
		}
	})
}

func TestDefaultIsIdempotent(t *testing.T) {
	c, _ := mustDecode(t, minimalYAML)
	again := c.DeepCopy()
	Default(again)
	if diff := cmp.Diff(c, again); diff != "" {
		t.Errorf("second Default changed the spec (-first +second):\n%s", diff)
	}
}

func TestTaskManagersCountsTheDefaultWhenUnset(t *testing.T) {
	if got := (&SessionCluster{}).TaskManagers(); got != DefaultNumberOfTaskManagers {
		t.Errorf("TaskManagers() of an undefaulted spec = %d, want %d", got, DefaultNumberOfTaskManagers)
	}
	if got := (&SessionCluster{Spec: Spec{NumberOfTaskManagers: ptr(0)}}).TaskManagers(); got != 0 {
		t.Errorf("TaskManagers() = %d, want 0", got)
	}
}

func TestDeepCopySharesNothing(t *testing.T) {
	c, _ := mustDecode(t, readTestFile(t, "testdata/all-fields.yaml"))
	cp := c.DeepCopy()
	*cp.Spec.NumberOfTaskManagers = 99
	cp.Metadata.Labels["x"] = "y"
	cp.Metadata.Annotations["x"] = "y"
	cp.Spec.FlinkConfiguration["x"] = "y"
	cp.Spec.Logging.Log4jLoggers["x"] = "y"
	cp.Spec.Kubernetes.Labels["x"] = "y"
	cp.Spec.Kubernetes.Pods.Labels["x"] = "y"
	cp.Spec.Kubernetes.Pods.Annotations["x"] = "y"
	cp.Spec.Kubernetes.Pods.EnvVars[0].Value = "changed"
	orig, _ := mustDecode(t, readTestFile(t, "testdata/all-fields.yaml"))
	if diff := cmp.Diff(orig, c); diff != "" {
		t.Errorf("changing the copy changed the original (-want +got):\n%s", diff)
	}
}
