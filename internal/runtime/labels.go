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

// LabelOwner holds the identity of the flinkd (its database) that created a resource, so that
// two daemons sharing an engine or a namespace never adopt, sweep or change each other's
// clusters.
const LabelOwner = "flinkd.io/owner"

// Ownership is how a runtime recognises what it owns: flinkd's labels and, when Owner is set,
// LabelOwner=Owner. The zero value recognises everything flinkd made (single-daemon use, tests
// of one runtime).
type Ownership struct {
	// Owner is the daemon's identity: a valid label value (see daemon identity in db).
	Owner string
}

// Labels returns the ownership labels of one component of cluster k (see OwnerLabels) plus
// the owner's.
func (o Ownership) Labels(k Key, component, hash string) map[string]string {
	l := OwnerLabels(k, component, hash)
	if o.Owner != "" {
		l[LabelOwner] = o.Owner
	}
	return l
}

// Selector returns the labels every owned resource carries (for list filters).
func (o Ownership) Selector() map[string]string {
	s := map[string]string{LabelManagedBy: ManagedByValue}
	if o.Owner != "" {
		s[LabelOwner] = o.Owner
	}
	return s
}

// Owns reports whether labels mark a resource as this owner's.
func (o Ownership) Owns(labels map[string]string) bool {
	return Owned(labels) && (o.Owner == "" || labels[LabelOwner] == o.Owner)
}

// KeyOf returns the cluster key of a resource this owner owns.
func (o Ownership) KeyOf(labels map[string]string) (Key, bool) {
	if !o.Owns(labels) {
		return Key{}, false
	}
	return KeyOf(labels)
}
