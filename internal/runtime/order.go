package runtime

import (
	"cmp"
	"slices"
	"strings"
)

// CompareInstanceIDs orders instance IDs: the JobManager ("jobmanager") first, then the others
// in natural order, a trailing number compared as a number ("taskmanager-2" before
// "taskmanager-10"). Every ordering of instances (observations, plans, scale-down victims)
// uses it.
func CompareInstanceIDs(a, b string) int {
	if a == b {
		return 0
	}
	if a == ComponentJobManager {
		return -1
	}
	if b == ComponentJobManager {
		return 1
	}
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	return cmp.Or(strings.Compare(pa, pb), cmp.Compare(na, nb), strings.Compare(a, b))
}

// splitNumber splits a trailing decimal number (at most 9 digits) off s; without one the
// number is -1.
func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) || len(s)-i > 9 {
		return s, -1
	}
	n := 0
	for _, c := range s[i:] {
		n = n*10 + int(c-'0')
	}
	return s[:i], n
}

// ScaleDownVictims says which of the TaskManagers present go when only want may stay: those
// listed in removeFirst (Cluster.RemoveFirst, the daemon's preference), in that order, then
// the last ones by CompareInstanceIDs. It is the one rule of every runtime that can choose
// exactly which TaskManager goes.
func ScaleDownVictims(present, removeFirst []string, want int) []string {
	excess := len(present) - max(want, 0)
	if excess <= 0 {
		return nil
	}
	victims := make([]string, 0, excess)
	for _, id := range removeFirst {
		if len(victims) < excess && slices.Contains(present, id) && !slices.Contains(victims, id) {
			victims = append(victims, id)
		}
	}
	rest := slices.Clone(present)
	slices.SortFunc(rest, CompareInstanceIDs)
	for i := len(rest) - 1; i >= 0 && len(victims) < excess; i-- {
		if !slices.Contains(victims, rest[i]) {
			victims = append(victims, rest[i])
		}
	}
	return victims
}
