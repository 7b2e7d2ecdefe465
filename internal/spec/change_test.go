package spec

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// nonTerminal lists every phase in which only state and numberOfTaskManagers may change.
var nonTerminal = []Phase{PhaseStarting, PhaseRunning, PhaseScaling, PhaseStopping, PhaseFailed, PhaseDeleting, ""}

func TestPhaseTerminalIsOnlyStopped(t *testing.T) {
	for _, p := range append(slices.Clone(nonTerminal), PhaseStopped) {
		if got, want := p.Terminal(), p == PhaseStopped; got != want {
			t.Errorf("%q.Terminal() = %v, want %v", p, got, want)
		}
	}
}

func TestCheckChangeAllowsAnyChangeWhenNothingRuns(t *testing.T) {
	next := validCluster()
	next.Spec.FlinkImageTag = "other"
	for _, p := range append(slices.Clone(nonTerminal), PhaseStopped) {
		if ch := CheckChange(nil, next, p); !ch.Allowed || len(ch.Refused) != 0 {
			t.Errorf("phase %q: CheckChange(nil, next) = %+v, want allowed", p, ch)
		}
	}
}

func TestCheckChangeAllowsAnyChangeWhenStopped(t *testing.T) {
	next := validCluster()
	next.Spec.FlinkImageTag = "other"
	next.Spec.Resources.TaskManager.Memory = "8g"
	next.Spec.FlinkConfiguration["x"] = "y"
	if ch := CheckChange(validCluster(), next, PhaseStopped); !ch.Allowed || len(ch.Refused) != 0 || ch.String() != "allowed" {
		t.Errorf("CheckChange in STOPPED = %+v (%s), want allowed", ch, ch)
	}
}

