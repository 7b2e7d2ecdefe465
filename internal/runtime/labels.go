package runtime

import "strings"

// Labels flinkd puts on every container, network and Kubernetes object it creates. The
// daemon finds, adopts and cleans up by them, and never touches anything without
// LabelManagedBy=ManagedByValue.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	// LabelNamespace holds the SessionCluster's namespace (metadata.namespace).
	LabelNamespace = "flinkd.io/namespace"
	// LabelSpecHash holds Cluster.Hash, shortened to HashLabelLen characters so that it is a
	// valid Kubernetes label value.
	LabelSpecHash = "flinkd.io/spec-hash"
	// LabelInstanceID holds Instance.ID on Docker containers ("taskmanager-3").
	LabelInstanceID = "flinkd.io/instance-id"

	ManagedByValue = "flinkd"
	NameValue      = "flink"

	ComponentJobManager  = "jobmanager"
	ComponentTaskManager = "taskmanager"

	// HashLabelLen is how much of Cluster.Hash goes into LabelSpecHash.
	HashLabelLen = 16
)

// OwnerLabels returns the ownership labels of one component of cluster k, with the
// shortened spec hash when hash is not empty.
func OwnerLabels(k Key, component, hash string) map[string]string {
	l := map[string]string{
		LabelManagedBy: ManagedByValue,
		LabelName:      NameValue,
		LabelInstance:  k.Name,
		LabelNamespace: k.Namespace,
	}
	if component != "" {
		l[LabelComponent] = component
	}
	if hash != "" {
		l[LabelSpecHash] = ShortHash(hash)
	}
	return l
}

// ShortHash shortens a spec hash to what fits a label value.
func ShortHash(hash string) string {
	if len(hash) > HashLabelLen {
		return hash[:HashLabelLen]
	}
	return hash
}

// Owned reports whether labels mark a resource as flinkd's.
func Owned(labels map[string]string) bool { return labels[LabelManagedBy] == ManagedByValue }

// KeyOf returns the cluster key of an owned resource's labels.
func KeyOf(labels map[string]string) (Key, bool) {
	if !Owned(labels) || labels[LabelInstance] == "" || labels[LabelNamespace] == "" {
		return Key{}, false
	}
	return Key{Namespace: labels[LabelNamespace], Name: labels[LabelInstance]}, true
}

// ResourceName is the deterministic base name of cluster k's Docker resources:
// "flinkd_<ns>_<name>". Namespace and name are DNS-1123 labels (validated by package spec),
// which cannot contain "_", so two keys never share a name.
func ResourceName(k Key) string {
	return strings.Join([]string{"flinkd", k.Namespace, k.Name}, "_")
}
