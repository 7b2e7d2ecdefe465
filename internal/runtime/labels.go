package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

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

// LabelOwner holds the identity of the flinkd that created a resource (see Identity), so that
// two daemons sharing an engine or a namespace never adopt, sweep or change each other's
// clusters.
const LabelOwner = "flinkd.io/owner"

// LabelSpecs holds the specs folder of the flinkd that created a resource, so that a name
// another flinkd holds can be reported with where its spec lives. It is a label on Docker and
// an annotation on Kubernetes (a path is not a valid label value there).
const LabelSpecs = "flinkd.io/specs"

// Ownership is how a runtime recognises what it owns: flinkd's labels and, when Owner is set,
// LabelOwner=Owner or one of Former. The zero value recognises everything flinkd made
// (single-daemon use, tests of one runtime).
type Ownership struct {
	// Owner is the daemon's identity (see Identity): a valid label value. New clusters are
	// labelled with it.
	Owner string
	// Specs is the daemon's specs folder, recorded on what it creates (LabelSpecs).
	Specs string
	// Former are identities this daemon had before (flinkd up to the random per-database
	// identity, or an identity derived from another path of the same folder): their clusters
	// are this daemon's too. Their resources keep their owner label (Docker labels and
	// Kubernetes selectors cannot change without recreating what runs), and what is added to
	// such a cluster gets the same (see Keep), so that a cluster is never split between two
	// owners.
	Former []string
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

// Annotations returns what a resource records about its owner beyond its labels: the specs
// folder. Docker stores them as labels.
func (o Ownership) Annotations() map[string]string {
	if o.Specs == "" {
		return map[string]string{}
	}
	return map[string]string{LabelSpecs: o.Specs}
}

// Selector returns labels every owned resource carries (for list filters; results are still
// checked with Owns, since a selector cannot name two owners on every engine).
func (o Ownership) Selector() map[string]string {
	s := map[string]string{LabelManagedBy: ManagedByValue}
	if o.Owner != "" && len(o.Former) == 0 {
		s[LabelOwner] = o.Owner
	}
	return s
}

// MatchLabels returns what the selector of an object this owner creates (a Kubernetes
// Deployment's or Service's) matches: flinkd's label and Owner's. Such selectors are
// immutable, which is why a cluster keeps the owner it was made with (see Keep).
func (o Ownership) MatchLabels() map[string]string {
	s := map[string]string{LabelManagedBy: ManagedByValue}
	if o.Owner != "" {
		s[LabelOwner] = o.Owner
	}
	return s
}

// Owns reports whether labels mark a resource as this owner's.
func (o Ownership) Owns(labels map[string]string) bool {
	if !Owned(labels) {
		return false
	}
	owner := labels[LabelOwner]
	return o.Owner == "" || owner == o.Owner || (owner != "" && slices.Contains(o.Former, owner))
}

// KeyOf returns the cluster key of a resource this owner owns.
func (o Ownership) KeyOf(labels map[string]string) (Key, bool) {
	if !o.Owns(labels) {
		return Key{}, false
	}
	return KeyOf(labels)
}

// Keep returns the ownership to label new resources of a cluster with, given the labels of
// one of its existing resources: a cluster made under a former identity keeps that identity
// on everything added to it (Kubernetes selectors include the owner label and are immutable).
func (o Ownership) Keep(labels map[string]string) Ownership {
	if owner := labels[LabelOwner]; owner != o.Owner && o.Owns(labels) && owner != "" {
		kept := o
		kept.Owner = owner
		return kept
	}
	return o
}

// ErrOwnedElsewhere means a resource flinkd needs is flinkd's, but another flinkd's (another
// identity). An OwnedElsewhereError is both it and ErrNotOwned: either way the name is not
// this daemon's to use.
var ErrOwnedElsewhere = errors.New("belongs to another flinkd")

// Check returns nil when a resource (kind and name, for the message) with these labels
// (and, on Kubernetes, annotations; nil elsewhere) is cluster k's under this ownership.
// Otherwise it returns an error wrapping ErrNotOwned that says who holds the name and what to
// do: a resource without flinkd's labels, another flinkd's cluster (ErrOwnedElsewhere, with
// that flinkd's identity and specs folder), or another cluster of this flinkd.
func (o Ownership) Check(kind, name string, labels, annotations map[string]string, k Key) error {
	if !Owned(labels) {
		return fmt.Errorf("%s %s %w: remove or rename it, or rename this SessionCluster", kind, name, ErrNotOwned)
	}
	if !o.Owns(labels) {
		specs := firstNonEmpty(labels[LabelSpecs], annotations[LabelSpecs])
		return &OwnedElsewhereError{Kind: kind, Name: name, Owner: labels[LabelOwner], Specs: specs,
			SameFolder: specs != "" && specs == o.Specs, Key: k}
	}
	if got, ok := o.KeyOf(labels); !ok || got != k {
		return fmt.Errorf("%s %s belongs to flinkd cluster %s, not %s: %w", kind, name, got, k, ErrNotOwned)
	}
	return nil
}

// OwnedElsewhereError says that another flinkd holds a name this one needs.
type OwnedElsewhereError struct {
	Kind, Name string
	// Owner and Specs are the other flinkd's identity and specs folder, as its labels say
	// (Specs is empty for clusters made by a flinkd that did not record it).
	Owner, Specs string
	// SameFolder says that Specs is this daemon's own folder: the other identity is this
	// folder's too (an earlier --owner).
	SameFolder bool
	// Key is the cluster this daemon wanted the name for.
	Key Key
}

func (e *OwnedElsewhereError) Error() string {
	if e.SameFolder {
		return fmt.Sprintf("%s %s belongs to another flinkd identity (owner %q) of this same specs folder %s (made with another --owner, say): "+
			"if no other flinkd runs with that identity, start this one once with --adopt %s to take it over",
			e.Kind, e.Name, e.Owner, e.Specs, e.Owner)
	}
	if e.Specs == "" {
		return fmt.Sprintf("%s %s belongs to another flinkd (owner %q, made by a flinkd that did not record its specs folder): "+
			"if that was this flinkd before it lost its database, start it once with --adopt %s; otherwise rename this SessionCluster",
			e.Kind, e.Name, e.Owner, e.Owner)
	}
	return fmt.Sprintf("%s %s belongs to another flinkd (owner %q, specs folder %s), which runs %s from its own file there: "+
		"rename this SessionCluster (metadata.name or metadata.namespace), or remove the other file; "+
		"if that folder is this one by another path, start flinkd once with --adopt %s",
		e.Kind, e.Name, e.Owner, e.Specs, e.Key, e.Owner)
}

// Is makes errors.Is(err, ErrNotOwned) and errors.Is(err, ErrOwnedElsewhere) hold.
func (e *OwnedElsewhereError) Is(target error) bool {
	return target == ErrOwnedElsewhere || target == ErrNotOwned
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Claim is a flinkd-labelled cluster on a target and who owns it (see Census).
type Claim struct {
	Key   Key
	Owner string
	// Specs is the owner's specs folder, when its resources record it.
	Specs string
}

// Census is an optional capability: every flinkd-labelled cluster on the target that this
// runtime's ownership does not own (`flinkctl status --all-owners`), sorted by key. It makes
// leaks and other daemons' clusters visible; nothing in it is ever touched.
type Census interface {
	Foreign(ctx context.Context) ([]Claim, error)
}

// ForeignClaim returns the claim of a resource labelled as flinkd's but not this owner's.
func (o Ownership) ForeignClaim(labels, annotations map[string]string) (Claim, bool) {
	if !Owned(labels) || o.Owns(labels) {
		return Claim{}, false
	}
	k, ok := KeyOf(labels)
	if !ok {
		return Claim{}, false
	}
	return Claim{Key: k, Owner: labels[LabelOwner], Specs: firstNonEmpty(labels[LabelSpecs], annotations[LabelSpecs])}, true
}

// SortClaims sorts claims by key, then owner, and drops duplicates.
func SortClaims(cs []Claim) []Claim {
	slices.SortFunc(cs, func(a, b Claim) int {
		return cmp.Or(strings.Compare(a.Key.Namespace, b.Key.Namespace), strings.Compare(a.Key.Name, b.Key.Name),
			strings.Compare(a.Owner, b.Owner), strings.Compare(b.Specs, a.Specs)) // a recorded folder first
	})
	return slices.CompactFunc(cs, func(a, b Claim) bool { return a.Key == b.Key && a.Owner == b.Owner })
}
