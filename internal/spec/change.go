package spec

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Change says whether a new spec may be applied to a cluster now.
type Change struct {
	Allowed bool
	// Phase is the phase the change was checked against.
	Phase Phase
	// Refused lists the fields that may not change now, sorted by Field.
	Refused []RefusedField
}

// RefusedField is one field that may not change now, and why.
type RefusedField struct {
	// Field is the field path, e.g. spec.flinkImageTag or spec.flinkConfiguration[x].
	Field string
	// Reason says what the edit was: `changed from "1.17" to "1.18"`, `added`, `removed`.
	Reason string
}

// String says what is refused and what to do, or "allowed".
func (c Change) String() string {
	if c.Allowed || len(c.Refused) == 0 {
		return "allowed"
	}
	names := make([]string, 0, len(c.Refused))
	for _, r := range c.Refused {
		if !slices.Contains(names, r.Field) {
			names = append(names, r.Field)
		}
	}
	list := names[0]
	if n := len(names); n > 1 {
		list = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	phase := string(c.Phase)
	if phase == "" {
		phase = "not " + string(PhaseStopped)
	}
	return fmt.Sprintf("%s cannot change while the cluster is %s; set spec.state: STOPPED first, then edit", list, phase)
}

// CheckChange is Ververica's change rule as a pure function. running is the spec the cluster
// was started from (nil when nothing runs), next the new spec, phase the cluster's phase; both
// specs are as Decode returns them. Any change is allowed when nothing runs or the cluster is
// terminal (PhaseStopped). Otherwise only spec.state, spec.numberOfTaskManagers and
// metadata.labels/annotations may differ (except the TLS annotation, AnnotationTLS); every
// other difference is refused, field by field.
// Values are compared as they mean, not as they are written: memory 1g equals 1000m, log
// level debug equals DEBUG, and the order of envVars does not count.
func CheckChange(running, next *SessionCluster, phase Phase) Change {
	ch := Change{Allowed: true, Phase: phase}
	if running == nil || next == nil || phase.Terminal() {
		return ch
	}
	d := &differ{}
	a, b := running.DeepCopy(), next.DeepCopy()
	Default(a)
	Default(b)
	d.str(field.NewPath("metadata", "namespace"), a.Metadata.Namespace, b.Metadata.Namespace)
	d.str(field.NewPath("metadata", "name"), a.Metadata.Name, b.Metadata.Name)
	if a.TLS() != b.TLS() { // turning TLS on or off recreates every process
		d.maps(field.NewPath("metadata", "annotations"), tlsAnnotation(a), tlsAnnotation(b), false)
	}

	p := field.NewPath("spec")
	sa, sb := &a.Spec, &b.Spec
	d.str(p.Child("deploymentTargetName"), sa.DeploymentTargetName, sb.DeploymentTargetName)
	d.str(p.Child("flinkVersion"), sa.FlinkVersion, sb.FlinkVersion)
	d.str(p.Child("flinkImageRegistry"), sa.FlinkImageRegistry, sb.FlinkImageRegistry)
	d.str(p.Child("flinkImageRepository"), sa.FlinkImageRepository, sb.FlinkImageRepository)
	d.str(p.Child("flinkImageTag"), sa.FlinkImageTag, sb.FlinkImageTag)
	d.str(p.Child("flinkImagePullPolicy"), sa.FlinkImagePullPolicy, sb.FlinkImagePullPolicy)
	rp := p.Child("resources")
	d.resources(rp.Child("jobmanager"), sa.Resources.JobManager, sb.Resources.JobManager)
	d.resources(rp.Child("taskmanager"), sa.Resources.TaskManager, sb.Resources.TaskManager)
	d.maps(p.Child("flinkConfiguration"), sa.FlinkConfiguration, sb.FlinkConfiguration, false)
	lp := p.Child("logging")
	d.str(lp.Child("loggingProfile"), sa.Logging.LoggingProfile, sb.Logging.LoggingProfile)
	d.maps(lp.Child("log4jLoggers"), sa.Logging.Log4jLoggers, sb.Logging.Log4jLoggers, true)
	kp := p.Child("kubernetes")
	d.maps(kp.Child("labels"), sa.Kubernetes.Labels, sb.Kubernetes.Labels, false)
	pp := kp.Child("pods")
	d.maps(pp.Child("labels"), sa.Kubernetes.Pods.Labels, sb.Kubernetes.Pods.Labels, false)
	d.maps(pp.Child("annotations"), sa.Kubernetes.Pods.Annotations, sb.Kubernetes.Pods.Annotations, false)
	d.maps(pp.Child("envVars"), envMap(sa.Kubernetes.Pods.EnvVars), envMap(sb.Kubernetes.Pods.EnvVars), false)

	if len(d.refused) > 0 {
		slices.SortStableFunc(d.refused, func(x, y RefusedField) int { return strings.Compare(x.Field, y.Field) })
		ch.Allowed, ch.Refused = false, d.refused
	}
	return ch
}

type differ struct{ refused []RefusedField }

func (d *differ) refuse(p *field.Path, format string, a ...any) {
	d.refused = append(d.refused, RefusedField{Field: p.String(), Reason: fmt.Sprintf(format, a...)})
}

func (d *differ) str(p *field.Path, was, now string) {
	if was != now {
		d.refuse(p, "changed from %q to %q", was, now)
	}
}

// resources compares what the sizes mean (1g = 1000m); unparsable ones compare as written.
func (d *differ) resources(p *field.Path, was, now ResourceSpec) {
	if was.CPUMillis() != now.CPUMillis() || (was.CPUMillis() == 0 && was.CPU != now.CPU) {
		d.refuse(p.Child("cpu"), "changed from %s to %s", was.CPU, now.CPU)
	}
	if was.MemoryBytes() != now.MemoryBytes() || (was.MemoryBytes() == 0 && was.Memory != now.Memory) {
		d.refuse(p.Child("memory"), "changed from %s to %s", was.Memory, now.Memory)
	}
}

func (d *differ) maps(p *field.Path, was, now map[string]string, caseless bool) {
	keys := sortedKeys(was)
	for k := range now {
		if _, ok := was[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		o, inOld := was[k]
		n, inNew := now[k]
		switch {
		case !inOld:
			d.refuse(p.Key(k), "added with value %q", n)
		case !inNew:
			d.refuse(p.Key(k), "removed (was %q)", o)
		case o != n && !(caseless && strings.EqualFold(o, n)):
			d.refuse(p.Key(k), "changed from %q to %q", o, n)
		}
	}
}

// tlsAnnotation is the TLS annotation alone, as written.
func tlsAnnotation(c *SessionCluster) map[string]string {
	if v, ok := c.Metadata.Annotations[AnnotationTLS]; ok {
		return map[string]string{AnnotationTLS: v}
	}
	return nil
}

func envMap(env []EnvVar) map[string]string {
	if len(env) == 0 {
		return nil
	}
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}
