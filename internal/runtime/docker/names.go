package docker

import (
	"maps"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/filters"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Labels only the Docker runtime uses, on top of the shared ones in package runtime.
const (
	// labelFullHash holds the whole Cluster.Hash: Docker label values have no length limit,
	// so Instance.Hash can be reported exactly (runtime.LabelSpecHash is shortened).
	labelFullHash = "flinkd.io/spec-hash-full"
	// labelRestarts counts how often flinkd replaced a dead instance under the same ID. A
	// replacement is a new container, so the count has to travel in its labels.
	labelRestarts = "flinkd.io/restarts"
)

const (
	jobManagerID      = "jobmanager"
	jobManagerAlias   = "jobmanager"
	taskManagerPrefix = "taskmanager-"
	// firstTaskManager is the index of the first TaskManager: "taskmanager-1".
	firstTaskManager = 1
)

// networkName is the cluster's user-defined bridge network: "flinkd_<ns>_<name>".
func networkName(k runtime.Key) string { return runtime.ResourceName(k) }

// containerName is the name of instance id's container: "flinkd_<ns>_<name>_jobmanager",
// "flinkd_<ns>_<name>_taskmanager-3".
func containerName(k runtime.Key, id string) string { return runtime.ResourceName(k) + "_" + id }

// taskManagerID is the instance ID of the TaskManager with index n.
func taskManagerID(n int) string { return taskManagerPrefix + strconv.Itoa(n) }

// taskManagerIndex parses a TaskManager instance ID; ok is false for anything else.
func taskManagerIndex(id string) (n int, ok bool) {
	s, found := strings.CutPrefix(id, taskManagerPrefix)
	if !found || s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < firstTaskManager {
		return 0, false
	}
	return n, true
}

// ownedFilter selects everything this flinkd (o) manages on this engine.
func ownedFilter(o runtime.Ownership) filters.Args {
	f := filters.NewArgs()
	for k, v := range o.Selector() {
		f.Add("label", k+"="+v)
	}
	return f
}

// keyFilter selects everything flinkd manages for cluster k.
func keyFilter(o runtime.Ownership, k runtime.Key) filters.Args {
	f := ownedFilter(o)
	f.Add("label", runtime.LabelNamespace+"="+k.Namespace)
	f.Add("label", runtime.LabelInstance+"="+k.Name)
	return f
}

// networkLabels are the labels of cluster k's network.
func networkLabels(o runtime.Ownership, k runtime.Key, hash string) map[string]string {
	l := o.Labels(k, "", hash)
	maps.Copy(l, o.Annotations())
	l[labelFullHash] = hash
	return l
}

// containerLabels are the labels of one instance's container: the user's labels, then
// flinkd's, which win. The user's annotations are a Kubernetes concept and are not put on
// containers; the owner's (its specs folder) are labels here.
func containerLabels(o runtime.Ownership, c runtime.Cluster, id, component string, restarts int) map[string]string {
	l := make(map[string]string, len(c.Labels)+8)
	maps.Copy(l, c.Labels)
	maps.Copy(l, o.Labels(c.Key, component, c.Hash))
	maps.Copy(l, o.Annotations())
	l[labelFullHash] = c.Hash
	l[runtime.LabelInstanceID] = id
	l[labelRestarts] = strconv.Itoa(restarts)
	maps.Copy(l, tlsLabels(c))
	return l
}

// hashOf returns the spec hash recorded in a resource's labels, whole when known.
func hashOf(labels map[string]string) string {
	if h := labels[labelFullHash]; h != "" {
		return h
	}
	return labels[runtime.LabelSpecHash]
}

// sameHash says whether a recorded hash (whole or shortened) is the wanted one.
func sameHash(recorded, want string) bool {
	if recorded == want {
		return true
	}
	return recorded != "" && len(recorded) == runtime.HashLabelLen && recorded == runtime.ShortHash(want)
}

// restartsOf returns the replacement count recorded in a container's labels.
func restartsOf(labels map[string]string) int {
	n, err := strconv.Atoi(labels[labelRestarts])
	if err != nil || n < 0 {
		return 0
	}
	return n
}
