package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

// decodeErrors decodes data, which must be invalid, and returns its error lines.
func decodeErrors(t *testing.T, data string) []string {
	t.Helper()
	c, _, err := Decode([]byte(data))
	if err == nil {
		t.Fatalf("Decode succeeded, want errors; got %+v", c)
	}
	var e *Errors
	if !errors.As(err, &e) {
		t.Fatalf("Decode error is %T, want *Errors: %v", err, err)
	}
	if c != nil {
		t.Errorf("Decode returned a cluster with its error")
	}
	return e.Lines()
}

func mustDecode(t *testing.T, data string) (*SessionCluster, []Warning) {
	t.Helper()
	c, warns, err := Decode([]byte(data))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return c, warns
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeReadsTheRunnableSeedExample(t *testing.T) {
	c, warns := mustDecode(t, readTestFile(t, "../../specs/session.yaml"))
	want := &SessionCluster{
		Kind:       "SessionCluster",
		APIVersion: "v1",
		Metadata: Metadata{
			Name:      "session",
			Namespace: "default",
			Labels:    map[string]string{"env": "testing"},
		},
		Spec: Spec{
			State:                StateRunning,
			DeploymentTargetName: "default",
			FlinkVersion:         "1.17",
			FlinkImageRegistry:   "registry.ververica.com/v2.11",
			FlinkImageRepository: "flink",
			FlinkImageTag:        "1.17.2-stream1-scala_2.12-java11",
			FlinkImagePullPolicy: "IfNotPresent",
			NumberOfTaskManagers: ptr(5),
			Resources: Resources{
				JobManager:  ResourceSpec{CPU: "2", Memory: "1g"},
				TaskManager: ResourceSpec{CPU: "16", Memory: "32g"},
			},
			FlinkConfiguration: map[string]string{"taskmanager.numberOfTaskSlots": "32"},
			Logging: Logging{
				LoggingProfile: "default",
				Log4jLoggers:   map[string]string{"": "INFO", "org.apache.flink.streaming.examples": "DEBUG"},
			},
			Kubernetes: Kubernetes{Pods: Pods{EnvVars: []EnvVar{{Name: "KEY", Value: "VALUE"}}}},
		},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("decoded spec (-want +got):\n%s", diff)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if got, want := c.Image(), "registry.ververica.com/v2.11/flink:1.17.2-stream1-scala_2.12-java11"; got != want {
		t.Errorf("Image() = %q, want %q", got, want)
	}
	if got := c.Spec.Resources.TaskManager.MemoryBytes(); got != 32_000_000_000 {
		t.Errorf("taskmanager MemoryBytes() = %d, want 32e9", got)
	}
	if got := c.Spec.Resources.JobManager.CPUMillis(); got != 2000 {
		t.Errorf("jobmanager CPUMillis() = %d, want 2000", got)
	}
}

func TestDecodeReadsEveryField(t *testing.T) {
	c, warns := mustDecode(t, readTestFile(t, "testdata/all-fields.yaml"))
	want := &SessionCluster{
		Kind:       "SessionCluster",
		APIVersion: "v1",
		Metadata: Metadata{
			Name:        "analytics",
			Namespace:   "team-a",
			Labels:      map[string]string{"env": "testing", "app.kubernetes.io/part-of": "reports"},
			Annotations: map[string]string{"example.com/owner": "data team <data@example.com>"},
		},
		Spec: Spec{
			State:                StateStopped,
			DeploymentTargetName: "local-docker",
			FlinkVersion:         "1.20",
			FlinkImageRegistry:   "registry.example.com:5000/mirror",
			FlinkImageRepository: "apache/flink",
			FlinkImageTag:        "1.20.1-scala_2.12-java17",
			FlinkImagePullPolicy: "Never",
			NumberOfTaskManagers: ptr(3),
			Resources: Resources{
				JobManager:  ResourceSpec{CPU: "0.5", Memory: "1536Mi"},
				TaskManager: ResourceSpec{CPU: "1500m", Memory: "4G"},
			},
			FlinkConfiguration: map[string]string{
				"taskmanager.numberOfTaskSlots":    "4",
				"state.backend.type":               "rocksdb",
				"execution.checkpointing.interval": "10 s",
				"pipeline.object-reuse":            "true",
				"parallelism.default":              "2",
				"env.java.opts.all":                "-XX:+UseG1GC -Dfoo=bar",
				"s3.access-key":                    "${S3_ACCESS_KEY}",
			},
			Logging: Logging{
				LoggingProfile: "default",
				Log4jLoggers:   map[string]string{"": "WARN", "org.apache.flink.runtime.checkpoint": "debug"},
			},
			Kubernetes: Kubernetes{
				Labels: map[string]string{"team": "a"},
				Pods: Pods{
					Labels:      map[string]string{"tier": "streaming"},
					Annotations: map[string]string{"prometheus.io/scrape": "true"},
					EnvVars: []EnvVar{
						{Name: "S3_ACCESS_KEY", Value: "minio"},
						{Name: "EMPTY", Value: ""},
						{Name: "NUMBER", Value: "42"},
					},
				},
			},
		},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("decoded spec (-want +got):\n%s", diff)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if got, want := c.Image(), "registry.example.com:5000/mirror/apache/flink:1.20.1-scala_2.12-java17"; got != want {
		t.Errorf("Image() = %q, want %q", got, want)
	}
	if got := c.Spec.Resources.JobManager.MemoryBytes(); got != 1536<<20 {
		t.Errorf("jobmanager MemoryBytes() = %d, want %d", got, 1536<<20)
	}
	if got := c.Spec.Resources.TaskManager.CPUMillis(); got != 1500 {
		t.Errorf("taskmanager CPUMillis() = %d, want 1500", got)
	}
	if ns, name := c.Key(); ns != "team-a" || name != "analytics" {
		t.Errorf("Key() = %q, %q", ns, name)
	}
	if got := c.TaskManagers(); got != 3 {
		t.Errorf("TaskManagers() = %d, want 3", got)
	}
}

func TestDecodeTakesScalarsAsWritten(t *testing.T) {
	c, _ := mustDecode(t, `kind: SessionCluster
apiVersion: v1
metadata: {name: scalars}
spec:
  state: RUNNING
  flinkVersion: 1.20
  flinkImageTag: 1.20
  flinkConfiguration:
    slots: 32
    ratio: 0.10
    flag: true
    off: false
    hex: 0x1F
    date: 2024-01-02
    quoted: "32"
    multi: |-
      not a newline-free value? this one is single-line
`)
	want := map[string]string{
		"slots": "32", "ratio": "0.10", "flag": "true", "off": "false", "hex": "0x1F",
		"date": "2024-01-02", "quoted": "32", "multi": "not a newline-free value? this one is single-line",
	}
	if diff := cmp.Diff(want, c.Spec.FlinkConfiguration); diff != "" {
		t.Errorf("flinkConfiguration (-want +got):\n%s", diff)
	}
	if c.Spec.FlinkVersion != "1.20" || c.Spec.FlinkImageTag != "1.20" {
		t.Errorf("flinkVersion %q, flinkImageTag %q: want the text 1.20 (not the float 1.2)", c.Spec.FlinkVersion, c.Spec.FlinkImageTag)
	}
}

func TestDecodeTreatsNullAsUnset(t *testing.T) {
	// A Ververica export writes log4j2ConfigurationTemplate: null; empty sections are unset.
	c, _ := mustDecode(t, `kind: SessionCluster
apiVersion: v1
metadata:
  name: nulls
  namespace: ~
  labels:
spec:
  state: RUNNING
  flinkVersion: "1.20"
  numberOfTaskManagers: null
  resources:
  logging:
    log4j2ConfigurationTemplate: null
  kubernetes:
    pods:
`)
	if c.Metadata.Namespace != DefaultNamespace || c.TaskManagers() != DefaultNumberOfTaskManagers ||
		c.Spec.Resources.TaskManager.Memory != DefaultTaskManagerMemory {
		t.Errorf("null fields were not defaulted: %+v", c)
	}
}

func TestDecodeResolvesAliases(t *testing.T) {
	c, _ := mustDecode(t, `kind: SessionCluster
apiVersion: v1
metadata:
  name: aliases
  labels: &labels
    team: a
spec:
  state: RUNNING
  flinkVersion: "1.20"
  resources:
    jobmanager: &size {cpu: 2, memory: 2g}
    taskmanager: *size
  kubernetes:
    pods:
      labels: *labels
`)
	if diff := cmp.Diff(c.Spec.Resources.JobManager, c.Spec.Resources.TaskManager); diff != "" {
		t.Errorf("alias not resolved (-jobmanager +taskmanager):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"team": "a"}, c.Spec.Kubernetes.Pods.Labels); diff != "" {
		t.Errorf("pod labels (-want +got):\n%s", diff)
	}
}

func TestDecodeAcceptsJSONAndATrailingDocumentMarker(t *testing.T) {
	for name, data := range map[string]string{
		"json":              `{"kind":"SessionCluster","apiVersion":"v1","metadata":{"name":"j"},"spec":{"state":"RUNNING","flinkVersion":"1.20","numberOfTaskManagers":2}}`,
		"leading marker":    "---\nkind: SessionCluster\napiVersion: v1\nmetadata: {name: j}\nspec: {state: RUNNING, flinkVersion: '1.20', numberOfTaskManagers: 2}\n",
		"trailing marker":   "kind: SessionCluster\napiVersion: v1\nmetadata: {name: j}\nspec: {state: RUNNING, flinkVersion: '1.20', numberOfTaskManagers: 2}\n---\n# nothing\n",
		"end of doc marker": "kind: SessionCluster\napiVersion: v1\nmetadata: {name: j}\nspec: {state: RUNNING, flinkVersion: '1.20', numberOfTaskManagers: 2}\n...\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := mustDecode(t, data)
			if c.Metadata.Name != "j" || c.TaskManagers() != 2 {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestDecodedSpecRoundTripsThroughJSON(t *testing.T) {
	for _, path := range []string{"../../specs/session.yaml", "../../specs/minimal.yaml", "testdata/all-fields.yaml"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, _ := mustDecode(t, readTestFile(t, path))
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := mustDecode(t, string(b))
			if diff := cmp.Diff(c, again); diff != "" {
				t.Errorf("JSON round trip (-first +second):\n%s\nJSON: %s", diff, b)
			}
		})
	}
}

func TestDecodeRejectsMalformedDocuments(t *testing.T) {
	const head = "kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: x\nspec:\n  state: RUNNING\n  flinkVersion: \"1.20\"\n"
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"empty file", "", []string{"the file is empty; it must hold one SessionCluster"}},
		{"only comments", "# nothing here\n", []string{"the file is empty; it must hold one SessionCluster"}},
		{"null document", "~\n", []string{"the file is empty; it must hold one SessionCluster"}},
		{"a list", "- kind: SessionCluster\n", []string{"the document must be a mapping with kind, apiVersion, metadata and spec, not a list (line 1)"}},
		{"a string", "hello\n", []string{`the document must be a mapping with kind, apiVersion, metadata and spec, not the string "hello" (line 1)`}},
		{"syntax error", "kind: SessionCluster\n  apiVersion: v1\n", []string{"invalid YAML: line 2: mapping values are not allowed in this context"}},
		{"tab indentation", "kind: SessionCluster\nmetadata:\n\tname: x\n", []string{"invalid YAML: line 3: found character that cannot start any token"}},
		{"unknown anchor", head + "  numberOfTaskManagers: *n\n", []string{"invalid YAML: unknown anchor 'n' referenced"}},
		{
			"two documents",
			head + "---\n" + head,
			[]string{"the file holds more than one YAML document (another starts at line 9); put each SessionCluster in a file of its own"},
		},
		{
			"second document broken",
			head + "---\nkind: [\n",
			[]string{"invalid YAML: line 9: did not find expected node content"},
		},
		{
			"seed example verbatim, placeholders and all",
			readTestFile(t, "testdata/seed-example.yaml"),
			[]string{"invalid YAML: line 10: did not find expected key"},
		},
		{
			"seed example with a flow-mapping placeholder",
			"kind: SessionCluster\napiVersion: v1\nmetadata:\n  name:\nspec:\n  state: RUNNING\n  flinkVersion: {flinkVersion}\n",
			[]string{
				"metadata.name: is required (line 4)",
				"spec.flinkVersion: must be a string, not a mapping (line 7)",
			},
		},
		{
			"file over the size limit",
			head + "  flinkConfiguration:\n    big: " + strings.Repeat("x", MaxFileSize) + "\n",
			[]string{"is larger than 1024 KiB; a SessionCluster is a few KiB at most"},
		},
		{"merge key", head + "  resources:\n    <<: {jobmanager: {cpu: 1}}\n", []string{"spec.resources: YAML merge keys (<<) are not supported; write the fields out (line 9)"}},
		{"custom tag", head + "  flinkImageTag: !custom 1.20\n", []string{"spec.flinkImageTag: the YAML tag !custom is not supported here; write a plain value (line 8)"}},
		{"binary tag", head + "  flinkImageTag: !!binary aGVsbG8=\n", []string{"spec.flinkImageTag: the YAML tag !!binary is not supported here; write a plain value (line 8)"}},
		{"list as key", head + "  flinkConfiguration:\n    ? [a, b]\n    : c\n", []string{"spec.flinkConfiguration: has a key that is a list; keys must be strings (line 9)"}},
		{"null key", head + "  flinkConfiguration:\n    ~: c\n", []string{"spec.flinkConfiguration: has a key that is empty (null); keys must be strings (line 9)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, decodeErrors(t, tt.data)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRejectsUnknownAndUnsupportedFields(t *testing.T) {
	const head = "kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: x\nspec:\n  state: RUNNING\n  flinkVersion: \"1.20\"\n"
	tests := []struct {
		name string
		data string
		want string
	}{
		{"misspelt field", head + "  numberOfTaskmanagers: 2\n", "spec.numberOfTaskmanagers: unknown field (did you mean numberOfTaskManagers?) (line 8)"},
		{"typo", head + "  flinkImageTg: x\n", "spec.flinkImageTg: unknown field (did you mean flinkImageTag?) (line 8)"},
		{"unknown top-level field", "foo: bar\n" + head, "foo: unknown field (line 1)"},
		{"unknown resources field", head + "  resources:\n    jobmanager:\n      gpu: 1\n", "spec.resources.jobmanager.gpu: unknown field (line 10)"},
		{"status", head + "status:\n  state: RUNNING\n", "status: is not supported by flinkd (line 8)"},
		{"metadata.id", strings.Replace(head, "  name: x\n", "  name: x\n  id: 6d1f\n", 1), "metadata.id: is not supported by flinkd (line 5)"},
		{"metadata.createdAt", strings.Replace(head, "  name: x\n", "  name: x\n  createdAt: 2022-01-23T18:51:47.845773Z\n", 1), "metadata.createdAt: is not supported by flinkd (line 5)"},
		{"metadata.modifiedAt", strings.Replace(head, "  name: x\n", "  name: x\n  modifiedAt: 2022-01-23T18:51:47.845773Z\n", 1), "metadata.modifiedAt: is not supported by flinkd (line 5)"},
		{"metadata.resourceVersion", strings.Replace(head, "  name: x\n", "  name: x\n  resourceVersion: 13\n", 1), "metadata.resourceVersion: is not supported by flinkd (line 5)"},
		{"log4j2ConfigurationTemplate", head + "  logging:\n    log4j2ConfigurationTemplate: <Configuration/>\n", "spec.logging.log4j2ConfigurationTemplate: is not supported by flinkd (line 9)"},
		{"jobManagerPodTemplate", head + "  kubernetes:\n    jobManagerPodTemplate: {spec: {}}\n", "spec.kubernetes.jobManagerPodTemplate: is not supported by flinkd (line 9)"},
		{"taskManagerPodTemplate", head + "  kubernetes:\n    taskManagerPodTemplate: {spec: {}}\n", "spec.kubernetes.taskManagerPodTemplate: is not supported by flinkd (line 9)"},
		{"nodeSelector", head + "  kubernetes:\n    pods:\n      nodeSelector: {disk: ssd}\n", "spec.kubernetes.pods.nodeSelector: is not supported by flinkd (line 10)"},
		{"affinity", head + "  kubernetes:\n    pods:\n      affinity: {}\n", "spec.kubernetes.pods.affinity: is not supported by flinkd (line 10)"},
		{"tolerations", head + "  kubernetes:\n    pods:\n      tolerations: [{key: a}]\n", "spec.kubernetes.pods.tolerations: is not supported by flinkd (line 10)"},
		{"volumeMounts", head + "  kubernetes:\n    pods:\n      volumeMounts: [{name: a}]\n", "spec.kubernetes.pods.volumeMounts: is not supported by flinkd (line 10)"},
		{"securityContext", head + "  kubernetes:\n    pods:\n      securityContext: {runAsUser: 1}\n", "spec.kubernetes.pods.securityContext: is not supported by flinkd (line 10)"},
		{"imagePullSecrets", head + "  kubernetes:\n    pods:\n      imagePullSecrets: [{name: a}]\n", "spec.kubernetes.pods.imagePullSecrets: is not supported by flinkd (line 10)"},
		{"valueFrom", head + "  kubernetes:\n    pods:\n      envVars:\n        - name: A\n          valueFrom: {secretKeyRef: {name: s, key: k}}\n", "spec.kubernetes.pods.envVars[0].valueFrom: is not supported by flinkd (line 12)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff([]string{tt.want}, decodeErrors(t, tt.data)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRejectsWrongTypes(t *testing.T) {
	const head = "kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: x\nspec:\n  state: RUNNING\n  flinkVersion: \"1.20\"\n"
	tests := []struct {
		name string
		data string
		want string
	}{
		{"metadata as a string", "kind: SessionCluster\napiVersion: v1\nmetadata: x\nspec: {state: RUNNING, flinkVersion: '1.20'}\n", `metadata: must be a mapping, not the string "x" (line 3)`},
		{"spec as a list", "kind: SessionCluster\napiVersion: v1\nmetadata: {name: x}\nspec: [a]\n", "spec: must be a mapping, not a list (line 4)"},
		{"name as a mapping", "kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: {a: b}\nspec: {state: RUNNING, flinkVersion: '1.20'}\n", "metadata.name: must be a string, not a mapping (line 4)"},
		{"kind as a list", "kind: [SessionCluster]\napiVersion: v1\nmetadata: {name: x}\nspec: {state: RUNNING, flinkVersion: '1.20'}\n", "kind: must be a string, not a list (line 1)"},
		{"count as a string", head + "  numberOfTaskManagers: five\n", `spec.numberOfTaskManagers: must be a whole number, not the string "five" (line 8)`},
		{"count quoted", head + "  numberOfTaskManagers: \"5\"\n", `spec.numberOfTaskManagers: must be a whole number, not the string "5" (line 8)`},
		{"count as a float", head + "  numberOfTaskManagers: 2.5\n", "spec.numberOfTaskManagers: must be a whole number, not the number 2.5 (line 8)"},
		{"count as a boolean", head + "  numberOfTaskManagers: true\n", "spec.numberOfTaskManagers: must be a whole number, not the boolean true (line 8)"},
		{"count overflows", head + "  numberOfTaskManagers: 99999999999999999999\n", "spec.numberOfTaskManagers: must be a whole number, not the number 99999999999999999999 (line 8)"},
		{"count beyond int32", head + "  numberOfTaskManagers: 4294967296\n", "spec.numberOfTaskManagers: 4294967296 is out of range (line 8)"},
		{"resources as a string", head + "  resources: big\n", `spec.resources: must be a mapping, not the string "big" (line 8)`},
		{"memory as a list", head + "  resources:\n    taskmanager:\n      memory: [1g]\n", "spec.resources.taskmanager.memory: must be a string, not a list (line 10)"},
		{"flinkConfiguration as a list", head + "  flinkConfiguration: [a]\n", "spec.flinkConfiguration: must be a mapping of keys to values, not a list (line 8)"},
		{"nested flinkConfiguration", head + "  flinkConfiguration:\n    state:\n      backend: rocksdb\n", `spec.flinkConfiguration[state]: must be a string (write "" for an empty value), not a mapping (line 9)`},
		{"null configuration value", head + "  flinkConfiguration:\n    a:\n", `spec.flinkConfiguration[a]: must be a string (write "" for an empty value), not empty (null) (line 9)`},
		{"labels as a list", head + "  kubernetes:\n    labels: [a]\n", "spec.kubernetes.labels: must be a mapping of keys to values, not a list (line 9)"},
		{"envVars as a mapping", head + "  kubernetes:\n    pods:\n      envVars: {A: b}\n", "spec.kubernetes.pods.envVars: must be a list of name/value pairs, not a mapping (line 10)"},
		{"envVar as a string", head + "  kubernetes:\n    pods:\n      envVars: [A=b]\n", `spec.kubernetes.pods.envVars[0]: must be a mapping, not the string "A=b" (line 10)`},
		{"empty envVar", head + "  kubernetes:\n    pods:\n      envVars:\n        -\n", "spec.kubernetes.pods.envVars[0]: must be a mapping, not empty (null) (line 11)"},
		{"logger level as a list", head + "  logging:\n    log4jLoggers:\n      \"\": [INFO]\n", `spec.logging.log4jLoggers[]: must be a string (write "" for an empty value), not a list (line 10)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff([]string{tt.want}, decodeErrors(t, tt.data)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRejectsDuplicateKeys(t *testing.T) {
	const head = "kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: x\nspec:\n  state: RUNNING\n  flinkVersion: \"1.20\"\n"
	tests := []struct {
		name string
		data string
		want string
	}{
		{"top level", head + "kind: SessionCluster\n", "kind: duplicate key, first given at line 1 (line 8)"},
		{"in spec", head + "  state: STOPPED\n", "spec.state: duplicate key, first given at line 6 (line 8)"},
		{"in resources", head + "  resources:\n    jobmanager: {cpu: 1, cpu: 2}\n", "spec.resources.jobmanager.cpu: duplicate key, first given at line 9 (line 9)"},
		{"in flinkConfiguration", head + "  flinkConfiguration:\n    a: 1\n    b: 2\n    a: 3\n", "spec.flinkConfiguration[a]: duplicate key, first given at line 9 (line 11)"},
		{"written differently", head + "  flinkConfiguration:\n    \"32\": a\n    32: b\n", "spec.flinkConfiguration[32]: duplicate key, first given at line 9 (line 10)"},
		{"in labels", "kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: x\n  labels:\n    a: b\n    a: c\nspec: {state: RUNNING, flinkVersion: '1.20'}\n", "metadata.labels[a]: duplicate key, first given at line 6 (line 7)"},
		{"in an envVar", head + "  kubernetes:\n    pods:\n      envVars:\n        - name: A\n          name: B\n", "spec.kubernetes.pods.envVars[0].name: duplicate key, first given at line 11 (line 12)"},
		{"root logger twice", head + "  logging:\n    log4jLoggers:\n      \"\": INFO\n      '': DEBUG\n", "spec.logging.log4jLoggers[]: duplicate key, first given at line 10 (line 11)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff([]string{tt.want}, decodeErrors(t, tt.data)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeReportsEveryErrorOfAFileTogether(t *testing.T) {
	got := decodeErrors(t, `kind: SessionCluster
apiVersion: v1
metadata:
  name: My_Cluster
spec:
  state: running
  flinkVersion: 1.20
  numberOfTaskmanagers: 3
  numberOfTaskManagers: five
  resources:
    taskmanager:
      memory: 32x
      cpu: 0.05
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 32
    rest.port: 8081
    taskmanager.numberOfTaskSlots: 4
  kubernetes:
    pods:
      nodeSelector: {a: b}
      envVars:
        - name: 1BAD
        - name: OK
        - name: OK
status:
  state: RUNNING
`)
	want := []string{
		`metadata.name: "My_Cluster" is not a valid name: use at most 45 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (line 4)`,
		`spec.state: "running" is not a state: write RUNNING or STOPPED (line 6)`,
		`spec.numberOfTaskmanagers: unknown field (did you mean numberOfTaskManagers?) (line 8)`,
		`spec.numberOfTaskManagers: must be a whole number, not the string "five" (line 9)`,
		`spec.resources.taskmanager.memory: "32x" is not a memory size: ` + memoryHint + ` (line 12)`,
		`spec.resources.taskmanager.cpu: 0.05 is below the minimum of 0.1 cores (line 13)`,
		`spec.flinkConfiguration[rest.port]: flinkd sets it to 8081, the port it reaches the REST API on; remove it (line 16)`,
		`spec.flinkConfiguration[taskmanager.numberOfTaskSlots]: duplicate key, first given at line 15 (line 17)`,
		`spec.kubernetes.pods.nodeSelector: is not supported by flinkd (line 20)`,
		`spec.kubernetes.pods.envVars[0].name: "1BAD" is not an environment variable name: use letters, digits and '_', not starting with a digit (line 22)`,
		`spec.kubernetes.pods.envVars[2].name: "OK" is already set by envVars[1] (line 24)`,
		`status: is not supported by flinkd (line 25)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestDecodeErrorsNameTheClusterWhenTheNameIsValid(t *testing.T) {
	tests := []struct {
		name, data      string
		wantNS, wantKey string
	}{
		{"valid name, bad spec", "kind: SessionCluster\napiVersion: v1\nmetadata: {name: a}\nspec: {state: ON}\n", "default", "a"},
		{"namespace given", "kind: SessionCluster\napiVersion: v1\nmetadata: {name: a, namespace: b}\nspec: {state: ON}\n", "b", "a"},
		{"bad name", "kind: SessionCluster\napiVersion: v1\nmetadata: {name: A}\nspec: {state: RUNNING}\n", "", ""},
		{"bad namespace", "kind: SessionCluster\napiVersion: v1\nmetadata: {name: a, namespace: B_}\nspec: {state: RUNNING}\n", "", ""},
		{"no name", "kind: SessionCluster\napiVersion: v1\nmetadata: {}\nspec: {state: RUNNING}\n", "", ""},
		{"syntax error", "kind: [\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode([]byte(tt.data))
			var e *Errors
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *Errors", err, err)
			}
			if e.Namespace != tt.wantNS || e.Name != tt.wantKey {
				t.Errorf("key = %q/%q, want %q/%q", e.Namespace, e.Name, tt.wantNS, tt.wantKey)
			}
		})
	}
}

func TestDecodeOfAnAliasBombIsBounded(t *testing.T) {
	// "Billion laughs": each level refers to the one before ten times.
	var b strings.Builder
	b.WriteString("kind: SessionCluster\napiVersion: v1\nmetadata: {name: x}\nspec:\n  state: RUNNING\n  flinkVersion: \"1.20\"\n")
	b.WriteString("  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	// Every place that reads lists or mappings gets the bomb.
	b.WriteString("  flinkConfiguration: *a9\n  kubernetes:\n    pods:\n      envVars: *a9\n")
	data := []byte(b.String())

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := Decode(data)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("Decode accepted an alias bomb")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("Decode allocated %d MiB for a %d-byte document", alloc>>20, len(data))
	}
	if !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("error does not name the unknown fields:\n%v", err)
	}
}

func TestDecodeStopsAtTheNodeBudget(t *testing.T) {
	// A valid mapping of 20,000 labels, reused through aliases: the work is bounded.
	var b strings.Builder
	b.WriteString("kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: x\n  labels: &l\n")
	for i := 0; i < 20_000; i++ {
		fmt.Fprintf(&b, "    k%d: v\n", i)
	}
	b.WriteString("  annotations: *l\nspec:\n  state: RUNNING\n  flinkVersion: \"1.20\"\n")
	b.WriteString("  kubernetes:\n    labels: *l\n    pods: {labels: *l, annotations: *l}\n")
	want := []string{"the document is too large or uses too many aliases (more than 100000 values to read)"}
	if diff := cmp.Diff(want, decodeErrors(t, b.String())); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestDecodeStopsAfterMaxErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(minimalYAML)
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&b, "  unknown%d: x\n", i)
	}
	got := decodeErrors(t, b.String())
	if len(got) != MaxErrors+1 {
		t.Fatalf("%d errors, want %d", len(got), MaxErrors+1)
	}
	if got[0] != "spec.unknown0: unknown field (line 8)" || got[MaxErrors] != "more than 100 errors; fix these first" {
		t.Errorf("first and last errors: %q, %q", got[0], got[MaxErrors])
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("valid file", func(t *testing.T) {
		c, _, err := LoadFile("../../specs/minimal.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Image(); got != "flink:1.20-scala_2.12" {
			t.Errorf("Image() = %q", got)
		}
	})
	t.Run("invalid file names the file, the key and every error", func(t *testing.T) {
		p := write("bad.yaml", "kind: SessionCluster\napiVersion: v1\nmetadata: {name: bad}\nspec:\n  state: RUNNING\n  flinkVersion: \"1.20\"\n  resources:\n    taskmanager: {memory: 32x, cpu: 0}\n")
		_, _, err := LoadFile(p)
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("error %T, want *FileError", err)
		}
		want := []string{
			p + ": spec.resources.taskmanager.cpu: 0 is below the minimum of 0.1 cores (line 8)",
			p + `: spec.resources.taskmanager.memory: "32x" is not a memory size: ` + memoryHint + " (line 8)",
		}
		if diff := cmp.Diff(want, fe.Lines()); diff != "" {
			t.Errorf("Lines() (-want +got):\n%s", diff)
		}
		if fe.Error() != strings.Join(want, "\n") {
			t.Errorf("Error() = %q", fe.Error())
		}
		if fe.Namespace != "default" || fe.Name != "bad" || fe.Path != p {
			t.Errorf("FileError key/path = %q/%q %q", fe.Namespace, fe.Name, fe.Path)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(dir, "missing.yaml")
		_, _, err := LoadFile(p)
		if !errors.Is(err, fs.ErrNotExist) || !IsNotExist(err) {
			t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
		}
		if got, want := err.Error(), p+": read: no such file or directory"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, _, err := LoadFile(dir)
		if got, want := err.Error(), dir+": read: is a directory; pass the YAML files in it (for example dir/*.yaml)"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
	})
	t.Run("file over the size limit", func(t *testing.T) {
		p := write("big.yaml", "kind: SessionCluster\n#"+strings.Repeat("x", MaxFileSize)+"\n")
		_, _, err := LoadFile(p)
		if got, want := err.Error(), p+": is larger than 1024 KiB; a SessionCluster is a few KiB at most"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
	})
	t.Run("fifo is refused without blocking", func(t *testing.T) {
		p := filepath.Join(dir, "fifo.yaml")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		// os.Open of a fifo blocks until a writer opens it: hold one open meanwhile.
		w, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		_, _, err = LoadFile(p)
		if got, want := err.Error(), p+": read: not a regular file"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
	})
}