func TestCheckChangeFieldByField(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *SessionCluster)
		refused []RefusedField // nil: allowed while the cluster runs
	}{
		// What may change at any time.
		{"nothing", func(c *SessionCluster) {}, nil},
		{"state", func(c *SessionCluster) { c.Spec.State = StateStopped }, nil},
		{"numberOfTaskManagers up", func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = ptr(7) }, nil},
		{"numberOfTaskManagers to 0", func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = ptr(0) }, nil},
		{"state and numberOfTaskManagers", func(c *SessionCluster) { c.Spec.State, c.Spec.NumberOfTaskManagers = StateStopped, ptr(3) }, nil},
		{"metadata.labels", func(c *SessionCluster) { c.Metadata.Labels = map[string]string{"env": "prod"} }, nil},
		{"metadata.annotations", func(c *SessionCluster) { c.Metadata.Annotations = map[string]string{"example.com/x": "y"} }, nil},
		// Values written differently that mean the same.
		{"memory 1g as 1000m", func(c *SessionCluster) { c.Spec.Resources.JobManager.Memory = "1000m" }, nil},
		{"memory 2g as 2G", func(c *SessionCluster) { c.Spec.Resources.TaskManager.Memory = "2G" }, nil},
		{"cpu 1 as 1000m", func(c *SessionCluster) { c.Spec.Resources.TaskManager.CPU = "1000m" }, nil},
		{"cpu 1 as 1.0", func(c *SessionCluster) { c.Spec.Resources.JobManager.CPU = "1.0" }, nil},
		{"log level case", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers["org.apache.flink"] = "debug" }, nil},
		{"defaults written out", func(c *SessionCluster) { c.Metadata.Namespace, c.Spec.FlinkImageRepository = "", "" }, nil},
		{"envVars reordered", func(c *SessionCluster) {
			c.Spec.Kubernetes.Pods.EnvVars = []EnvVar{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}
		}, nil},

		// What may not.
		{"namespace", func(c *SessionCluster) { c.Metadata.Namespace = "other" }, []RefusedField{{"metadata.namespace", `changed from "default" to "other"`}}},
		{"name", func(c *SessionCluster) { c.Metadata.Name = "other" }, []RefusedField{{"metadata.name", `changed from "analytics" to "other"`}}},
		{"deploymentTargetName", func(c *SessionCluster) { c.Spec.DeploymentTargetName = "kube" }, []RefusedField{{"spec.deploymentTargetName", `changed from "default" to "kube"`}}},
		{"flinkVersion", func(c *SessionCluster) { c.Spec.FlinkVersion = "1.19" }, []RefusedField{{"spec.flinkVersion", `changed from "1.20" to "1.19"`}}},
		{"flinkImageRegistry", func(c *SessionCluster) { c.Spec.FlinkImageRegistry = "mirror.example.com" }, []RefusedField{{"spec.flinkImageRegistry", `changed from "" to "mirror.example.com"`}}},
		{"flinkImageRepository", func(c *SessionCluster) { c.Spec.FlinkImageRepository = "apache/flink" }, []RefusedField{{"spec.flinkImageRepository", `changed from "flink" to "apache/flink"`}}},
		{"flinkImageTag", func(c *SessionCluster) { c.Spec.FlinkImageTag = "1.20-java17" }, []RefusedField{{"spec.flinkImageTag", `changed from "1.20-scala_2.12" to "1.20-java17"`}}},
		{"flinkImagePullPolicy", func(c *SessionCluster) { c.Spec.FlinkImagePullPolicy = PullNever }, []RefusedField{{"spec.flinkImagePullPolicy", `changed from "IfNotPresent" to "Never"`}}},
		{"jobmanager cpu", func(c *SessionCluster) { c.Spec.Resources.JobManager.CPU = "2" }, []RefusedField{{"spec.resources.jobmanager.cpu", "changed from 1 to 2"}}},
		{"jobmanager memory", func(c *SessionCluster) { c.Spec.Resources.JobManager.Memory = "1Gi" }, []RefusedField{{"spec.resources.jobmanager.memory", "changed from 1g to 1Gi"}}},
		{"taskmanager cpu", func(c *SessionCluster) { c.Spec.Resources.TaskManager.CPU = "500m" }, []RefusedField{{"spec.resources.taskmanager.cpu", "changed from 1 to 500m"}}},
		{"taskmanager memory", func(c *SessionCluster) { c.Spec.Resources.TaskManager.Memory = "4g" }, []RefusedField{{"spec.resources.taskmanager.memory", "changed from 2g to 4g"}}},
		{"flinkConfiguration value", func(c *SessionCluster) { c.Spec.FlinkConfiguration["taskmanager.numberOfTaskSlots"] = "4" }, []RefusedField{{"spec.flinkConfiguration[taskmanager.numberOfTaskSlots]", `changed from "2" to "4"`}}},
		{"flinkConfiguration key added", func(c *SessionCluster) { c.Spec.FlinkConfiguration["parallelism.default"] = "2" }, []RefusedField{{"spec.flinkConfiguration[parallelism.default]", `added with value "2"`}}},
		{"flinkConfiguration key removed", func(c *SessionCluster) { c.Spec.FlinkConfiguration = nil }, []RefusedField{{"spec.flinkConfiguration[taskmanager.numberOfTaskSlots]", `removed (was "2")`}}},
		{"loggingProfile", func(c *SessionCluster) { c.Spec.Logging.LoggingProfile = "json" }, []RefusedField{{"spec.logging.loggingProfile", `changed from "default" to "json"`}}},
		{"root log level", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers[""] = "DEBUG" }, []RefusedField{{"spec.logging.log4jLoggers[]", `changed from "INFO" to "DEBUG"`}}},
		{"logger added", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers["org.x"] = "WARN" }, []RefusedField{{"spec.logging.log4jLoggers[org.x]", `added with value "WARN"`}}},
		{"logger removed", func(c *SessionCluster) { delete(c.Spec.Logging.Log4jLoggers, "org.apache.flink") }, []RefusedField{{"spec.logging.log4jLoggers[org.apache.flink]", `removed (was "DEBUG")`}}},
		{"kubernetes.labels", func(c *SessionCluster) { c.Spec.Kubernetes.Labels["team"] = "b" }, []RefusedField{{"spec.kubernetes.labels[team]", `changed from "a" to "b"`}}},
		{"pod labels", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.Labels["new"] = "x" }, []RefusedField{{"spec.kubernetes.pods.labels[new]", `added with value "x"`}}},
		{"pod annotations", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.Annotations = nil }, []RefusedField{{"spec.kubernetes.pods.annotations[example.com/a]", `removed (was "b")`}}},
		{"envVar value", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.EnvVars[0].Value = "9" }, []RefusedField{{"spec.kubernetes.pods.envVars[A]", `changed from "1" to "9"`}}},
		{"envVar added", func(c *SessionCluster) {
			c.Spec.Kubernetes.Pods.EnvVars = append(c.Spec.Kubernetes.Pods.EnvVars, EnvVar{Name: "C", Value: "3"})
		}, []RefusedField{{"spec.kubernetes.pods.envVars[C]", `added with value "3"`}}},
		{"envVar removed", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.EnvVars = c.Spec.Kubernetes.Pods.EnvVars[1:] }, []RefusedField{{"spec.kubernetes.pods.envVars[A]", `removed (was "1")`}}},
		{"several fields, with a scale", func(c *SessionCluster) {
			c.Spec.NumberOfTaskManagers = ptr(9)
			c.Spec.Resources.TaskManager.Memory = "4g"
			c.Spec.FlinkImageTag = "1.20.1-scala_2.12"
			c.Spec.FlinkConfiguration["a"] = "b"
		}, []RefusedField{
			{"spec.flinkConfiguration[a]", `added with value "b"`},
			{"spec.flinkImageTag", `changed from "1.20-scala_2.12" to "1.20.1-scala_2.12"`},
			{"spec.resources.taskmanager.memory", "changed from 2g to 4g"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			running := validCluster()
			running.Spec.Kubernetes.Pods.EnvVars = []EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
			next := running.DeepCopy()
			tt.mutate(next)
			for _, phase := range nonTerminal {
				got := CheckChange(running, next, phase)
				want := Change{Allowed: tt.refused == nil, Phase: phase, Refused: tt.refused}
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("phase %q (-want +got):\n%s", phase, diff)
				}
			}
			if ch := CheckChange(running, next, PhaseStopped); !ch.Allowed {
				t.Errorf("refused in STOPPED: %v", ch)
			}
			// A change allowed on a running cluster must never recreate its processes.
			if sameHash := running.Hash() == next.Hash(); sameHash != (tt.refused == nil) {
				t.Errorf("hash unchanged = %v, but change allowed = %v", sameHash, tt.refused == nil)
			}
		})
	}
}

