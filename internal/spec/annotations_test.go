package spec

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func withAnnotations(floor int, ann map[string]string) *SessionCluster {
	c := validCluster()
	c.Spec.NumberOfTaskManagers = &floor
	c.Metadata.Annotations = ann
	return c
}

func TestValidateChecksFlinkdAnnotationsLikeFields(t *testing.T) {
	const maxKey, idleKey = AnnotationAutoscaleMax, AnnotationAutoscaleIdleTimeout
	tests := []struct {
		name  string
		floor int
		ann   map[string]string
		want  []string // errors; nil: valid
		warns []string
	}{
		{"none", 1, nil, nil, nil},
		{"maximum and idle timeout", 1, map[string]string{maxKey: "6", idleKey: "2m"}, nil, nil},
		{"maximum equal to the floor", 3, map[string]string{maxKey: "3"}, nil, nil},
		{"floor 0", 0, map[string]string{maxKey: "4"}, nil, nil},
		{"other annotations are left alone", 1, map[string]string{"example.com/owner": "me", "flinkd.example/x": "y"}, nil, nil},
		{"maximum below the floor", 3, map[string]string{maxKey: "2"},
			[]string{"metadata.annotations[flinkd.io/autoscale-max-taskmanagers]: 2 is below spec.numberOfTaskManagers (3), the floor autoscaling starts from; use at least 3"}, nil},
		{"maximum not a number", 1, map[string]string{maxKey: "six"},
			[]string{`metadata.annotations[flinkd.io/autoscale-max-taskmanagers]: "six" is not a whole number: write the most TaskManagers autoscaling may run, quoted ("6")`}, nil},
		{"maximum with spaces", 1, map[string]string{maxKey: " 6"},
			[]string{`metadata.annotations[flinkd.io/autoscale-max-taskmanagers]: " 6" is not a whole number: write the most TaskManagers autoscaling may run, quoted ("6")`}, nil},
		{"maximum 0", 0, map[string]string{maxKey: "0"},
			[]string{"metadata.annotations[flinkd.io/autoscale-max-taskmanagers]: 0 is out of range: use 1 to 1000"}, nil},
		{"maximum too large", 1, map[string]string{maxKey: "1001"},
			[]string{"metadata.annotations[flinkd.io/autoscale-max-taskmanagers]: 1001 is out of range: use 1 to 1000"}, nil},
		{"idle timeout not a duration", 1, map[string]string{maxKey: "4", idleKey: "5 minutes"},
			[]string{`metadata.annotations[flinkd.io/autoscale-idle-timeout]: "5 minutes" is not a duration: write a Go duration such as "2m" or "90s"`}, nil},
		{"idle timeout without a unit", 1, map[string]string{maxKey: "4", idleKey: "300"},
			[]string{`metadata.annotations[flinkd.io/autoscale-idle-timeout]: "300" is not a duration: write a Go duration such as "2m" or "90s"`}, nil},
		{"idle timeout 0", 1, map[string]string{maxKey: "4", idleKey: "0s"},
			[]string{"metadata.annotations[flinkd.io/autoscale-idle-timeout]: 0s must be more than 0"}, nil},
		{"idle timeout alone", 1, map[string]string{idleKey: "2m"}, nil,
			[]string{"metadata.annotations[flinkd.io/autoscale-idle-timeout]: has no effect without flinkd.io/autoscale-max-taskmanagers"}},
		{"misspelt key", 1, map[string]string{"flinkd.io/autoscale-max-taskmanager": "6"},
			[]string{"metadata.annotations[flinkd.io/autoscale-max-taskmanager]: unknown flinkd annotation (did you mean flinkd.io/autoscale-max-taskmanagers?)"}, nil},
		{"key in another case", 1, map[string]string{"flinkd.io/Autoscale-Idle-Timeout": "2m", maxKey: "2"},
			[]string{"metadata.annotations[flinkd.io/Autoscale-Idle-Timeout]: unknown flinkd annotation (did you mean flinkd.io/autoscale-idle-timeout?)"}, nil},
		{"prefix in another case", 1, map[string]string{"Flinkd.io/autoscale-max-taskmanagers": "6"},
			[]string{"metadata.annotations[Flinkd.io/autoscale-max-taskmanagers]: unknown flinkd annotation (did you mean flinkd.io/autoscale-max-taskmanagers?)"}, nil},
		{"unknown key", 1, map[string]string{"flinkd.io/autoscale": "on"},
			[]string{"metadata.annotations[flinkd.io/autoscale]: unknown flinkd annotation: flinkd reads flinkd.io/autoscale-idle-timeout and flinkd.io/autoscale-max-taskmanagers"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, warns := Validate(withAnnotations(tt.floor, tt.ann))
			if diff := cmp.Diff(tt.want, validationLines(errs), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			var got []string
			for _, w := range warns {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tt.warns, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeReportsAnnotationErrorsAtTheirLine(t *testing.T) {
	data := "kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: x\n  annotations:\n" +
		"    flinkd.io/autoscale-max-taskmanagers: \"1\"\n" +
		"    flinkd.io/autoscale-idle-timeot: 2m\n" +
		"spec:\n  state: RUNNING\n  flinkVersion: \"1.20\"\n  numberOfTaskManagers: 2\n"
	want := []string{
		"metadata.annotations[flinkd.io/autoscale-max-taskmanagers]: 1 is below spec.numberOfTaskManagers (2), the floor autoscaling starts from; use at least 2 (line 6)",
		"metadata.annotations[flinkd.io/autoscale-idle-timeot]: unknown flinkd annotation (did you mean flinkd.io/autoscale-idle-timeout?) (line 7)",
	}
	if diff := cmp.Diff(want, decodeErrors(t, data)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestAutoscaleReadsTheAnnotations(t *testing.T) {
	tests := []struct {
		name  string
		floor int
		ann   map[string]string
		want  Autoscale
	}{
		{"off", 2, nil, Autoscale{Min: 2, Max: 2, IdleTimeout: DefaultAutoscaleIdleTimeout}},
		{"maximum only", 1, map[string]string{AnnotationAutoscaleMax: "6"}, Autoscale{Enabled: true, Min: 1, Max: 6, IdleTimeout: 5 * time.Minute}},
		{"both", 0, map[string]string{AnnotationAutoscaleMax: "4", AnnotationAutoscaleIdleTimeout: "90s"}, Autoscale{Enabled: true, Min: 0, Max: 4, IdleTimeout: 90 * time.Second}},
		{"idle timeout only", 1, map[string]string{AnnotationAutoscaleIdleTimeout: "90s"}, Autoscale{Min: 1, Max: 1, IdleTimeout: DefaultAutoscaleIdleTimeout}},
		{"invalid maximum", 3, map[string]string{AnnotationAutoscaleMax: "2"}, Autoscale{Min: 3, Max: 3, IdleTimeout: DefaultAutoscaleIdleTimeout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, withAnnotations(tt.floor, tt.ann).Autoscale()); diff != "" {
				t.Errorf("Autoscale() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAutoscaleAnnotationsMayChangeWhileRunningAndKeepTheHash(t *testing.T) {
	running := withAnnotations(1, nil)
	next := withAnnotations(1, map[string]string{AnnotationAutoscaleMax: "6", AnnotationAutoscaleIdleTimeout: "2m"})
	if ch := CheckChange(running, next, PhaseRunning); !ch.Allowed {
		t.Errorf("adding the annotations while running: %s", ch)
	}
	if running.Hash() != next.Hash() {
		t.Error("the autoscaling annotations change the spec hash: turning autoscaling on would recreate the cluster")
	}
}
