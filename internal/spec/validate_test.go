package spec

import (
	"strings"
	"testing"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validCluster is a complete, valid, defaulted SessionCluster.
func validCluster() *SessionCluster {
	c := &SessionCluster{
		Kind: "SessionCluster", APIVersion: "v1",
		Metadata: Metadata{Name: "analytics"},
		Spec: Spec{
			State: StateRunning, FlinkVersion: "1.20",
			FlinkConfiguration: map[string]string{"taskmanager.numberOfTaskSlots": "2"},
			Logging:            Logging{Log4jLoggers: map[string]string{"org.apache.flink": "DEBUG"}},
			Kubernetes: Kubernetes{
				Labels: map[string]string{"team": "a"},
				Pods: Pods{
					Labels:      map[string]string{"tier": "stream"},
					Annotations: map[string]string{"example.com/a": "b"},
					EnvVars:     []EnvVar{{Name: "A", Value: "1"}},
				},
			},
		},
	}
	Default(c)
	return c
}

func validationLines(errs field.ErrorList) []string {
	return renderErrors("", errs, func(*field.Error) int { return 0 })
}

func TestValidateAcceptsAValidSpec(t *testing.T) {
	errs, warns := Validate(validCluster())
	if len(errs) != 0 || len(warns) != 0 {
		t.Errorf("errors %v, warnings %v", validationLines(errs), warns)
	}
}

func TestValidateRejectsEachInvalidField(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		mutate func(c *SessionCluster)
		want   []string // nil: valid
	}{
		// Envelope.
		{"kind missing", func(c *SessionCluster) { c.Kind = "" }, []string{"kind: is required: write kind: SessionCluster"}},
		{"kind wrong", func(c *SessionCluster) { c.Kind = "Deployment" }, []string{`kind: "Deployment" is not supported; flinkd reads kind: SessionCluster`}},
		{"apiVersion missing", func(c *SessionCluster) { c.APIVersion = "" }, []string{"apiVersion: is required: write apiVersion: v1"}},
		{"apiVersion wrong", func(c *SessionCluster) { c.APIVersion = "v2" }, []string{`apiVersion: "v2" is not supported; flinkd reads apiVersion: v1`}},

		// Names.
		{"name missing", func(c *SessionCluster) { c.Metadata.Name = "" }, []string{"metadata.name: is required"}},
		{"name of 45 characters", func(c *SessionCluster) { c.Metadata.Name = long(45) }, nil},
		{"name of 46 characters", func(c *SessionCluster) { c.Metadata.Name = long(46) }, []string{`metadata.name: "` + long(46) + `" is not a valid name: use at most 45 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`}},
		{"name in upper case", func(c *SessionCluster) { c.Metadata.Name = "Analytics" }, []string{`metadata.name: "Analytics" is not a valid name: use at most 45 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`}},
		{"name starting with a digit", func(c *SessionCluster) { c.Metadata.Name = "1st" }, []string{`metadata.name: "1st" is not a valid name: use at most 45 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`}},
		{"name with an underscore", func(c *SessionCluster) { c.Metadata.Name = "a_b" }, []string{`metadata.name: "a_b" is not a valid name: use at most 45 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`}},
		{"name with a dot", func(c *SessionCluster) { c.Metadata.Name = "a.b" }, []string{`metadata.name: "a.b" is not a valid name: use at most 45 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`}},
		{"name with a slash", func(c *SessionCluster) { c.Metadata.Name = "../etc" }, []string{`metadata.name: "../etc" is not a valid name: use at most 45 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`}},
		{"name ending with a dash", func(c *SessionCluster) { c.Metadata.Name = "a-" }, []string{`metadata.name: "a-" is not a valid name: use at most 45 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`}},
		{"namespace starting with a digit", func(c *SessionCluster) { c.Metadata.Namespace = "1-team" }, nil},
		{"namespace missing", func(c *SessionCluster) { c.Metadata.Namespace = "" }, []string{"metadata.namespace: is required"}},
		{"namespace of 46 characters", func(c *SessionCluster) { c.Metadata.Namespace = long(46) }, []string{`metadata.namespace: "` + long(46) + `" is not a valid namespace: use at most 45 lowercase letters, digits and '-', starting and ending with a letter or digit`}},
		{"namespace with upper case", func(c *SessionCluster) { c.Metadata.Namespace = "Team" }, []string{`metadata.namespace: "Team" is not a valid namespace: use at most 45 lowercase letters, digits and '-', starting and ending with a letter or digit`}},
		{"deployment target with a dot", func(c *SessionCluster) { c.Spec.DeploymentTargetName = "k8s.prod" }, []string{`spec.deploymentTargetName: "k8s.prod" is not a valid deployment target name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`}},
		{"deployment target missing", func(c *SessionCluster) { c.Spec.DeploymentTargetName = "" }, []string{"spec.deploymentTargetName: is required"}},

		// State and version.
		{"state missing", func(c *SessionCluster) { c.Spec.State = "" }, []string{"spec.state: is required: write RUNNING or STOPPED"}},
		{"state in lower case", func(c *SessionCluster) { c.Spec.State = "running" }, []string{`spec.state: "running" is not a state: write RUNNING or STOPPED`}},
		{"state SUSPENDED", func(c *SessionCluster) { c.Spec.State = "SUSPENDED" }, []string{`spec.state: "SUSPENDED" is not a state: write RUNNING or STOPPED`}},
		{"flinkVersion missing", func(c *SessionCluster) { c.Spec.FlinkVersion = "" }, []string{`spec.flinkVersion: is required: the Flink minor version, quoted: "1.20"`}},
		{"flinkVersion with a patch", func(c *SessionCluster) { c.Spec.FlinkVersion = "1.20.1" }, nil},
		{"flinkVersion 2.1", func(c *SessionCluster) { c.Spec.FlinkVersion = "2.1" }, nil},
		{"flinkVersion major only", func(c *SessionCluster) { c.Spec.FlinkVersion = "1" }, []string{`spec.flinkVersion: "1" is not a Flink version: write major.minor, quoted ("1.20"), or major.minor.patch`}},
		{"flinkVersion with v", func(c *SessionCluster) { c.Spec.FlinkVersion = "v1.20" }, []string{`spec.flinkVersion: "v1.20" is not a Flink version: write major.minor, quoted ("1.20"), or major.minor.patch`}},
		{"flinkVersion with four parts", func(c *SessionCluster) { c.Spec.FlinkVersion = "1.20.1.2" }, []string{`spec.flinkVersion: "1.20.1.2" is not a Flink version: write major.minor, quoted ("1.20"), or major.minor.patch`}},

		// Image.
		{"registry with a port and path", func(c *SessionCluster) { c.Spec.FlinkImageRegistry = "localhost:5000/mirror" }, nil},
		{"registry as an IPv6 address", func(c *SessionCluster) { c.Spec.FlinkImageRegistry = "[::1]:5000" }, nil},
		{"registry as a Docker Hub namespace", func(c *SessionCluster) { c.Spec.FlinkImageRegistry = "apache" }, nil},
		{"registry with a scheme", func(c *SessionCluster) { c.Spec.FlinkImageRegistry = "https://r.example.com" }, []string{`spec.flinkImageRegistry: "https://r.example.com" is not a registry: write a host with an optional port and path, such as registry.example.com/flink-images`}},
		{"registry with a trailing slash", func(c *SessionCluster) { c.Spec.FlinkImageRegistry = "r.example.com/" }, []string{`spec.flinkImageRegistry: "r.example.com/" is not a registry: write a host with an optional port and path, such as registry.example.com/flink-images`}},
		{"repository with a tag", func(c *SessionCluster) { c.Spec.FlinkImageRepository = "flink:1.20" }, []string{`spec.flinkImageRepository: "flink:1.20" is not a repository: use lowercase letters, digits and the separators '.', '_', '-' and '/', such as flink`}},
		{"repository in upper case", func(c *SessionCluster) { c.Spec.FlinkImageRepository = "Flink" }, []string{`spec.flinkImageRepository: "Flink" is not a repository: use lowercase letters, digits and the separators '.', '_', '-' and '/', such as flink`}},
		{"repository missing", func(c *SessionCluster) { c.Spec.FlinkImageRepository = "" }, []string{"spec.flinkImageRepository: is required"}},
		{"tag starting with a dot", func(c *SessionCluster) { c.Spec.FlinkImageTag = ".x" }, []string{`spec.flinkImageTag: ".x" is not an image tag: use at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`}},
		{"tag of 129 characters", func(c *SessionCluster) { c.Spec.FlinkImageTag = long(129) }, []string{`spec.flinkImageTag: "` + long(80) + `" is not an image tag: use at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`}},
		{"tag with a space", func(c *SessionCluster) { c.Spec.FlinkImageTag = "1.20 java" }, []string{`spec.flinkImageTag: "1.20 java" is not an image tag: use at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`}},
		{"tag missing", func(c *SessionCluster) { c.Spec.FlinkImageTag = "" }, []string{"spec.flinkImageTag: is required"}},
		{"pull policy Always", func(c *SessionCluster) { c.Spec.FlinkImagePullPolicy = "Always" }, nil},
		{"pull policy Never", func(c *SessionCluster) { c.Spec.FlinkImagePullPolicy = "Never" }, nil},
		{"pull policy in lower case", func(c *SessionCluster) { c.Spec.FlinkImagePullPolicy = "always" }, []string{`spec.flinkImagePullPolicy: "always" is not a pull policy: write IfNotPresent, Always or Never`}},
		{"pull policy missing", func(c *SessionCluster) { c.Spec.FlinkImagePullPolicy = "" }, []string{"spec.flinkImagePullPolicy: is required"}},

		// TaskManagers.
		{"no TaskManagers", func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = ptr(0) }, nil},
		{"1000 TaskManagers", func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = ptr(1000) }, nil},
		{"1001 TaskManagers", func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = ptr(1001) }, []string{"spec.numberOfTaskManagers: 1001 is out of range: use 0 (a JobManager alone) to 1000"}},
		{"negative TaskManagers", func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = ptr(-1) }, []string{"spec.numberOfTaskManagers: -1 is out of range: use 0 (a JobManager alone) to 1000"}},
		{"TaskManagers unset", func(c *SessionCluster) { c.Spec.NumberOfTaskManagers = nil }, []string{"spec.numberOfTaskManagers: is required"}},

		// Resources.
		{"cpu of 0.1", func(c *SessionCluster) { c.Spec.Resources.TaskManager.CPU = "0.1" }, nil},
		{"cpu of 100m", func(c *SessionCluster) { c.Spec.Resources.JobManager.CPU = "100m" }, nil},
		{"cpu below 0.1", func(c *SessionCluster) { c.Spec.Resources.TaskManager.CPU = "0.05" }, []string{"spec.resources.taskmanager.cpu: 0.05 is below the minimum of 0.1 cores"}},
		{"cpu of 0", func(c *SessionCluster) { c.Spec.Resources.JobManager.CPU = "0" }, []string{"spec.resources.jobmanager.cpu: 0 is below the minimum of 0.1 cores"}},
		{"cpu not a number", func(c *SessionCluster) { c.Spec.Resources.JobManager.CPU = "lots" }, []string{`spec.resources.jobmanager.cpu: "lots" is not a cpu amount: write a number of cores (2, 0.5) or millicores (500m)`}},
		{"cpu missing", func(c *SessionCluster) { c.Spec.Resources.JobManager.CPU = "" }, []string{"spec.resources.jobmanager.cpu: is required"}},
		{"memory not a size", func(c *SessionCluster) { c.Spec.Resources.TaskManager.Memory = "32x" }, []string{`spec.resources.taskmanager.memory: "32x" is not a memory size: ` + memoryHint}},
		{"memory of 0", func(c *SessionCluster) { c.Spec.Resources.TaskManager.Memory = "0g" }, []string{"spec.resources.taskmanager.memory: must be more than 0"}},
		{"memory missing", func(c *SessionCluster) { c.Spec.Resources.TaskManager.Memory = "" }, []string{"spec.resources.taskmanager.memory: is required"}},

		// flinkConfiguration.
		{"empty configuration key", func(c *SessionCluster) { c.Spec.FlinkConfiguration[""] = "x" }, []string{"spec.flinkConfiguration[]: the key is empty"}},
		{"configuration key with a space", func(c *SessionCluster) { c.Spec.FlinkConfiguration["a b"] = "x" }, []string{`spec.flinkConfiguration[a b]: "a b" is not a Flink configuration key: use letters, digits, '.', '-', '_' and '$'`}},
		{"configuration key that YAML reads as a comment", func(c *SessionCluster) { c.Spec.FlinkConfiguration["#a"] = "x" }, []string{`spec.flinkConfiguration[#a]: "#a" is not a Flink configuration key: use letters, digits, '.', '-', '_' and '$'`}},
		{"configuration key with a colon", func(c *SessionCluster) { c.Spec.FlinkConfiguration["a:b"] = "x" }, []string{`spec.flinkConfiguration[a:b]: "a:b" is not a Flink configuration key: use letters, digits, '.', '-', '_' and '$'`}},
		{"configuration keys Flink uses", func(c *SessionCluster) {
			c.Spec.FlinkConfiguration["fs.s3a.bucket.my_bucket-1.endpoint"] = "x"
			c.Spec.FlinkConfiguration["$internal.pipeline.job-id"] = "x"
			c.Spec.FlinkConfiguration["metrics.reporter.prom.factory.class"] = "x"
		}, nil},
		{"configuration value on two lines", func(c *SessionCluster) { c.Spec.FlinkConfiguration["a"] = "x\ny" }, []string{"spec.flinkConfiguration[a]: the value must be one line"}},
		{"configuration value with spaces", func(c *SessionCluster) { c.Spec.FlinkConfiguration["env.java.opts.all"] = "-Xss2m -Dx=y" }, nil},
		{"JobManager process size", func(c *SessionCluster) { c.Spec.FlinkConfiguration["jobmanager.memory.process.size"] = "2 parsecs" }, []string{`spec.flinkConfiguration[jobmanager.memory.process.size]: "2 parsecs" is not a Flink memory size: unknown unit "parsecs" (b, k, m, g, t; powers of two)`}},
		{"TaskManager process size", func(c *SessionCluster) { c.Spec.FlinkConfiguration["taskmanager.memory.process.size"] = "lots" }, []string{`spec.flinkConfiguration[taskmanager.memory.process.size]: "lots" is not a Flink memory size: write a whole number with an optional unit, such as 1728m or 2g`}},

		// Logging.
		{"unknown logging profile", func(c *SessionCluster) { c.Spec.Logging.LoggingProfile = "verbose" }, []string{`spec.logging.loggingProfile: "verbose" is not a logging profile: flinkd has default`}},
		{"logging profile missing", func(c *SessionCluster) { c.Spec.Logging.LoggingProfile = "" }, []string{"spec.logging.loggingProfile: is required"}},
		{"level in lower case", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers["org.x"] = "trace" }, nil},
		{"unknown level", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers["org.x"] = "LOUD" }, []string{`spec.logging.log4jLoggers[org.x]: "LOUD" is not a Log4j level: write one of OFF, FATAL, ERROR, WARN, INFO, DEBUG, TRACE, ALL`}},
		{"unknown root level", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers[""] = "VERBOSE" }, []string{`spec.logging.log4jLoggers[]: "VERBOSE" is not a Log4j level: write one of OFF, FATAL, ERROR, WARN, INFO, DEBUG, TRACE, ALL`}},
		{"logger name with a newline", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers["a\nrootLogger.level"] = "OFF" }, []string{`spec.logging.log4jLoggers[a` + "\n" + `rootLogger.level]: "a\nrootLogger.level" is not a logger name: write a Java package or class name, such as org.apache.flink, or "" for the root logger`}},
		{"logger name with a backslash", func(c *SessionCluster) { c.Spec.Logging.Log4jLoggers[`a\`] = "OFF" }, []string{`spec.logging.log4jLoggers[a\]: "a\\" is not a logger name: write a Java package or class name, such as org.apache.flink, or "" for the root logger`}},
		{"logger names Java uses", func(c *SessionCluster) {
			c.Spec.Logging.Log4jLoggers["org.apache.flink.runtime.Outer$Inner"] = "OFF"
			c.Spec.Logging.Log4jLoggers["com.example.größe"] = "OFF"
			c.Spec.Logging.Log4jLoggers["akka"] = "OFF"
		}, nil},

		// Labels and annotations.
		{"metadata label key", func(c *SessionCluster) { c.Metadata.Labels = map[string]string{"-a": "b"} }, []string{`metadata.labels[-a]: "-a" is not a valid label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		{"kubernetes label value", func(c *SessionCluster) { c.Spec.Kubernetes.Labels["team"] = "a b" }, []string{`spec.kubernetes.labels[team]: "a b" is not a valid label value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`}},
		{"pod label value too long", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.Labels["tier"] = long(64) }, []string{`spec.kubernetes.pods.labels[tier]: "` + long(64) + `" is not a valid label value: must be no more than 63 bytes`}},
		{"pod label with a prefix", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.Labels["example.com/tier"] = "" }, nil},
		{"metadata annotation key", func(c *SessionCluster) { c.Metadata.Annotations = map[string]string{"a/b/c": "x"} }, []string{`metadata.annotations[a/b/c]: "a/b/c" is not a valid annotation key: a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`}},
		{"annotation value with anything", func(c *SessionCluster) {
			c.Spec.Kubernetes.Pods.Annotations["example.com/a"] = "any {json: true}\nline two"
		}, nil},
		{"annotations over 256 KiB", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.Annotations["example.com/a"] = long(256 << 10) }, []string{"spec.kubernetes.pods.annotations: the annotations take 262157 bytes; at most 256 KiB"}},

		// Environment.
		{"env name missing", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.EnvVars[0].Name = "" }, []string{"spec.kubernetes.pods.envVars[0].name: is required"}},
		{"env name with a dash", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.EnvVars[0].Name = "MY-VAR" }, []string{`spec.kubernetes.pods.envVars[0].name: "MY-VAR" is not an environment variable name: use letters, digits and '_', not starting with a digit`}},
		{"env name in lower case", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.EnvVars[0].Name = "_lower9" }, nil},
		{"env name twice", func(c *SessionCluster) {
			c.Spec.Kubernetes.Pods.EnvVars = append(c.Spec.Kubernetes.Pods.EnvVars, EnvVar{Name: "B"}, EnvVar{Name: "A", Value: "2"})
		}, []string{`spec.kubernetes.pods.envVars[2].name: "A" is already set by envVars[0]`}},
		{"env value with NUL", func(c *SessionCluster) { c.Spec.Kubernetes.Pods.EnvVars[0].Value = "a\x00b" }, []string{"spec.kubernetes.pods.envVars[0].value: the value contains a NUL character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCluster()
			tt.mutate(c)
			errs, _ := Validate(c)
			if diff := cmp.Diff(tt.want, validationLines(errs), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateRefusesTheKeysARuntimeOwns(t *testing.T) {
	for _, o := range flinkconf.OwnedKeys() {
		c := validCluster()
		c.Spec.FlinkConfiguration[o.Key] = "x"
		errs, _ := Validate(c)
		want := []string{"spec.flinkConfiguration[" + o.Key + "]: " + o.By + "; remove it"}
		if diff := cmp.Diff(want, validationLines(errs)); diff != "" {
			t.Errorf("%s: errors (-want +got):\n%s", o.Key, diff)
		}
	}
	// The Kubernetes runtime's probe port, once overridden silently, is refused with a reason.
	c := validCluster()
	c.Spec.FlinkConfiguration["taskmanager.rpc.port"] = "50100-50200"
	if errs, _ := Validate(c); len(errs) != 1 || !strings.Contains(errs[0].Detail, "liveness probe") {
		t.Errorf("taskmanager.rpc.port: %v", validationLines(errs))
	}
}

// Table test of the successor renames and the prefix-pair refusal, for the versions whose
// entrypoint rewrites config.yaml nested (1.19 on) and one that reads a flat flink-conf.yaml.
func TestValidateConfigurationFileRules(t *testing.T) {
	tests := []struct {
		name      string
		version   string
		conf      map[string]string
		wantErrs  []string
		wantWarns []string
	}{{
		name:    "the issue's everyday pairs are renamed, with warnings",
		version: "1.20",
		conf: map[string]string{"state.backend": "rocksdb", "state.backend.incremental": "true",
			"restart-strategy": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
			"high-availability": "kubernetes", "high-availability.storageDir": "s3://b/ha",
			"env.java.opts": "-Dfoo=bar", "env.java.opts.taskmanager": "-Dtm=1"},
		wantWarns: []string{
			"spec.flinkConfiguration[env.java.opts]: flinkd writes it as env.java.opts.all, its successor (CoreOptions.FLINK_JVM_OPTIONS (bin/config.sh reads both)): Flink 1.20's entrypoint rewrites config.yaml as nested YAML at every start, which cannot hold env.java.opts next to the keys under it",
			"spec.flinkConfiguration[high-availability]: flinkd writes it as high-availability.type, its successor (HighAvailabilityOptions.HA_MODE): Flink 1.20's entrypoint rewrites config.yaml as nested YAML at every start, which cannot hold high-availability next to the keys under it",
			"spec.flinkConfiguration[restart-strategy]: flinkd writes it as restart-strategy.type, its successor (RestartStrategyOptions.RESTART_STRATEGY): Flink 1.20's entrypoint rewrites config.yaml as nested YAML at every start, which cannot hold restart-strategy next to the keys under it",
			"spec.flinkConfiguration[state.backend]: flinkd writes it as state.backend.type, its successor (StateBackendOptions.STATE_BACKEND): Flink 1.20's entrypoint rewrites config.yaml as nested YAML at every start, which cannot hold state.backend next to the keys under it",
		},
	}, {
		name:     "a pair without a successor is refused with both field paths",
		version:  "2.2",
		conf:     map[string]string{"metrics.reporter.prom": "x", "metrics.reporter.prom.port": "9249"},
		wantErrs: []string{"spec.flinkConfiguration[metrics.reporter.prom]", "spec.flinkConfiguration[metrics.reporter.prom.port]"},
	}, {
		name:     "a pair with a key flinkd writes",
		version:  "1.20",
		conf:     map[string]string{"rest.port.extra": "1"},
		wantErrs: []string{"spec.flinkConfiguration[rest.port.extra]: is under rest.port, which flinkd writes"},
	}, {
		name:     "a pair with a key the entrypoint writes",
		version:  "1.19",
		conf:     map[string]string{"query.server.port.range": "1"},
		wantErrs: []string{"spec.flinkConfiguration[query.server.port.range]: is under query.server.port, which the image's entrypoint writes"},
	}, {
		name:     "legacy key and successor both set",
		version:  "1.20",
		conf:     map[string]string{"state.backend": "rocksdb", "state.backend.type": "hashmap"},
		wantErrs: []string{"spec.flinkConfiguration[state.backend]: spec.flinkConfiguration[state.backend] and spec.flinkConfiguration[state.backend.type] are both set", "spec.flinkConfiguration[state.backend.type]"},
	}, {
		name:    "1.18 reads a flat file: pairs are fine and nothing is renamed",
		version: "1.18",
		conf:    map[string]string{"state.backend": "rocksdb", "state.backend.incremental": "true", "metrics.reporter.prom": "x", "metrics.reporter.prom.port": "1"},
	}, {
		name:     "1.18: values envsubst or the legacy reader would change are refused",
		version:  "1.18",
		conf:     map[string]string{"a.password": "pa$$word", "b.url": "http://h/#frag", "c.cost": "cost $5", "d.ref": "${A}", "e.home": "$HOME"},
		wantErrs: []string{"spec.flinkConfiguration[a.password]", "spec.flinkConfiguration[b.url]", "spec.flinkConfiguration[e.home]"},
	}, {
		name:    "1.20: '$' and '#' are written as they are",
		version: "1.20",
		conf:    map[string]string{"a.password": "pa$$word", "b.url": "http://h/#frag", "e.home": "$HOME"},
	}, {
		name:     "empty key segment",
		version:  "2.2",
		conf:     map[string]string{"a..b": "1"},
		wantErrs: []string{"spec.flinkConfiguration[a..b]: has an empty segment"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCluster()
			c.Spec.FlinkVersion = tt.version
			c.Spec.FlinkImageTag = tt.version + "-scala_2.12"
			c.Spec.FlinkConfiguration = tt.conf
			errs, warns := Validate(c)
			got := validationLines(errs)
			if len(got) != len(tt.wantErrs) {
				t.Errorf("errors:\n%s\nwant %d starting with:\n%s", strings.Join(got, "\n"), len(tt.wantErrs), strings.Join(tt.wantErrs, "\n"))
			}
			for i := range min(len(got), len(tt.wantErrs)) {
				if !strings.HasPrefix(got[i], tt.wantErrs[i]) {
					t.Errorf("error %d = %q, want it to start with %q", i, got[i], tt.wantErrs[i])
				}
			}
			var gotWarns []string
			for _, w := range warns {
				gotWarns = append(gotWarns, w.String())
			}
			if diff := cmp.Diff(tt.wantWarns, gotWarns, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlinkConfigExpandsOnlySpecVariables(t *testing.T) {
	c := validCluster()
	c.Spec.Kubernetes.Pods.EnvVars = []EnvVar{{Name: "S3_SECRET", Value: "s3cr$t"}}
	c.Spec.FlinkConfiguration = map[string]string{"s3.secret-key": "${S3_SECRET}", "a.password": "pa$$word", "b.cost": "cost $5",
		"c.unset": "${UNSET}", "state.backend": "rocksdb"}
	conf, renamed := c.Spec.FlinkConfig()
	want := map[string]string{"s3.secret-key": "s3cr$t", "a.password": "pa$$word", "b.cost": "cost $5", "c.unset": "${UNSET}",
		"state.backend.type": "rocksdb", "jobmanager.memory.process.size": "1000000000b", "taskmanager.memory.process.size": "2000000000b"}
	if diff := cmp.Diff(want, conf); diff != "" {
		t.Errorf("FlinkConfig (-want +got):\n%s", diff)
	}
	if len(renamed) != 1 {
		t.Errorf("renamed %v", renamed)
	}
}

func TestValidateRunsFlinksMemoryModel(t *testing.T) {
	tests := []struct {
		name      string
		jm, tm    string
		conf      map[string]string
		wantErrs  []string
		wantWarns []string
	}{
		{name: "Ververica's defaults", jm: "1g", tm: "2g"},
		// The issue: 1g = 10^9 bytes = 953.7 MiB, which Flink refuses.
		{name: "TaskManager 1g", jm: "1g", tm: "1g", wantErrs: []string{
			`spec.resources.taskmanager.memory: Flink 1.20 refuses this TaskManager memory and every TaskManager would exit at start: ` +
				`Sum of configured Framework Heap Memory (128.000mb (134217728 bytes)), Framework Off-Heap Memory (128.000mb (134217728 bytes)), ` +
				`Task Off-Heap Memory (0 bytes), Managed Memory (202.270mb (212095183 bytes)) and Network Memory (64.000mb (67108864 bytes)) ` +
				`exceed configured Total Flink Memory (505.674mb (530237952 bytes)).; the smallest size that works is 1.03g`}},
		{name: "TaskManager 1Gi works", jm: "1g", tm: "1Gi"},
		{name: "a larger managed fraction needs more", jm: "1g", tm: "1Gi", conf: map[string]string{"taskmanager.memory.managed.fraction": "0.8"},
			wantErrs: []string{`spec.resources.taskmanager.memory: Flink 1.20 refuses`}},
		{name: "JobManager 600m", jm: "600m", tm: "2g", wantErrs: []string{
			`spec.resources.jobmanager.memory: Flink 1.20 refuses this JobManager memory and the JobManager would exit at start: ` +
				`The configured Total Flink Memory (124.205mb (130237952 bytes)) is less than the configured Off-heap Memory (128.000mb (134217728 bytes)).; ` +
				`the smallest size that works is 604m`}},
		{name: "JobManager 650m starts with a small heap", jm: "650m", tm: "2g", wantWarns: []string{
			"spec.resources.jobmanager.memory: 650m starts, but Flink warns: The configured or derived JVM heap memory size (43.888mb (46020224 bytes)) " +
				"is less than its recommended minimum value (128.000mb (134217728 bytes)); 739m leaves the recommended heap"}},
		{name: "an explicit process size is checked where it is set", jm: "1g", tm: "2g", conf: map[string]string{"taskmanager.memory.process.size": "900m"},
			wantErrs: []string{`spec.flinkConfiguration[taskmanager.memory.process.size]: Flink 1.20 refuses this TaskManager memory`}},
		{name: "a Flink memory that does not fit the container", jm: "1g", tm: "3g", conf: map[string]string{"taskmanager.memory.flink.size": "1g"},
			wantErrs: []string{`spec.resources.taskmanager.memory: Flink 1.20 refuses this TaskManager memory and every TaskManager would exit at start: ` +
				`Derived JVM Overhead size`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCluster()
			c.Spec.Resources.JobManager.Memory = tt.jm
			c.Spec.Resources.TaskManager.Memory = tt.tm
			for k, v := range tt.conf {
				c.Spec.FlinkConfiguration[k] = v
			}
			errs, warns := Validate(c)
			got := validationLines(errs)
			if len(got) != len(tt.wantErrs) {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantErrs, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.wantErrs[i]) {
					t.Errorf("error %d:\n%s\nwant it to start with\n%s", i, got[i], tt.wantErrs[i])
				}
			}
			var gotWarns []string
			for _, w := range warns {
				gotWarns = append(gotWarns, w.String())
			}
			if diff := cmp.Diff(tt.wantWarns, gotWarns, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("the smallest size reported works, and a little less does not", func(t *testing.T) {
		for _, size := range []string{"1.03g", "1.02g"} {
			c := validCluster()
			c.Spec.Resources.TaskManager.Memory = size
			errs, _ := Validate(c)
			if (len(errs) == 0) != (size == "1.03g") {
				t.Errorf("%s: %v", size, validationLines(errs))
			}
		}
	})
	t.Run("Decode returns the warnings of a valid spec", func(t *testing.T) {
		_, warns := mustDecode(t, minimalYAML+"  resources:\n    jobmanager: {memory: 650m}\n")
		if len(warns) != 1 || !strings.HasPrefix(warns[0].String(), "spec.resources.jobmanager.memory: 650m starts, but Flink warns") {
			t.Errorf("warnings %v", warns)
		}
	})
}

func TestRoundUpMemory(t *testing.T) {
	for b, want := range map[int64]string{603979777: "604m", 1029000000: "1.03g", 1e9: "1g", 12_340_000_001: "12.4g", 999: "999", 738197504: "739m"} {
		if got := roundUpMemory(b); got != want {
			t.Errorf("roundUpMemory(%d) = %s, want %s", b, got, want)
		}
	}
}
