package runtime

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompareInstanceIDsPutsTheJobManagerFirstAndNumbersInOrder(t *testing.T) {
	ids := []string{"taskmanager-10", "x", "taskmanager-2", "jobmanager", "taskmanager-1", "etl-taskmanager-7d9-abcde"}
	slices.SortFunc(ids, CompareInstanceIDs)
	want := []string{"jobmanager", "etl-taskmanager-7d9-abcde", "taskmanager-1", "taskmanager-2", "taskmanager-10", "x"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestScaleDownVictimsTakesRemoveFirstThenTheLast(t *testing.T) {
	present := []string{"taskmanager-1", "taskmanager-2", "taskmanager-3", "taskmanager-10"}
	for _, tc := range []struct {
		name        string
		removeFirst []string
		want        int
		victims     []string
	}{
		{"nothing to remove", nil, 4, nil},
		{"the last by natural order", nil, 2, []string{"taskmanager-10", "taskmanager-3"}},
		{"preferred first, in order, then the last", []string{"taskmanager-2", "gone", "taskmanager-2"}, 2, []string{"taskmanager-2", "taskmanager-10"}},
		{"no more than the excess", []string{"taskmanager-1", "taskmanager-2", "taskmanager-3"}, 2, []string{"taskmanager-1", "taskmanager-2"}},
		{"to zero", []string{"taskmanager-3"}, -1, []string{"taskmanager-3", "taskmanager-10", "taskmanager-2", "taskmanager-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.victims, ScaleDownVictims(present, tc.removeFirst, tc.want)); diff != "" {
				t.Errorf("victims (-want +got):\n%s", diff)
			}
		})
	}
}