func TestCheckChangeDoesNotModifyItsArguments(t *testing.T) {
	running, next := validCluster(), validCluster()
	running.Metadata.Namespace, next.Spec.Logging.Log4jLoggers = "", nil
	r0, n0 := running.DeepCopy(), next.DeepCopy()
	CheckChange(running, next, PhaseRunning)
	if diff := cmp.Diff(r0, running); diff != "" {
		t.Errorf("running changed:\n%s", diff)
	}
	if diff := cmp.Diff(n0, next); diff != "" {
		t.Errorf("next changed:\n%s", diff)
	}
}

// TestCheckChangeAndHashCoverEveryField changes each field of a SessionCluster in turn, found
// by reflection, so that a field added later cannot be forgotten by CheckChange or Hash.
func TestCheckChangeAndHashCoverEveryField(t *testing.T) {
	mayChange := map[string]bool{
		"Kind": true, "APIVersion": true, // validated to be fixed values
		"Metadata.Labels": true, "Metadata.Annotations": true,
		"Spec.State": true, "Spec.NumberOfTaskManagers": true,
	}
	base := validCluster()
	base.Spec.FlinkImageRegistry = "r.example.com"
	var paths []string
	forEachLeaf(reflect.TypeOf(*base), "", func(p string) { paths = append(paths, p) })
	if len(paths) < 20 {
		t.Fatalf("found only %d fields: %v", len(paths), paths)
	}
	for _, p := range paths {
		next := base.DeepCopy()
		mutateLeaf(t, reflect.ValueOf(next).Elem(), p)
		ch := CheckChange(base, next, PhaseRunning)
		if ch.Allowed != mayChange[p] {
			t.Errorf("%s: CheckChange allowed = %v, want %v (%v)", p, ch.Allowed, mayChange[p], ch.Refused)
		}
		if sameHash := base.Hash() == next.Hash(); sameHash != mayChange[p] {
			t.Errorf("%s: hash unchanged = %v, want %v", p, sameHash, mayChange[p])
		}
	}
}

