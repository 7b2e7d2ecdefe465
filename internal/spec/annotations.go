package spec

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// flinkd's own annotations. They keep a file a valid Ververica resource (Ververica ignores
// annotations it does not know) and are validated like fields: a key under AnnotationPrefix
// that flinkd does not know is an error. Like metadata.labels, they may change while the
// cluster runs (CheckChange never compares them) and they are not part of Hash.
const (
	AnnotationPrefix = "flinkd.io/"
	// AnnotationAutoscaleMax turns autoscaling on: the TaskManager count follows the jobs
	// between spec.numberOfTaskManagers (the floor) and this number.
	AnnotationAutoscaleMax = AnnotationPrefix + "autoscale-max-taskmanagers"
	// AnnotationAutoscaleIdleTimeout is how long a TaskManager with no slot in use stays before
	// the autoscaler removes it (a Go duration; DefaultAutoscaleIdleTimeout when unset).
	AnnotationAutoscaleIdleTimeout = AnnotationPrefix + "autoscale-idle-timeout"
)

// DefaultAutoscaleIdleTimeout is the idle timeout when AnnotationAutoscaleIdleTimeout is unset.
const DefaultAutoscaleIdleTimeout = 5 * time.Minute

// Annotations returns the annotation keys flinkd reads, sorted.
func Annotations() []string {
	return []string{AnnotationAutoscaleIdleTimeout, AnnotationAutoscaleMax}
}

// Autoscale is what a spec's annotations ask of the autoscaler.
type Autoscale struct {
	// Enabled is true when AnnotationAutoscaleMax is set.
	Enabled bool
	// Min is spec.numberOfTaskManagers, the floor; Max the annotation's maximum.
	Min, Max    int
	IdleTimeout time.Duration
}

// Autoscale reads the autoscaling annotations of a valid spec (Decode validated them). On an
// invalid value it reports autoscaling off, which Validate refuses anyway.
func (c *SessionCluster) Autoscale() Autoscale {
	a := Autoscale{Min: c.TaskManagers(), Max: c.TaskManagers(), IdleTimeout: DefaultAutoscaleIdleTimeout}
	v, ok := c.Metadata.Annotations[AnnotationAutoscaleMax]
	if !ok {
		return a
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n < a.Min {
		return a
	}
	if s, ok := c.Metadata.Annotations[AnnotationAutoscaleIdleTimeout]; ok {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return a
		}
		a.IdleTimeout = d
	}
	a.Enabled, a.Max = true, n
	return a
}

// flinkdAnnotations validates the annotations under AnnotationPrefix.
func (v *validator) flinkdAnnotations(c *SessionCluster) {
	p := field.NewPath("metadata", "annotations")
	ann := c.Metadata.Annotations
	known := Annotations()
	for _, k := range sortedKeys(ann) {
		if !strings.HasPrefix(strings.ToLower(k), AnnotationPrefix) || slices.Contains(known, k) {
			continue
		}
		if s := suggest(k, known); s != "" {
			v.errorf(p.Key(k), field.ErrorTypeNotSupported, k, "unknown flinkd annotation (did you mean %s?)", s)
		} else {
			v.errorf(p.Key(k), field.ErrorTypeNotSupported, k, "unknown flinkd annotation: flinkd reads %s", strings.Join(known, " and "))
		}
	}

	floor := c.TaskManagers()
	maxSet := false
	if s, ok := ann[AnnotationAutoscaleMax]; ok {
		kp := p.Key(AnnotationAutoscaleMax)
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			v.errorf(kp, field.ErrorTypeInvalid, s, "%.40q is not a whole number: write the most TaskManagers autoscaling may run, quoted (\"6\")", s)
		case n < 1 || n > MaxTaskManagers:
			v.errorf(kp, field.ErrorTypeInvalid, n, "%d is out of range: use 1 to %d", n, MaxTaskManagers)
		case n < floor:
			v.errorf(kp, field.ErrorTypeInvalid, n,
				"%d is below spec.numberOfTaskManagers (%d), the floor autoscaling starts from; use at least %d", n, floor, floor)
		default:
			maxSet = true
		}
	}
	if s, ok := ann[AnnotationAutoscaleIdleTimeout]; ok {
		kp := p.Key(AnnotationAutoscaleIdleTimeout)
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			v.errorf(kp, field.ErrorTypeInvalid, s, "%.40q is not a duration: write a Go duration such as \"2m\" or \"90s\"", s)
		case d <= 0:
			v.errorf(kp, field.ErrorTypeInvalid, s, "%s must be more than 0", s)
		case !maxSet:
			if _, given := ann[AnnotationAutoscaleMax]; !given {
				v.warnf(kp, "has no effect without %s", AnnotationAutoscaleMax)
			}
		}
	}
}
