package spec

import "github.com/flinkd/flinkd/internal/flinkconf"

// Defaults, in one place. Default fills every field below that a spec leaves empty; nothing
// else in flinkd invents values for a SessionCluster.
//
//	metadata.namespace                  default
//	spec.deploymentTargetName           default
//	spec.numberOfTaskManagers           1
//	spec.flinkImageRegistry             ""  (the engine's default registry)
//	spec.flinkImageRepository           flink  (the official Apache Flink image)
//	spec.flinkImageTag                  <flinkVersion>-scala_2.12  (that line's default-Java tag)
//	spec.flinkImagePullPolicy           IfNotPresent
//	spec.resources.jobmanager.cpu       1       (Ververica's default)
//	spec.resources.jobmanager.memory    1g      (Ververica's default; 10^9 bytes)
//	spec.resources.taskmanager.cpu      1       (Ververica's default)
//	spec.resources.taskmanager.memory   2g      (Ververica's default; 2*10^9 bytes)
//	spec.logging.loggingProfile         default
//	spec.logging.log4jLoggers[""]       INFO    (the root logger)
//
// The registry, repository and tag are defaulted each on its own, so a spec may name only a
// tag, or only a registry that mirrors the official image.
const (
	DefaultNamespace            = "default"
	DefaultDeploymentTargetName = "default"
	DefaultNumberOfTaskManagers = 1
	DefaultImageRegistry        = ""
	DefaultImageRepository      = "flink"
	// DefaultImageTagSuffix follows flinkVersion in the default tag: the official image tags
	// "<x.y>-scala_2.12" and "<x.y.z>-scala_2.12" are that line's default Java variant.
	DefaultImageTagSuffix    = "-scala_2.12"
	DefaultImagePullPolicy   = PullIfNotPresent
	DefaultJobManagerCPU     = "1"
	DefaultJobManagerMemory  = "1g"
	DefaultTaskManagerCPU    = "1"
	DefaultTaskManagerMemory = "2g"
	DefaultLoggingProfile    = "default"
	DefaultRootLogLevel      = "INFO"
)

// Image pull policies (spec.flinkImagePullPolicy), as Kubernetes spells them.
const (
	PullIfNotPresent = "IfNotPresent"
	PullAlways       = "Always"
	PullNever        = "Never"
)

// Default fills the fields c leaves empty with the values above. It is idempotent, never
// overwrites a value that is set, and works on invalid specs too (Validate runs after it).
func Default(c *SessionCluster) {
	m, s := &c.Metadata, &c.Spec
	if m.Namespace == "" {
		m.Namespace = DefaultNamespace
	}
	if s.DeploymentTargetName == "" {
		s.DeploymentTargetName = DefaultDeploymentTargetName
	}
	if s.NumberOfTaskManagers == nil {
		n := DefaultNumberOfTaskManagers
		s.NumberOfTaskManagers = &n
	}
	// DefaultImageRegistry is "": nothing to fill in.
	if s.FlinkImageRepository == "" {
		s.FlinkImageRepository = DefaultImageRepository
	}
	if s.FlinkImageTag == "" && s.FlinkVersion != "" {
		s.FlinkImageTag = s.FlinkVersion + DefaultImageTagSuffix
	}
	if s.FlinkImagePullPolicy == "" {
		s.FlinkImagePullPolicy = DefaultImagePullPolicy
	}
	defaultResources(&s.Resources.JobManager, DefaultJobManagerCPU, DefaultJobManagerMemory)
	defaultResources(&s.Resources.TaskManager, DefaultTaskManagerCPU, DefaultTaskManagerMemory)
	if s.Logging.LoggingProfile == "" {
		s.Logging.LoggingProfile = DefaultLoggingProfile
	}
	if _, ok := s.Logging.Log4jLoggers[flinkconf.RootLogger]; !ok {
		if s.Logging.Log4jLoggers == nil {
			s.Logging.Log4jLoggers = map[string]string{}
		}
		s.Logging.Log4jLoggers[flinkconf.RootLogger] = DefaultRootLogLevel
	}
}

func defaultResources(r *ResourceSpec, cpu, memory string) {
	if r.CPU == "" {
		r.CPU = cpu
	}
	if r.Memory == "" {
		r.Memory = memory
	}
}