func forEachLeaf(t reflect.Type, prefix string, fn func(string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		p := f.Name
		if prefix != "" {
			p = prefix + "." + f.Name
		}
		if f.Type.Kind() == reflect.Struct {
			forEachLeaf(f.Type, p, fn)
			continue
		}
		fn(p)
	}
}

func mutateLeaf(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	f := v
	for _, name := range strings.Split(path, ".") {
		f = f.FieldByName(name)
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(f.String() + "x")
	case reflect.Pointer: // *int
		n := int(f.Elem().Int()) + 1
		f.Set(reflect.ValueOf(&n))
	case reflect.Map:
		if f.IsNil() {
			f.Set(reflect.MakeMap(f.Type()))
		}
		f.SetMapIndex(reflect.ValueOf("zz"), reflect.ValueOf("v"))
	case reflect.Slice: // []EnvVar
		f.Set(reflect.Append(f, reflect.ValueOf(EnvVar{Name: "ZZ", Value: "v"})))
	default:
		t.Fatalf("%s: no mutation for kind %s", path, f.Kind())
	}
}

func TestChangeStringSaysWhatToDo(t *testing.T) {
	tests := []struct {
		ch   Change
		want string
	}{
		{Change{Allowed: true, Phase: PhaseRunning}, "allowed"},
		{Change{Phase: PhaseRunning, Refused: []RefusedField{{Field: "spec.flinkImageTag"}}},
			"spec.flinkImageTag cannot change while the cluster is RUNNING; set spec.state: STOPPED first, then edit"},
		{Change{Phase: PhaseRunning, Refused: []RefusedField{{Field: "spec.flinkImageTag"}, {Field: "spec.resources.taskmanager.memory"}}},
			"spec.flinkImageTag and spec.resources.taskmanager.memory cannot change while the cluster is RUNNING; set spec.state: STOPPED first, then edit"},
		{Change{Phase: PhaseStarting, Refused: []RefusedField{{Field: "a"}, {Field: "b"}, {Field: "b"}, {Field: "c"}}},
			"a, b and c cannot change while the cluster is STARTING; set spec.state: STOPPED first, then edit"},
		{Change{Refused: []RefusedField{{Field: "a"}}},
			"a cannot change while the cluster is not STOPPED; set spec.state: STOPPED first, then edit"},
	}
	for _, tt := range tests {
		if got := tt.ch.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	// And from CheckChange itself.
	running := validCluster()
	next := running.DeepCopy()
	next.Spec.FlinkImageTag = "x"
	next.Spec.Resources.TaskManager.Memory = "4g"
	got := fmt.Sprint(CheckChange(running, next, PhaseRunning))
	want := "spec.flinkImageTag and spec.resources.taskmanager.memory cannot change while the cluster is RUNNING; set spec.state: STOPPED first, then edit"
	if got != want {
		t.Errorf("CheckChange(...).String() = %q, want %q", got, want)
	}
}
